"""Shared helpers of the publishing modules: CRS checks, atomic output paths, attribution."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio.errors

from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import OutputError
from magicmix_geo.contract import require_rd
from magicmix_geo.language import LANGS, format_number, words_in
from magicmix_geo.publish._palette import (
    BOUNDARY_COLOUR,
    BUILDING_COLOUR,
    CATEGORY_STYLES,
    EXCLUDED_COLOUR,
    EXCLUDED_EDGE,
    LEAFLET_DASHES,
    MPL_DASHES,
    MPL_MARKERS,
    NO_SCORE_COLOUR,
    OTHER_CATEGORY_STYLE,
    OTHER_SITE_TYPE_STYLE,
    SCORE_BREAKS,
    SCORE_COLOURS,
    SITE_EDGE,
    SITE_TYPE_STYLES,
    STREET_COLOUR,
    WATER_COLOUR,
)
from magicmix_geo.site_types import site_type_label

RD_NEW_EPSG = 28992
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_LICENCE = "ODbL 1.0"
CBS_ATTRIBUTION = "Bron: CBS, Kadaster"
CBS_LICENCE = "CC-BY 4.0"
MAP_ATTRIBUTION = f"{OSM_ATTRIBUTION} (ODbL); {CBS_ATTRIBUTION} ({CBS_LICENCE})"


# a walking distance without a path over the network, per language
_UNREACHABLE = {"en": "unreachable", "nl": "onbereikbaar"}


def walking_distance_text(metres: object, lang: str = "nl") -> str:
    """A walking distance as a reader of ``lang`` sees it, ``1.234 m``; a missing one (no
    path over the walking network) ``onbereikbaar`` / ``unreachable``."""
    text = format_number(metres, 0, lang)
    return f"{text} m" if text else _UNREACHABLE[lang]


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
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        sqlite3.OperationalError,
    ) as exc:
        # GDAL and SQLite report a full or read-only disk in their own words
        # ("database or disk is full", "Failed to commit transaction"): name the file
        text = " ".join(str(exc).split())
        if not _DISK_TROUBLE.search(text):
            raise
        raise OutputError(f"cannot write {target}: {text}") from exc


# how GDAL's GeoPackage driver and SQLite say the disk refused a write
_DISK_TROUBLE = re.compile(
    r"disk is full|no space|failed to commit|disk i/o error|read-?only|permission denied"
    r"|quota",
    re.IGNORECASE,
)


@contextlib.contextmanager
def quiet_missing_glyphs() -> Iterator[None]:
    """Silence matplotlib's one warning per character its font lacks (a site id or name in
    CJK script, an emoji): the PNG/PDF shows a box there, the HTML report the exact text,
    and a normal run prints no warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning
        )
        yield


def score_colour(score: float | None) -> str:
    """The class colour of a ``score_total`` in [0, 1]; white when there is no score.

    Parameters
    ----------
    score
        The total score; values outside [0, 1] fall in the nearest end class.
    """
    if score is None or score != score:  # None or NaN
        return NO_SCORE_COLOUR
    # (lower, upper] like QGIS's graduated renderer, so both show a site in the same class
    for upper, colour in zip(SCORE_BREAKS[1:-1], SCORE_COLOURS, strict=False):
        if score <= upper:
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


def category_style(category: object) -> tuple[str, str, str]:
    """(label, colour, QGIS marker name) of a destination category; grey circle if unknown.

    Parameters
    ----------
    category
        A ``category`` value of the amenities or stops layer.
    """
    return CATEGORY_STYLES.get(str(category), OTHER_CATEGORY_STYLE)


def site_type_look(site_type: object) -> tuple[str, str]:
    """(outline colour, QGIS dash style) of a ``site_type``; grey solid if unknown."""
    return SITE_TYPE_STYLES.get(str(site_type), OTHER_SITE_TYPE_STYLE)


def site_type_style(site_type: object, lang: str) -> tuple[str, str, str]:
    """(label in ``lang``, outline colour, QGIS dash style) of a ``site_type``; grey solid
    and the "other" label if unknown.

    Parameters
    ----------
    site_type
        A ``site_type`` value of the sites layer (:data:`magicmix_geo.site_types.SITE_TYPES`).
    lang
        ``nl`` or ``en``: the label (:data:`magicmix_geo.site_types.SITE_TYPE_LABELS`).
    """
    colour, dash = site_type_look(site_type)
    return site_type_label(site_type, lang), colour, dash


# the colours are defined in _palette (shared with the QGIS style generator)
__all__ = [
    "BOUNDARY_COLOUR",
    "BUILDING_COLOUR",
    "CATEGORY_STYLES",
    "CBS_ATTRIBUTION",
    "CBS_LICENCE",
    "EXCLUDED_COLOUR",
    "EXCLUDED_EDGE",
    "LANGS",
    "LEAFLET_DASHES",
    "MAP_ATTRIBUTION",
    "MPL_DASHES",
    "MPL_MARKERS",
    "NO_SCORE_COLOUR",
    "OSM_ATTRIBUTION",
    "OSM_LICENCE",
    "OTHER_CATEGORY_STYLE",
    "RD_NEW_EPSG",
    "SCORE_BREAKS",
    "SCORE_COLOURS",
    "SITE_EDGE",
    "SITE_TYPE_STYLES",
    "STREET_COLOUR",
    "WATER_COLOUR",
    "category_style",
    "excluded_mask",
    "format_number",
    "output_path",
    "quiet_missing_glyphs",
    "require_rd",
    "score_colour",
    "site_type_look",
    "site_type_style",
    "walking_distance_text",
    "words_in",
]


def reason_text(value: Any) -> Any:
    """Reasons may come as a list (or its JSON text); show them as one line each."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value
