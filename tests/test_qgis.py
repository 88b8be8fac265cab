"""The GeoPackages of the sample run, opened in real QGIS (headless, system Python + PyQGIS).

QGIS is a required test dependency: CI installs Debian's ``python3-qgis`` (``.ci/run``). Without
it these tests fail; they never skip. ``MAGICMIX_QGIS_PYTHON`` names another interpreter with
PyQGIS (default ``/usr/bin/python3``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.publish._common import (
    CATEGORY_STYLES,
    EXCLUDED_COLOUR,
    SCORE_BREAKS,
    SCORE_COLOURS,
    score_colour,
)
from magicmix_geo.publish._palette import EXCLUDED_CLASS, NO_SCORE_CLASS
from magicmix_geo.publish.qgis_styles import legend_labels, range_key
from magicmix_geo.publish.run_outputs import category_labels

CHECK_SCRIPT = Path(__file__).resolve().parent / "qgis_check.py"
QGIS_PYTHON = os.environ.get("MAGICMIX_QGIS_PYTHON", "/usr/bin/python3")
INSTALL_HINT = (
    "QGIS is required: apt-get install -y --no-install-recommends python3-qgis qgis-providers"
    " (see .ci/run)"
)
MUNICIPALITY_LAYERS = {"sites", "stops", "amenities", "boundary", "buildings", "streets"}
# the sample run is Dutch, and so are its styles' legends (tests/test_qgis_styles_i18n.py)
LEGEND = legend_labels("nl", category_labels(load_settings(), "nl"))
RANGES: dict[str | int, str] = {
    "excluded": LEGEND["ranges"][range_key(EXCLUDED_CLASS[0])],
    "no score": LEGEND["ranges"][range_key(NO_SCORE_CLASS[0])],
    **{i: LEGEND["ranges"][range_key(SCORE_BREAKS[i])] for i in range(len(SCORE_COLOURS))},
}


def _qgis_env(tmp: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # the venv's Python paths must not leak into the system interpreter
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(tmp),
        HOME=str(tmp),  # QGIS writes its profile under HOME; keep the real one clean
        QT_HASH_SEED="0",
    )
    return env


@pytest.fixture(scope="session")
def qgis_report(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/qgis_check.py on the sample run's GeoPackages; its JSON report."""
    if not Path(QGIS_PYTHON).is_file():
        pytest.fail(f"{QGIS_PYTHON} not found. {INSTALL_HINT}")
    tmp = tmp_path_factory.mktemp("qgis")
    probe = subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        text=True,
        env=_qgis_env(tmp),
        cwd=tmp,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail(f"{QGIS_PYTHON} cannot import PyQGIS: {probe.stderr[-500:]}\n{INSTALL_HINT}")
    gpkgs = [*sorted(sample_run.glob("GM*.gpkg")), sample_run / "national_ranking.gpkg"]
    report_path, png = tmp / "report.json", tmp / "qgis_sites.png"
    done = subprocess.run(
        [QGIS_PYTHON, str(CHECK_SCRIPT), str(report_path), str(png), *map(str, gpkgs)],
        capture_output=True,
        text=True,
        env=_qgis_env(tmp),
        cwd=tmp,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"qgis_check.py failed ({done.returncode}): {done.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    report["png"] = str(png)
    report["gpkgs"] = [str(p) for p in gpkgs]
    return report


def _municipality(report: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    path = Path(report["gpkgs"][0])
    return path, report["files"][str(path)]


def test_qgis_is_the_debian_bookworm_version_or_newer(qgis_report: dict[str, Any]) -> None:
    major, minor = (int(x) for x in qgis_report["qgis_version"].split(".")[:2])
    assert (major, minor) >= (3, 22)


def test_qgis_opens_every_layer_valid_in_rd_new_with_its_default_style(
    qgis_report: dict[str, Any],
) -> None:
    for path_text in qgis_report["gpkgs"]:
        path = Path(path_text)
        layers = qgis_report["files"][path_text]
        # every spatial table; attribute tables (layer_styles, summaries) are not map layers
        expected = {str(name) for name, kind in pyogrio.list_layers(path) if kind is not None}
        assert set(layers) == expected, path.name
        for name, layer in layers.items():
            assert layer["valid"], f"{path.name}:{name}"
            assert layer["crs"] == "EPSG:28992", f"{path.name}:{name}"
            assert layer["features"] == pyogrio.read_info(path, layer=name)["features"], name
            assert layer["default_style"] == [name], f"{path.name}:{name}"  # from layer_styles
            assert "magicmix-geo" in layer["abstract"]  # the run, in QGIS's layer metadata
    _, layers = _municipality(qgis_report)
    assert set(layers) >= MUNICIPALITY_LAYERS


def _expected_classes(sites: gpd.GeoDataFrame) -> dict[str, int]:
    """Legend label -> count, as the QGIS graduated style should classify the sites."""
    labels = {colour: RANGES[i] for i, colour in enumerate(SCORE_COLOURS)}
    excluded = sites["excluded"].astype(bool)
    scores = pd.to_numeric(sites.loc[~excluded, "score_total"])
    names = [RANGES["excluded"]] * int(excluded.sum())
    names += [RANGES["no score"] if pd.isna(s) else labels[score_colour(s)] for s in scores]
    return dict(pd.Series(names).value_counts())


@pytest.mark.parametrize("layer_name", ["sites", "national_ranking"])
def test_qgis_site_styles_are_graduated_on_score_total_with_excluded_grey(
    qgis_report: dict[str, Any], layer_name: str
) -> None:
    if layer_name == "sites":
        path, layers = _municipality(qgis_report)
        rank_field = "rank_gm"
    else:
        path = Path(qgis_report["gpkgs"][-1])
        layers = qgis_report["files"][str(path)]
        rank_field = "rank_nl"
    layer = layers[layer_name]
    assert layer["renderer"] == "graduatedSymbol"
    assert '"score_total"' in layer["field"] and '"excluded"' in layer["field"]
    colours = {c["label"]: c["colour"] for c in layer["classes"]}
    assert colours[RANGES["excluded"]] == EXCLUDED_COLOUR
    assert [colours[RANGES[i]] for i in range(5)] == [*SCORE_COLOURS]
    frame = gpd.read_file(path, layer=layer_name, engine="pyogrio")
    assert layer["legend_counts"] == _expected_classes(frame)
    assert layer["labels_enabled"]
    assert layer["labeling"] == "rule-based"
    assert layer["label_fields"] == [rank_field]
    assert layer["label_filters"] == [f'"{rank_field}" IS NOT NULL AND "{rank_field}" <= 10']


def test_qgis_amenities_and_stops_are_categorised(qgis_report: dict[str, Any]) -> None:
    path, layers = _municipality(qgis_report)
    for name in ("amenities", "stops"):
        layer = layers[name]
        assert layer["renderer"] == "categorizedSymbol", name
        assert layer["field"] == "category", name
        frame = gpd.read_file(path, layer=name, engine="pyogrio")
        expected: dict[str, int] = {}
        shown = LEGEND["categories"]["category"]
        for category, n in frame["category"].value_counts().items():
            label = shown[category if category in CATEGORY_STYLES else ""]
            expected[label] = expected.get(label, 0) + int(n)
        counts = dict(layer["legend_counts"])
        # QGIS 3.22 draws unknown values with the catch-all class but reports no legend key
        if "drawn" in counts:
            counts[shown[""]] = counts.get(shown[""], 0) + counts.pop("drawn")
        assert counts == expected, name
        by_value = {c["value"]: c for c in layer["classes"]}
        for category in set(frame["category"]) & set(CATEGORY_STYLES):
            assert by_value[category]["colour"] == CATEGORY_STYLES[category][1]
    assert layers["boundary"]["renderer"] == "singleSymbol"
    assert layers["streets"]["legend_counts"] == {"drawn": layers["streets"]["features"]}


def test_qgis_renders_the_sites_with_the_top_10_labelled(qgis_report: dict[str, Any]) -> None:
    render = qgis_report["render"]
    assert render["saved"] and render["errors"] == []
    png = Path(qgis_report["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render["width"] == 1600 and render["height"] > 300
    _, layers = _municipality(qgis_report)
    ranked = sum(v for k, v in layers["sites"]["legend_counts"].items() if k[0].isdigit())
    assert render["labels"] == [str(r) for r in range(1, min(ranked, 10) + 1)]
    # opaque score classes show in their exact colour; the map is not blank
    present = {c for c, n in _expected_classes_colours(layers["sites"]).items() if n}
    assert present <= set(render["colours"])
    assert render["distinct_colours"] > 20


def _expected_classes_colours(layer: dict[str, Any]) -> dict[str, int]:
    counts = layer["legend_counts"]
    return {
        c["colour"]: counts.get(c["label"], 0) for c in layer["classes"] if c["label"][0].isdigit()
    }
