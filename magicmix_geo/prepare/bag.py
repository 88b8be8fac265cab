"""BAG panden from a file (GeoPackage, GeoJSON, Shapefile), EPSG:28992."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from magicmix_geo._errors import InputError


def read_bag_panden(path: Path) -> gpd.GeoDataFrame:
    """BAG panden as a file holds them, reprojected to EPSG:28992.

    Raises
    ------
    InputError
        The file cannot be read, has no CRS or no ``gebruiksdoel`` column.
    """
    try:
        panden = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read BAG panden ({exc})") from exc
    if panden.crs is None:
        raise InputError(f"{path}: BAG panden have no CRS (EPSG:28992 expected)")
    if "gebruiksdoel" not in panden.columns:
        raise InputError(f"{path}: BAG panden lack the column 'gebruiksdoel'")
    return panden.to_crs("EPSG:28992")
