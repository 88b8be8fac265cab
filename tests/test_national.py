"""`magicmix-geo national` and `run`/`rank` through the result cache, on a local Dask cluster.

The multi-municipality dataset is real data split synthetically: the bundled Delft sample's
area (TU campus + Wippolder) cut into a west and an east half, two pseudo-municipalities
GM9901 and GM9902 over the same real OSM and BAG files (no CBS file: its figures are of
GM0503 only). GM9903 points at a boundary that does not exist, to fail on purpose.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from magicmix_geo._errors import InputError
from magicmix_geo.cli import main
from magicmix_geo.national import parse_codes, read_areas_file

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def make_split_dataset(folder: Path, *, broken: bool = True) -> Path:
    """West/east halves of the sample area as GM9901/GM9902 (+ a broken GM9903); the TOML."""
    folder.mkdir(parents=True, exist_ok=True)
    area = gpd.read_file(SAMPLE / "area_tudelft_wippolder.gpkg", engine="pyogrio")
    polygon = area.geometry.iloc[0]
    minx, miny, maxx, maxy = polygon.bounds
    mid = (minx + maxx) / 2
    halves = {
        "GM9901": box(minx - 1, miny - 1, mid, maxy + 1),
        "GM9902": box(mid, miny - 1, maxx + 1, maxy + 1),
    }
    for code, cut in halves.items():
        gpd.GeoDataFrame(
            {"gm_code": [code], "name": [f"{code} (synthetic half of the Delft sample)"]},
            geometry=[polygon.intersection(cut)],
            crs=area.crs,
        ).to_file(folder / f"{code}.gpkg", engine="pyogrio")
    text = (
        "# real data (the Delft sample), synthetic split into pseudo-municipalities\n"
        "[defaults]\n"
        f'osm = "{SAMPLE / "tudelft.osm.pbf"}"\n'
        f'bag = "{SAMPLE / "bag_panden_delft_wippolder.gpkg"}"\n'
        '\n[[municipality]]\ngm_code = "GM9901"\nboundary = "GM9901.gpkg"\n'
        '\n[[municipality]]\ngm_code = "GM9902"\nboundary = "GM9902.gpkg"\n'
    )
    if broken:
        text += '\n[[municipality]]\ngm_code = "GM9903"\nboundary = "no_such_boundary.gpkg"\n'
    (folder / "areas.toml").write_text(text, encoding="utf-8")
    return folder / "areas.toml"


def sites_of(out: Path, code: str) -> gpd.GeoDataFrame:
    (gpkg,) = out.glob(f"{code}_*.gpkg")
    return gpd.read_file(gpkg, layer="sites", engine="pyogrio")


def test_areas_file_is_checked(tmp_path: Path) -> None:
    areas = read_areas_file(make_split_dataset(tmp_path))
    assert [a.gm_code for a in areas] == ["GM9901", "GM9902", "GM9903"]
    assert areas[0].boundary == tmp_path / "GM9901.gpkg"
    assert areas[0].osm == SAMPLE / "tudelft.osm.pbf"
    bad = tmp_path / "bad.toml"
    for text, message in [
        ('[[municipality]]\ngm_code = "GM0001"\nosm = "x"\ncolour = 1\n', "colour"),
        ('[[municipality]]\ngm_code = "GM0001"\n', "'osm' is required"),
        ('[[municipality]]\ngm_code = "0001"\nosm = "x"\n', "not a code"),
        (
            '[[municipality]]\ngm_code = "GM0001"\nosm = "x"\n'
            '[[municipality]]\ngm_code = "GM0001"\nosm = "x"\n',
            "listed twice",
        ),
        ("[defaults]\n", "no [[municipality]]"),
    ]:
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=re.escape(message)):
            read_areas_file(bad)
    assert parse_codes("gm0503, GM0363") == ["GM0503", "GM0363"]
    with pytest.raises(InputError, match="--areas"):
        parse_codes("Delft")


def test_national_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    areas = make_split_dataset(tmp_path)
    assert main(["national", "--areas-file", str(areas), "--areas", "GM0001"]) == 2
    assert "GM0001 not in the list" in capsys.readouterr().err
    assert main(["national"]) == 2
    assert "--all" in capsys.readouterr().err


@pytest.mark.timeout(240)
def test_national_local_cluster_incremental_and_failure_isolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    areas = make_split_dataset(tmp_path / "data")
    out = tmp_path / "national"
    command = ["national", "--areas-file", str(areas), "--all", "--workers", "2", "--out", str(out)]

    clock = time.perf_counter()
    assert main(command) == 1  # GM9903 failed; the others are published
    first = time.perf_counter() - clock
    err = capsys.readouterr().err
    assert "LocalCluster (2 workers)" in err
    manifest = json.loads((out / "manifest.json").read_text())
    summary = manifest["run_summary"]
    status = {m["gm_code"]: m["status"] for m in summary["municipalities"]}
    assert status == {"GM9901": "done", "GM9902": "done", "GM9903": "failed"}, summary
    failed = next(m for m in summary["municipalities"] if m["gm_code"] == "GM9903")
    assert "no_such_boundary.gpkg: boundary file not found" in failed["error"]
    assert summary["failed"] == ["GM9903"]
    assert {m["gm_code"] for m in manifest["municipalities"]} == {"GM9901", "GM9902"}
    ranking = pd.read_csv(out / "national_ranking.csv")
    assert set(ranking["gm_code"]) == {"GM9901", "GM9902"}
    assert not list(out.glob("GM9903_*"))

    # unchanged inputs: nothing recomputed, no cluster started, outputs left as they were
    stamp = (out / "manifest.json").stat().st_mtime_ns
    clock = time.perf_counter()
    assert main(command) == 1
    again = time.perf_counter() - clock
    err = capsys.readouterr().err
    assert "nothing to rank; 2 unchanged" in err
    assert "up to date" in err
    assert (out / "manifest.json").stat().st_mtime_ns == stamp

    # one changed input: only the municipality that reads it is recomputed
    east = gpd.read_file(tmp_path / "data" / "GM9902.gpkg", engine="pyogrio")
    east["geometry"] = east.buffer(-20)
    east.to_file(tmp_path / "data" / "GM9902.gpkg", engine="pyogrio")
    assert main(command) == 1
    capsys.readouterr()
    summary = json.loads((out / "manifest.json").read_text())["run_summary"]
    status = {m["gm_code"]: m["status"] for m in summary["municipalities"]}
    assert status == {"GM9901": "cached", "GM9902": "done", "GM9903": "failed"}, summary
    print(
        f"national (LocalCluster, 2 municipalities): first {first:.1f} s, "
        f"re-run {again:.1f} s, ratio {again / first:.3f}"
    )


@pytest.mark.timeout(180)
def test_rank_uses_the_result_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    make_split_dataset(tmp_path / "data", broken=False)
    command = [
        "rank",
        "--osm",
        str(SAMPLE / "tudelft.osm.pbf"),
        "--area",
        "GM9901",
        "--boundary",
        str(tmp_path / "data" / "GM9901.gpkg"),
    ]
    clock = time.perf_counter()
    assert main([*command, "--out", str(tmp_path / "a")]) == 0
    first = time.perf_counter() - clock
    assert "from the cache" not in capsys.readouterr().err
    clock = time.perf_counter()
    assert main([*command, "--out", str(tmp_path / "b")]) == 0
    again = time.perf_counter() - clock
    assert "from the cache" in capsys.readouterr().err
    pd.testing.assert_frame_equal(
        sites_of(tmp_path / "b", "GM9901"), sites_of(tmp_path / "a", "GM9901")
    )
    assert again < first, (first, again)
    print(f"rank GM9901: first {first:.1f} s, cached {again:.1f} s")


def test_results_do_not_depend_on_the_number_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Determinism: in-process and on a 2-worker LocalCluster, identical rankings and
    attributes (no result cache, so both really compute)."""
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    areas = make_split_dataset(tmp_path / "data")
    tables = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}"
        code = main(
            [
                "national",
                "--areas-file",
                str(areas),
                "--areas",
                "GM9901,GM9902",
                "--workers",
                workers,
                "--no-cache",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        assert code == 0
        frames = []
        for gpkg in sorted(out.glob("GM99*.gpkg")):
            sites = gpd.read_file(gpkg, layer="sites", engine="pyogrio")
            sites["wkb"] = sites.geometry.to_wkb()
            frames.append(pd.DataFrame(sites.drop(columns="geometry")))
        tables[workers] = (
            pd.concat(frames, ignore_index=True),
            pd.read_csv(out / "national_ranking.csv"),
        )
    pd.testing.assert_frame_equal(tables["0"][0], tables["2"][0], check_exact=True)
    pd.testing.assert_frame_equal(tables["0"][1], tables["2"][1], check_exact=True)
