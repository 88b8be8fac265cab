"""Bad input of every kind: exit 2, one line naming the file/key/value, no output at all."""

from __future__ import annotations

import errno
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from magicmix_geo.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
OSM = SAMPLE / "tudelft.osm.pbf"
AREA = SAMPLE / "area_tudelft_wippolder.gpkg"


def _rank(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    code = main(
        [
            "rank",
            "--osm",
            str(OSM),
            "--area",
            "GM0503",
            "--boundary",
            str(AREA),
            "--out",
            str(out),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    return code, err, out


def _error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("magicmix-geo: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _candidates(tmp_path: Path, geoms: list, crs: str | None, name: str = "c.gpkg") -> Path:
    import warnings

    path = tmp_path / name
    frame = gpd.GeoDataFrame(
        {"site_id": [f"S{i}" for i in range(len(geoms))]}, geometry=geoms, crs=crs
    )
    with warnings.catch_warnings():
        # writing a file without a CRS on purpose
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        frame.to_file(path, engine="pyogrio")
    return path


# a 60 x 60 m square on a Wippolder street block (EPSG:28992)
SQUARE = shapely.box(85150, 446600, 85210, 446660)


def test_truncated_pbf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(OSM.read_bytes()[: OSM.stat().st_size // 2])
    out = tmp_path / "out"
    code = main(["rank", "--osm", str(cut), "--area", "GM0503", "--out", str(out)])
    line = _error(capsys.readouterr().err)
    assert code == 2 and str(cut) in line
    _nothing_written(tmp_path, out)


def test_osm_outside_the_netherlands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paris = tmp_path / "paris.osm"
    paris.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version='0.6'>\n"
        "<node id='1' lat='48.8530' lon='2.3490'/><node id='2' lat='48.8540' lon='2.3500'/>\n"
        "<node id='3' lat='48.8550' lon='2.3490'/>\n"
        "<way id='10'><nd ref='1'/><nd ref='2'/><nd ref='3'/><tag k='highway' v='footway'/></way>\n"
        "</osm>\n"
    )
    out = tmp_path / "out"
    code = main(["rank", "--osm", str(paris), "--area", "GM0503", "--out", str(out)])
    line = _error(capsys.readouterr().err)
    assert code == 2 and str(paris) in line and "outside the Netherlands" in line
    _nothing_written(tmp_path, out)


def test_candidates_without_crs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _candidates(tmp_path, [SQUARE], None)
    code, err, out = _rank(tmp_path, capsys, "--candidates", str(path))
    line = _error(err)
    assert code == 2 and str(path) in line and "CRS" in line
    _nothing_written(tmp_path, out)


def test_candidates_with_a_wrong_crs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # RD metres labelled as degrees: lands nowhere near the area
    path = _candidates(tmp_path, [SQUARE], "EPSG:4326")
    code, err, out = _rank(tmp_path, capsys, "--candidates", str(path))
    line = _error(err)
    assert code == 2 and str(path) in line
    _nothing_written(tmp_path, out)


def test_candidates_outside_the_area(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _candidates(tmp_path, [shapely.box(181150, 456440, 181250, 456750)], "EPSG:28992")
    code, err, out = _rank(tmp_path, capsys, "--candidates", str(path))
    line = _error(err)
    assert code == 2 and str(path) in line and "inside the area" in line
    _nothing_written(tmp_path, out)


def test_self_intersecting_and_empty_geometries_are_repaired_or_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x0, y0 = 85150, 446600
    bowtie = shapely.Polygon([(x0, y0), (x0 + 60, y0 + 60), (x0 + 60, y0), (x0, y0 + 60)])
    path = _candidates(tmp_path, [bowtie, SQUARE, shapely.Polygon()], "EPSG:28992")
    code, err, out = _rank(tmp_path, capsys, "--candidates", str(path))
    assert code == 0, err
    sites = gpd.read_file(out / "GM0503_GM0503.gpkg", layer="sites", engine="pyogrio")
    assert sorted(sites["site_id"]) == ["S0", "S1"]  # the empty one is dropped, the bowtie repaired
    assert sites.geometry.is_valid.all()
    assert sites.loc[sites["site_id"] == "S0", "area_m2"].iloc[0] == pytest.approx(1800, rel=1e-6)


def test_unknown_gm_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cbs = SAMPLE / "cbs_gemeenten_2020_gm0503.gpkg"
    out = tmp_path / "out"
    code = main(
        ["rank", "--osm", str(OSM), "--area", "GM9999", "--cbs", str(cbs), "--out", str(out)]
    )
    line = _error(capsys.readouterr().err)
    assert code == 2 and str(cbs) in line and "GM9999" in line
    _nothing_written(tmp_path, out)


def test_cbs_file_without_code_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cbs = tmp_path / "cbs.gpkg"
    gpd.GeoDataFrame({"inwoners": [1]}, geometry=[SQUARE], crs="EPSG:28992").to_file(
        cbs, engine="pyogrio"
    )
    code, err, out = _rank(tmp_path, capsys, "--cbs", str(cbs))
    line = _error(err)
    assert code == 2 and str(cbs) in line
    _nothing_written(tmp_path, out)


def test_output_folder_not_writable(capsys: pytest.CaptureFixture[str]) -> None:
    out = Path("/proc/magicmix-out")  # not writable even for root
    code = main(["run", "--out", str(out)])
    line = _error(capsys.readouterr().err)
    assert code == 2 and str(out) in line
    assert not out.exists()


def test_full_disk_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import magicmix_geo.publish.run as pipeline

    def disk_full(path: Path, *args: object, **kwargs: object) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(b"half a map")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pipeline, "write_interactive_map", disk_full)
    code, err, out = _rank(tmp_path, capsys)
    line = _error(err)
    assert code == 2 and "No space left on device" in line and "GM0503.html" in line
    _nothing_written(tmp_path, out)


# -- candidate rows that cannot be used are said, never lost silently (issue #16) -------------

SQUARE_WKT = "POLYGON((85150 446600, 85210 446600, 85210 446660, 85150 446660, 85150 446600))"
HOSTILE_ROWS = {
    "huge": "POLYGON((1e300 1e300, 1.1e300 1e300, 1.1e300 1.1e300, 1e300 1.1e300, 1e300 1e300))",
    "zero": "POLYGON((85150 446600, 85160 446610, 85170 446620, 85150 446600))",
    "inf": "POLYGON((inf 446600, 85210 446600, 85210 446660, 85150 446660, inf 446600))",
    # inside the Netherlands, outside the Wippolder study area
    "far": "POLYGON((181150 456440, 181250 456440, 181250 456750, 181150 456750, 181150 456440))",
}


def _csv(path: Path, rows: dict[str, str]) -> Path:
    lines = ["site_id,wkt", *(f'{k},"{v}"' for k, v in rows.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_candidate_rows_left_out_are_reported_on_stderr_and_in_the_manifest(
    tmp_path: Path,
) -> None:
    import json
    import os
    import shutil
    import subprocess
    import sys

    # the usable site's id has glyphs no bundled font has and a mathtext formula: the PDF
    # report must neither warn nor fail on it
    path = _csv(tmp_path / "sites.csv", {"站点😀 $\\frac{x": SQUARE_WKT, **HOSTILE_ROWS})
    area = tmp_path / "my_area.gpkg"  # the user's own study area (a copy of the sample's)
    shutil.copy(AREA, area)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAGICMIX_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "magicmix_geo.cli",
            "rank",
            "--osm",
            str(OSM),
            "--area",
            "GM0503",
            "--boundary",
            str(area),
            "--candidates",
            str(path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln.lower()]
    assert len(warnings) == 1, proc.stderr  # one line, and no other warning of any kind
    line = warnings[0]
    assert line.startswith("magicmix-geo: warning:") and str(path) in line
    assert "4 of 5 candidate rows left out" in line
    for reason in ("not finite", "no area", "outside the Netherlands", "outside the study area"):
        assert reason in line, reason
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = [i for i in manifest["inputs"] if i["source"] == "candidates"]
    assert entry["rows"]["rows_in_file"] == 5 and entry["rows"]["rows_used"] == 1
    assert entry["rows"]["rows_dropped"] == 4 and sum(entry["rows"]["reasons"].values()) == 4
    assert entry["rows"]["examples"]["outside the study area"] == [4]
    # the user's own files are not labelled as CBS data
    (boundary,) = [i for i in manifest["inputs"] if i["source"] == "boundary"]
    assert entry["licence"] == boundary["licence"] == "user-supplied"
    assert "CBS" not in entry["attribution"] and "CBS" not in boundary["attribution"]


def test_cbs_files_and_the_samples_cbs_area_keep_their_licence(sample_run: Path) -> None:
    import json

    manifest = json.loads((sample_run / "manifest.json").read_text())
    cbs = [i for i in manifest["inputs"] if i["source"] in ("cbs", "boundary")]
    assert {i["source"] for i in cbs} == {"cbs", "boundary"}
    assert all(i["attribution"] == "Bron: CBS, Kadaster" for i in cbs)


def test_a_wgs84_feature_in_an_rd_geojson_is_reported(tmp_path: Path) -> None:
    from magicmix_geo.prepare.candidates import drop_summary, read_candidates

    lonlat = shapely.box(4.36, 52.0, 4.37, 52.01)
    path = _candidates(tmp_path, [SQUARE, lonlat], "EPSG:28992", name="mixed.geojson")
    sites = read_candidates(path)
    assert sites["site_id"].tolist() == ["S0"]
    summary = drop_summary(sites)
    assert summary["rows_dropped"] == 1
    assert list(summary["reasons"]) == [
        "outside the Netherlands (EPSG:28992 area of use; degrees in a metre file?)"
    ]
    assert summary["examples"] == {next(iter(summary["reasons"])): [1]}


@pytest.mark.parametrize("rows", [["huge", "inf"], ["zero", "inf"], ["far"]])
def test_a_candidates_file_with_nothing_usable_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str]
) -> None:
    path = _csv(tmp_path / "sites.csv", {k: HOSTILE_ROWS[k] for k in rows})
    code, err, out = _rank(tmp_path, capsys, "--candidates", str(path))
    line = _error(err)
    assert code == 2 and str(path) in line and f"all {len(rows)} rows were dropped" in line
    assert "GEOSException" not in err
    _nothing_written(tmp_path, out)
