"""The national run at country shape: several municipalities in one OSM file, islands, one
OSM pass for all of them, and a changed street re-ranking only its municipality.

Data: four islands, each a moved copy of the real Delft sample's core (tests/_islands.py), in
one file; GM9901 and GM9902 are small squares on islands A and B, GM9903 is a municipality of
two islands (squares on C and D).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from magicmix_geo.cli import main
from magicmix_geo.prepare import osm as osm_module
from magicmix_geo.prepare import slice_jobs as slice_jobs_module
from tests._islands import load_core, moved_area, write_boundary, write_islands

SHIFTS = [(0.0, 0.0), (0.5, 0.0), (0.0, 0.3), (0.5, 0.3)]
SQUARE_DEG = 0.006


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("islands")
    core = load_core(work)
    write_islands(work / "country.osm.pbf", core, SHIFTS)
    squares = [moved_area(core, shift, SQUARE_DEG) for shift in SHIFTS]
    write_boundary(work / "GM9901.gpkg", squares[0], "GM9901")
    write_boundary(work / "GM9902.gpkg", squares[1], "GM9902")
    write_boundary(work / "GM9903.gpkg", shapely.union(squares[2], squares[3]), "GM9903")
    write_boundary(work / "island_D.gpkg", squares[3], "GM9903")
    lines = ["[defaults]", 'osm = "country.osm.pbf"', ""]
    for code in ("GM9901", "GM9902", "GM9903"):
        lines += ["[[municipality]]", f'gm_code = "{code}"', f'boundary = "{code}.gpkg"', ""]
    (work / "areas.toml").write_text("\n".join(lines), encoding="utf-8")
    return work


def national(work: Path, out: Path) -> dict[str, Any]:
    command = [
        "national",
        "--areas-file",
        str(work / "areas.toml"),
        "--all",
        "--workers",
        "0",
        "--out",
        str(out),
    ]
    assert main(command) == 0
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def sites_of(out: Path, code: str) -> gpd.GeoDataFrame:
    (path,) = sorted(out.glob(f"{code}_*.gpkg"))
    return gpd.read_file(path, layer="sites", engine="pyogrio")


def by_shape(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    point = sites.geometry.representative_point()
    key = [f"{x:.2f},{y:.2f},{a:.1f}" for x, y, a in zip(point.x, point.y, sites.area, strict=True)]
    return sites.set_index(pd.Index(key, name="shape"))


@pytest.fixture(scope="module")
def first_run(country: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One national run over the shared file, counting which files the OSM reader opens."""
    reads: list[str] = []
    original = osm_module.parse_osm
    patch = pytest.MonkeyPatch()
    patch.setenv("MAGICMIX_CACHE_DIR", str(country / "cache"))

    def parse_osm(path: Path, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(path))
        return original(path, *args, **kwargs)

    # every read of an OSM file goes through parse_osm: read_osm's and the store's
    patch.setattr(osm_module, "parse_osm", parse_osm)
    patch.setattr(slice_jobs_module, "parse_osm", parse_osm)
    try:
        out = tmp_path_factory.mktemp("national") / "out"
        manifest = national(country, out)
    finally:
        patch.undo()
    manifest["_reads"] = reads
    return out, manifest


@pytest.mark.timeout(600)
def test_every_island_municipality_is_ranked_from_one_pass(
    country: Path, first_run: tuple[Path, dict]
) -> None:
    out, manifest = first_run
    status = {m["gm_code"]: m["status"] for m in manifest["run_summary"]["municipalities"]}
    assert status == {"GM9901": "done", "GM9902": "done", "GM9903": "done"}
    # the shared file is parsed once by the OSM reader for all three (a small file: no
    # osmium pass, no regions); the municipalities read their slices
    (store,) = manifest["osm_store"]
    assert store["municipalities"] == 3 and store["cut"] == 3
    assert store["passes"] == 0 and store["regions"] == 0 and store["parses"] == 1
    reads = manifest["_reads"]
    assert len(reads) == 1 and reads[0].endswith("country.osm.pbf"), reads
    for code in ("GM9901", "GM9902", "GM9903"):
        sites = sites_of(out, code)
        assert len(sites) > 20
        # every site reaches a stop over its own island's streets
        assert np.isfinite(sites["dist_pt_stop_m"]).mean() > 0.9, code


@pytest.mark.timeout(600)
def test_a_municipality_of_two_islands_keeps_both_networks(
    country: Path, first_run: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = first_run
    both = sites_of(out, "GM9903")
    d_box = gpd.read_file(country / "island_D.gpkg").geometry.iloc[0]
    on_d = both.geometry.representative_point().within(d_box)
    assert 0 < on_d.sum() < len(both)  # sites on both islands
    # the sites on island D measure the same as in a municipality of island D alone: joined
    # to D's own streets, never to C's
    assert (
        main(
            [
                "rank",
                "--osm",
                str(country / "country.osm.pbf"),
                "--area",
                "GM9904",
                "--boundary",
                str(country / "island_D.gpkg"),
                "--no-cache",
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 0
    )
    # the proxies are numbered per municipality: match them by their shape
    alone = by_shape(sites_of(tmp_path / "d", "GM9904"))
    mine = by_shape(both.loc[on_d])
    common = mine.index.intersection(alone.index)
    assert len(common) > 0.9 * len(mine)
    for column in ("dist_pt_stop_m", "dist_supermarket_m", "dist_park_m"):
        np.testing.assert_allclose(
            mine.loc[common, column], alone.loc[common, column], rtol=1e-9, err_msg=column
        )


@pytest.mark.timeout(600)
def test_results_equal_ranking_each_municipality_from_the_whole_file(
    country: Path, first_run: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = first_run
    code = "GM9901"
    assert (
        main(
            [
                "rank",
                "--osm",
                str(country / "country.osm.pbf"),
                "--area",
                code,
                "--boundary",
                str(country / f"{code}.gpkg"),
                "--no-cache",
                "--out",
                str(tmp_path / code),
            ]
        )
        == 0
    )
    own = pd.DataFrame(sites_of(tmp_path / code, code).drop(columns="geometry"))
    shared = pd.DataFrame(sites_of(out, code).drop(columns="geometry"))
    pd.testing.assert_frame_equal(own, shared, check_exact=False, rtol=1e-9)


@pytest.mark.timeout(600)
def test_a_changed_street_re_ranks_only_its_municipality(
    country: Path, first_run: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(country / "cache"))
    # the nightly file: one footway on island B (GM9902) is gone, nothing else changed
    write_islands(country / "country.osm.pbf", load_core(country), SHIFTS, drop_street_of=1)
    manifest = national(country, tmp_path / "out")
    status = {m["gm_code"]: m["status"] for m in manifest["run_summary"]["municipalities"]}
    assert status == {"GM9901": "cached", "GM9902": "done", "GM9903": "cached"}
    (store,) = manifest["osm_store"]
    # a new file version: sliced again, from one parse
    assert store["parses"] == 1 and store["cut"] == 3
