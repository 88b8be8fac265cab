"""Honest distances: where the data end, a walking distance is no longer a fact.

The run holds OSM data only within its coverage: the municipality plus the clip buffer
(``prepare/clip.py``) when a boundary is given, and never more than the extent of the OSM file
(the box of its mapped buildings, ``prepare/area.osm_extent``). A destination outside the
coverage is at least the straight distance ``e`` from the site to the coverage's edge away
(a walk is never shorter than the straight line). So a measured ``dist_<category>_m`` of at most
``e`` is exact, while a longer one (or none at all) only says that the true nearest
destination is at least ``e`` away: it is *censored*.

Pure computation on geometries in EPSG:28992 (metres); no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

# the straight distance from a site's representative point to the edge of the data's coverage
EDGE_COLUMN = "coverage_edge_m"


def data_coverage(extent: BaseGeometry, area: BaseGeometry | None, buffer_m: float) -> BaseGeometry:
    """The part of the country the run's data describe, EPSG:28992.

    Parameters
    ----------
    extent
        The extent of the OSM data (``prepare.area.osm_extent``, before any clipping).
    area
        The municipality's boundary, or None when the run has no boundary (then the coverage
        is the extent).
    buffer_m
        The clip buffer around the boundary, metres (``walk.clip_buffer_m``).
    """
    if area is None:
        return extent
    grown = shapely.buffer(area, buffer_m, quad_segs=8)
    return shapely.intersection(grown, extent)


def distance_to_edge(x: np.ndarray, y: np.ndarray, coverage: BaseGeometry) -> np.ndarray:
    """Straight distance (metres) from each point to the edge of ``coverage``; 0 outside it.

    Parameters
    ----------
    x, y
        Point coordinates, EPSG:28992.
    coverage
        The data's coverage (:func:`data_coverage`), a polygon in EPSG:28992.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if coverage.is_empty:
        return np.zeros(len(x))
    points = shapely.points(x, y)
    edge = shapely.distance(points, coverage.boundary)
    inside = shapely.contains_xy(coverage, x, y)
    return np.where(inside, edge, 0.0)


def censored_name(distance_column: str) -> str:
    """``dist_gp_m`` -> ``dist_gp_censored``."""
    if not (distance_column.startswith("dist_") and distance_column.endswith("_m")):
        raise ValueError(f"{distance_column!r} is not a dist_<category>_m column")
    return distance_column[: -len("_m")] + "_censored"


def censored_flags(
    distances: pd.DataFrame, edge_m: np.ndarray, columns: Iterable[str]
) -> pd.DataFrame:
    """``dist_<category>_censored`` for each distance column, and :data:`EDGE_COLUMN`.

    A distance is censored when it is longer than the way to the edge of the coverage, or
    missing (no destination of the kind in the data): the true nearest destination may lie
    outside the data, at least ``edge_m`` away.

    Parameters
    ----------
    distances
        Walking distances (metres), one row per site.
    edge_m
        :func:`distance_to_edge` of each site's representative point, aligned with the rows.
    columns
        The ``dist_<category>_m`` columns to flag.
    """
    edge = np.asarray(edge_m, dtype=np.float64)
    out: dict[str, np.ndarray] = {EDGE_COLUMN: edge}
    for column in columns:
        value = distances[column].to_numpy(dtype=np.float64)
        out[censored_name(column)] = np.isnan(value) | (value > edge)
    return pd.DataFrame(out, index=distances.index)


def censoring(
    points: gpd.GeoSeries,
    distances: pd.DataFrame,
    coverage: BaseGeometry,
    categories: Iterable[str],
) -> pd.DataFrame:
    """:func:`censored_flags` of the sites' ``dist_<category>_m`` for every category.

    Parameters
    ----------
    points
        The sites' representative points, EPSG:28992, indexed like ``distances``.
    distances
        The network indicators with ``dist_<category>_m``.
    coverage
        The data's coverage (:func:`data_coverage`).
    categories
        The amenity categories.
    """
    edge = distance_to_edge(points.x.to_numpy(), points.y.to_numpy(), coverage)
    columns = [f"dist_{c}_m" for c in categories if f"dist_{c}_m" in distances.columns]
    return censored_flags(distances, edge, columns)
