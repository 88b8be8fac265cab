"""Incremental national publishing (issue #7): a re-run where one municipality changed links
the other municipality's files from the previous run instead of writing them again, and the
result equals a publish from scratch.

Real data split synthetically (tests/test_national.py ``make_split_dataset``): GM9901 and
GM9902 are the west and east halves of the bundled Delft sample.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio

from magicmix_geo.cli import main
from tests.test_national import make_split_dataset

# what may differ between two runs of the same results: the run's id and times
_RUN_FACTS = re.compile(r"[0-9a-f]{32}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")


def _files(out: Path, code: str) -> list[str]:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    (entry,) = [m for m in manifest["municipalities"] if m["gm_code"] == code]
    return list(entry["files"])


def _normalised_text(path: Path) -> str:
    return _RUN_FACTS.sub("#", path.read_text(encoding="utf-8"))


def _layers(path: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, _ in pyogrio.list_layers(path):
        frame = pyogrio.read_dataframe(path, layer=str(name))
        if isinstance(frame, gpd.GeoDataFrame):
            frame["wkb"] = frame.geometry.to_wkb()
            frame = pd.DataFrame(frame.drop(columns="geometry"))
        if name == "layer_styles":
            frame = frame.drop(columns=["update_time"])
        frames[str(name)] = frame
    return frames


def _assert_same_municipality_files(a: Path, b: Path, files: list[str]) -> None:
    """Same content for the analyst: layers, columns, dtypes, values, styles, maps, reports."""
    for name in files:
        fa, fb = a / name, b / name
        if name.endswith(".gpkg"):
            la, lb = _layers(fa), _layers(fb)
            assert list(la) == list(lb), name
            for layer in la:
                pd.testing.assert_frame_equal(la[layer], lb[layer], check_exact=True, obj=layer)
            with sqlite3.connect(fa) as ca, sqlite3.connect(fb) as cb:
                query = "PRAGMA table_info(sites)"
                assert ca.execute(query).fetchall() == cb.execute(query).fetchall()
            ca.close()
            cb.close()
        elif name.endswith(".tif"):
            with rasterio.open(fa) as ra, rasterio.open(fb) as rb:
                pa, pb = dict(ra.profile), dict(rb.profile)
                assert np.isnan(pa.pop("nodata")) and np.isnan(pb.pop("nodata")), name
                assert pa == pb, name
                np.testing.assert_array_equal(ra.read(), rb.read())
        elif name.endswith(".png"):
            assert fa.read_bytes() == fb.read_bytes(), name
        elif name.endswith(".html"):
            assert _normalised_text(fa) == _normalised_text(fb), name
        else:  # the PDF: its pages, fonts and the embedded map
            assert fa.read_bytes()[:5] == fb.read_bytes()[:5] == b"%PDF-", name
            assert abs(fa.stat().st_size - fb.stat().st_size) < 2_000, name


@pytest.mark.timeout(600)
def test_national_rerun_rewrites_only_the_changed_municipality(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    areas = make_split_dataset(tmp_path / "data", broken=False)
    out = tmp_path / "national"

    def national(target: Path) -> None:
        command = [
            "national",
            "--areas-file",
            str(areas),
            "--all",
            "--workers",
            "0",
            "--quiet",
            "--out",
            str(target),
        ]
        assert main(command) == 0

    national(out)
    west = _files(out, "GM9901")
    east_gpkg = _files(out, "GM9902")[0]
    assert west[0].startswith("GM9901_") and west[0].endswith(".gpkg")
    before = {name: ((out / name).stat().st_ino, (out / name).read_bytes()) for name in west}
    east_inode = (out / east_gpkg).stat().st_ino
    ranking_inode = (out / "national_ranking.csv").stat().st_ino

    # the east half's boundary changes: only GM9902 is recomputed and written again
    east = gpd.read_file(tmp_path / "data" / "GM9902.gpkg", engine="pyogrio")
    east["geometry"] = east.buffer(-20)
    east.to_file(tmp_path / "data" / "GM9902.gpkg", engine="pyogrio")
    national(out)
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    status = {m["gm_code"]: m["status"] for m in manifest["run_summary"]["municipalities"]}
    assert status == {"GM9901": "cached", "GM9902": "done"}
    assert manifest["reused"] == ["GM9901"]
    assert _files(out, "GM9901") == west
    for name, (inode, data) in before.items():
        assert (out / name).stat().st_ino == inode, f"{name} was rewritten"
        assert (out / name).read_bytes() == data, name
    assert (out / east_gpkg).stat().st_ino != east_inode
    assert (out / "national_ranking.csv").stat().st_ino != ranking_inode
    east_sites = pyogrio.read_dataframe(out / east_gpkg, layer="sites")
    assert east_sites.geometry.apply(
        lambda g: east.geometry.iloc[0].contains(g.representative_point())
    ).all()

    # a publish from scratch of the same results: the same outputs
    scratch = tmp_path / "scratch"
    national(scratch)
    capsys.readouterr()
    assert json.loads((scratch / "manifest.json").read_text(encoding="utf-8"))["reused"] == []
    listing = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert listing == sorted(
        p.relative_to(scratch).as_posix() for p in scratch.rglob("*") if p.is_file()
    )
    for code in ("GM9901", "GM9902"):
        _assert_same_municipality_files(out, scratch, _files(out, code))
    for name in ("national_ranking.csv", "national_summary.csv"):
        assert (out / name).read_bytes() == (scratch / name).read_bytes(), name
    la, lb = _layers(out / "national_ranking.gpkg"), _layers(scratch / "national_ranking.gpkg")
    pd.testing.assert_frame_equal(la["national_ranking"], lb["national_ranking"])
