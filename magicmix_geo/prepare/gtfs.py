"""A GTFS stop service table from a local file, as ``magicmix_geo.sources.gtfs`` writes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from magicmix_geo._errors import InputError
from magicmix_geo.contract import GTFS_COLUMNS


def read_gtfs_stops(path: Path) -> pd.DataFrame:
    """A GTFS stop service table (CSV or Parquet: stop_id, stop_name, lat, lon,
    departures_per_hour)."""
    try:
        table = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read GTFS stop table ({exc})") from exc
    missing = [c for c in GTFS_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: GTFS stop table lacks the column(s) {', '.join(missing)}")
    return table
