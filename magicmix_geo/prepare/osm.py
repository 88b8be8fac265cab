"""Read an OSM file once into what the pipeline needs: walkable ways, tagged features, lines.

Formats: ``.osm.pbf``, ``.osm``, ``.osm.gz``, ``.osm.bz2`` (libosmium picks the reader by the
file name). Coordinates come out in EPSG:4326 for the walking ways (edge lengths are
great-circle lengths, as in osmnx) and in EPSG:28992 for every GeoDataFrame (or unprojected,
``crs="EPSG:4326"``, for :mod:`~magicmix_geo.prepare.osm_slice`; :func:`project` then gives
exactly what the default returns). :func:`read_osm_for` also reads a slice file
(:mod:`~magicmix_geo.prepare.osm_slice_file`), which :func:`read_osm` refuses.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import shapely

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.prepare.osm_ids import RealIds, real_ids
from magicmix_geo.tags import TagGetter, TagRule, WayFilter, parse_rules, rule_keys

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2")
RD_NEW = "EPSG:28992"
WGS84 = "EPSG:4326"
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
    """Tagged nodes and areas (EPSG:28992, or as ``read_osm``'s ``crs`` says): ``osm_type``,
    ``osm_id``, one column per kept tag key."""
    lines: gpd.GeoDataFrame
    """Highway, railway and waterway lines (EPSG:28992, or as ``read_osm``'s ``crs`` says):
    ``osm_id`` and those three tags."""


@dataclass(frozen=True)
class ParsedOsm:
    """What :func:`parse_osm` reads of a file, before frames are made of it (WGS84; OSM's own
    ids): :func:`osm_data` makes :func:`read_osm`'s frames of it, the OSM store its slices."""

    path: Path
    walk: WalkWays
    columns: tuple[str, ...]
    """The features' tag columns (sorted)."""
    feature_types: list[str]
    feature_ids: np.ndarray
    tag_values: list[str | None]
    """Row ``r``'s value of column ``c`` at ``r * len(columns) + c``."""
    point_rows: np.ndarray
    point_xy: np.ndarray
    """The tagged nodes' coordinates, (n, 2), exactly libosmium's ``Location::lon()/lat()``."""
    area_wkb: list[bytes]
    """The other features' multipolygons, in row order."""
    line_ids: np.ndarray
    line_tags: tuple[list[str | None], ...]
    """Per key of :data:`LINE_KEYS`, its values."""
    line_wkb: list[bytes]

    def tag_column(self, index: int) -> list[str | None]:
        """The values of the ``index``-th of :attr:`columns`, row by row."""
        return self.tag_values[index :: len(self.columns)]


@dataclass(frozen=True)
class ReaderKeys:
    """What :func:`read_osm` is asked for besides the file: a slice keeps only these."""

    way_filter: str
    feature_keys: tuple[str, ...]
    tag_columns: tuple[str, ...]
    node_rules: tuple[str, ...] | None = None
    """Tag rules (``"key=v1|v2"`` or ``"key"``) a tagged node must match to be kept as a
    feature: the destination categories' ``match`` rules, the only use of node features.
    None keeps every node with one of :attr:`feature_keys`."""

    def canonical_json(self) -> str:
        """The keys as JSON, sorted and without spaces (the same keys give the same text)."""
        record = {
            "way_filter": self.way_filter,
            "feature_keys": sorted(set(self.feature_keys)),
            "tag_columns": sorted(set(self.tag_columns)),
            "node_rules": None if self.node_rules is None else sorted(set(self.node_rules)),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def digest(self) -> str:
        """12 hex digits of the canonical JSON's sha256: short, stable across runs."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]


def check_osm_path(path: Path, *, allow_slice: bool = False) -> Path:
    """Return ``path`` if it names a readable, non-empty OSM file (or, with ``allow_slice``,
    a slice file); raise InputError otherwise."""
    from magicmix_geo.prepare.osm_slice_file import SLICE_SUFFIX  # imports this module

    path = Path(path)
    name = path.name.lower()
    if name.endswith(SLICE_SUFFIX) and not allow_slice:
        raise InputError(f"{path}: an OSM slice file, not an OSM file (read_osm_for reads slices)")
    suffixes = (*OSM_SUFFIXES, SLICE_SUFFIX) if allow_slice else OSM_SUFFIXES
    if not name.endswith(suffixes):
        raise InputError(f"{path}: not an OSM file name (expected one of {', '.join(suffixes)})")
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
    path: Path,
    way_filter: str,
    feature_keys: Iterable[str],
    tag_columns: Iterable[str],
    *,
    node_rules: Iterable[str] | None = None,
    crs: str = RD_NEW,
    need_walk: bool = True,
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
    node_rules
        Tag rules a tagged node must also match to be a feature (:attr:`ReaderKeys.node_rules`);
        None keeps every node with one of ``feature_keys``.
    crs
        CRS of ``features`` and ``lines``: ``"EPSG:4326"`` leaves libosmium's coordinates as
        they are (``project`` of that result equals the default's).
    need_walk
        Whether a file without walkable ways is an error (a municipality's file), or not (a
        region's file, whose members may lie on islands without streets).
    """
    rules = None if node_rules is None else tuple(node_rules)
    keys = ReaderKeys(way_filter, tuple(feature_keys), tuple(tag_columns), rules)
    parsed = parse_osm(path, keys, need_walk=need_walk)
    return project(osm_data(parsed), crs)


def parse_osm(path: Path, keys: ReaderKeys, *, need_walk: bool = True) -> ParsedOsm:
    """Read ``path`` in one streaming pass (libosmium keeps the node locations) into columns
    (:func:`read_osm` says what ``keys`` and ``need_walk`` mean)."""
    path = check_osm_path(path)
    feature_keys = tuple(sorted(set(keys.feature_keys)))
    columns = tuple(sorted(set(keys.tag_columns) | {"name"}))
    reader = _Reader(WayFilter(keys.way_filter), columns)
    node_rules = None if keys.node_rules is None else parse_rules(keys.node_rules)
    filters = _python_filters(feature_keys, node_rules)
    try:
        _hand_over(path, feature_keys, filters, reader)
    except RuntimeError as exc:
        raise InputError(f"{path}: cannot read OSM data ({exc})") from exc
    if need_walk and not reader.way_ids:
        raise InputError(f"{path}: no walkable ways (osmnx walk filter) in the OSM data")
    parsed = reader.parsed(path)
    ids = real_ids(path)
    if ids is None:
        return parsed
    # an extract of a renumbered shared file: OSM's own ids again
    return replace(
        parsed,
        walk=_real_walk(parsed.walk, ids),
        feature_ids=_real_feature_ids(parsed.feature_types, parsed.feature_ids, ids),
        line_ids=ids.of("way", parsed.line_ids),
    )


def _hand_over(
    path: Path,
    feature_keys: tuple[str, ...],
    filters: tuple[osmium.BaseFilter, ...],
    reader: _Reader,
) -> None:
    """Hand ``reader`` every object of ``path`` that passes ``filters``: libosmium calls its
    ``node``, ``way`` and ``area`` itself.

    What ``osmium.FileProcessor(path).with_locations().with_areas(KeyFilter(*feature_keys))``
    with ``filters`` yields, in the same order (``tests/test_read_osm_fast.py``): a first pass
    over the relations collects the multipolygons to assemble, the second keeps the node
    locations and assembles the areas, which pass ``filters`` as the other objects do. Without
    the processor's Python generator and a type test per object, 5 % less time for a region.
    """
    areas = osmium.area.AreaManager()
    with osmium.io.Reader(str(path), osmium.osm.RELATION) as relations:
        osmium.apply(relations, osmium.filter.KeyFilter(*feature_keys), areas.first_pass_handler())
    locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
    locations.ignore_errors()
    with osmium.io.Reader(str(path)) as objects:
        assembled = areas.second_pass_handler(*filters, reader)
        osmium.apply(objects, locations, assembled, *filters, reader)


def osm_data(parsed: ParsedOsm) -> OsmData:
    """``parsed`` as :func:`read_osm` returns it with ``crs="EPSG:4326"``."""
    with gc_paused():
        return OsmData(
            path=parsed.path,
            walk=parsed.walk,
            features=_feature_frame(parsed),
            lines=_line_frame(parsed),
        )


def _feature_frame(parsed: ParsedOsm) -> gpd.GeoDataFrame:
    """Tagged nodes and areas in the order read (EPSG:4326)."""
    geometry = np.empty(len(parsed.feature_ids), dtype=object)
    is_point = np.zeros(len(geometry), dtype=bool)
    is_point[parsed.point_rows] = True
    geometry[is_point] = shapely.points(parsed.point_xy)
    if parsed.area_wkb:
        geometry[~is_point] = shapely.from_wkb(np.asarray(parsed.area_wkb, dtype=object))
    columns: dict[str, object] = {
        "osm_type": parsed.feature_types,
        "osm_id": parsed.feature_ids,
        **{column: parsed.tag_column(i) for i, column in enumerate(parsed.columns)},
    }
    return osm_frame(columns, geometry, WGS84)


def _line_frame(parsed: ParsedOsm) -> gpd.GeoDataFrame:
    """Highway lines, and railway and waterway lines that are not closed (EPSG:4326)."""
    geometry = shapely.from_wkb(np.asarray(parsed.line_wkb, dtype=object))
    columns: dict[str, object] = {
        "osm_id": parsed.line_ids,
        **dict(zip(LINE_KEYS, parsed.line_tags, strict=True)),
    }
    return osm_frame(columns, geometry, WGS84)


def project(data: OsmData, crs: str = RD_NEW) -> OsmData:
    """``data`` (frames in EPSG:4326, as ``read_osm(..., crs="EPSG:4326")`` gives them) with
    ``features`` and ``lines`` in ``crs``; the walking ways stay in EPSG:4326."""
    if crs == WGS84:
        return data
    with gc_paused():
        return replace(data, features=data.features.to_crs(crs), lines=data.lines.to_crs(crs))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (as it was again after it).

    shapely's geometries are objects the collector tracks, and a region's frames make half a
    million of them at once: the collector then runs about a thousand times, going over all
    the new geometries again and again (2 s of the 3 s that building a region's frames takes,
    0.4 s of its projection). They hold no reference cycles, so there is nothing for it to
    find; what the block leaves behind is looked at by the next collection after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _python_filters(
    feature_keys: tuple[str, ...], node_rules: tuple[TagRule, ...] | None
) -> tuple[osmium.BaseFilter, ...]:
    """libosmium's tests of what reaches Python, per kind of object, so that Python sees only
    what the reader keeps: nodes and areas with a feature key (nodes also matching one of
    ``node_rules`` when given, :func:`_node_rules_filter`), ways with a line key (walkable ways
    are highways), no relation (a multipolygon comes as its area). A building way is seen
    once, as the area libosmium assembles from it, not also as a way."""
    features = osmium.filter.KeyFilter(*feature_keys)
    features.enable_for(osmium.osm.NODE | osmium.osm.AREA)
    lines = osmium.filter.KeyFilter(*LINE_KEYS)
    lines.enable_for(osmium.osm.WAY)
    kinds = osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA)
    if node_rules is None:
        return kinds, features, lines
    nodes = _node_rules_filter(feature_keys, node_rules)
    if nodes is None:  # no rule can keep a node
        return osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.AREA), features, lines
    nodes.enable_for(osmium.osm.NODE)
    # after the key filter: libosmium stops at the first filter an object fails, and the key
    # test is the cheaper one (1.2 s against 1.8 s over a region's 6.5 M nodes)
    return kinds, features, lines, nodes


def _node_rules_filter(
    feature_keys: tuple[str, ...], node_rules: tuple[TagRule, ...]
) -> osmium.BaseFilter | None:
    """libosmium's test of the tagged nodes that match ``node_rules``, or None when no rule
    can match a feature's node.

    With rules that all name values: one of their (key, value) pairs, exactly the nodes that
    match a rule (nine in ten of a city's tagged nodes are trees, crossings, lamps and benches
    that match none). A rule with any value (``"key"``) makes it the rules' keys instead: a
    superset of the matching nodes, which their users (destination categories) match again.
    """
    rules = [rule for rule in node_rules if rule.key in feature_keys]
    if not rules:
        return None
    if all(rule.values for rule in rules):
        pairs = sorted({(rule.key, value) for rule in rules for value in rule.values})
        return osmium.filter.TagFilter(*pairs)
    return osmium.filter.KeyFilter(*sorted(rule_keys(rules)))


class _Reader:
    """What :func:`read_osm` keeps of the objects libosmium hands it, column by column.

    Tag values are fetched once per kept column (one lookup each, through :func:`tag_getter`:
    cheaper than iterating a feature's tags, which are five on average against 23 columns).
    They go, feature after feature, into one flat list that :meth:`ParsedOsm.tag_column`
    slices into columns: ``list.extend(map(...))`` runs the loop over the columns in C, a third
    cheaper than a Python loop appending to a list per column, and it allocates no row tuple (a
    tuple per feature, transposed at the end, costs more than the Python loop). Node features
    keep their fixed-point location, areas and lines libosmium's WKB.
    """

    def __init__(self, walk_filter: WayFilter, columns: tuple[str, ...]) -> None:
        self.walk_filter = walk_filter
        self.columns = columns
        self.wkb = osmium.geom.WKBFactory()
        self.way_ids: list[int] = []
        self.lengths: list[int] = []
        self.node_ids: list[int] = []
        self.xs: list[int] = []
        self.ys: list[int] = []
        self.feature_types: list[str] = []
        self.feature_ids: list[int] = []
        self._defaults = (None,) * len(columns)
        # row r's value of column c at r * len(columns) + c
        self.values: list[str | None] = []
        self.point_rows: list[int] = []
        self.point_x: list[int] = []
        self.point_y: list[int] = []
        self.area_wkb: list[bytes] = []
        self.line_ids: list[int] = []
        self.line_tags: tuple[list[str | None], ...] = tuple([] for _ in LINE_KEYS)
        self.line_wkb: list[bytes] = []

    def _feature(self, osm_type: str, osm_id: int, get: TagGetter) -> None:
        self.feature_types.append(osm_type)
        self.feature_ids.append(osm_id)
        self.values.extend(map(get, self.columns, self._defaults))

    def node(self, node: osmium.osm.Node) -> None:
        self.point_rows.append(len(self.feature_ids))
        location = node.location
        self.point_x.append(location.x)
        self.point_y.append(location.y)
        self._feature("node", node.id, tag_getter(node))

    def way(self, way: osmium.osm.Way) -> None:
        get = tag_getter(way)
        highway = get("highway", None)
        if highway is not None and self.walk_filter.test(get):
            self.way_ids.append(way.id)
            self.lengths.append(_append_refs(way, self.node_ids, self.xs, self.ys))
        railway, waterway = get("railway", None), get("waterway", None)
        if highway is None and ((railway is None and waterway is None) or way.is_closed()):
            return
        geom = _linestring_wkb(self.wkb, way)
        if geom is not None:
            self.line_ids.append(way.id)
            for values, value in zip(self.line_tags, (highway, railway, waterway), strict=True):
                values.append(value)
            self.line_wkb.append(geom)

    def area(self, area: osmium.osm.Area) -> None:
        geom = _multipolygon_wkb(self.wkb, area)
        if geom is not None:
            osm_type = "way" if area.from_way() else "relation"
            self._feature(osm_type, area.orig_id(), tag_getter(area))
            self.area_wkb.append(geom)

    def parsed(self, path: Path) -> ParsedOsm:
        """What was read, as columns (WGS84, the file's ids)."""
        point_x = np.asarray(self.point_x, dtype=np.int64) / 1e7  # exactly Location::lon()
        point_y = np.asarray(self.point_y, dtype=np.int64) / 1e7
        return ParsedOsm(
            path=path,
            walk=_walk_ways(self.way_ids, self.lengths, self.node_ids, self.xs, self.ys),
            columns=self.columns,
            feature_types=self.feature_types,
            feature_ids=np.asarray(self.feature_ids, dtype=np.int64),
            tag_values=self.values,
            point_rows=np.asarray(self.point_rows, dtype=np.int64),
            point_xy=np.column_stack([point_x, point_y]),
            area_wkb=self.area_wkb,
            line_ids=np.asarray(self.line_ids, dtype=np.int64),
            line_tags=self.line_tags,
            line_wkb=self.line_wkb,
        )


def read_osm_for(path: Path, settings: Settings) -> OsmData:
    """:func:`read_osm` with :func:`reader_keys`, or, when ``path`` names a slice file
    (:data:`~magicmix_geo.prepare.osm_slice_file.SLICE_SUFFIX`), the slice read back with
    :func:`~magicmix_geo.prepare.osm_slice_file.read_slice` (both in EPSG:28992)."""
    from magicmix_geo.prepare.osm_slice_file import SLICE_SUFFIX, read_slice  # imports this

    path = check_osm_path(path, allow_slice=True)
    keys = reader_keys(settings)
    if path.name.lower().endswith(SLICE_SUFFIX):
        return read_slice(path, keys)
    return read_osm(
        path, keys.way_filter, keys.feature_keys, keys.tag_columns, node_rules=keys.node_rules
    )


def reader_keys(settings: Settings) -> ReaderKeys:
    """The walk filter and every tag key the configuration uses (destination categories,
    context rules, buildings and water), sorted; the categories' ``match`` rules as the tagged
    nodes' (nodes are used only as destinations)."""
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
    node_rules = {str(rule) for category in settings.categories.values() for rule in category.match}
    return ReaderKeys(
        way_filter=settings.walk.way_filter,
        feature_keys=tuple(sorted(feature_keys)),
        tag_columns=tuple(sorted(tag_columns)),
        node_rules=tuple(sorted(node_rules)),
    )


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
            if isinstance(way, osmium.osm.Way) and walk_filter.test(tag_getter(way)):
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


def _real_feature_ids(types: list[str], feature_ids: np.ndarray, ids: RealIds) -> np.ndarray:
    result = feature_ids.copy()
    kinds = np.asarray(types)
    for osm_type in ("node", "way"):
        rows = kinds == osm_type
        result[rows] = ids.of(osm_type, result[rows])
    return result


_Ints = list[int] | array


def tag_getter(obj: osmium.osm.Node | osmium.osm.Way | osmium.osm.Area) -> TagGetter:
    """``obj``'s tag lookup ``get(key, None)``: pyosmium's C++ ``tags_get_value_by_key`` itself.

    ``TagList.get`` only forwards to it, and that extra Python call was a third of the
    reader's tag fetching (23 columns per feature, half a million features per region). The C++
    object is a private attribute of pyosmium (4.x): should a release rename it, the public
    ``TagList.get`` (same answers) takes over, and ``tests/test_read_osm_fast.py`` fails so that
    we notice the lost speed.
    """
    try:
        return obj._pyosmium_data.tags_get_value_by_key
    except AttributeError:
        return obj.tags.get


def _append_refs(way: osmium.osm.Way, node_ids: _Ints, xs: _Ints, ys: _Ints) -> int:
    """Append the id and fixed-point location of each of ``way``'s nodes; return their count.

    Fixed-point coordinates (1e-7 degree): ints are cheaper to fetch than floats, and an
    invalid location (node missing from a clipped extract) comes out as a sentinel. The
    location's ``x`` and ``y`` are read directly (``NodeRef.x`` and ``.y`` are Python
    properties over it).
    """
    count, get = way_nodes(way)
    for i in range(count):
        ref = get(i)
        location = ref.location
        node_ids.append(ref.ref)
        xs.append(location.x)
        ys.append(location.y)
    return count


def way_nodes(way: osmium.osm.Way) -> tuple[int, Callable[[int], osmium.osm.NodeRef]]:
    """How many nodes ``way`` has, and ``get(i)``, its ``i``-th node as a ``NodeRef``.

    ``get`` reads pyosmium's C++ node list directly: ``for ref in way.nodes`` goes through a
    generator and ``WayNodeList.__getitem__`` per node (a quarter more time for the walk ways'
    references). Without the private C++ objects (see :func:`tag_getter`) the public
    ``way.nodes[i]`` gives the same ``NodeRef``.
    """
    try:
        data = way._pyosmium_data
        refs = data.nodes()
        return refs.size(data), functools.partial(refs.get, data)
    except AttributeError:
        nodes = way.nodes
        return len(nodes), nodes.__getitem__


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


def _linestring_wkb(factory: osmium.geom.WKBFactory, way: osmium.osm.Way) -> bytes | None:
    try:
        return bytes.fromhex(factory.create_linestring(way))
    except (RuntimeError, osmium.InvalidLocationError):
        return None  # a way with a node missing from the file (clipped), or fewer than two


def _multipolygon_wkb(factory: osmium.geom.WKBFactory, area: osmium.osm.Area) -> bytes | None:
    try:
        return bytes.fromhex(factory.create_multipolygon(area))
    except (RuntimeError, osmium.InvalidLocationError):
        return None  # an area libosmium could not assemble (broken or clipped ring)


def osm_frame(columns: dict[str, object], geometry: np.ndarray, crs: str) -> gpd.GeoDataFrame:
    """A frame of ``columns`` and ``geometry`` (in ``crs``), built as :func:`read_osm` builds
    its frames (the slice reader builds the same)."""
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geometry, crs=crs))


def require_crs(data: OsmData, crs: str, who: str) -> None:
    """Raise ValueError unless ``data``'s frames are in ``crs``."""
    for name, frame in (("features", data.features), ("lines", data.lines)):
        if frame.crs is None or not frame.crs.equals(crs):
            raise ValueError(f"{who} needs frames in {crs}; {name} is in {frame.crs}")
