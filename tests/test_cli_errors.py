"""Bad input exits 2 with one line naming the file, key or value, and writes nothing."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from magicmix_geo.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_OSM = ROOT / "data" / "sample" / "tudelft.osm.pbf"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line]


def _assert_nothing_written(parent: Path, out: Path) -> None:
    assert not out.exists()
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.osm.pbf", "not found"),
        (lambda d: _write(d / "empty.osm.pbf", b""), "OSM file is empty"),
        (
            lambda d: _write(d / "garbage.osm.pbf", b"\x00\x01this is not a PBF" * 50),
            "cannot read OSM",
        ),
        (lambda d: _write(d / "broken.osm", b"<osm><node id='1' lat="), "cannot read OSM"),
        (
            lambda d: _write(d / "cut.osm.gz", gzip.compress(b"<osm version='0.6'></osm>")),
            "no walkable ways",
        ),
        (lambda d: _write(d / "notes.txt", b"hello"), "not an OSM file name"),
    ],
)
def test_bad_osm_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, needle: str
) -> None:
    osm = make(tmp_path)
    out = tmp_path / "out"
    code, err = _run(["rank", "--osm", str(osm), "--area", "GM0503", "--out", str(out)], capsys)
    assert code == 2
    lines = _error_lines(err)
    assert len(lines) == 1, err
    assert str(osm) in lines[0] and needle in lines[0]
    assert "Traceback" not in err
    _assert_nothing_written(tmp_path, out)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_unknown_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _run(
        [
            "rank",
            "--osm",
            str(SAMPLE_OSM),
            "--area",
            "GM0503",
            "--profile",
            "students",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 2
    assert "unknown profile 'students'" in _error_lines(err)[0]
    _assert_nothing_written(tmp_path, out)


def test_unknown_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[exclusions]\nmax_walk_to_tram_m = 500\n")
    out = tmp_path / "out"
    code, err = _run(["run", "--config", str(cfg), "--out", str(out)], capsys)
    assert code == 2
    line = _error_lines(err)[0]
    assert str(cfg) in line and "exclusions.max_walk_to_tram_m" in line
    _assert_nothing_written(tmp_path, out)


def test_out_of_range_weight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[profiles.families]\nprimary_school = 1000\n")
    out = tmp_path / "out"
    code, err = _run(["run", "--config", str(cfg), "--out", str(out)], capsys)
    assert code == 2
    assert "profiles.families.primary_school" in _error_lines(err)[0]
    _assert_nothing_written(tmp_path, out)


def test_output_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "already_a_file"
    out.write_text("keep me")
    code, err = _run(["run", "--out", str(out)], capsys)
    assert code == 2
    assert str(out) in _error_lines(err)[0] and "not a directory" in err
    assert out.read_text() == "keep me"


def test_bad_area_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _run(
        ["rank", "--osm", str(SAMPLE_OSM), "--area", "Delft", "--out", str(out)], capsys
    )
    assert code == 2
    assert "'Delft'" in _error_lines(err)[0]
    _assert_nothing_written(tmp_path, out)


def test_console_script_exit_code_and_single_line(tmp_path: Path) -> None:
    """The installed entry point behaves the same as main() (exit status, one stderr line)."""
    exe = Path(sys.executable).with_name("magicmix-geo")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "magicmix_geo.cli"]
    missing = tmp_path / "nowhere.osm.pbf"
    proc = subprocess.run(
        [*command, "rank", "--osm", str(missing), "--area", "GM0503", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("magicmix-geo: error:")
    assert str(missing) in proc.stderr


def test_rank_on_a_copy_of_the_sample_osm_in_other_formats(tmp_path: Path) -> None:
    """.osm and .osm.gz/.osm.bz2 are read like the PBF (the same network)."""
    import bz2

    import osmium

    from magicmix_geo.config import load_settings
    from magicmix_geo.prepare.network import build_network
    from magicmix_geo.prepare.osm import read_osm

    xml = tmp_path / "sample.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(SAMPLE_OSM)):
            writer.add(obj)
    gz = tmp_path / "sample.osm.gz"
    bz = tmp_path / "sample.osm.bz2"
    with xml.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    bz.write_bytes(bz2.compress(xml.read_bytes()))
    walk = load_settings().walk.way_filter
    sizes = set()
    for path in (SAMPLE_OSM, xml, gz, bz):
        net = build_network(read_osm(path, walk, ["amenity"], ["amenity"]).walk)
        sizes.add((net.n_nodes, net.n_segments, round(float(net.seg_length.sum()), 6)))
    assert len(sizes) == 1


# -- --out at an existing folder (issue #16): only one of our runs may be replaced -------------


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("magicmix-geo: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_out_at_a_users_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("three weeks of field notes")
    before = _snapshot(out)
    code, err = _run(["run", "--out", str(out)], capsys)
    line = _one_error_line(err)
    assert code == 2 and str(out) in line and "notes.txt" in line and "refusing" in line
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_out_at_the_folder_of_the_runs_own_inputs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    osm = data / "delft.osm.pbf"
    shutil.copy(SAMPLE_OSM, osm)
    area = data / "area.gpkg"
    shutil.copy(ROOT / "data" / "sample" / "area_tudelft_wippolder.gpkg", area)
    before = _snapshot(data)
    code, err = _run(
        [
            "rank",
            "--osm",
            str(osm),
            "--area",
            "GM0503",
            "--boundary",
            str(area),
            "--out",
            str(data),
        ],
        capsys,
    )
    line = _one_error_line(err)
    assert code == 2 and str(data) in line and "delft.osm.pbf" in line
    assert _snapshot(data) == before
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("with_file", [True, False])
def test_out_dot_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    with_file: bool,
) -> None:
    here = tmp_path / "work"
    here.mkdir()
    if with_file:
        (here / "notes.txt").write_text("keep")
    monkeypatch.chdir(here)
    before = _snapshot(here)
    code, err = _run(["run", "--out", "."], capsys)
    line = _one_error_line(err)
    assert code == 2 and "current folder" in line
    assert here.is_dir() and _snapshot(here) == before
    assert _hidden(here) == [] and _hidden(tmp_path) == []


def test_a_previous_run_is_replaced_but_not_with_a_users_file_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sample_run: Path
) -> None:
    import json

    out = tmp_path / "run"
    shutil.copytree(sample_run, out)
    old_id = json.loads((out / "manifest.json").read_text())["run_id"]
    (out / "maps" / "my_sketch.png").write_bytes(b"not ours")
    code, err = _run(["run", "--out", str(out)], capsys)
    line = _one_error_line(err)
    assert code == 2 and "maps/my_sketch.png" in line
    assert (out / "maps" / "my_sketch.png").read_bytes() == b"not ours"
    assert json.loads((out / "manifest.json").read_text())["run_id"] == old_id

    (out / "maps" / "my_sketch.png").unlink()
    code, err = _run(["run", "--out", str(out)], capsys)
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["run_id"] != old_id
    assert _hidden(tmp_path) == []


def test_a_file_put_into_the_run_folder_while_it_is_written_stops_the_swap(
    tmp_path: Path,
) -> None:
    from magicmix_geo._atomic import atomic_directory
    from magicmix_geo._errors import OutputError

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError, match=r"notes\.txt"), atomic_directory(out) as tmp:
        (tmp / "manifest.json").write_text("{}")
        (out / "notes.txt").write_text("written meanwhile")
    assert (out / "notes.txt").read_text() == "written meanwhile"
    assert _hidden(tmp_path) == []


# -- one clear line for careless settings and environments (issue #16) ------------------------


def test_a_bad_way_filter_regex_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text('[walk]\nway_filter = \'["highway"]["highway"!~"abandoned|(bus"]\'\n')
    out = tmp_path / "out"
    code, err = _run(["run", "--config", str(cfg), "--out", str(out)], capsys)
    line = _one_error_line(err)
    assert code == 2 and str(cfg) in line and "walk.way_filter" in line and "(bus" in line
    _assert_nothing_written(tmp_path, out)


def test_a_dask_address_without_a_port_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    areas = tmp_path / "areas.toml"
    areas.write_text(
        f'[[municipality]]\ngm_code = "GM0503"\nosm = "{SAMPLE_OSM}"\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    clock = time.perf_counter()
    code, err = _run(
        [
            "national",
            "--areas-file",
            str(areas),
            "--all",
            "--no-cache",
            "--dask-address",
            "tcp://127.0.0.1:notaport",
            "--out",
            str(out),
        ],
        capsys,
    )
    seconds = time.perf_counter() - clock
    line = _one_error_line(err)
    assert code == 2 and "tcp://127.0.0.1:notaport" in line and "HOST:PORT" in line
    assert seconds < 10, seconds  # Dask alone tries for a minute, then prints a traceback
    _assert_nothing_written(tmp_path, out)


def test_serve_with_an_unreachable_prefect_server_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert main(["serve"]) == 2
    err = capfd.readouterr().err
    line = _one_error_line(err)
    assert "PREFECT_API_URL" in line and url in line and "prefect server start" in line


def test_a_full_disk_while_writing_the_geopackage_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL says a full disk in its own words (seen on a 2 MB tmpfs: "Could not add feature to
    layer at index 2599: failed to execute insert : database or disk is full")."""
    import pyogrio.errors

    import magicmix_geo.publish.gpkg as gpkg

    def disk_full(path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"SQLite format 3\0 half a GeoPackage")
        raise pyogrio.errors.FeatureError(
            "Could not add feature to layer at index 2599: failed to execute insert : "
            "database or disk is full"
        )

    monkeypatch.setattr(gpkg, "_write_layer", disk_full)
    out = tmp_path / "out"
    code, err = _run(["run", "--out", str(out)], capsys)
    line = _one_error_line(err)
    assert code == 2 and "disk is full" in line
    assert f"{out}/GM0503_" in line and ".gpkg" in line and ".partial" not in line
    _assert_nothing_written(tmp_path, out)
