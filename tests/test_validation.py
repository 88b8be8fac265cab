"""Validation against CBS nabijheid on the sample (bench/validation/cbs_proximity.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "validation" / "cbs_proximity.py"


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("cbs_proximity", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cbs_proximity"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(bench):  # type: ignore[no-untyped-def]
    return bench.validate()


def test_only_buurten_well_inside_the_extract_are_used(result) -> None:  # type: ignore[no-untyped-def]
    per_buurt = result.per_buurt
    used = per_buurt.loc[per_buurt["used"]]
    assert 5 <= len(used) <= 10
    assert (used["median_inside_m"] >= 200).all() and (used["buildings"] >= 10).all()
    assert used["bu_code"].str.startswith("BU0503").all()
    assert {"TU-Campus", "Delftzicht", "Schoemakerplantage"} <= set(used["bu_name"])


def test_validation_figures(result) -> None:  # type: ignore[no-untyped-def]
    summary = result.summary.set_index("category")
    assert list(summary.index) == [
        "gp",
        "supermarket",
        "primary_school",
        "childcare",
        "train_station",
    ]
    for category in ("gp", "supermarket", "primary_school", "childcare"):
        row = summary.loc[category]
        assert row["buurten"] >= 5
        assert -1.0 <= row["spearman"] <= 1.0
        assert 0.2 < row["median_ratio_walk_to_cbs"] < 5.0
        assert 0.0 <= row["share_homes_exact"] <= 1.0
    # no train station inside the extract: nothing to compare, said so rather than invented
    assert summary.loc["train_station", "buurten"] == 0
    assert np.isnan(summary.loc["train_station", "spearman"])
    # the figures documented in docs/methodology.md
    assert summary.loc["childcare", "spearman"] == pytest.approx(0.873, abs=0.01)
    assert summary.loc["supermarket", "median_ratio_walk_to_cbs"] == pytest.approx(0.966, abs=0.01)


def test_the_command_prints_the_table(bench, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert bench.main(["--csv", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "spearman" in out and "median_ratio_walk_to_cbs" in out
    assert (tmp_path / "summary.csv").is_file() and (tmp_path / "per_buurt.csv").is_file()
