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
# the point index's grid: about this many points a cell, at most this many cells a side
_POINTS_PER_CELL = 16
_MAX_CELLS_PER_SIDE = 2048
_MIN_CELL_DEG = 1e-6
_HAIR_DEG = 1e-9  # ~0.1 mm: far above the rounding of binning coordinates of a few degrees


@dataclass(frozen=True)
class PointIndex:
    """Points (WGS84 degrees) binned once into a grid of cells over their extent, so that a
    polygon looks only at the cells of its bounding box, takes the points of the cells that
    lie wholly in its interior as they are, and tests only those of the cells on its edge:
    a region is cut into dozens of members, each a small part of it, mostly interior cells.
    """

    x: np.ndarray
    y: np.ndarray
    x0: float
    y0: float
    cell: float  # the cells' width and height in degrees
    columns: int  # cells a side (the grid is square)
    order: np.ndarray  # the points with a location, cell by cell (row-major)
    starts: np.ndarray  # cell c's points: order[starts[c]:starts[c + 1]]

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> PointIndex:
        located = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        xs, ys = x[located], y[located]
        if located.size:
            x0, y0 = float(xs.min()), float(ys.min())
            span = max(float(xs.max()) - x0, float(ys.max()) - y0)
        else:
            x0 = y0 = span = 0.0
        side = int(np.clip(np.sqrt(located.size / _POINTS_PER_CELL), 1, _MAX_CELLS_PER_SIDE))
        cell = max(span / side, _MIN_CELL_DEG)
        columns = int(span // cell) + 1
        # binned by multiplying (cheaper than dividing); the cells' hair absorbs the rounding
        col = np.minimum(((xs - x0) * (1.0 / cell)).astype(np.int32), columns - 1)
        row = np.minimum(((ys - y0) * (1.0 / cell)).astype(np.int32), columns - 1)
        key = row * np.int32(columns) + col  # < 2048**2: fits int32, whose sort is quicker
        starts = np.zeros(columns * columns + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=columns * columns), out=starts[1:])
        by_cell = np.argsort(key, kind="stable")
        return cls(x, y, x0, y0, cell, columns, located[by_cell], starts)

    def inside(self, polygon: BaseGeometry) -> np.ndarray:
        """The indices of the points inside ``polygon`` (``shapely.contains_xy``; NaN never
        is), in no particular order."""
        xmin, ymin, xmax, ymax = shapely.bounds(polygon)
        c0, c1 = self._span(xmin, xmax, self.x0)
        r0, r1 = self._span(ymin, ymax, self.y0)
        if c0 > c1 or r0 > r1:
            return np.zeros(0, dtype=np.int64)
        grid_col, grid_row = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
        col, row = grid_col.ravel(), grid_row.ravel()
        cells = row * self.columns + col
        # each cell's box, grown by a hair so that it holds every point binned into it
        # whatever the rounding of the binning: a box in the interior holds only inside points
        boxes = shapely.box(
            self.x0 + col * self.cell - _HAIR_DEG,
            self.y0 + row * self.cell - _HAIR_DEG,
            self.x0 + (col + 1) * self.cell + _HAIR_DEG,
            self.y0 + (row + 1) * self.cell + _HAIR_DEG,
        )
        interior = shapely.contains_properly(polygon, boxes)
        edge = ~interior & shapely.intersects(polygon, boxes)
        whole = self._points_of(cells[interior])
        tested = self._points_of(cells[edge])
        tested = tested[shapely.contains_xy(polygon, self.x[tested], self.y[tested])]
        return np.concatenate([whole, tested])

    def _span(self, low: float, high: float, origin: float) -> tuple[int, int]:
        """The cells (first, last) along one axis that may hold points from ``low`` to
        ``high``: one more on each side for points binned across a cell's edge by rounding."""
        if not (np.isfinite(low) and np.isfinite(high)):
            return 0, -1  # an empty polygon
        first = int(np.floor((low - origin) / self.cell)) - 1
        last = int(np.floor((high - origin) / self.cell)) + 1
        return max(first, 0), min(last, self.columns - 1)

    def _points_of(self, cells: np.ndarray) -> np.ndarray:
        """The points of ``cells``, cell after cell."""
        first = self.starts[cells]
        return self.order[ranges(first, self.starts[cells + 1] - first)]


@dataclass(frozen=True)
class Vertices:
    """What slicing needs of a region's data whatever the polygon (computed once per region):
    each walk node's way, every feature's and line's vertices in a grid index, and which tagged
    nodes are a node of which way (by id for walk ways, by location for lines and areas)."""

    way_of: np.ndarray
    walk_index: PointIndex
    feature_row: np.ndarray
    feature_index: PointIndex
    line_row: np.ndarray
    line_index: PointIndex
    is_point: np.ndarray  # per feature row: a tagged node
    point_rows: np.ndarray  # the tagged nodes' rows
    # pairs (tagged node i, of point_rows; walk way / line row / area row) where the node is
    # a node of that way
    on_walk: tuple[np.ndarray, np.ndarray]
    on_line: tuple[np.ndarray, np.ndarray]
    on_area: tuple[np.ndarray, np.ndarray]
    counts: tuple[int, int, int]  # walk ways, lines, features

    @classmethod
    def of(
        cls,
        walk: WalkWays,
        features: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        lines: tuple[np.ndarray, np.ndarray, int],
    ) -> Vertices:
        """The vertices of ``walk``, of the ``features`` (their vertices' WGS84 coordinates,
        (n, 2), as ``shapely.get_coordinates`` gives them with ``return_index``, and those
        indices; which rows are tagged nodes; the features' ids) and of the ``lines``
        (coordinates, indices and how many lines)."""
        feature_xy, feature_row, is_point, feature_ids = features
        line_xy, line_row, line_count = lines
        point_rows = np.flatnonzero(is_point)
        # a tagged node has exactly one vertex
        point_keys = _location_keys(feature_xy[np.searchsorted(feature_row, point_rows)])
        way_of = np.repeat(np.arange(len(walk.way_ids)), np.diff(walk.offsets))
        of_area = ~is_point[feature_row]
        on_walk, walk_node = matches(feature_ids[point_rows], walk.node_ids)
        on_line, line_vertex = matches(point_keys, _location_keys(line_xy))
        on_area, area_vertex = matches(point_keys, _location_keys(feature_xy[of_area]))
        return cls(
            way_of=way_of,
            walk_index=PointIndex.of(walk.lon, walk.lat),
            feature_row=feature_row,
            feature_index=PointIndex.of(feature_xy[:, 0], feature_xy[:, 1]),
            line_row=line_row,
            line_index=PointIndex.of(line_xy[:, 0], line_xy[:, 1]),
            is_point=is_point,
            point_rows=point_rows,
            on_walk=(on_walk, way_of[walk_node]),
            on_line=(on_line, line_row[line_vertex]),
            on_area=(on_area, feature_row[of_area][area_vertex]),
            counts=(len(walk.way_ids), line_count, len(is_point)),
        )


@dataclass(frozen=True)
class KeptRows:
    """Which walk ways, lines and features (masks over a region's rows) a slice keeps."""

    ways: np.ndarray
    lines: np.ndarray
    features: np.ndarray


def kept_rows(vertices: Vertices, polygon: BaseGeometry) -> KeptRows:
    """The rows of the region of ``vertices`` that the slice of ``polygon`` (WGS84,
    prepared) keeps (module docstring: the rule)."""
    way_count, line_count, feature_count = vertices.counts
    ways = _kept_rows(way_count, vertices.walk_index, vertices.way_of, polygon)
    lines = _kept_rows(line_count, vertices.line_index, vertices.line_row, polygon)
    features = _kept_rows(feature_count, vertices.feature_index, vertices.feature_row, polygon)
    features[vertices.point_rows[_on_kept_way(vertices, ways, lines, features)]] = True
    return KeptRows(ways=ways, lines=lines, features=features)


# the last region sliced: a region is cut into all its members in a row
_LAST: list[tuple[weakref.ref[OsmData], Vertices]] = []


def _vertices(data: OsmData) -> Vertices:
    if _LAST and _LAST[0][0]() is data:
        return _LAST[0][1]
    feature_xy, feature_row = shapely.get_coordinates(
        data.features.geometry.to_numpy(), return_index=True
    )
    line_xy, line_row = shapely.get_coordinates(data.lines.geometry.to_numpy(), return_index=True)
    is_point = (data.features["osm_type"] == "node").to_numpy()
    ids = data.features["osm_id"].to_numpy(dtype=np.int64)
    vertices = Vertices.of(
        data.walk, (feature_xy, feature_row, is_point, ids), (line_xy, line_row, len(data.lines))
    )
    # forgotten with the region: the vertices are as large as its coordinates
    _LAST[:] = [(weakref.ref(data, lambda _: _LAST.clear()), vertices)]
    return vertices


def matches(keys: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of positions ``(i, j)`` with ``keys[i] == other[j]`` (any number per key),
    ordered by ``j``."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.searchsorted(sorted_keys, other, "left")
    # most of ``other`` matches nothing (an area's vertices against the tagged nodes): the
    # end of each key's run is looked up only for those that match
    hit = first < len(sorted_keys)
    hit[hit] = sorted_keys[first[hit]] == other[hit]
    hits = np.flatnonzero(hit)
    first = first[hits]
    counts = np.searchsorted(sorted_keys, other[hits], "right") - first
    return order[ranges(first, counts)], np.repeat(hits, counts)


def ranges(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``first[i], first[i] + 1, ...`` (``counts[i]`` of them) for every ``i``,
    one range after the other."""
    ends = np.cumsum(counts)
    return np.repeat(first - (ends - counts), counts) + np.arange(ends[-1] if ends.size else 0)


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
    kept = kept_rows(vertices, polygon)
    return replace(
        data,
        walk=walk_rows(data.walk, vertices.way_of, kept.ways),
        features=_rows(source.features, kept.features),
        lines=_rows(source.lines, kept.lines),
    )


def _kept_rows(count: int, index: PointIndex, row: np.ndarray, polygon: BaseGeometry) -> np.ndarray:
    """Which of ``count`` rows (vertices ``index`` of rows ``row``) have a vertex inside."""
    kept = np.zeros(count, dtype=bool)
    kept[row[index.inside(polygon)]] = True
    return kept


def _on_kept_way(
    vertices: Vertices, kept_ways: np.ndarray, kept_lines: np.ndarray, kept_features: np.ndarray
) -> np.ndarray:
    """Which tagged nodes (a mask over ``vertices.point_rows``) are a node of a kept way: a
    kept walk way's node by id, a kept line's or area's vertex by location (``kept_features``
    before any tagged node outside was added: its areas are the kept areas)."""
    result = np.zeros(len(vertices.point_rows), dtype=bool)
    for (nodes, rows), kept in (
        (vertices.on_walk, kept_ways),
        (vertices.on_line, kept_lines),
        (vertices.on_area, kept_features),
    ):
        result[nodes[kept[rows]]] = True
    return result


def walk_rows(walk: WalkWays, way_of: np.ndarray, kept: np.ndarray) -> WalkWays:
    """The ``kept`` walk ways with all their nodes (``way_of``: each node's way)."""
    lengths = np.diff(walk.offsets)
    kept_node = kept[way_of]
    return WalkWays(
        way_ids=walk.way_ids[kept],
        offsets=np.concatenate([[0], np.cumsum(lengths[kept])]).astype(np.int64),
        node_ids=walk.node_ids[kept_node],
        lon=walk.lon[kept_node],
        lat=walk.lat[kept_node],
    )


def _location_keys(xy: np.ndarray) -> np.ndarray:
    """One int64 per location: libosmium's fixed-point x and y (each < 2**31) packed."""
    fixed = np.rint(xy * _FIXED_POINT).astype(np.int64)
    return (fixed[:, 0] << 32) + fixed[:, 1]


def _rows(frame: gpd.GeoDataFrame, kept: np.ndarray) -> gpd.GeoDataFrame:
    return frame.iloc[np.flatnonzero(kept)].reset_index(drop=True)
