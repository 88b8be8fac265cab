"""The format of the OSM store's cached extracts: PBF with lz4-compressed blocks where the
installed osmium writes lz4 (cheaper to write than zlib), read by libosmium (pyosmium) into
the same data as a zlib-compressed copy; zlib where osmium has no lz4.

PBF blob layout (https://wiki.openstreetmap.org/wiki/PBF_Format): a ``Blob`` holds its data
in field 1 (``raw``), 3 (``zlib_data``) or 6 (``lz4_data``, libosmium's fileformat.proto).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import Extent, extract_areas, extract_output_format
from magicmix_geo.prepare.osm import read_osm_for
from magicmix_geo.prepare.sorted_pbf import blobs, read_varint
from tests._islands import load_core, moved_area, write_islands
from tests.test_osm_store_sparse_ids import assert_same_osm

BLOB_FIELDS = {1: "none", 3: "zlib", 6: "lz4"}
SHIFTS = [(0.0, 0.0), (0.4, 0.0)]


def compressions(path: Path) -> set[str]:
    """The compression of every data blob of ``path``."""
    found = set()
    data = path.read_bytes()
    for blob in blobs(path)[1:]:
        header_length = int.from_bytes(data[blob.offset : blob.offset + 4], "big")
        body = data[blob.offset + 4 + header_length : blob.offset + blob.size]
        pos = 0
        while pos < len(body):
            key, pos = read_varint(body, pos)
            field, wire = key >> 3, key & 7
            value, pos = read_varint(body, pos)
            if wire == 2:
                found.add(BLOB_FIELDS.get(field, f"field {field}"))
                pos += value
    return found


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    work = tmp_path_factory.mktemp("format")
    core = load_core(work)
    source = work / "country.osm.pbf"
    write_islands(source, core, SHIFTS)
    squares = gpd.GeoSeries([moved_area(core, s, 0.006) for s in SHIFTS], crs=4326)
    areas = squares.to_crs(28992)
    run = extract_areas(
        source, [Extent(f"GM99{k:02d}", a) for k, a in enumerate(areas)], 200.0, work / "store"
    )
    return work, run.paths


@pytest.fixture
def fresh_format() -> Iterator[None]:
    extract_output_format.cache_clear()
    yield
    extract_output_format.cache_clear()


def test_extracts_are_lz4_and_read_like_a_zlib_copy(cut: tuple[Path, dict[str, Path]]) -> None:
    assert "lz4" in subprocess.run(["osmium", "--version"], capture_output=True, text=True).stdout
    work, paths = cut
    settings = load_settings()
    for key, path in paths.items():
        assert compressions(path) == {"lz4"}
        copy = work / f"{key}-zlib.osm.pbf"
        subprocess.run(
            ["osmium", "cat", "-O", "-f", "pbf,pbf_compression=zlib", "-o", str(copy), str(path)],
            check=True,
        )
        assert compressions(copy) == {"zlib"}
        got = read_osm_for(path, settings)
        assert len(got.walk.way_ids) > 100 and len(got.features) > 100
        assert_same_osm(got, read_osm_for(copy, settings))


def test_an_osmium_without_lz4_writes_zlib_extracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_format: None
) -> None:
    fake = tmp_path / "bin" / "osmium"
    fake.parent.mkdir()
    # osmium-tool 1.13's `--version` has no lz4 among its compression types
    fake.write_text(
        "#!/bin/sh\necho 'osmium version 1.13.2'\necho 'libosmium version 2.17.3'\n"
        "echo 'Supported PBF compression types: none zlib'\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert extract_output_format() == "pbf,pbf_compression=zlib"
