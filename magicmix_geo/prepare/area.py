"""The extent of the OSM data: the study area when no boundary is given, and the data's
coverage (measure/coverage.py)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.prepare.network import WalkNetwork


def osm_extent(buildings: gpd.GeoSeries, network_xy: tuple[np.ndarray, np.ndarray]) -> BaseGeometry:
    """The extent of the OSM data: the bounding box of the mapped buildings.

    Extracts cut with relation completion carry far-away route members, so the bounding box
    of all nodes says little about where the data are complete; buildings are only mapped
    where the extract is. Without buildings, the box of the walking network is used.
    """
    if len(buildings):
        return shapely.box(*buildings.total_bounds)
    x, y = network_xy
    return shapely.box(float(x.min()), float(y.min()), float(x.max()), float(y.max()))


def data_extent(
    buildings: gpd.GeoDataFrame, net: WalkNetwork, area: BaseGeometry, buffer_m: float | None
) -> BaseGeometry:
    """:func:`osm_extent` of the data within ``buffer_m`` of ``area`` (all of it when None):
    the same whether the file holds only this municipality or the whole country."""
    if buffer_m is None:
        return osm_extent(buildings.geometry, (net.x, net.y))
    zone = shapely.buffer(area, buffer_m, quad_segs=4)
    shapely.prepare(zone)
    near = shapely.intersects(zone, buildings.geometry.to_numpy())
    nodes = shapely.contains_xy(zone, net.x, net.y)
    return osm_extent(buildings.geometry[near], (net.x[nodes], net.y[nodes]))
