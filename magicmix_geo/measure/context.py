"""Context indicators of a site from its surroundings (buildings, land use); no I/O.

All geometries in EPSG:28992, distances in metres.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from magicmix_geo.prepare.overlap import convex, cover_areas, tile_cover

# side (m) of the tiles the land-use union is cut into for the disc shares
COVER_TILE_M = 100.0


def count_within(points: gpd.GeoSeries, targets: gpd.GeoSeries, radius_m: float) -> np.ndarray:
    """How many ``targets`` lie (any part) within ``radius_m`` of each point."""
    if len(targets) == 0 or len(points) == 0:
        return np.zeros(len(points), dtype=np.int64)
    tree = shapely.STRtree(targets.to_numpy())
    point_idx, _ = tree.query(points.to_numpy(), predicate="dwithin", distance=radius_m)
    return np.bincount(point_idx, minlength=len(points)).astype(np.int64)


# relative and absolute (m) margin of the distance within which a target may be the nearest
NEAREST_MARGIN = 1e-9


def distance_to_nearest(geoms: gpd.GeoSeries, targets: gpd.GeoSeries) -> np.ndarray:
    """Straight-line distance (m) from each geometry to the nearest target; NaN if none.

    A site that overlaps a target has distance 0. The value is GEOS' ``distance`` to the
    nearest target, as ``STRtree.query_nearest`` finds it, computed over fewer pairs: a
    geometry's distance to any target is at most the distance from its first vertex to the
    nearest vertex of any target, so only the targets whose bounds lie that near are measured.
    """
    result = np.full(len(geoms), np.nan)
    if len(targets) == 0 or len(geoms) == 0:
        return result
    geom_arr, target_arr = geoms.to_numpy(), targets.to_numpy()
    # the tree leaves out missing and empty targets; a missing or empty geometry has no nearest
    target_arr = target_arr[~(pd.isna(target_arr) | shapely.is_empty(target_arr))]
    present = np.flatnonzero(~(pd.isna(geom_arr) | shapely.is_empty(geom_arr)))
    if not len(target_arr) or not len(present):
        return result
    first, target_xy = _first_vertices(geom_arr[present]), shapely.get_coordinates(target_arr)
    if not (np.isfinite(first).all() and np.isfinite(target_xy).all()):
        tree = shapely.STRtree(target_arr)
        (idx, _), dist = tree.query_nearest(geom_arr, return_distance=True, all_matches=False)
        result[idx] = dist
        return result
    reach, _ = cKDTree(target_xy).query(first)
    # a margin for the rounding of the bound and of the bounds' distances
    reach = reach * (1.0 + NEAREST_MARGIN) + NEAREST_MARGIN
    bounds = shapely.bounds(geom_arr[present])
    boxes = shapely.box(
        bounds[:, 0] - reach, bounds[:, 1] - reach, bounds[:, 2] + reach, bounds[:, 3] + reach
    )
    geom_i, target_i = shapely.STRtree(target_arr).query(boxes)
    dist = shapely.distance(geom_arr[present[geom_i]], target_arr[target_i])
    nearest = np.full(len(present), np.inf)
    np.minimum.at(nearest, geom_i, dist)
    result[present] = nearest
    return result


def _first_vertices(geoms: np.ndarray) -> np.ndarray:
    """The first vertex (x, y) of each of ``geoms`` (non-empty)."""
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    starts = np.searchsorted(owner, np.arange(len(geoms)))
    return xy[starts]


def share_covered(points: gpd.GeoSeries, cover: gpd.GeoSeries, radius_m: float) -> np.ndarray:
    """Share (0-1) of the disc of ``radius_m`` around each point covered by ``cover``."""
    if len(points) == 0:
        return np.zeros(0)
    if len(cover) == 0:
        return np.zeros(len(points))
    union = shapely.union_all(shapely.make_valid(cover.to_numpy()))
    discs = shapely.buffer(points.to_numpy(), radius_m, quad_segs=16)
    # the union cut once into tiles: a disc is the tiles inside it plus clips on its edge
    tiles = tile_cover(shapely.get_parts(union), COVER_TILE_M)
    covered = np.zeros(len(discs))
    whole = convex(discs)
    covered[whole] = cover_areas(tiles, discs[whole])
    if not whole.all():  # no disc (an empty point): GEOS as ever
        covered[~whole] = shapely.area(shapely.intersection(discs[~whole], union))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(covered / shapely.area(discs), 0.0, 1.0)


def sum_within(
    points: gpd.GeoSeries, cells: gpd.GeoSeries, values: np.ndarray, radius_m: float
) -> np.ndarray:
    """Sum of ``values`` of the grid cells whose centre lies within ``radius_m`` of each point.

    Null values (CBS suppressed figures) count as 0: the sum is a lower bound there.
    """
    if len(points) == 0 or len(cells) == 0:
        return np.zeros(len(points))
    centres = shapely.centroid(cells.to_numpy())
    tree = shapely.STRtree(centres)
    point_idx, cell_idx = tree.query(points.to_numpy(), predicate="dwithin", distance=radius_m)
    weights = np.nan_to_num(np.asarray(values, dtype=np.float64)[cell_idx], nan=0.0)
    return np.bincount(point_idx, weights=weights, minlength=len(points))
