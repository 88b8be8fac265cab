"""Context indicators of a site from its surroundings (buildings, land use); no I/O.

All geometries in EPSG:28992, distances in metres.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

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


def distance_to_nearest(geoms: gpd.GeoSeries, targets: gpd.GeoSeries) -> np.ndarray:
    """Straight-line distance (m) from each geometry to the nearest target; NaN if none.

    A site that overlaps a target has distance 0.
    """
    if len(targets) == 0 or len(geoms) == 0:
        return np.full(len(geoms), np.nan)
    tree = shapely.STRtree(targets.to_numpy())
    (idx, _), dist = tree.query_nearest(geoms.to_numpy(), return_distance=True, all_matches=False)
    result = np.full(len(geoms), np.nan)
    result[idx] = dist
    return result


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
