"""BAG panden (Kadaster's Basisregistratie Adressen en Gebouwen) from a local file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from magicmix_geo._errors import InputError


def read_bag(path: Path) -> gpd.GeoDataFrame:
    """The BAG panden of ``path`` (GeoPackage or any OGR format) in EPSG:28992; they must carry
    ``gebruiksdoel`` (the uses of the pand's verblijfsobjecten)."""
    try:
        panden = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read BAG panden ({exc})") from exc
    if panden.crs is None:
        raise InputError(f"{path}: BAG panden have no CRS (EPSG:28992 expected)")
    if "gebruiksdoel" not in panden.columns:
        raise InputError(f"{path}: BAG panden lack the column 'gebruiksdoel'")
    return panden.to_crs("EPSG:28992")
