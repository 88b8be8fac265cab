"""Planned housing projects from a plans file (plancapaciteit monitors).

Municipalities and provinces keep their housing plans in monitors (the provincial
"Planmonitor Wonen", plancapaciteit.nl, DiWi exports, the EIB compilation) with their own
column names. ``[plans.columns]`` in the configuration maps our fields to a file's columns;
:func:`read_plans` reads the file (GeoPackage, GeoJSON, Shapefile or CSV with WKT, through
:func:`magicmix_geo.prepare.candidates.read_candidates`) and returns the plans with our field
names. Reading only: typing, overlaps and homes are decided in ``prepare/sites.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from magicmix_geo._errors import InputError
from magicmix_geo.config import REQUIRED_PLAN_FIELDS
from magicmix_geo.prepare.candidates import read_candidates

# our numeric plan fields (homes)
NUMERIC_FIELDS = ("homes", "rent", "buy", "social")
TEXT_FIELDS = ("name", "status", "period", "type", "municipality")
# the columns read_candidates adds; a plans file's own columns of these names are kept apart
_ADDED = ("site_id", "source", "is_proxy", "temporary")
PLAN_ID_PREFIX = "PLAN-"
TRUE_WORDS = frozenset({"yes", "true", "ja", "j", "y"})
FALSE_WORDS = frozenset({"no", "false", "nee", "n", ""})


def read_plans(
    path: Path, columns: Mapping[str, str], *, temporary_words: Sequence[str] = ()
) -> gpd.GeoDataFrame:
    """Read a plans file and name its columns as ours.

    Parameters
    ----------
    path
        The plans file; polygons or multipolygons (plan outlines), any declared CRS (a CSV
        without an ``epsg`` column is EPSG:28992), as :func:`read_candidates` reads them.
    columns
        Our field -> the file's column (``settings.sites.columns``). ``name`` and ``homes``
        must be in the file; another field is read when its column is there, and a field
        whose column is renamed (not our own name) must be there.
    temporary_words
        Lower-case words that mark a plan as temporary or modular housing when its type,
        status or name contains one.

    Returns
    -------
    gpd.GeoDataFrame
        EPSG:28992, one row per plan: ``plan_id`` (``PLAN-`` + the file's ``site_id`` or
        ``id`` if unique, else its row number), ``name``, ``homes`` (float, NaN where the
        file has none), ``status``, ``period``, ``type``, ``municipality`` (text or None),
        ``rent``, ``buy``, ``social`` (float or NaN), ``temporary`` (bool), ``geometry``.
        ``attrs["dropped"]`` and ``attrs["repaired"]`` as :func:`read_candidates` gives them.

    Raises
    ------
    InputError
        Naming the file and the problem: what :func:`read_candidates` refuses, a mapped
        column missing (naming our field, its ``plans.columns`` key and the column), or a
        homes value that is not a non-negative number (naming the column and row).
    """
    path = Path(path)
    raw = read_candidates(path)
    present = set(raw.columns)
    # read_candidates renames a file's own `source` column; plans have no use for it
    for field, column in columns.items():
        if column in present or (column in _ADDED and f"{column}_in_file" in present):
            continue
        if field in REQUIRED_PLAN_FIELDS or column != field:
            raise InputError(
                f"{path}: the plans file has no column {column!r} for our field {field!r} "
                f"(configuration key plans.columns.{field}; columns in the file: "
                f"{', '.join(c for c in raw.columns if c not in (*_ADDED, 'geometry'))})"
            )
    out = gpd.GeoDataFrame(
        {"plan_id": PLAN_ID_PREFIX + raw["site_id"].astype(str)},
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
        index=raw.index,
    )
    for field in TEXT_FIELDS:
        column = columns.get(field, field)
        out[field] = _text(raw[column]) if column in present else None
    for field in NUMERIC_FIELDS:
        column = columns.get(field, field)
        out[field] = _numbers(path, raw[column], column) if column in present else np.nan
    out["temporary"] = _temporary(raw, columns.get("temporary", "temporary"), out, temporary_words)
    out.attrs["dropped"] = raw.attrs.get("dropped", [])
    out.attrs["repaired"] = raw.attrs.get("repaired", [])
    return out[["plan_id", *TEXT_FIELDS, *NUMERIC_FIELDS, "temporary", "geometry"]]


def _text(values: pd.Series) -> pd.Series:
    """Text as text (None where empty): names and statuses are data, never markup or code."""

    def one(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        text = str(v).strip()
        return text or None

    return values.map(one).astype(object)


def _numbers(path: Path, values: pd.Series, column: str) -> pd.Series:
    """A count column as floats; empty -> NaN; text or a negative count -> InputError."""
    text = values.astype(object).map(lambda v: None if v is None else str(v).strip())
    text = text.map(lambda v: None if v in (None, "", "nan", "None") else v.replace(",", "."))
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna() | (numbers < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: column {column!r}, plan {i + 1}: {values.iloc[i]!r} is not a number of "
            "homes (a count >= 0 or empty)"
        )
    return numbers.astype(float)


def _temporary(
    raw: pd.DataFrame, column: str, plans: pd.DataFrame, words: Sequence[str]
) -> pd.Series:
    """Temporary or modular: a yes/no or count column, or a word in type, status or name."""
    flag = pd.Series(False, index=raw.index)
    if column == "temporary" and "temporary" in raw.columns:
        flag = raw["temporary"].astype(bool)  # parsed by read_candidates (yes/no/ja/nee/1/0)
    elif column in raw.columns:
        values = raw[column].astype(object).map(lambda v: "" if v is None else str(v))
        lower = values.str.strip().str.lower()
        counts = pd.to_numeric(lower.str.replace(",", "."), errors="coerce")
        flag = lower.isin(TRUE_WORDS) | (counts > 0).fillna(False)
    if words:
        text = (
            plans[["type", "status", "name"]]
            .fillna("")
            .astype(str)
            .agg(" ".join, axis=1)
            .str.lower()
        )
        flag = flag | text.map(lambda t: any(w in t for w in words))
    return flag.astype(bool)
