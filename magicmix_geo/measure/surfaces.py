"""Accessibility surfaces: the walking distance (or boarding time) at every raster cell centre,
for QGIS. Pure computation; the cell centres are joined to the network and measured exactly as
sites are (measure/distances.py), so a surface and the sites' ``dist_<category>_m`` agree.

Cells outside the area, or whose centre lies farther than ``max_connector_m`` from the walking
network (fields, water, large blocks without paths), are NaN (nodata).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.contract import Raster
from magicmix_geo.measure.density import aligned_frame
from magicmix_geo.measure.distances import SegmentIndex, Snap, nearest_distance
from magicmix_geo.prepare.network import WalkNetwork


def cell_centres(
    area: BaseGeometry, cell_m: float
) -> tuple[Raster, np.ndarray, np.ndarray, np.ndarray]:
    """An empty (NaN) raster over ``area`` (EPSG:28992) and the x, y and flat index of the
    centres of its cells that lie inside the area."""
    transform, shape = aligned_frame(area.bounds, cell_m)
    raster = Raster(np.full(shape, np.nan), transform)
    xs, ys = raster.centres()
    inside = shapely.contains_xy(area, xs, ys).reshape(-1)
    flat = np.flatnonzero(inside)
    return raster, xs.reshape(-1)[flat], ys.reshape(-1)[flat], flat


def distance_surface(
    net: WalkNetwork,
    index: SegmentIndex,
    area: BaseGeometry,
    destinations: Snap,
    cell_m: float,
    max_connector_m: float,
    *,
    scale: float = 1.0,
    description: str = "",
    units: str = "m",
) -> Raster:
    """Walking distance from every cell centre of ``area`` to the nearest destination.

    ``destinations`` are snapped with the same ``index``; ``scale`` divides the distance (the
    walking speed turns metres into minutes for a boarding-time surface).
    """
    raster, x, y, flat = cell_centres(area, cell_m)
    if flat.size == 0 or len(destinations) == 0:
        return Raster(raster.data, raster.transform, description, units)
    snap = index.snap(x, y)
    dist = nearest_distance(net, snap, destinations) / scale
    dist[snap.connector > max_connector_m] = np.nan
    data = raster.data.reshape(-1).copy()
    data[flat] = dist
    return Raster(data.reshape(raster.shape), raster.transform, description, units)
