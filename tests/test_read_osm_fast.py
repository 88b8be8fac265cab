"""The reader's shortcuts into pyosmium's C++ objects: used, equal to the public API, and safe.

``read_osm`` fetches tags and way nodes through private attributes of pyosmium 4.x (see
``tag_getter`` and ``way_nodes`` in ``magicmix_geo/prepare/osm.py``): a third less time for the
same answers. These tests fail when an installed pyosmium no longer offers them (the reader
still reads right then, through the public API, only slower), when their answers differ from
the public API's, or when the public fallback breaks. ``parse_osm`` has libosmium call the
reader (a handler chain) instead of iterating a ``FileProcessor``: the last test shows, on the
real Delft sample, that the reader gets the same objects in the same order.
"""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import osmium
import pandas as pd
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.osm import (
    ParsedOsm,
    _append_refs,
    _python_filters,
    _Reader,
    gc_paused,
    parse_osm,
    read_osm,
    reader_keys,
    tag_getter,
    way_nodes,
)
from magicmix_geo.tags import WayFilter, parse_rules

SAMPLE_OSM = Path(__file__).resolve().parents[1] / "data" / "sample" / "tudelft.osm.pbf"

# a key that no object below has, and each column's key
MISSING = "no:such:key"
MANY = {f"k{i:02d}": f"value {i} é" for i in range(60)} | {"amenity": "cafe", "name": "Café"}
COLUMNS = ("amenity", "building", "k00", "k59", "shop")


def _xml() -> str:
    nodes = [(1, 4.3530987, 52.0017062), (2, 4.3540000, 52.0017062), (3, 4.354, 52.0027062)]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines += [
        f'<node id="{i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>' for i, lon, lat in nodes
    ]
    lines.append('<node id="10" version="1" lat="52.0011111" lon="4.3512345">')  # many tags
    lines += [f'  <tag k="{k}" v="{v}"/>' for k, v in MANY.items()]
    lines.append("</node>")
    lines.append('<node id="11" version="1" lat="52.0012222" lon="4.3522222">')  # only the key
    lines.append('  <tag k="shop" v=""/>')  # an empty value is a value, not a missing tag
    lines.append("</node>")
    lines.append('<way id="100" version="1">')  # walkable, one node missing from the file
    lines += [f'  <nd ref="{ref}"/>' for ref in (1, 2, 3, 999)]
    lines.append('  <tag k="highway" v="footway"/>')
    lines.append("</way>")
    lines.append('<way id="101" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/></way>')
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fast") / "fast.osm"
    path.write_text(_xml(), encoding="utf-8")
    return path


def _each_object(path: Path, check: Any) -> int:
    """Call ``check(obj)`` on every node and way of ``path`` (locations kept); their count."""
    count = 0
    for obj in osmium.FileProcessor(str(path)).with_locations():
        check(obj)
        count += 1
    return count


def test_the_installed_pyosmium_gives_the_fast_tag_lookup(path: Path) -> None:
    # should this fail after a pyosmium upgrade: read_osm is still right but ~25 % slower;
    # find pyosmium's new name of its C++ object in osmium/osm/types.py (TagList.get)
    def check(obj: Any) -> None:
        get = tag_getter(obj)
        assert not isinstance(getattr(get, "__self__", None), osmium.osm.TagList)
        assert get is not obj.tags.get

    assert _each_object(path, check) == 7


def test_the_installed_pyosmium_gives_the_fast_way_node_list(path: Path) -> None:
    # as above, for WayNodeList.__getitem__ (osmium/osm/types.py)
    def check(obj: Any) -> None:
        if isinstance(obj, osmium.osm.Way):
            _, get = way_nodes(obj)
            assert not isinstance(getattr(get, "__self__", None), osmium.osm.WayNodeList)

    _each_object(path, check)


def test_fast_and_public_tag_lookups_answer_alike(path: Path) -> None:
    def check(obj: Any) -> None:
        fast, public = tag_getter(obj), obj.tags.get
        for key in (*MANY, "shop", "highway", MISSING, ""):
            assert fast(key, None) == public(key)

    _each_object(path, check)


def test_without_the_private_object_the_public_api_reads_alike(path: Path) -> None:
    def check(obj: Any) -> None:
        if not isinstance(obj, osmium.osm.Way):
            return
        stand_in = SimpleNamespace(tags=dict(obj.tags), nodes=list(obj.nodes))  # no private
        assert tag_getter(stand_in) == stand_in.tags.get  # type: ignore[arg-type]
        fast: tuple[list[int], list[int], list[int]] = ([], [], [])
        public: tuple[list[int], list[int], list[int]] = ([], [], [])
        assert _append_refs(obj, *fast) == len(obj.nodes)
        assert _append_refs(stand_in, *public) == len(obj.nodes)  # type: ignore[arg-type]
        assert fast == public
        assert fast[0] == [ref.ref for ref in obj.nodes]
        assert fast[1] == [ref.x for ref in obj.nodes] and fast[2] == [ref.y for ref in obj.nodes]

    _each_object(path, check)


def test_a_feature_with_many_tags_and_one_with_only_its_key(path: Path) -> None:
    data = read_osm(path, load_settings().walk.way_filter, ("amenity", "shop"), COLUMNS)
    features = data.features.set_index("osm_id")
    assert features.index.tolist() == [10, 11]
    many, bare = features.loc[10], features.loc[11]
    for column in (*COLUMNS, "name"):
        if column in MANY:
            assert many[column] == MANY[column], column
        else:
            assert pd.isna(many[column]), column
    assert bare["shop"] == ""
    assert all(pd.isna(bare[column]) for column in ("amenity", "building", "k00", "k59", "name"))
    # the walkable way: its nodes in order, the missing one as NaN
    assert data.walk.way_ids.tolist() == [100]
    assert data.walk.node_ids.tolist() == [1, 2, 3, 999]
    assert np.isnan(data.walk.lon[3]) and not np.isnan(data.walk.lon[:3]).any()


def test_gc_paused_restores_the_collector_as_it_was(path: Path) -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the caller's choice stays
    finally:
        gc.enable()
    read_osm(path, load_settings().walk.way_filter, ("amenity",), COLUMNS)
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("text", "tags", "want"),
    [
        ('["highway"]', {"highway": "x"}, True),
        ('["highway"]', {}, False),
        ('["foot"="yes"]', {"foot": "yes"}, True),
        ('["foot"="yes"]', {"foot": "no"}, False),
        ('["foot"="yes"]', {}, False),
        ('["foot"!="no"]', {}, True),
        ('["foot"!="no"]', {"foot": "no"}, False),
        ('["highway"~"^foot"]', {"highway": "footway"}, True),
        ('["highway"~"^foot"]', {"highway": "path"}, False),
        ('["highway"~"^foot"]', {}, False),
        ('["access"!~"private"]', {}, True),
        ('["access"!~"private"]', {"access": "private"}, False),
        ('["access"!~"private"]', {"access": "yes"}, True),
        ('["highway"]["access"!~"private"]', {"access": "yes"}, False),
    ],
)
def test_way_filter_reads_tags_through_any_getter(
    text: str, tags: dict[str, str], want: bool
) -> None:
    way_filter = WayFilter(text)
    assert way_filter(tags) is want
    assert way_filter.test(tags.get) is want


def test_the_handler_chain_hands_over_what_the_file_processor_yields() -> None:
    keys = reader_keys(load_settings())
    assert keys.node_rules is not None
    feature_keys = tuple(sorted(set(keys.feature_keys)))
    columns = tuple(sorted(set(keys.tag_columns) | {"name"}))
    reader = _Reader(WayFilter(keys.way_filter), columns)
    processor = (
        osmium.FileProcessor(str(SAMPLE_OSM))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter(*feature_keys))
    )
    for kept in _python_filters(feature_keys, parse_rules(keys.node_rules)):
        processor = processor.with_filter(kept)
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            reader.node(obj)
        elif isinstance(obj, osmium.osm.Way):
            reader.way(obj)
        elif isinstance(obj, osmium.osm.Area):
            reader.area(obj)
    want, got = reader.parsed(SAMPLE_OSM), parse_osm(SAMPLE_OSM, keys)
    assert got.feature_types.count("relation") > 0  # multipolygons assembled from relations
    assert got.feature_types.count("node") > 0 and got.feature_types.count("way") > 0
    _assert_parsed_equal(got, want)


def _assert_parsed_equal(a: ParsedOsm, b: ParsedOsm) -> None:
    assert a.columns == b.columns
    assert a.feature_types == b.feature_types
    assert a.tag_values == b.tag_values
    assert a.area_wkb == b.area_wkb and a.line_wkb == b.line_wkb
    assert a.line_tags == b.line_tags
    for name in ("feature_ids", "point_rows", "point_xy", "line_ids"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("way_ids", "offsets", "node_ids", "lon", "lat"):
        assert np.array_equal(getattr(a.walk, name), getattr(b.walk, name), equal_nan=True), name
