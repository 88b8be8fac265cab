"""Boundary files: the union of a vector file's polygons in EPSG:28992 (a municipality's area;
read by the acquisition for its query boxes and by the preparation of a run)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.contract import RD_NEW


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
