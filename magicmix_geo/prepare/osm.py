"""Read an OSM file once into what the pipeline needs: walkable ways, tagged features, lines.

Formats: ``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2`` (libosmium picks the reader by the
file name). Coordinates come out in EPSG:4326 for the walking ways (edge lengths are
great-circle lengths, as in osmnx) and in EPSG:28992 for every GeoDataFrame.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.prepare.osm_ids import RealIds, real_ids
from magicmix_geo.tags import WayFilter, rule_keys

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2")
RD_NEW = "EPSG:28992"
# keys drawn as context on maps and used as barriers for parcel proxies
LINE_KEYS = ("highway", "railway", "waterway")
AREA_CONTEXT_KEYS = ("building", "landuse", "natural", "water", "leisure", "amenity")


@dataclass(frozen=True)
class WalkWays:
    """The walkable ways of a file: their node ids and locations, concatenated per way.

    Way ``i`` has the nodes ``node_ids[offsets[i]:offsets[i + 1]]``. Nodes missing from the
    file (a clipped extract) have NaN coordinates.
    """

    way_ids: np.ndarray
    offsets: np.ndarray
    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


@dataclass(frozen=True)
class OsmData:
    """Everything read from one OSM file."""

    path: Path
    walk: WalkWays
    features: gpd.GeoDataFrame
    """Tagged nodes and areas (EPSG:28992): ``osm_type``, ``osm_id``, one column per kept tag
    key."""
    lines: gpd.GeoDataFrame
    """Highway, railway and waterway lines (EPSG:28992): ``osm_id`` and those three tags."""


def check_osm_path(path: Path) -> Path:
    """Return ``path`` if it names a readable, non-empty OSM file; raise InputError otherwise."""
    path = Path(path)
    if not path.name.lower().endswith(OSM_SUFFIXES):
        raise InputError(
            f"{path}: not an OSM file name (expected one of {', '.join(OSM_SUFFIXES)})"
        )
    if not path.exists():
        raise InputError(f"{path}: OSM file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: OSM file is empty")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read OSM file ({exc.strerror})") from exc
    return path


def read_osm(
    path: Path, way_filter: str, feature_keys: Iterable[str], tag_columns: Iterable[str]
) -> OsmData:
    """Read ``path`` in one streaming pass (libosmium keeps the node locations).

    Parameters
    ----------
    path
        The OSM file.
    way_filter
        Overpass QL filter selecting the walkable ways (osmnx's walk filter).
    feature_keys
        Tag keys that make a node or an area a feature (amenity, shop, building, landuse...).
    tag_columns
        Tag keys copied into columns of ``features`` (missing tags are null).
    """
    path = check_osm_path(path)
    walk_filter = WayFilter(way_filter)
    feature_keys = tuple(sorted(set(feature_keys)))
    columns = tuple(sorted(set(tag_columns) | {"name"}))
    wkb = osmium.geom.WKBFactory()

    way_ids: list[int] = []
    lengths: list[int] = []
    node_ids: list[int] = []
    xs: list[int] = []
    ys: list[int] = []
    feat_rows: list[tuple[str, int, dict[str, str | None]]] = []
    feat_wkb: list[bytes] = []
    line_rows: list[tuple[int, str | None, str | None, str | None]] = []
    line_wkb: list[bytes] = []

    all_keys = tuple(sorted(set(feature_keys) | set(LINE_KEYS) | {"highway"}))
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter(*feature_keys))
        .with_filter(osmium.filter.KeyFilter(*all_keys))
    )
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Node):
                if _has_any(obj.tags, feature_keys):
                    feat_rows.append(("node", obj.id, _pick(obj.tags, columns)))
                    feat_wkb.append(bytes.fromhex(wkb.create_point(obj)))
            elif isinstance(obj, osmium.osm.Way):
                tags = obj.tags
                if "highway" in tags and walk_filter(dict(tags)):
                    way_ids.append(obj.id)
                    lengths.append(_append_refs(obj, node_ids, xs, ys))
                is_line = "highway" in tags or (
                    _has_any(tags, ("railway", "waterway")) and not obj.is_closed()
                )
                if is_line:
                    geom = _linestring_wkb(wkb, obj)
                    if geom is not None:
                        line_rows.append(
                            (obj.id, tags.get("highway"), tags.get("railway"), tags.get("waterway"))
                        )
                        line_wkb.append(geom)
            elif isinstance(obj, osmium.osm.Area):
                geom = _multipolygon_wkb(wkb, obj)
                if geom is not None:
                    osm_type = "way" if obj.from_way() else "relation"
                    feat_rows.append((osm_type, obj.orig_id(), _pick(obj.tags, columns)))
                    feat_wkb.append(geom)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read OSM data ({exc})") from exc

    if not way_ids:
        raise InputError(f"{path}: no walkable ways (osmnx walk filter) in the OSM data")
    walk = _walk_ways(way_ids, lengths, node_ids, xs, ys)
    features = _frame(
        {
            "osm_type": [r[0] for r in feat_rows],
            "osm_id": np.asarray([r[1] for r in feat_rows], dtype=np.int64),
            **{c: [r[2][c] for r in feat_rows] for c in columns},
        },
        feat_wkb,
    )
    lines = _frame(
        {
            "osm_id": np.asarray([r[0] for r in line_rows], dtype=np.int64),
            "highway": [r[1] for r in line_rows],
            "railway": [r[2] for r in line_rows],
            "waterway": [r[3] for r in line_rows],
        },
        line_wkb,
    )
    ids = real_ids(path)
    if ids is not None:  # an extract of a renumbered shared file: OSM's own ids again
        walk = _real_walk(walk, ids)
        features["osm_id"] = _real_feature_ids(features, ids)
        lines["osm_id"] = ids.of("way", lines["osm_id"].to_numpy())
    return OsmData(path=path, walk=walk, features=features, lines=lines)


def read_osm_for(path: Path, settings: Settings) -> OsmData:
    """:func:`read_osm` with the walk filter and every tag key the configuration uses
    (destination categories, context rules, buildings and water)."""
    feature_keys: set[str] = {"building", "natural", "water"}
    tag_columns: set[str] = {"building", "natural", "water", "waterway"}
    for category in settings.categories.values():
        feature_keys |= rule_keys(category.match)
        tag_columns |= rule_keys(category.match) | rule_keys(category.exclude)
    context = settings.context
    for rules in (
        context.industrial_tags,
        context.residential_landuse_tags,
        context.residential_building_tags,
        context.water_tags,
        context.infrastructure_tags,
    ):
        feature_keys |= rule_keys(rules)
        tag_columns |= rule_keys(rules)
    return read_osm(path, settings.walk.way_filter, feature_keys, tag_columns)


def read_walk_ways(path: Path, way_filter: str) -> WalkWays:
    """Only the walkable ways of ``path``, for national files: libosmium decodes and filters
    in C++ (node locations in its index, only ``highway`` ways reach Python), and the result
    goes straight to arrays. About 1 s per million way-node references on top of decoding.
    """
    path = check_osm_path(path)
    walk_filter = WayFilter(way_filter)
    way_ids: list[int] = []
    lengths: list[int] = []
    # typed arrays: 8 + 4 + 4 bytes a reference instead of ~100 for lists of Python ints
    node_ids = array("q")
    xs = array("i")
    ys = array("i")
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        for way in processor:
            if isinstance(way, osmium.osm.Way) and walk_filter(dict(way.tags)):
                way_ids.append(way.id)
                lengths.append(_append_refs(way, node_ids, xs, ys))
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read OSM data ({exc})") from exc
    if not way_ids:
        raise InputError(f"{path}: no walkable ways (osmnx walk filter) in the OSM data")
    walk = _walk_ways(way_ids, lengths, node_ids, xs, ys)
    ids = real_ids(path)
    return walk if ids is None else _real_walk(walk, ids)


def _real_walk(walk: WalkWays, ids: RealIds) -> WalkWays:
    return WalkWays(
        way_ids=ids.of("way", walk.way_ids),
        offsets=walk.offsets,
        node_ids=ids.of("node", walk.node_ids),
        lon=walk.lon,
        lat=walk.lat,
    )


def _real_feature_ids(features: gpd.GeoDataFrame, ids: RealIds) -> np.ndarray:
    result = features["osm_id"].to_numpy(dtype=np.int64).copy()
    for osm_type in ("node", "way"):
        rows = (features["osm_type"] == osm_type).to_numpy()
        result[rows] = ids.of(osm_type, result[rows])
    return result


_Ints = list[int] | array


def _append_refs(way: osmium.osm.Way, node_ids: _Ints, xs: _Ints, ys: _Ints) -> int:
    # fixed-point coordinates (1e-7 degree): ints are cheaper to fetch than floats, and an
    # invalid location (node missing from a clipped extract) comes out as a sentinel
    count = 0
    for ref in way.nodes:
        node_ids.append(ref.ref)
        xs.append(ref.x)
        ys.append(ref.y)
        count += 1
    return count


_UNDEFINED_COORDINATE = 2_147_483_647  # osmium::Location's undefined value


def _walk_ways(
    way_ids: list[int], lengths: list[int], node_ids: _Ints, xs: _Ints, ys: _Ints
) -> WalkWays:
    x = np.asarray(xs, dtype=np.int64)
    y = np.asarray(ys, dtype=np.int64)
    missing = (x == _UNDEFINED_COORDINATE) | (y == _UNDEFINED_COORDINATE)
    lon = x / 1e7  # exactly libosmium's Location::lon()
    lat = y / 1e7
    lon[missing] = np.nan
    lat[missing] = np.nan
    return WalkWays(
        way_ids=np.asarray(way_ids, dtype=np.int64),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        node_ids=np.asarray(node_ids, dtype=np.int64),
        lon=lon,
        lat=lat,
    )


def _has_any(tags: osmium.osm.TagList, keys: Iterable[str]) -> bool:
    return any(key in tags for key in keys)


def _pick(tags: osmium.osm.TagList, columns: Iterable[str]) -> dict[str, str | None]:
    return {c: tags.get(c) for c in columns}


def _linestring_wkb(factory: osmium.geom.WKBFactory, way: osmium.osm.Way) -> bytes | None:
    try:
        return bytes.fromhex(factory.create_linestring(way))
    except (RuntimeError, osmium.InvalidLocationError):
        return None  # a way with fewer than two located nodes (clipped extract)


def _multipolygon_wkb(factory: osmium.geom.WKBFactory, area: osmium.osm.Area) -> bytes | None:
    try:
        return bytes.fromhex(factory.create_multipolygon(area))
    except (RuntimeError, osmium.InvalidLocationError):
        return None  # an area libosmium could not assemble (broken or clipped ring)


def _frame(columns: dict[str, object], geoms_wkb: list[bytes]) -> gpd.GeoDataFrame:
    geometry = shapely.from_wkb(np.asarray(geoms_wkb, dtype=object)) if geoms_wkb else []
    frame = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"))
    return frame.to_crs(RD_NEW)
