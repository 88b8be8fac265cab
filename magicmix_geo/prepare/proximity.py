"""Pairs of geometries within a distance, decided by cheap bounds first; pure computation.

:func:`dwithin_pairs` returns the same pairs as
``shapely.STRtree(targets).query(geoms, predicate="dwithin", distance=radius_m)`` (as a set),
with most pairs decided by arithmetic on coordinates instead of a GEOS distance each:

- out: the bounding boxes of the two are farther apart than the radius (a lower bound of
  their distance);
- in: a point inside the one and a point inside the other are nearer than the radius (an
  upper bound of their distance);
- only the pairs between the two bounds, within :data:`MARGIN_M` of either, are tested by
  GEOS, with the same prepared ``dwithin`` as the tree's query.

EPSG:28992, metres.
"""

from __future__ import annotations

import numpy as np
import shapely

# a bound decides a pair only when it clears the radius by this much (metres): far more than
# the rounding of a GEOS distance at Dutch RD coordinates (~1e-11 m), far less than anything
# measured
MARGIN_M = 1e-6
# geometries per round: bounds the candidate pairs held at once
CHUNK = 20_000


def inner_points(geoms: np.ndarray) -> np.ndarray:
    """A point inside each geometry (``point_on_surface``), or an empty point where GEOS does
    not place it inside (empty or invalid geometries): such pairs are never decided "in"."""
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
    found = [
        _chunk_pairs(geoms, targets, tree, target_box, target_xy, geom_points, start, radius_m)
        for start in range(0, len(geoms), CHUNK)
    ]
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def _chunk_pairs(
    geoms: np.ndarray,
    targets: np.ndarray,
    tree: shapely.STRtree,
    target_box: np.ndarray,
    target_xy: np.ndarray,
    geom_points: np.ndarray,
    start: int,
    radius_m: float,
) -> tuple[np.ndarray, np.ndarray]:
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
