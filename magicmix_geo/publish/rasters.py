"""GeoTIFFs of the density and accessibility surfaces, for QGIS (``rasters/<GM>_<name>.tif``).

Each file is one float32 band, EPSG:28992, DEFLATE-compressed and tiled, nodata NaN, with the
band's description and units set so QGIS shows what it is. Written atomically (a temporary
file beside the target, then ``os.replace``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio

from magicmix_geo._atomic import atomic_path
from magicmix_geo.contract import Raster


def write_geotiff(path: Path, raster: Raster, *, tags: Mapping[str, str] | None = None) -> Path:
    """Write ``raster`` to ``path`` as a GeoTIFF, atomically; returns ``path``."""
    path = Path(path)
    rows, cols = raster.shape
    tiled = rows >= 256 and cols >= 256
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": 1,
        "dtype": "float32",
        "crs": raster.crs,
        "transform": raster.transform,
        "nodata": float("nan"),
        "compress": "deflate",
        "tiled": tiled,
        **({"blockxsize": 256, "blockysize": 256} if tiled else {}),
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(raster.data.astype(np.float32), 1)
        dst.set_band_description(1, raster.description or path.stem)
        if raster.units:
            dst.set_band_unit(1, raster.units)
        dst.update_tags(**dict(tags or {}))
    return path


def write_rasters(
    folder: Path,
    gm_code: str,
    rasters: Mapping[str, Raster],
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write every raster as ``folder/<gm_code>_<name>.tif``; returns the paths."""
    return [
        write_geotiff(Path(folder) / f"{gm_code}_{name}.tif", raster, tags=tags)
        for name, raster in sorted(rasters.items())
    ]
