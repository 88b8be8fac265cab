"""The study area of a municipality: a boundary file, or the extent of the OSM data."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError

RD_NEW = "EPSG:28992"


def read_boundary(path: Path) -> BaseGeometry:
    """The union of the polygons of a vector file, in EPSG:28992."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: boundary file not found")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read boundary ({exc})") from exc
    if frame.empty:
        raise InputError(f"{path}: boundary file has no features")
    if frame.crs is None:
        raise InputError(f"{path}: boundary has no CRS (EPSG:28992 expected)")
    geoms = shapely.make_valid(frame.to_crs(RD_NEW).geometry.to_numpy())
    polygons = [g for g in geoms if g is not None and not g.is_empty and g.area > 0]
    if not polygons:
        raise InputError(f"{path}: boundary has no polygon with an area")
    return shapely.union_all(polygons)


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
