"""The result cache trusts no byte: no pickle, a checksum, a type check, and it never stops a run.

Unit tests use a small hand-made result with the column kinds of a real one (nullable ints,
booleans, text with None, a raster); the command-line tests run the real sample.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import pickle
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import Point, box

from magicmix_geo._errors import InputError
from magicmix_geo.cache import ResultCache
from magicmix_geo.cli import main
from magicmix_geo.measure.density import Raster
from magicmix_geo.pipeline import MunicipalityResult
from magicmix_geo.result_store import MAGIC, dump_result

KEY = "ab" + "c" * 62


def small_result() -> MunicipalityResult:
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["S1", "S2", "S3"],
            "score_total": [0.8, np.nan, 0.3],
            "excluded": [False, True, False],
            "exclusion_reason": [None, "industrial land within 300 m", None],
            "rank_gm": pd.array([1, pd.NA, 2], dtype="Int64"),
            "n_pt_stop_400m": np.array([3, 0, 1], dtype="int64"),
        },
        geometry=[box(85000 + 100 * i, 447000, 85060 + 100 * i, 447060) for i in range(3)],
        crs="EPSG:28992",
    )
    sites.attrs["dropped_rows"] = {"count": 2, "reasons": {"zero area": 2}}
    stops = gpd.GeoDataFrame(
        {"name": ["Delft, Mekelpark"], "osm_id": [201]},
        geometry=[Point(85100, 447150)],
        crs="EPSG:28992",
    )
    raster = Raster(
        np.arange(12, dtype="float64").reshape(3, 4),
        Affine(25.0, 0.0, 84100.0, 0.0, -25.0, 446800.0),
        description="walking distance to the nearest supermarket (m)",
        units="m",
    )
    return MunicipalityResult(
        gm_code="GM0503",
        gm_name="Delft",
        layers={"sites": sites, "stops": stops},
        network={"nodes": 10, "segments": 12},
        inputs=[{"source": "osm", "path": "x.osm.pbf", "sha256": "0" * 64}],
        candidate_source="osm_proxy",
        timings={"read_osm_s": 1.5},
        rasters={"dist_supermarket_m": raster},
    )


def assert_same(a: MunicipalityResult, b: MunicipalityResult) -> None:
    for field in ("gm_code", "gm_name", "network", "inputs", "candidate_source", "timings"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.layers.keys() == b.layers.keys()
    for name in a.layers:
        pd.testing.assert_frame_equal(
            pd.DataFrame(a.layers[name]), pd.DataFrame(b.layers[name]), check_exact=True
        )
        assert a.layers[name].crs == b.layers[name].crs
        assert a.layers[name].attrs == b.layers[name].attrs
    for name, raster in a.rasters.items():
        other = b.rasters[name]
        assert np.array_equal(raster.data, other.data) and raster.data.dtype == other.data.dtype
        assert (raster.transform, raster.description, raster.units, raster.crs) == (
            other.transform,
            other.description,
            other.units,
            other.crs,
        )


def test_a_result_comes_back_exactly(tmp_path: Path) -> None:
    result = small_result()
    cache = ResultCache(tmp_path)
    path = cache.store(KEY, result)
    assert path is not None and path.suffix == ".mmr"
    assert path.read_bytes().startswith(MAGIC)
    back = cache.load(KEY)
    assert back is not None
    assert_same(result, back)
    assert dump_result(result, KEY) == path.read_bytes()  # deterministic bytes


class _Touch:
    """A pickle that runs ``touch`` when it is unpickled."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.target}",))


def _planted_entries(marker: Path) -> dict[str, bytes]:
    payload = pickle.dumps(_Touch(marker))
    import hashlib

    framed = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    return {"bare pickle": payload, "pickle with a valid header and checksum": framed}


@pytest.mark.parametrize("kind", ["bare pickle", "pickle with a valid header and checksum"])
def test_a_planted_pickle_never_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    marker = tmp_path / "pwned"
    cache = ResultCache(tmp_path / "cache")
    path = cache.path_for(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(_planted_entries(marker)[kind])
    # the pickle is real: unpickling it would run touch
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        assert cache.load(KEY) is None
    assert not marker.exists()
    assert not path.exists()  # dropped
    assert len(caplog.records) == 1 and str(path) in caplog.records[0].getMessage()
    assert "dropped" in caplog.records[0].getMessage()


def test_every_flipped_byte_is_detected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    result = small_result()
    good = dump_result(result, KEY)
    cache = ResultCache(tmp_path)
    path = cache.path_for(KEY)
    rng = np.random.default_rng(16)
    positions = sorted({0, len(MAGIC) + 3, len(good) - 1, *rng.integers(0, len(good), 40).tolist()})
    for pos in positions:
        bad = bytearray(good)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(bad))
        with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
            assert cache.load(KEY) is None, pos
        assert not path.exists()


def test_a_flipped_bit_in_score_total_is_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import struct

    cache = ResultCache(tmp_path)
    path = cache.store(KEY, small_result())
    assert path is not None
    data = path.read_bytes()
    score = struct.pack("<d", 0.8)  # score_total of S1, as stored
    assert score in data
    # bit rot in the lowest mantissa bit: 0.8 would read as 0.8000000000000002
    path.write_bytes(data.replace(score, struct.pack("<d", 0.8000000000000002)))
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        assert cache.load(KEY) is None
    assert "checksum" in caplog.text


def _entry(meta: object, members: dict[str, bytes] | None = None) -> bytes:
    import hashlib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meta.json", json.dumps(meta))
        for name, data in (members or {}).items():
            archive.writestr(name, data)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _meta_of(result: MunicipalityResult) -> tuple[dict[str, object], dict[str, bytes]]:
    data = dump_result(result, KEY)
    payload = data[len(MAGIC) + 65 :]
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if n != "meta.json"}
        meta = json.loads(archive.read("meta.json"))
    return meta, members


@pytest.mark.parametrize(
    "change",
    [
        "meta is a list",
        "another key",
        "no sites layer",
        "network of text",
        "raster of objects",
        "layer is not parquet",
        "old format",
    ],
)
def test_an_entry_of_the_wrong_type_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    meta, members = _meta_of(small_result())
    if change == "meta is a list":
        meta = [meta]  # type: ignore[assignment]
    elif change == "another key":
        meta["key"] = "f" * 64
    elif change == "no sites layer":
        meta["layers"] = [item for item in meta["layers"] if item["name"] != "sites"]  # type: ignore[attr-defined]
    elif change == "network of text":
        meta["network"] = {"nodes": "many"}
    elif change == "raster of objects":
        members["rasters/0.npy"] = b"\x93NUMPY" + pickle.dumps(["x"])
    elif change == "layer is not parquet":
        members["layers/0.parquet"] = b"PAR1 not really"
    elif change == "old format":
        meta["format"] = 1
    cache = ResultCache(tmp_path)
    path = cache.path_for(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(_entry(meta, members))
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        assert cache.load(KEY) is None
    assert not path.exists()
    assert "dropped" in caplog.text


def test_a_cache_folder_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache"
    cache_file.write_text("not a folder")
    with pytest.raises(InputError, match="is a file"):
        ResultCache(cache_file)


# -- the command line: the cache never costs a run -------------------------------------------


def _one_line(err: str, prefix: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith(prefix)]


def test_run_with_a_planted_cache_entry_recomputes_and_runs_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(cache_dir))
    out = tmp_path / "out"
    assert main(["run", "--out", str(out)]) == 0
    entries = list((cache_dir / "results").rglob("*.mmr"))
    assert len(entries) == 1
    marker = tmp_path / "pwned"
    entries[0].write_bytes(pickle.dumps(_Touch(marker)))
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        code = main(["run", "--out", str(tmp_path / "again")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not marker.exists()
    assert "dropped" in caplog.text and str(entries[0]) in caplog.text
    assert "result from the cache" not in err  # recomputed, not served
    assert entries[0].read_bytes().startswith(MAGIC)  # and stored again, good


def test_an_unwritable_cache_warns_and_publishes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # /proc cannot take a folder, not even for root: a read-only cache
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", "/proc/magicmix-cache")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        code = main(["run", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (out / "manifest.json").is_file() and (out / "maps" / "GM0503.html").is_file()
    assert "result not cached" in caplog.text and "/proc/magicmix-cache" in caplog.text


def test_a_full_cache_warns_and_publishes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import magicmix_geo.cache as cache_module

    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(tmp_path / "cache"))
    real = cache_module.atomic_path

    def disk_full(target: Path):  # type: ignore[no-untyped-def]
        class Full:
            def __enter__(self) -> Path:
                self.inner = real(target)
                tmp = self.inner.__enter__()
                tmp.write_bytes(b"half an entry")
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

            def __exit__(self, *exc: object) -> bool:
                self.inner.__exit__(*exc)
                return False

        return Full()

    monkeypatch.setattr(cache_module, "atomic_path", disk_full)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="magicmix_geo.cache"):
        code = main(["run", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (out / "manifest.json").is_file()
    assert "No space left on device" in caplog.text and "the run goes on" in caplog.text
    assert not list((tmp_path / "cache").rglob("*.mmr")) and not list(
        (tmp_path / "cache").rglob(".*")
    )


def test_a_cache_folder_that_is_a_file_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache_file = tmp_path / "cache"
    cache_file.write_text("not a folder")
    monkeypatch.setenv("MAGICMIX_CACHE_DIR", str(cache_file))
    out = tmp_path / "out"
    code = main(["run", "--out", str(out)])
    lines = _one_line(capsys.readouterr().err, "magicmix-geo: error:")
    assert code == 2 and len(lines) == 1
    assert str(cache_file) in lines[0] and "MAGICMIX_CACHE_DIR" in lines[0]
    assert not out.exists()
