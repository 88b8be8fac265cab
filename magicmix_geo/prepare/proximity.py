"""Pairs of geometries within a distance, decided by cheap bounds first; pure computation.

:func:`dwithin_pairs` returns the same pairs as
``shapely.STRtree(targets).query(geoms, predicate="dwithin", distance=radius_m)`` (as a set),
with most pairs decided by arithmetic on coordinates instead of a GEOS distance each:

- out: the bounding boxes of the two are farther apart than the radius (a lower bound of
  their distance);
- in: a point inside the one and a point inside the other are nearer than the radius (an
  upper bound of their distance);
- between the two bounds: the least distance between a vertex of the one and an edge of the
  other (a numba loop over their rings), the distance itself where the bounding boxes are
  apart (the two then do not meet, and the distance of two disjoint polygons is that between
  a vertex and an edge), else an upper bound of it;
- only the pairs that none of these decides, within :data:`MARGIN_M` of the radius or with
  overlapping boxes, are tested by GEOS, with the same prepared ``dwithin`` as the tree's
  query.

EPSG:28992, metres.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import shapely

from magicmix_geo.prepare.overlap import POLYGON_TYPES, rings_of

# a bound decides a pair only when it clears the radius by this much (metres): far more than
# the rounding of a GEOS distance at Dutch RD coordinates (~1e-11 m), far less than anything
# measured
MARGIN_M = 1e-6
# geometries per round: bounds the candidate pairs held at once
CHUNK = 20_000


def inner_points(geoms: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """A point inside each geometry (``point_on_surface``, or ``points`` when the caller has
    them), or an empty point where it does not lie inside (empty or invalid geometries):
    such pairs are never decided "in"."""
    if points is None:
        points = shapely.point_on_surface(geoms)
    xy = _xy(points)
    has = np.flatnonzero(~np.isnan(xy[:, 0]))
    inside = np.zeros(len(geoms), dtype=bool)
    inside[has] = shapely.intersects_xy(geoms[has], xy[has, 0], xy[has, 1])
    return np.where(inside, points, shapely.from_wkt("POINT EMPTY"))


def dwithin_pairs(
    geoms: np.ndarray,
    targets: np.ndarray,
    radius_m: float,
    *,
    geom_points: np.ndarray | None = None,
    target_points: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(geometry index, target index) of every pair within ``radius_m`` of each other.

    ``geom_points`` / ``target_points`` are points inside each geometry / target
    (:func:`inner_points`; computed when not given; a point target is its own). The pairs
    come in no particular order.
    """
    empty = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))
    if not len(geoms) or not len(targets):
        return empty
    if geom_points is None:
        geom_points = inner_points(geoms)
    if target_points is None:
        target_points = inner_points(targets)
    tree = shapely.STRtree(targets)
    target_box = shapely.bounds(targets)
    target_xy = _xy(target_points)
    target_facets = Facets.of(targets)
    found = [
        _chunk_pairs(
            geoms,
            targets,
            tree,
            (target_box, target_xy, target_facets),
            geom_points,
            start,
            radius_m,
        )
        for start in range(0, len(geoms), CHUNK)
    ]
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


class Facets:
    """The vertices and edges of some geometries as rings of flat arrays: ring ``r`` is
    ``xy[start[r]:end[r]]`` (a polygon's closed rings; a point is a ring of one vertex and no
    edge), the rings of geometry ``g`` are ``lo[g]:hi[g]``; ``ok[g]`` False for a geometry of
    another kind or an empty one (left to GEOS)."""

    def __init__(
        self,
        xy: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        ok: np.ndarray,
    ) -> None:
        self.xy, self.start, self.end, self.lo, self.hi, self.ok = xy, start, end, lo, hi, ok

    @classmethod
    def of(cls, geoms: np.ndarray) -> Facets:
        """The facets of the Polygons, MultiPolygons and Points among ``geoms``."""
        kind = shapely.get_type_id(geoms)
        full = ~shapely.is_empty(geoms)
        poly = np.flatnonzero(np.isin(kind, POLYGON_TYPES) & full)
        point = np.flatnonzero((kind == 0) & full)
        rings = rings_of(geoms[poly])
        n_rings, n_xy = len(rings.start), len(rings.xy)
        xy = np.concatenate([rings.xy, shapely.get_coordinates(geoms[point])])
        dot = np.arange(len(point), dtype=np.int64)
        start = np.concatenate([rings.start, n_xy + dot])
        end = np.concatenate([rings.end, n_xy + dot + 1])
        lo = np.zeros(len(geoms), dtype=np.int64)
        hi = np.zeros(len(geoms), dtype=np.int64)
        lo[poly], hi[poly] = rings.first[:-1], rings.first[1:]
        lo[point], hi[point] = n_rings + dot, n_rings + dot + 1
        ok = np.zeros(len(geoms), dtype=bool)
        ok[poly] = hi[poly] > lo[poly]
        ok[point] = True
        return cls(np.ascontiguousarray(xy, dtype=np.float64), start, end, lo, hi, ok)


def _chunk_pairs(
    geoms: np.ndarray,
    targets: np.ndarray,
    tree: shapely.STRtree,
    target_data: tuple[np.ndarray, np.ndarray, Facets],
    geom_points: np.ndarray,
    start: int,
    radius_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    target_box, target_xy, target_facets = target_data
    part = geoms[start : start + CHUNK]
    box = shapely.bounds(part)
    grown = shapely.box(
        box[:, 0] - radius_m, box[:, 1] - radius_m, box[:, 2] + radius_m, box[:, 3] + radius_m
    )
    # the tree's own candidates for "dwithin": envelopes within the grown envelope
    gi, ti = tree.query(grown)
    a, b = box[gi], target_box[ti]
    dx = np.maximum(np.maximum(b[:, 0] - a[:, 2], a[:, 0] - b[:, 2]), 0.0)
    dy = np.maximum(np.maximum(b[:, 1] - a[:, 3], a[:, 1] - b[:, 3]), 0.0)
    out = dx * dx + dy * dy > (radius_m + MARGIN_M) ** 2
    gi, ti = gi[~out], ti[~out]
    pxy = _xy(geom_points[start : start + CHUNK])[gi]
    qxy = target_xy[ti]
    with np.errstate(invalid="ignore"):
        near = np.hypot(pxy[:, 0] - qxy[:, 0], pxy[:, 1] - qxy[:, 1]) <= radius_m - MARGIN_M
    todo = np.flatnonzero(~near)
    if len(todo):
        # the facets decide most of the rest (apart: both ways; overlapping boxes: only "in")
        facets = Facets.of(part)
        apart = (dx[~out][todo] > 0.0) | (dy[~out][todo] > 0.0)
        decided = _facet_decisions(facets, target_facets, gi[todo], ti[todo], apart, radius_m)
        near[todo[decided == 1]] = True
        todo = todo[decided < 0]
    if len(todo):
        # the tree's query tests a prepared input geometry too; the caller's stay as they were
        fresh = ~shapely.is_prepared(part)
        shapely.prepare(part)
        near[todo] = shapely.dwithin(part[gi[todo]], targets[ti[todo]], radius_m)
        shapely.destroy_prepared(part[fresh])
    return gi[near] + start, ti[near]


def _xy(points: np.ndarray) -> np.ndarray:
    """x, y of points (NaN for empty or missing ones)."""
    xy = np.full((len(points), 2), np.nan)
    has = ~shapely.is_empty(points) & ~shapely.is_missing(points)
    xy[has] = shapely.get_coordinates(points[has], include_z=False)
    return xy


def _facet_decisions(
    a: Facets, b: Facets, ai: np.ndarray, bi: np.ndarray, apart: np.ndarray, radius_m: float
) -> np.ndarray:
    """Per pair ``(a[ai], b[bi])``: 1 within ``radius_m``, 0 not, -1 undecided (GEOS).

    The least vertex-to-edge distance either way is a distance between points of the two,
    so at most :data:`MARGIN_M` under the radius decides "in"; where the boxes are ``apart``
    it is the distance itself (to rounding), so at least :data:`MARGIN_M` over decides
    "out"."""
    out = np.full(len(ai), -1, dtype=np.int8)
    ok = a.ok[ai] & b.ok[bi]
    if not ok.any():
        return out
    which = np.flatnonzero(ok)
    least = _least_facet_distances(
        (a.xy, a.start, a.end, a.lo, a.hi),
        (b.xy, b.start, b.end, b.lo, b.hi),
        ai[which],
        bi[which],
        max(radius_m - MARGIN_M, 0.0),
    )
    decided = np.full(len(which), -1, dtype=np.int8)
    decided[least <= radius_m - MARGIN_M] = 1
    decided[apart[which] & (least > radius_m + MARGIN_M)] = 0
    out[which] = decided
    return out


@numba.njit(cache=True)
def _segment_distance2(px: float, py: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Squared distance from ``(px, py)`` to the segment ``(x0, y0)-(x1, y1)``."""
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    t = 0.0
    if length2 > 0.0:
        t = ((px - x0) * dx + (py - y0) * dy) / length2
        t = min(max(t, 0.0), 1.0)
    ex, ey = x0 + t * dx - px, y0 + t * dy - py
    return ex * ex + ey * ey


@numba.njit(cache=True)
def _vertex_edge_min(
    vxy: np.ndarray,
    vstart: np.ndarray,
    vend: np.ndarray,
    v_lo: int,
    v_hi: int,
    exy: np.ndarray,
    estart: np.ndarray,
    eend: np.ndarray,
    e_lo: int,
    e_hi: int,
    best: float,
    enough: float,
) -> float:
    """The least squared distance (below ``best``) from a vertex of the rings ``v_lo:v_hi``
    to an edge of the rings ``e_lo:e_hi``; stops once at most ``enough``."""
    for rv in range(v_lo, v_hi):
        for v in range(vstart[rv], vend[rv]):
            px, py = vxy[v, 0], vxy[v, 1]
            for re in range(e_lo, e_hi):
                for e in range(estart[re], eend[re] - 1):
                    d = _segment_distance2(
                        px, py, exy[e, 0], exy[e, 1], exy[e + 1, 0], exy[e + 1, 1]
                    )
                    if d < best:
                        best = d
                        if best <= enough:
                            return best
    return best


@numba.njit(cache=True)
def _least_facet_distances(
    a: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ai: np.ndarray,
    bi: np.ndarray,
    enough: float,
) -> np.ndarray:
    """Per pair: the least distance from a vertex of one to an edge of the other (either
    way), or a value at most ``enough`` once one is found (no need to look further); a point
    has no edge, and two points are as far as their vertices."""
    axy, astart, aend, alo, ahi = a
    bxy, bstart, bend, blo, bhi = b
    out = np.empty(len(ai))
    enough2 = enough * enough
    for k in range(len(ai)):
        g, t = ai[k], bi[k]
        best = np.inf
        best = _vertex_edge_min(
            bxy, bstart, bend, blo[t], bhi[t], axy, astart, aend, alo[g], ahi[g], best, enough2
        )
        if best > enough2:
            best = _vertex_edge_min(
                axy,
                astart,
                aend,
                alo[g],
                ahi[g],
                bxy,
                bstart,
                bend,
                blo[t],
                bhi[t],
                best,
                enough2,
            )
        v, w = astart[alo[g]], bstart[blo[t]]
        if best > enough2 and aend[alo[g]] - v == 1 and bend[blo[t]] - w == 1:
            # two points: no edge either side
            dx, dy = axy[v, 0] - bxy[w, 0], axy[v, 1] - bxy[w, 1]
            best = min(best, dx * dx + dy * dy)
        out[k] = math.sqrt(best)
    return out
