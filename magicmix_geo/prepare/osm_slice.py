"""Cut one municipality's part out of a region's parsed OSM data (pure computation).

The OSM store parses a region's file once (``read_osm(..., crs="EPSG:4326")``) and cuts each
member municipality's *slice* out of the parsed arrays with :func:`slice_osm`, instead of
cutting an extract per municipality with ``osmium extract --strategy smart`` and parsing each.
The slice reproduces what :func:`~magicmix_geo.prepare.osm.read_osm` returns from that
extract, as far as the parsed data allows; rows keep their order (a subsequence).

The rule (polygon: the extract polygon, WGS84, as osmium is given it; "inside" is
``shapely.contains_xy`` on libosmium's coordinates, points on the polygon's edge are outside):

- walk ways: a way is kept, with all its nodes, when any of its nodes is inside (osmium:
  ways referencing a node inside are written reference-complete);
- lines, and areas assembled from closed ways: kept when any vertex is inside (a line's or
  a way area's vertices are its way's nodes);
- areas assembled from relations: kept when any vertex is inside. A ``type=multipolygon``
  relation whose member way has a node inside is written reference-complete (smart
  strategy), and its rings' vertices are exactly its member ways' nodes, so for these the
  rule is exact;
- tagged nodes: kept when inside, or when they are a node of a kept way: by id for walk
  ways, by location (libosmium's 1e-7 fixed point) for kept lines and areas (osmium writes
  every node of a way it writes, tags and all).

Where the rule and the smart extract can differ (what the parsed data does not tell):

1. a way written only because it is a member of a written multipolygon relation (none of
   its nodes inside): its walk way, line or way area is in the extract, not in the slice;
2. a tagged node outside the polygon on a written way that the reader does not keep (an
   untagged multipolygon member, a fence, a power line...): in the extract, not in the
   slice; or, the other way round, a tagged node outside the polygon that only shares its
   location with a vertex of a kept way (a duplicate node): in the slice only;
3. an area from a ``type=boundary`` relation (libosmium assembles those too, and drops the
   ``type`` tag, so the parsed data cannot tell it from a multipolygon) with a vertex inside
   but a member way without a node inside: the smart strategy does not complete boundary
   relations, so the extract cannot assemble the area, while the slice keeps it as the
   whole region file has it (the slice is right, the extract is not);
4. a relation referencing a node inside as a member (not a way): osmium completes it, its
   area may have no vertex inside; a point exactly on the polygon's edge, where libosmium's
   and GEOS's point-in-polygon tests may disagree.

Why rankings cannot change through 1, 2 and 4: every such object has no vertex (and a node
no location) inside the polygon. The polygon is the municipality grown by
``buffer + margin + slack`` (:func:`~magicmix_geo.prepare.extracts.extract_polygon`), and
the pipeline only uses what lies within ``buffer + margin`` of the municipality
(:mod:`~magicmix_geo.prepare.clip`): a point outside the polygon is outside that zone, and a
segment between two vertices outside the polygon reaches into it only if it is longer than
twice the slack (2 x 250 m). Difference 3 lies inside the zone: there the slice holds what
ranking from the whole region file gives, which is the truth the extract approximates.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.prepare.osm import WGS84, OsmData, WalkWays, require_crs

_FIXED_POINT = 1e7  # libosmium's Location: 1e-7 degree


@dataclass(frozen=True)
class _Vertices:
    """What slicing needs of a region's data whatever the polygon: each walk node's way, and
    every feature's and line's vertices with their rows (computed once per region)."""

    way_of: np.ndarray
    feature_xy: np.ndarray
    feature_row: np.ndarray
    line_xy: np.ndarray
    line_row: np.ndarray
    is_point: np.ndarray  # per feature row: a tagged node
    point_rows: np.ndarray  # the tagged nodes' rows, their ids and locations
    point_ids: np.ndarray
    point_xy: np.ndarray


# the last region sliced: a region is cut into all its members in a row
_LAST: list[tuple[weakref.ref[OsmData], _Vertices]] = []


def _vertices(data: OsmData) -> _Vertices:
    if _LAST and _LAST[0][0]() is data:
        return _LAST[0][1]
    lengths = np.diff(data.walk.offsets)
    feature_xy, feature_row = shapely.get_coordinates(
        data.features.geometry.to_numpy(), return_index=True
    )
    line_xy, line_row = shapely.get_coordinates(data.lines.geometry.to_numpy(), return_index=True)
    is_point = (data.features["osm_type"] == "node").to_numpy()
    point_rows = np.flatnonzero(is_point)
    # a tagged node has exactly one vertex
    first = np.searchsorted(feature_row, point_rows)
    vertices = _Vertices(
        way_of=np.repeat(np.arange(len(data.walk.way_ids)), lengths),
        feature_xy=feature_xy,
        feature_row=feature_row,
        line_xy=line_xy,
        line_row=line_row,
        is_point=is_point,
        point_rows=point_rows,
        point_ids=data.features["osm_id"].to_numpy(dtype=np.int64)[point_rows],
        point_xy=feature_xy[first],
    )
    # forgotten with the region: the vertices are as large as its coordinates
    _LAST[:] = [(weakref.ref(data, lambda _: _LAST.clear()), vertices)]
    return vertices


def slice_osm(data: OsmData, polygon: BaseGeometry, rows_of: OsmData | None = None) -> OsmData:
    """The part of ``data`` (frames in EPSG:4326) that ``osmium extract --strategy smart``
    with ``polygon`` (WGS84) would give (module docstring: the rule and its differences).

    The result's frames are ``data``'s rows, or the same rows of ``rows_of`` (``data``
    projected, :func:`~magicmix_geo.prepare.osm.project`: a region is projected once, not
    once per member), with a fresh index; ``path`` is ``data.path``. What every polygon
    needs of ``data`` (its vertices) is kept for the next call with the same ``data``, which
    must not be changed in place meanwhile.
    """
    require_crs(data, WGS84, "slice_osm")
    source = data if rows_of is None else rows_of
    if len(source.features) != len(data.features) or len(source.lines) != len(data.lines):
        raise ValueError("slice_osm: rows_of does not hold data's rows")
    shapely.prepare(polygon)
    vertices = _vertices(data)
    walk = _slice_walk(data.walk, vertices.way_of, polygon)
    kept_lines = _kept_rows(len(data.lines), vertices.line_xy, vertices.line_row, polygon)
    line_xy = vertices.line_xy[kept_lines[vertices.line_row]]
    kept_features = _kept_features(len(data.features), vertices, polygon, walk, line_xy)
    return replace(
        data,
        walk=walk,
        features=_rows(source.features, kept_features),
        lines=_rows(source.lines, kept_lines),
    )


def inside(polygon: BaseGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points (x, y: WGS84 degrees) lie inside ``polygon``; NaN never does. The
    polygon's bounding box is tested first (cheap), GEOS only on what falls within it."""
    xmin, ymin, xmax, ymax = shapely.bounds(polygon)
    with np.errstate(invalid="ignore"):
        candidates = np.flatnonzero((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
    result = np.zeros(len(x), dtype=bool)
    if candidates.size:
        result[candidates] = shapely.contains_xy(polygon, x[candidates], y[candidates])
    return result


def _slice_walk(walk: WalkWays, way_of: np.ndarray, polygon: BaseGeometry) -> WalkWays:
    """The walk ways with a node inside, with all their nodes (``way_of``: each node's way)."""
    lengths = np.diff(walk.offsets)
    kept_way = np.zeros(len(walk.way_ids), dtype=bool)
    kept_way[way_of[inside(polygon, walk.lon, walk.lat)]] = True
    kept_node = kept_way[way_of]
    return WalkWays(
        way_ids=walk.way_ids[kept_way],
        offsets=np.concatenate([[0], np.cumsum(lengths[kept_way])]).astype(np.int64),
        node_ids=walk.node_ids[kept_node],
        lon=walk.lon[kept_node],
        lat=walk.lat[kept_node],
    )


def _kept_rows(count: int, xy: np.ndarray, row: np.ndarray, polygon: BaseGeometry) -> np.ndarray:
    """Which of ``count`` rows (vertices ``xy`` of rows ``row``) have a vertex inside."""
    kept = np.zeros(count, dtype=bool)
    kept[row[inside(polygon, xy[:, 0], xy[:, 1])]] = True
    return kept


def _kept_features(
    count: int,
    vertices: _Vertices,
    polygon: BaseGeometry,
    walk: WalkWays,
    line_xy: np.ndarray,
) -> np.ndarray:
    """Which of the ``count`` features are kept: areas with a vertex inside; tagged nodes
    inside or on a kept way (``walk``: the kept walk ways, ``line_xy``: the kept lines'
    vertices)."""
    xy, row = vertices.feature_xy, vertices.feature_row
    kept = np.zeros(count, dtype=bool)
    kept[row[inside(polygon, xy[:, 0], xy[:, 1])]] = True
    outside = ~kept[vertices.point_rows]
    if outside.any():
        area_xy = xy[kept[row] & ~vertices.is_point[row]]
        on_way = _on_kept_way(vertices, outside, walk, np.concatenate([line_xy, area_xy]))
        kept[vertices.point_rows[on_way]] = True
    return kept


def _on_kept_way(
    vertices: _Vertices, outside: np.ndarray, walk: WalkWays, way_xy: np.ndarray
) -> np.ndarray:
    """Which node features (a mask over ``vertices.point_rows``; ``outside``: those not
    inside) are a node of a kept way: a kept walk way's node by id, or at the location of a
    kept line's or area's vertex (``way_xy``). Only those within the kept ways' box are
    looked up."""
    walk_xy = np.column_stack([walk.lon, walk.lat])
    every = np.concatenate([way_xy, walk_xy[~np.isnan(walk_xy).any(axis=1)]])
    result = np.zeros(len(outside), dtype=bool)
    if not every.size:
        return result
    (xmin, ymin), (xmax, ymax) = every.min(axis=0), every.max(axis=0)
    x, y = vertices.point_xy[:, 0], vertices.point_xy[:, 1]
    near = np.flatnonzero(outside & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
    if near.size:
        on_walk = np.isin(vertices.point_ids[near], walk.node_ids)
        on_way = np.isin(_location_keys(vertices.point_xy[near]), _location_keys(way_xy))
        result[near] = on_walk | on_way
    return result


def _location_keys(xy: np.ndarray) -> np.ndarray:
    """One int64 per location: libosmium's fixed-point x and y (each < 2**31) packed."""
    fixed = np.rint(xy * _FIXED_POINT).astype(np.int64)
    return (fixed[:, 0] << 32) + fixed[:, 1]


def _rows(frame: gpd.GeoDataFrame, kept: np.ndarray) -> gpd.GeoDataFrame:
    return frame.iloc[np.flatnonzero(kept)].reset_index(drop=True)
