"""The study area of a municipality: a boundary file, or the extent of the OSM data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

RD_NEW = "EPSG:28992"


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
