"""The municipalities' task (taakstelling) for housing statushouders, from a user's CSV.

The Rijksoverheid sets, per half year, how many statushouders each municipality must house
(the *taakstelling huisvesting vergunninghouders*, published by the ministry of BZK with the
COA). The user supplies it as CSV with the columns ``gm_code``, ``period`` (e.g. ``2024-2``)
and ``taakstelling`` (persons, as published).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from magicmix_geo._errors import InputError

REQUIRED = ("gm_code", "period", "taakstelling")
GM_CODE = re.compile(r"^GM\d{4}$")


def read_tasks(path: Path) -> pd.DataFrame:
    """Read and check a taakstelling CSV (comma or semicolon separated)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: taakstelling file not found")
    try:
        table = pd.read_csv(path, sep=None, engine="python", dtype={"gm_code": str, "period": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read taakstelling CSV ({exc})") from exc
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})")
    bad = table.loc[~table["gm_code"].astype(str).str.match(GM_CODE), "gm_code"]
    if len(bad):
        raise InputError(f"{path}: {bad.iloc[0]!r} is not a municipality code like GM0503")
    values = pd.to_numeric(table["taakstelling"], errors="coerce")
    if values.isna().any() or (values < 0).any():
        row = int((values.isna() | (values < 0)).to_numpy().argmax())
        raise InputError(f"{path}: row {row + 2}: taakstelling must be a number >= 0")
    table["taakstelling"] = values
    return table[list(REQUIRED)]
