"""A GTFS stop service table from a local file, as ``magicmix_geo.sources.gtfs`` writes it.

The table is national and every municipality of a run reads it: it is read once per process
while the file is the same file (:func:`magicmix_geo.provenance.file_identity`), and each
caller gets its own copy.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from magicmix_geo._errors import InputError
from magicmix_geo.contract import GTFS_COLUMNS
from magicmix_geo.provenance import file_identity

# the national table, perhaps a second one: a few per process at most
_CACHED_TABLES = 2


def read_gtfs_stops(path: Path) -> pd.DataFrame:
    """A GTFS stop service table (CSV or Parquet: stop_id, stop_name, lat, lon,
    departures_per_hour)."""
    try:
        identity = file_identity(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read GTFS stop table ({exc})") from exc
    return _read_table(*identity).copy()


@functools.lru_cache(maxsize=_CACHED_TABLES)
def _read_table(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read GTFS stop table ({exc})") from exc
    missing = [c for c in GTFS_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: GTFS stop table lacks the column(s) {', '.join(missing)}")
    return table
