"""OSM slices: one municipality's part cut out of a parsed region equals what ``read_osm``
returns from the ``osmium extract --strategy smart`` extract of its polygon, row for row,
except for the rows the documented rule names (prepare/osm_slice.py), which this test finds
on its own from the file's ways and relations; slice files are deterministic, round-trip
exactly and refuse hostile or broken content with an InputError naming the file.

Data: the bundled real Delft sample (``data/sample/tudelft.osm.pbf``), whose core box is
lon 4.355-4.386, lat 51.995-52.005; polygons over it as the OSM store builds them
(``extract_polygon``, coordinates rounded as osmium is given them).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import extract_polygon
from magicmix_geo.prepare.osm import (
    OsmData,
    ReaderKeys,
    WalkWays,
    check_osm_path,
    osm_frame,
    project,
    read_osm,
    read_osm_for,
    reader_keys,
)
from magicmix_geo.prepare.osm_slice import slice_osm
from magicmix_geo.prepare.osm_slice_file import SLICE_SUFFIX, read_slice, write_slice
from tests._extracts import smart_extract

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "tudelft.osm.pbf"
CORE = (4.355, 51.995, 4.386, 52.005)  # lon/lat box of the sample's core (data/sample)
BUFFER_M = 100.0


def _rd(geometry: BaseGeometry) -> BaseGeometry:
    return gpd.GeoSeries([geometry], crs=4326).to_crs(28992).iloc[0]


def _areas() -> dict[str, BaseGeometry]:
    """Municipal areas (EPSG:28992) over the sample's core."""
    x0, y0, x1, y1 = shapely.bounds(_rd(box(*CORE)))
    w, h = x1 - x0, y1 - y0
    cx, cy = x0 + w / 2, y0 + h / 2
    concave = shapely.Polygon(  # an L through the middle of the built-up area
        [(x0, y0), (cx, y0), (cx, cy), (x1, cy), (x1, y1 - 0.2 * h), (x0, y1 - 0.2 * h)]
    )
    two = MultiPolygon(
        [box(x0, y0, x0 + 0.3 * w, y0 + 0.4 * h), box(x0 + 0.6 * w, cy, x0 + 0.9 * w, y1)]
    )
    return {
        "concave": concave,
        "small": box(cx - 150, cy - 150, cx + 150, cy + 150),
        "all": box(x0 - 30_000, y0 - 30_000, x1 + 30_000, y1 + 30_000),
        "two": two,
    }


def _osmium_polygon(area: BaseGeometry) -> MultiPolygon:
    """The extract polygon as the OSM store makes it (coordinates rounded to 1e-7 degrees)."""
    return extract_polygon(area, BUFFER_M)


@pytest.fixture(scope="module")
def keys() -> ReaderKeys:
    return reader_keys(load_settings())


def _read(path: Path, keys: ReaderKeys, crs: str = "EPSG:28992") -> OsmData:
    return read_osm(
        path,
        keys.way_filter,
        keys.feature_keys,
        keys.tag_columns,
        node_rules=keys.node_rules,
        crs=crs,
    )


@pytest.fixture(scope="module")
def region(keys: ReaderKeys) -> OsmData:
    return _read(SAMPLE, keys, crs="EPSG:4326")


# --- an independent model of the smart strategy, from the file's objects --------------------


@dataclass
class _Model:
    """Which objects ``osmium extract --strategy smart`` writes, and where the slice's rule
    (prepare/osm_slice.py) knowingly differs, computed from the sample's nodes, ways and
    relations (not from the reader's output)."""

    node_inside: set[int]
    way_inside: set[int]  # ways with a node inside
    completed: set[int]  # ways written only as members of a written multipolygon
    way_nodes: dict[int, list[int]]
    member_ways: dict[int, list[int]]  # per relation
    boundary_partial: set[int]  # type=boundary relations with a member way not written
    no_vertex_inside: set[int]  # relations written with no member way node inside


def _model(polygon: BaseGeometry) -> _Model:
    locations: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[int]] = {}
    relations: dict[int, tuple[str | None, list[int], list[int]]] = {}
    for obj in osmium.FileProcessor(str(SAMPLE)):
        if isinstance(obj, osmium.osm.Node):
            locations[obj.id] = (obj.location.x / 1e7, obj.location.y / 1e7)
        elif isinstance(obj, osmium.osm.Way):
            ways[obj.id] = [n.ref for n in obj.nodes]
        elif isinstance(obj, osmium.osm.Relation):
            members = [(m.type, m.ref) for m in obj.members]
            relations[obj.id] = (
                obj.tags.get("type"),
                [ref for kind, ref in members if kind == "w"],
                [ref for kind, ref in members if kind == "n"],
            )
    ids = np.fromiter(locations, dtype=np.int64)
    xy = np.array(list(locations.values()))
    node_inside = set(ids[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])].tolist())
    way_inside = {w for w, nodes in ways.items() if node_inside.intersection(nodes)}
    completed: set[int] = set()
    no_vertex_inside: set[int] = set()
    boundary_partial: set[int] = set()
    for rid, (kind, member_ways, member_nodes) in relations.items():
        touched = way_inside.intersection(member_ways)
        if kind == "multipolygon" and (touched or node_inside.intersection(member_nodes)):
            completed |= set(member_ways) - way_inside
            if not touched:
                no_vertex_inside.add(rid)
        if kind == "boundary" and touched and set(member_ways) - way_inside:
            boundary_partial.add(rid)
    completed &= set(ways)
    members_of = {rid: record[1] for rid, record in relations.items()}
    return _Model(
        node_inside, way_inside, completed, ways, members_of, boundary_partial, no_vertex_inside
    )


def _keys(frame: gpd.GeoDataFrame) -> list[tuple[str, int]]:
    types = frame["osm_type"] if "osm_type" in frame else ["way"] * len(frame)
    return list(zip(types, frame["osm_id"].tolist(), strict=True))


def _without(frame: gpd.GeoDataFrame, drop: set[tuple[str, int]]) -> gpd.GeoDataFrame:
    keep = [k not in drop for k in _keys(frame)]
    return frame[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def _walk_without(walk: WalkWays, drop: set[int]) -> WalkWays:
    keep = ~np.isin(walk.way_ids, list(drop))
    way_of = np.repeat(np.arange(len(walk.way_ids)), np.diff(walk.offsets))
    nodes = keep[way_of]
    return WalkWays(
        way_ids=walk.way_ids[keep],
        offsets=np.concatenate([[0], np.cumsum(np.diff(walk.offsets)[keep])]).astype(np.int64),
        node_ids=walk.node_ids[nodes],
        lon=walk.lon[nodes],
        lat=walk.lat[nodes],
    )


def assert_walk_equal(a: WalkWays, b: WalkWays) -> None:
    for field in ("way_ids", "offsets", "node_ids", "lon", "lat"):
        left, right = getattr(a, field), getattr(b, field)
        assert left.dtype == right.dtype, field
        assert np.array_equal(left, right, equal_nan=True), field


def assert_frames_identical(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    """Same columns, dtypes, order, values, CRS, and bit-equal geometry."""
    assert list(a.columns) == list(b.columns)
    assert a.crs == b.crs
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )
    assert a.geometry.name == b.geometry.name
    assert shapely.equals_identical(a.geometry.to_numpy(), b.geometry.to_numpy()).all()


@dataclass
class _Differences:
    extract_only: set[tuple[str, int]]
    slice_only: set[tuple[str, int]]
    walk_extract_only: set[int]


def _named_differences(model: _Model, extract: OsmData, sliced: OsmData) -> _Differences:
    """The rows the documented rule lets differ, as the model names them."""
    written_ways = model.way_inside | model.completed
    written_nodes = {n for w in written_ways for n in model.way_nodes[w]}
    # the written ways the slice keeps a row of (walk way, line, area, relation area member)
    rows = set(_keys(sliced.features)) | set(_keys(sliced.lines))
    kept = {i for t, i in rows if t == "way"} | set(sliced.walk.way_ids.tolist())
    kept |= {w for t, i in rows if t == "relation" for w in model.member_ways.get(i, [])}
    kept_nodes = {n for w in written_ways & kept for n in model.way_nodes[w]}
    extract_only: set[tuple[str, int]] = {("way", w) for w in model.completed}
    extract_only |= {("relation", r) for r in model.no_vertex_inside}
    slice_only: set[tuple[str, int]] = {("relation", r) for r in model.boundary_partial}
    for osm_type, osm_id in _keys(extract.features) + _keys(sliced.features):
        if osm_type == "node" and osm_id not in model.node_inside:
            # outside: in the extract on a written way the slice keeps no row of (2), or
            # in the slice by a location shared with a kept way's vertex (2, the other way)
            if osm_id not in written_nodes:
                slice_only.add(("node", osm_id))
            elif osm_id not in kept_nodes:
                extract_only.add(("node", osm_id))
    return _Differences(extract_only, slice_only, set(model.completed))


@pytest.mark.parametrize("name", ["concave", "small", "all", "two"])
def test_slice_equals_read_of_smart_extract(
    name: str, region: OsmData, keys: ReaderKeys, tmp_path: Path
) -> None:
    polygon = _osmium_polygon(_areas()[name])
    extract = _read(smart_extract(SAMPLE, polygon, tmp_path / f"{name}.osm.pbf"), keys)
    slice_path = tmp_path / f"{name}{SLICE_SUFFIX}"
    write_slice(slice_osm(region, polygon, project(region)), keys, slice_path)
    sliced = read_slice(slice_path, keys)
    assert sliced.path == slice_path

    named = _named_differences(_model(polygon), extract, sliced)
    walk_only = set(extract.walk.way_ids.tolist()) - set(sliced.walk.way_ids.tolist())
    assert set(sliced.walk.way_ids.tolist()) <= set(extract.walk.way_ids.tolist())
    assert walk_only <= named.walk_extract_only
    assert_walk_equal(_walk_without(extract.walk, walk_only), sliced.walk)
    for frame in ("features", "lines"):
        expected, got = getattr(extract, frame), getattr(sliced, frame)
        extract_only = set(_keys(expected)) - set(_keys(got))
        slice_only = set(_keys(got)) - set(_keys(expected))
        # every row on one side only is one the rule names, on the side it names
        assert extract_only <= named.extract_only, (frame, extract_only - named.extract_only)
        assert slice_only <= named.slice_only, (frame, slice_only - named.slice_only)
        # and every other row is equal, in the same order
        assert_frames_identical(_without(expected, extract_only), _without(got, slice_only))
    assert len(sliced.features) > 0 and len(sliced.lines) > 0


def test_concave_polygon_meets_a_completed_multipolygon_member(region: OsmData) -> None:
    """The sample has a way written only as a multipolygon's member (difference 1), so the
    equivalence above really exercises the named exceptions."""
    polygon = _osmium_polygon(_areas()["concave"])
    model = _model(polygon)
    assert model.completed
    kept = set(_keys(slice_osm(region, polygon).features))
    assert not {("way", w) for w in model.completed} & kept


def test_slice_keeps_row_order_and_every_row_with_a_vertex_inside(region: OsmData) -> None:
    polygon = _osmium_polygon(_areas()["two"])
    sliced = slice_osm(region, polygon)
    for frame in ("features", "lines"):
        whole, part = getattr(region, frame), getattr(sliced, frame)
        xy, row = shapely.get_coordinates(whole.geometry.to_numpy(), return_index=True)
        hit = np.unique(row[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])])
        expected = _keys(whole.iloc[hit])
        got = _keys(part)
        assert [k for k in got if k in set(expected)] == expected  # a subsequence, in order
        assert isinstance(part.index, pd.RangeIndex)
    assert sliced.features.crs == "EPSG:4326"


def test_project_of_unprojected_read_equals_default_read(region: OsmData, keys: ReaderKeys) -> None:
    projected = project(region)
    default = _read(SAMPLE, keys)
    assert_walk_equal(projected.walk, default.walk)
    assert_frames_identical(projected.features, default.features)
    assert_frames_identical(projected.lines, default.lines)
    assert default.features.crs == "EPSG:28992"
    assert region.features.crs == "EPSG:4326"


def test_read_osm_for_uses_reader_keys(keys: ReaderKeys) -> None:
    via_settings = read_osm_for(SAMPLE, load_settings())
    assert_frames_identical(via_settings.features, _read(SAMPLE, keys).features)


def test_reader_keys_digest_is_stable_and_picklable(keys: ReaderKeys) -> None:
    assert keys.node_rules is not None
    shuffled = ReaderKeys(
        keys.way_filter,
        tuple(reversed(keys.feature_keys)),
        tuple(reversed(keys.tag_columns)),
        tuple(reversed(keys.node_rules)),
    )
    assert shuffled.digest() == keys.digest()
    assert len(keys.digest()) == 12 and int(keys.digest(), 16) >= 0
    other = dataclasses.replace(keys, tag_columns=(*keys.tag_columns, "cuisine"))
    assert other.digest() != keys.digest()
    more_nodes = dataclasses.replace(keys, node_rules=(*keys.node_rules, "amenity=cafe"))
    assert more_nodes.digest() != keys.digest()
    every_node = dataclasses.replace(keys, node_rules=None)
    assert every_node.digest() != keys.digest()
    assert pickle.loads(pickle.dumps(keys)) == keys


def test_round_trip_of_a_whole_region(region: OsmData, keys: ReaderKeys, tmp_path: Path) -> None:
    path = tmp_path / f"all{SLICE_SUFFIX}"
    write_slice(project(region), keys, path)
    back = read_slice(path, keys)
    expected = project(region)
    assert back.path == path
    assert_walk_equal(back.walk, expected.walk)
    assert_frames_identical(back.features, expected.features)
    assert_frames_identical(back.lines, expected.lines)
    assert back.features["name"].isna().any()  # nulls survive as nulls


def test_slice_bytes_are_deterministic(keys: ReaderKeys, tmp_path: Path) -> None:
    polygon = _osmium_polygon(_areas()["concave"])
    first, second = tmp_path / f"a{SLICE_SUFFIX}", tmp_path / f"b{SLICE_SUFFIX}"
    for target in (first, second):
        unprojected = _read(SAMPLE, keys, "EPSG:4326")
        write_slice(slice_osm(unprojected, polygon, project(unprojected)), keys, target)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:  # no write time in the archive
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        # the coordinates' low 48 bits are stored, every other entry deflated
        stored = {i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_STORED}
        deflated = {i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED}
        assert stored == {n for n in zf.namelist() if n.endswith("_low.npy")}
        assert stored and stored | deflated == set(zf.namelist())


def test_read_osm_for_reads_a_slice_and_read_osm_refuses_it(
    region: OsmData, keys: ReaderKeys, tmp_path: Path
) -> None:
    path = tmp_path / f"GM0503{SLICE_SUFFIX}"
    write_slice(project(region), keys, path)
    data = read_osm_for(path, load_settings())
    assert data.path == path
    assert_frames_identical(data.features, read_slice(path, keys).features)
    assert check_osm_path(path, allow_slice=True) == path
    with pytest.raises(InputError, match="slice"):
        _read(path, keys)
    with pytest.raises(InputError, match="slice"):
        check_osm_path(path)


def test_no_partial_file_when_writing_fails(
    region: OsmData, keys: ReaderKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = np.lib.format.write_array

    def failing(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) > 3:
            raise OSError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        write_slice(project(region), keys, tmp_path / f"x{SLICE_SUFFIX}")
    assert list(tmp_path.iterdir()) == []


# --- hostile and broken files ----------------------------------------------------------------


@pytest.fixture(scope="module")
def good_arrays(
    region: OsmData, keys: ReaderKeys, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, np.ndarray]:
    polygon = _osmium_polygon(_areas()["small"])
    path = tmp_path_factory.mktemp("good") / f"good{SLICE_SUFFIX}"
    write_slice(slice_osm(region, polygon, project(region)), keys, path)
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path


class _Marker:
    """Unpickling this creates a file: the test checks that nothing unpickles it."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (Path.write_text, (str(self.target), "pwned"))


def test_pickle_payload_is_refused_and_never_run(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    payload = np.empty(1, dtype=object)
    payload[0] = _Marker(marker)
    path = _write_arrays(tmp_path / f"evil{SLICE_SUFFIX}", {**good_arrays, "walk_lon_top": payload})
    with pytest.raises(InputError, match=str(path)):
        read_slice(path, keys)
    assert not marker.exists()


def test_other_reader_keys_are_refused(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    path = _write_arrays(tmp_path / f"k{SLICE_SUFFIX}", good_arrays)
    other = dataclasses.replace(keys, way_filter=keys.way_filter + '["foot"!~"no"]')
    with pytest.raises(InputError, match="slice written for other OSM reader keys"):
        read_slice(path, other)
    read_slice(path, keys)  # the same arrays with the right keys read fine


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("offsets beyond the data", lambda a: ("feature_tag_offsets", _bump_last(a))),
        ("offsets going back", lambda a: ("line_tag_offsets", _swap_middle(a))),
        ("walk offsets past the nodes", lambda a: ("walk_offsets", _bump_last(a, "walk"))),
        ("uint32 coordinate words", lambda a: ("walk_lat_top", a["walk_lat_top"].astype("u4"))),
        ("low words of another length", lambda a: ("walk_lon_low", a["walk_lon_low"][:-3])),
        ("tag rows out of order", lambda a: ("feature_tag_rows", a["feature_tag_rows"][::-1])),
        ("tag rows past the end", lambda a: ("feature_tag_rows", a["feature_tag_rows"] + 10**9)),
        ("a negative tag count", lambda a: ("line_tag_counts", -a["line_tag_counts"])),
        ("tag counts over the rows", lambda a: ("feature_tag_counts", a["feature_tag_counts"] + 1)),
        ("a tag count per column short", lambda a: ("line_tag_counts", a["line_tag_counts"][1:])),
        ("an unknown type code", lambda a: ("feature_type", a["feature_type"] + 5)),
        ("invalid UTF-8", lambda a: ("feature_tag_data", _garbage(a["feature_tag_data"]))),
        ("another format", lambda a: ("format", np.array([99], dtype=np.int64))),
        ("a ring not closed", lambda a: ("feature_area_xy_low", _open_first_ring(a))),
        ("a ring of 3 coordinates", lambda a: ("feature_area_coords", _move(a, "area_coords", 3))),
        ("a polygon of no rings", lambda a: ("feature_area_rings", _move(a, "area_rings", 0))),
        ("parts past the rings", lambda a: ("feature_area_parts", _bump_last(a, "feature_area"))),
        ("a line of one coordinate", lambda a: ("line_coords", _move(a, "line_coords", 1))),
        ("a point short", lambda a: ("feature_point_xy_top", a["feature_point_xy_top"][:-2])),
        ("an odd number of coordinates", lambda a: _floats(a, "line_xy", slice(0, -1))),
        ("lines' coordinates as areas'", lambda a: _floats(a, "feature_area_xy", "line_xy")),
    ],
)
def test_broken_arrays_are_refused(
    what: str, change: Any, good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    changes = change(good_arrays)
    changes = dict([changes]) if isinstance(changes, tuple) else changes
    assert set(changes) <= set(good_arrays)  # the broken arrays replace ones the reader needs
    path = _write_arrays(tmp_path / f"broken{SLICE_SUFFIX}", {**good_arrays, **changes})
    with pytest.raises(InputError, match=str(path)):
        read_slice(path, keys)


def _bump_last(arrays: dict[str, np.ndarray], prefix: str = "feature_tag") -> np.ndarray:
    name = f"{prefix}_parts" if prefix == "feature_area" else f"{prefix}_offsets"
    offsets = arrays[name].copy()
    offsets[-1] += 7
    return offsets


def _swap_middle(arrays: dict[str, np.ndarray]) -> np.ndarray:
    offsets = arrays["line_tag_offsets"].copy()
    middle = len(offsets) // 2
    offsets[middle] = offsets[-1] + 1  # one offset past the end, the next ones below it
    return offsets


def _floats(arrays: dict[str, np.ndarray], name: str, values: slice | str) -> dict[str, np.ndarray]:
    """Both parts of the float64 values ``name``: those of ``values`` or a ``values`` slice."""
    if isinstance(values, str):
        return {f"{name}_{part}": arrays[f"{values}_{part}"] for part in ("top", "low")}
    top = arrays[f"{name}_top"][values]
    return {f"{name}_top": top, f"{name}_low": arrays[f"{name}_low"][: 3 * top.size]}


def _move(arrays: dict[str, np.ndarray], name: str, first_end: int) -> np.ndarray:
    """Offsets with the first group ending at ``first_end`` (the next one grows)."""
    offsets = arrays[name if name == "line_coords" else f"feature_{name}"].copy()
    assert offsets[1] != first_end
    offsets[1] = first_end
    return offsets


def _open_first_ring(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The areas' low coordinate words with the first ring's last x moved by 1 ulp or so."""
    low = arrays["feature_area_xy_low"].copy()
    last = int(arrays["feature_area_coords"][1]) - 1  # the first ring's closing coordinate
    low[3 * 2 * last] ^= 1  # its x's lowest word
    return low


def _garbage(data: np.ndarray) -> np.ndarray:
    out = data.copy()
    out[: min(len(out), 64)] = 0xFF
    return out


def test_a_decompression_bomb_is_refused_before_inflating(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    """Zeros deflate ~1000 to 1: a slice whose entries claim far more than its size is
    refused, and one in another compression (bzip2) too; a deflated one reads."""
    bomb = dict(good_arrays, padding=np.zeros(200 * 2**20, dtype=np.uint8))
    path = tmp_path / f"bomb{SLICE_SUFFIX}"
    with path.open("wb") as fh:
        np.savez_compressed(fh, **bomb)  # type: ignore[arg-type]
    assert path.stat().st_size < 2**20
    with pytest.raises(InputError, match="claim too many bytes"):
        read_slice(path, keys)
    other = tmp_path / f"bzip2{SLICE_SUFFIX}"
    with zipfile.ZipFile(other, "w", compression=zipfile.ZIP_BZIP2) as zf:
        for name, array in good_arrays.items():
            with zf.open(f"{name}.npy", "w") as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)
    with pytest.raises(InputError, match="compressed another way"):
        read_slice(other, keys)
    deflated = tmp_path / f"deflated{SLICE_SUFFIX}"
    with deflated.open("wb") as fh:
        np.savez_compressed(fh, **good_arrays)  # type: ignore[arg-type]
    read_slice(deflated, keys)


def test_missing_array_is_refused(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    arrays = {k: v for k, v in good_arrays.items() if k != "line_id"}
    path = _write_arrays(tmp_path / f"m{SLICE_SUFFIX}", arrays)
    with pytest.raises(InputError, match="line_id"):
        read_slice(path, keys)


def test_truncated_and_foreign_files_are_refused(
    region: OsmData, keys: ReaderKeys, tmp_path: Path
) -> None:
    good = tmp_path / f"good{SLICE_SUFFIX}"
    write_slice(project(region), keys, good)
    data = good.read_bytes()
    truncated = tmp_path / f"truncated{SLICE_SUFFIX}"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / f"garbage{SLICE_SUFFIX}"
    garbage.write_bytes(b"not a zip file at all\n" * 10)
    npy = tmp_path / f"npy{SLICE_SUFFIX}"
    with npy.open("wb") as fh:
        np.save(fh, np.arange(3))
    empty = tmp_path / f"empty{SLICE_SUFFIX}"
    empty.write_bytes(b"")
    for path in (truncated, garbage, npy, empty, tmp_path / f"missing{SLICE_SUFFIX}"):
        with pytest.raises(InputError, match=str(path)):
            read_slice(path, keys)


def test_keys_json_in_the_file_is_canonical(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys
) -> None:
    stored = json.loads(good_arrays["keys"].tobytes().decode())
    assert stored == json.loads(keys.canonical_json())
    assert stored["feature_keys"] == sorted(keys.feature_keys)


# --- the format's own guarantees, on geometry and columns the sample lacks -------------------

_SQUARE = [(0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0)]
_HOLE = [(2.0, 2.0), (4.0, 2.0), (4.0, 4.0), (2.0, 4.0)]


def _shifted(ring: list[tuple[float, float]], dx: float) -> list[tuple[float, float]]:
    # coordinates of RD New's scale, whose low bits are as noisy as projected ones
    return [(85_000.123456789 + x + dx, 446_000.987654321 + y) for x, y in ring]


def _special_floats() -> np.ndarray:
    """Floats whose bits a lossy or value-based path would change: a NaN with a payload,
    -0.0, infinities, the smallest subnormal, and RD-scale noise."""
    payload_nan = np.array([0x7FF8_0000_DEAD_BEEF], dtype=np.uint64).view(np.float64)[0]
    return np.array(
        [np.nan, payload_nan, -0.0, 0.0, np.inf, -np.inf, 5e-324, 85_000.1234567891, 52.0],
        dtype=np.float64,
    )


def _synthetic(rows: bool) -> OsmData:
    """Data as read_osm builds it (``osm_frame`` of lists), with a multipolygon of two parts
    with holes, one with a hole in each of two parts, an empty one, points, lines, and tag
    columns that are empty, full, unicode or the empty string."""
    two_parts = MultiPolygon(
        [
            (_shifted(_SQUARE, 0), [_shifted(_HOLE, 0), _shifted(_HOLE, 4)]),
            (_shifted(_SQUARE, 20), [_shifted(_HOLE, 20)]),
        ]
    )
    areas = [two_parts, MultiPolygon([(_shifted(_SQUARE, 50), [])]), MultiPolygon()]
    points = [shapely.Point(85_000.1 + i / 3, 446_000.7 - i / 7) for i in range(3)]
    n = 6 if rows else 0
    geometry = np.array([points[0], areas[0], points[1], areas[1], areas[2], points[2]][:n])
    features = {
        "osm_type": ["node", "way", "node", "relation", "relation", "node"][:n],
        "osm_id": np.array([1, 2, 3, -4, 2**62, 6][:n], dtype=np.int64),
        "amenity": ["cafe", None, "", None, None, "bar"][:n],
        "name": ["Caf\u00e9 \u2019t Hof", "北京", None, "a\x00b", "", "😀"][:n],
        "shop": [None] * n,
        "usage": ["x"] * n,
    }
    line_geometry = np.array(
        [shapely.LineString(_shifted(_SQUARE, 0)), shapely.LineString(_shifted(_HOLE, 3)[:2])]
    )[: n // 3]
    lines = {
        "osm_id": np.array([10, 11][: n // 3], dtype=np.int64),
        "highway": ["footway", None][: n // 3],
        "railway": [None, None][: n // 3],
        "waterway": [None, "canal"][: n // 3],
    }
    special = _special_floats()
    walk = WalkWays(
        way_ids=np.array([7, 8], dtype=np.int64)[: n // 3],
        offsets=np.array([0, 4, 9][: n // 3 + 1], dtype=np.int64),
        node_ids=np.arange(len(special), dtype=np.int64)[: 9 if rows else 0],
        lon=special[: 9 if rows else 0],
        lat=special[::-1][: 9 if rows else 0].copy(),
    )
    return OsmData(
        path=Path("synthetic"),
        walk=walk,
        features=osm_frame(features, geometry, "EPSG:28992"),
        lines=osm_frame(lines, line_geometry, "EPSG:28992"),
    )


def _synthetic_keys(keys: ReaderKeys) -> ReaderKeys:
    return dataclasses.replace(keys, tag_columns=("amenity", "shop", "usage"))


@pytest.mark.parametrize("rows", [True, False], ids=["rows", "no rows"])
def test_synthetic_data_round_trips_bit_for_bit(
    rows: bool, keys: ReaderKeys, tmp_path: Path
) -> None:
    """Multipolygons with holes in several parts, an empty multipolygon, points and lines;
    floats whose bits a value-based path would change; all-null, unicode, NUL and empty-string
    tags; and frames of no rows (whose columns pandas infers as float): all come back as
    ``osm_frame`` built them from lists, as read_osm does, dtypes included."""
    data = _synthetic(rows)
    if rows:  # the frames hold what the test claims to exercise
        assert data.features["amenity"].dtype == "str"
        assert data.features["shop"].dtype == object
        assert shapely.get_num_interior_rings(shapely.get_parts(data.features.geometry)).sum() == 3
    else:
        assert data.features["amenity"].dtype == np.float64
    path = tmp_path / f"s{SLICE_SUFFIX}"
    write_slice(data, _synthetic_keys(keys), path)
    back = read_slice(path, _synthetic_keys(keys))
    assert_frames_identical(back.features, data.features)
    assert_frames_identical(back.lines, data.lines)
    assert_walk_equal(back.walk, data.walk)
    for field in ("lon", "lat"):  # bit for bit, NaN payloads and signed zeros included
        got, expected = getattr(back.walk, field), getattr(data.walk, field)
        assert got.tobytes() == expected.tobytes()
    for frame in ("features", "lines"):
        got = shapely.get_coordinates(getattr(back, frame).geometry.to_numpy())
        expected = shapely.get_coordinates(getattr(data, frame).geometry.to_numpy())
        assert got.tobytes() == expected.tobytes()


def test_columns_are_pandas_string_arrays_as_read_osm_builds_them(
    region: OsmData, keys: ReaderKeys, tmp_path: Path
) -> None:
    """The string columns are the arrays pandas infers from read_osm's lists (the same
    dtype and Arrow storage), not objects converted later."""
    path = tmp_path / f"all{SLICE_SUFFIX}"
    write_slice(project(region), keys, path)
    back = read_slice(path, keys)
    for column in ("osm_type", "name", "amenity"):
        got, expected = back.features[column], project(region).features[column]
        assert got.dtype == expected.dtype == pd.Series(["a", None]).dtype
        assert type(got.array) is type(expected.array)
        assert got.isna().tolist() == expected.isna().tolist()


def test_a_slice_of_an_older_format_is_refused_to_be_cut_again(
    good_arrays: dict[str, np.ndarray], keys: ReaderKeys, tmp_path: Path
) -> None:
    """A format 2 slice (WKB geometry, a tag column per entry) names its format; the reader
    says to cut it again (the store's slice names hold the format, so it does)."""
    old = {
        "format": np.array([2], dtype=np.int64),
        "keys": good_arrays["keys"],
        "feature_wkb_data": np.zeros(21, dtype=np.uint8),
        "feature_wkb_offsets": np.array([0, 21], dtype=np.int64),
    }
    path = _write_arrays(tmp_path / f"old{SLICE_SUFFIX}", old)
    with pytest.raises(InputError, match=f"{path}: slice format not 3; cut the slice again"):
        read_slice(path, keys)


@pytest.mark.parametrize(
    ("what", "frame", "change"),
    [
        ("a polygon, not a multipolygon", "features", lambda g: shapely.get_parts(g)),
        ("a point as an area", "features", lambda g: shapely.centroid(g)),
        ("3-D lines", "lines", lambda g: shapely.force_3d(g)),
        ("points as lines", "lines", lambda g: shapely.centroid(g)),
    ],
)
def test_geometry_read_osm_never_gives_is_not_written(
    what: str, frame: str, change: Any, keys: ReaderKeys, tmp_path: Path
) -> None:
    data = _synthetic(rows=True)
    table = getattr(data, frame).copy()
    pick = 0  # the first line, or the second area (one part)
    if frame == "features":
        pick = int(np.flatnonzero((table["osm_type"] != "node").to_numpy())[1])
    values = table.geometry.to_numpy().copy()
    values[pick] = change(values[pick : pick + 1])[0]
    table = table.set_geometry(gpd.GeoSeries(values, crs=table.crs))
    with pytest.raises(ValueError, match="write_slice"):
        write_slice(dataclasses.replace(data, **{frame: table}), _synthetic_keys(keys), tmp_path)


def test_an_unknown_osm_type_is_not_written(keys: ReaderKeys, tmp_path: Path) -> None:
    data = _synthetic(rows=True)
    features = data.features.copy()
    features["osm_type"] = ["node", "way", "node", "changeset", "relation", "node"]
    with pytest.raises(ValueError, match="osm_type"):
        write_slice(dataclasses.replace(data, features=features), _synthetic_keys(keys), tmp_path)


def test_a_slice_takes_under_0_62_of_its_arrays_on_disk(
    region: OsmData, keys: ReaderKeys, tmp_path: Path
) -> None:
    """Ids, offsets, strings and the coordinates' top words are deflated: the whole sample's
    slice is ~0.58 of its arrays (format 2: 0.52, at three times the CPU)."""
    path = tmp_path / f"all{SLICE_SUFFIX}"
    write_slice(project(region), keys, path)
    with zipfile.ZipFile(path) as zf:
        arrays = sum(info.file_size for info in zf.infolist())
        top = sum(i.compress_size for i in zf.infolist() if i.filename.endswith("_top.npy"))
        top_arrays = sum(i.file_size for i in zf.infolist() if i.filename.endswith("_top.npy"))
    assert path.stat().st_size < 0.62 * arrays
    assert top < 0.1 * top_arrays  # sign, exponent and 4 bits of mantissa barely vary
