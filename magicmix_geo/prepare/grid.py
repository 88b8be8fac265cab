"""The CBS 100 m grid (vierkantstatistieken) cells around an area, from a local file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings

# the radius of the grid sums around a site (pop_grid_500m, dwellings_grid_500m)
GRID_SUM_RADIUS_M = 500.0


def grid_reach(settings: Settings) -> float:
    """How far around the area grid cells matter: the model's radii and the 500 m sums."""
    model = settings.model
    radius = max(*model.density.radii_m, model.social.radius_m, GRID_SUM_RADIUS_M)
    return radius + 2 * model.density.cell_m


def read_grid(path: Path, area: BaseGeometry, reach_m: float) -> gpd.GeoDataFrame:
    """The CBS 100 m grid cells within ``reach_m`` of the area (EPSG:28992)."""
    try:
        info = pyogrio.read_info(path)
        crs = info["crs"]
        bbox = None
        if crs is not None and "28992" in str(crs):
            xmin, ymin, xmax, ymax = area.bounds
            bbox = (xmin - reach_m, ymin - reach_m, xmax + reach_m, ymax + reach_m)
        grid = gpd.read_file(path, engine="pyogrio", bbox=bbox)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read CBS grid ({exc})") from exc
    if grid.crs is None:
        raise InputError(f"{path}: CBS grid has no CRS (EPSG:28992 expected)")
    for column in ("aantal_inwoners", "aantal_woningen"):
        if column not in grid.columns:
            raise InputError(f"{path}: CBS grid lacks the column {column!r}")
    return grid.to_crs("EPSG:28992")
