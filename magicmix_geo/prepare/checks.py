"""Sanity checks on prepared inputs that catch wrong files before hours of work."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from magicmix_geo._errors import InputError

# the Netherlands with its territorial waters, lon/lat (EPSG:4326)
NL_LON = (3.0, 7.3)
NL_LAT = (50.7, 53.7)


def check_in_netherlands(path: Path, lon: np.ndarray, lat: np.ndarray) -> None:
    """Refuse OSM data whose walkable nodes lie mostly outside the Netherlands.

    Extracts cut with relation completion carry some far members, so half of the located
    nodes must lie in the country's bounding box, not all.
    """
    located = ~np.isnan(lon)
    if not located.any():
        raise InputError(f"{path}: no located node in the walkable ways")
    lo, la = lon[located], lat[located]
    inside = (lo >= NL_LON[0]) & (lo <= NL_LON[1]) & (la >= NL_LAT[0]) & (la <= NL_LAT[1])
    if inside.mean() < 0.5:
        raise InputError(
            f"{path}: the OSM data lie outside the Netherlands (median lon {np.median(lo):.3f}, "
            f"lat {np.median(la):.3f}); EPSG:28992 and CBS/Kadaster data cover the Netherlands only"
        )
