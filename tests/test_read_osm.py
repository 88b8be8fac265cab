"""What ``read_osm`` keeps of an OSM file: walkable ways, tagged nodes and areas, lines.

A small OSM XML file written here holds one object of each kind the reader tells apart, so each
expectation below follows from the file's text: which nodes are features (a feature key, not
just any tag), which ways are walkable (osmnx's walk filter), which are lines (highways always,
railways and waterways unless closed), node locations to libosmium's fixed point, a way node
missing from the file (a clipped extract) as NaN, and which tagged nodes the node rules keep.
On the real Delft sample, the configuration's node rules change no destination.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.destinations import rule_mask, select_destinations
from magicmix_geo.prepare.osm import OsmData, read_osm, reader_keys

SAMPLE_OSM = Path(__file__).resolve().parents[1] / "data" / "sample" / "tudelft.osm.pbf"

NODES = {
    1: (4.3530987, 52.0017062),
    2: (4.3540000, 52.0017062),
    3: (4.3540000, 52.0027062),
    4: (4.3530987, 52.0027062),
    5: (4.3550001, 52.0030000),
    6: (4.3560002, 52.0030000),
    7: (4.3570003, 52.0031000),
}
TAGGED_NODES = {
    10: (4.3512345, 52.0011111, {"amenity": "cafe", "name": '=HYPERLINK("x")<b>'}),
    11: (4.3522222, 52.0012222, {"barrier": "bollard"}),  # tagged, but no feature key
    12: (4.3532222, 52.0013333, {"highway": "bus_stop", "public_transport": "platform"}),
}
WAYS = {
    # id: (node refs, tags)
    100: ([1, 2], {"highway": "footway"}),
    101: ([2, 3], {"highway": "footway", "foot": "no"}),  # not walkable, still a line
    # a closed highway: a line, and an area (highway is a feature key), but not walkable
    102: ([1, 2, 3, 4, 1], {"highway": "pedestrian", "area": "yes"}),
    103: ([5, 6, 7, 5], {"railway": "platform"}),  # closed railway: no line; no feature key
    104: ([5, 6], {"waterway": "ditch"}),  # open waterway: a line
    105: ([1, 2, 3, 4, 1], {"building": "house"}),  # an area feature
    # node 999 is not in the file: walkable with a NaN location, no line
    106: ([6, 7, 999], {"highway": "residential"}),
}
FEATURE_KEYS = ("amenity", "building", "highway", "public_transport")
COLUMNS = ("amenity", "building", "highway", "public_transport")


def _xml() -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (lon, lat) in NODES.items():
        lines.append(f'<node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for node_id, (lon, lat, tags) in TAGGED_NODES.items():
        lines.append(f'<node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">')
        lines += [f'  <tag k="{k}" v="{_escape(v)}"/>' for k, v in tags.items()]
        lines.append("</node>")
    for way_id, (refs, tags) in WAYS.items():
        lines.append(f'<way id="{way_id}" version="1">')
        lines += [f'  <nd ref="{ref}"/>' for ref in refs]
        lines += [f'  <tag k="{k}" v="{_escape(v)}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


@pytest.fixture(scope="module")
def osm(tmp_path_factory: pytest.TempPathFactory) -> OsmData:
    path = tmp_path_factory.mktemp("osm") / "kinds.osm"
    path.write_text(_xml(), encoding="utf-8")
    return read_osm(path, load_settings().walk.way_filter, FEATURE_KEYS, COLUMNS)


def test_walkable_ways_with_their_nodes_and_fixed_point_locations(osm: OsmData) -> None:
    walk = osm.walk
    # 101 has foot=no and 102 area=yes (osmnx's walk filter); the others have no highway tag
    assert walk.way_ids.tolist() == [100, 106]
    assert walk.offsets.tolist() == [0, 2, 5]
    assert walk.node_ids.tolist() == [1, 2, 6, 7, 999]
    located = (1, 2, 6, 7)
    assert walk.lon[:4].tolist() == [round(NODES[n][0] * 1e7) / 1e7 for n in located]
    assert walk.lat[:4].tolist() == [round(NODES[n][1] * 1e7) / 1e7 for n in located]
    assert np.isnan(walk.lon[4]) and np.isnan(walk.lat[4])  # missing from the file


def test_features_are_nodes_and_areas_with_a_feature_key(osm: OsmData) -> None:
    features = osm.features
    assert list(zip(features["osm_type"], features["osm_id"], strict=True)) == [
        ("node", 10),
        ("node", 12),
        ("way", 102),
        ("way", 105),
    ]
    cafe = features.iloc[0]
    assert cafe["amenity"] == "cafe" and cafe["name"] == '=HYPERLINK("x")<b>'  # kept as text
    assert pd.isna(cafe["building"]) and pd.isna(cafe["highway"])
    assert features.iloc[1]["public_transport"] == "platform"
    assert features.iloc[2]["highway"] == "pedestrian"
    assert features.iloc[3]["building"] == "house" and pd.isna(features.iloc[3]["amenity"])
    assert features.crs.to_epsg() == 28992
    geoms = features.geometry.to_numpy()
    assert shapely.get_type_id(geoms).tolist() == [0, 0, 6, 6]
    # at the node's location to libosmium's fixed point, projected as every geometry is
    lonlat = [TAGGED_NODES[n][:2] for n in (10, 12)]
    want = gpd.GeoSeries(shapely.points(lonlat), crs=4326).to_crs(28992).to_numpy()
    assert shapely.equals_exact(geoms[:2], want, tolerance=0).all()


def test_lines_are_highways_and_open_railways_and_waterways(osm: OsmData) -> None:
    lines = osm.lines
    # 103 is a closed railway; 106 has a node missing from the file
    assert lines["osm_id"].tolist() == [100, 101, 102, 104]
    by_id = lines.set_index("osm_id")
    assert by_id.loc[104, "waterway"] == "ditch" and pd.isna(by_id.loc[104, "highway"])
    assert by_id.loc[101, "highway"] == "footway"
    assert by_id.loc[102, "highway"] == "pedestrian"


@pytest.mark.parametrize(
    ("node_rules", "nodes"),
    [
        (("highway=bus_stop",), [12]),  # a (key, value) pair
        (("amenity",), [10]),  # any value of the key
        (("amenity=cafe", "public_transport"), [10, 12]),  # mixed: the rules' keys
        (("amenity=bench|townhall",), []),  # no node has one of the values
        (("barrier=bollard",), []),  # not a feature key: node 11 is no feature
        ((), []),  # no rule: no node
    ],
)
def test_node_rules_decide_which_tagged_nodes_are_features(
    tmp_path: Path, node_rules: tuple[str, ...], nodes: list[int]
) -> None:
    path = tmp_path / "kinds.osm"
    path.write_text(_xml(), encoding="utf-8")
    walk = load_settings().walk.way_filter
    osm = read_osm(path, walk, FEATURE_KEYS, COLUMNS, node_rules=node_rules)
    features = osm.features
    assert features.loc[features["osm_type"] == "node", "osm_id"].tolist() == nodes
    # areas do not depend on the node rules
    assert features.loc[features["osm_type"] == "way", "osm_id"].tolist() == [102, 105]


def test_reader_keys_keep_exactly_the_nodes_a_category_matches() -> None:
    """On the real Delft sample: the configuration's node rules keep every tagged node that a
    destination category's ``match`` rule selects and no other, so the destinations are those
    of reading every node with a feature key."""
    settings = load_settings()
    keys = reader_keys(settings)
    args = (SAMPLE_OSM, keys.way_filter, keys.feature_keys, keys.tag_columns)
    every = read_osm(*args).features
    kept = read_osm(*args, node_rules=keys.node_rules).features
    rules = [rule for category in settings.categories.values() for rule in category.match]
    is_node = (every["osm_type"] == "node").to_numpy()
    wanted = every.loc[is_node & rule_mask(every, rules), "osm_id"].tolist()
    assert kept.loc[kept["osm_type"] == "node", "osm_id"].tolist() == wanted
    assert 0 < len(wanted) < is_node.sum() / 5  # most tagged nodes match no category
    areas_every = every.loc[~is_node].reset_index(drop=True)
    areas_kept = kept.loc[kept["osm_type"] != "node"].reset_index(drop=True)
    assert list(areas_every.columns) == list(areas_kept.columns)
    for column in areas_every.columns.drop("geometry"):
        # a column no kept row fills (waterway: only nodes had one) holds None, not str's NaN
        left, right = areas_every[column], areas_kept[column]
        assert left.isna().equals(right.isna()), column
        assert left.dropna().tolist() == right.dropna().tolist(), column
    assert shapely.equals_identical(areas_every.geometry, areas_kept.geometry).all()
    assert select_destinations(kept, settings.categories).equals(
        select_destinations(every, settings.categories)
    )
