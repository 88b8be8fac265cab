"""Shared helpers of the publishing modules: CRS checks, atomic output paths, attribution."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import OutputError

RD_NEW_EPSG = 28992
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_LICENCE = "ODbL 1.0"
CBS_ATTRIBUTION = "Bron: CBS, Kadaster"
CBS_LICENCE = "CC-BY 4.0"
MAP_ATTRIBUTION = f"{OSM_ATTRIBUTION} (ODbL); {CBS_ATTRIBUTION} ({CBS_LICENCE})"


def require_rd_new(frame: gpd.GeoDataFrame, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``frame`` is in EPSG:28992.

    Parameters
    ----------
    frame
        The layer to check.
    name
        The layer name used in the message.
    """
    crs = frame.crs
    if crs is None or crs.to_epsg() != RD_NEW_EPSG:
        found = "no CRS" if crs is None else crs.to_string()
        raise ValueError(f"layer {name!r} must be in EPSG:{RD_NEW_EPSG}, found {found}")


@contextlib.contextmanager
def output_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path for ``target`` that replaces it only on success.

    Operating-system errors (unwritable folder, a file where a folder should be, disk full)
    become :class:`OutputError` naming ``target``; no temporary file is left behind.

    Parameters
    ----------
    target
        The final file path.
    """
    try:
        with atomic_path(Path(target)) as tmp:
            yield tmp
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write {target}: {reason}") from exc

# score_total in five equal classes, red (poor) to green (good): ColorBrewer RdYlGn,
# the same classes as the QGIS style in styles/sites.qml
SCORE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SCORE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
EXCLUDED_COLOUR = "#bebebe"
NO_SCORE_COLOUR = "#ffffff"


def score_colour(score: float | None) -> str:
    """The class colour of a ``score_total`` in [0, 1]; white when there is no score.

    Parameters
    ----------
    score
        The total score; values outside [0, 1] fall in the nearest end class.
    """
    if score is None or score != score:  # None or NaN
        return NO_SCORE_COLOUR
    for upper, colour in zip(SCORE_BREAKS[1:-1], SCORE_COLOURS, strict=False):
        if score < upper:
            return colour
    return SCORE_COLOURS[-1]


def excluded_mask(sites: gpd.GeoDataFrame) -> pd.Series:
    """True for sites flagged ``excluded``; all False if the column is absent.

    Parameters
    ----------
    sites
        Candidate sites.
    """
    if "excluded" not in sites.columns:
        return pd.Series(False, index=sites.index)
    return sites["excluded"].astype("boolean").fillna(False).astype(bool)
