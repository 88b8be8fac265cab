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
    code = main(["rank", "--osm", str(OSM), "--area", "GM0503", "--boundary", str(AREA),
                 "--out", str(out), *extra])
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
    frame = gpd.GeoDataFrame({"site_id": [f"S{i}" for i in range(len(geoms))]}, geometry=geoms,
                             crs=crs)
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
    code = main(["rank", "--osm", str(OSM), "--area", "GM9999", "--cbs", str(cbs), "--out", str(out)])
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
