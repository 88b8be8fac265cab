"""The municipalities' task (taakstelling) for housing statushouders, as published or as CSV.

The Rijksoverheid sets, per half year, how many statushouders (vergunninghouders) each
municipality must house: the *taakstelling huisvesting vergunninghouders*, announced by
circulaire with the per-municipality table in its **Bijlage A**. The task is in **persons**,
per municipality **by name**, proportional to the number of inhabitants; a municipality's
*achterstand* from earlier periods adds to what it must house (the "gecorrigeerde
taakstelling").

Two layouts are read (CSV with comma or semicolon, or an .xlsx sheet):

- ours: columns ``gm_code``, ``period`` (``2024-2``), ``taakstelling`` (persons);
- the published Bijlage A layout: a header row holding a municipality column (``Gemeente``)
  and a task column (``Taakstelling ...``), optionally ``Achterstand ...`` and ``Provincie``
  / inhabitants columns; title lines above the header, province heading lines and total
  lines (``Totaal ...``) are skipped. Names are mapped to CBS codes with a name table
  (:func:`names_from_cbs`), compared without case, accents, punctuation or spaces
  (``'s-Gravenhage``, ``Bergen (NH.)``). The period comes from the text (``eerste helft
  2023``, ``1e helft 2023``, ``tweede helft``) or is given.

:func:`tasks_in_homes` turns persons into homes with ``persons_per_home`` (per profile,
``config/capacity.toml``), since coverage compares the task with homes reserved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from magicmix_geo._errors import InputError
from magicmix_geo.contract import GM_CODE

REQUIRED = ("gm_code", "period", "taakstelling")
COLUMNS = ("gm_code", "period", "taakstelling", "achterstand", "taakstelling_corrected")
PERIOD = re.compile(r"^\d{4}-[12]$")
# "eerste helft 2023", "1e helft 2023", "tweede helft van 2022", "2e halfjaar 2024"
HALF_YEAR = re.compile(
    r"(eerste|1e|1ste|tweede|2e|2de)\s+(?:helft|halfjaar)(?:\s+(?:van\s+)?(\d{4}))?",
    flags=re.IGNORECASE,
)
YEAR = re.compile(r"\b(20\d\d)\b")
MAX_HEADER_SEARCH = 30


def read_tasks(
    path: Path,
    *,
    names: Mapping[str, str] | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """Read a taakstelling table in our CSV layout or the published Bijlage A layout.

    Parameters
    ----------
    path
        CSV (comma or semicolon) or .xlsx.
    names
        Municipality name -> ``GMxxxx`` (:func:`names_from_cbs`); needed for Bijlage A.
    period
        ``YYYY-1`` or ``YYYY-2``, for a Bijlage A table whose text does not say the half year.

    Returns
    -------
    pd.DataFrame
        ``gm_code``, ``period``, ``taakstelling`` (persons, as published), ``achterstand``
        (persons; NaN when not given) and ``taakstelling_corrected`` (task plus
        achterstand, at least 0).

    Raises
    ------
    InputError
        Naming the file (and row): unreadable, no recognisable header, an unknown
        municipality name or code, a task that is not a number >= 0, no period.
    """
    path = Path(path)
    grid = _read_grid(path)
    header = _find_header(grid)
    if header is None:
        raise InputError(
            f"{path}: no taakstelling header (need gm_code, period, taakstelling, or the "
            "Bijlage A columns Gemeente and Taakstelling)"
        )
    row, columns = header
    body = grid.iloc[row + 1 :].reset_index(drop=True)
    body.columns = columns
    first_line = row + 2  # 1-based, after the header
    if "gm_code" in columns:
        table = _ours(path, body, first_line)
    else:
        text = " ".join(str(v) for v in grid.iloc[: row + 1].to_numpy().ravel() if v)
        table = _bijlage_a(path, body, first_line, names, period or _period_of(text))
    achterstand = table["achterstand"].fillna(0.0)
    table["taakstelling_corrected"] = (table["taakstelling"] + achterstand).clip(lower=0.0)
    return table[list(COLUMNS)].reset_index(drop=True)


def load_tasks(
    path: Path,
    *,
    persons_per_home: float,
    names_file: Path | None = None,
    period: str | None = None,
) -> pd.DataFrame:
    """:func:`read_tasks` then :func:`tasks_in_homes`: the task in persons and in homes.

    ``names_file`` is a CBS gemeenten file (the data cache's Wijk- en Buurtkaart) for a
    Bijlage A table; it is read only when it exists.
    """
    names = names_from_cbs(names_file) if names_file is not None and names_file.is_file() else None
    return tasks_in_homes(read_tasks(path, names=names, period=period), persons_per_home)


def names_from_cbs(path: Path) -> dict[str, str]:
    """Municipality name -> code from a CBS gemeenten file (the Wijk- en Buurtkaart)."""
    from magicmix_geo.formats.cbs import read_cbs_municipalities

    gemeenten = read_cbs_municipalities(path)
    pairs = gemeenten[["gm_name", "gm_code"]].dropna().drop_duplicates()
    return {str(name): str(code) for name, code in pairs.itertuples(index=False)}


def tasks_in_homes(tasks: pd.DataFrame, persons_per_home: float) -> pd.DataFrame:
    """Add ``persons_per_home`` and ``taakstelling_homes`` (corrected task / persons per home).

    The published task counts persons; the sites offer homes. Homes are rounded up: a
    household does not share a home with part of another.
    """
    if not persons_per_home >= 1.0:
        raise ValueError(f"persons_per_home: {persons_per_home} is below 1")
    out = tasks.copy()
    corrected = out.get("taakstelling_corrected", out["taakstelling"]).astype(float)
    out["persons_per_home"] = float(persons_per_home)
    out["taakstelling_homes"] = np.ceil(corrected / persons_per_home)
    return out


def name_key(name: object) -> str:
    """A municipality name for comparison: no case, accents, punctuation or spaces."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^0-9a-z]", "", text.lower())


# --------------------------------------------------------------------------------------------


def _read_grid(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: taakstelling file not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            grid = pd.read_excel(path, header=None, dtype=str)
        else:
            grid = pd.read_csv(
                path, sep=None, engine="python", header=None, dtype=str, skip_blank_lines=True
            )
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        raise InputError(f"{path}: cannot read taakstelling table ({exc})") from exc
    return grid.fillna("").map(lambda v: str(v).strip())


def _find_header(grid: pd.DataFrame) -> tuple[int, list[str]] | None:
    for row in range(min(len(grid), MAX_HEADER_SEARCH)):
        cells = [str(v) for v in grid.iloc[row]]
        lower = [c.lower() for c in cells]
        if "gm_code" in lower:
            return row, lower
        gemeente = next((i for i, c in enumerate(lower) if c.startswith("gemeente")), None)
        task = next((i for i, c in enumerate(lower) if c.startswith("taakstelling")), None)
        if gemeente is not None and task is not None:
            named = [f"col{i}" for i in range(len(cells))]
            named[gemeente], named[task] = "gemeente", "taakstelling"
            achter = next((i for i, c in enumerate(lower) if c.startswith("achterstand")), None)
            if achter is not None:
                named[achter] = "achterstand"
            return row, named
    return None


def _ours(path: Path, body: pd.DataFrame, first_line: int) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in body.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})"
        )
    body = body.loc[body["gm_code"] != ""]
    bad = body.loc[~body["gm_code"].str.match(GM_CODE), "gm_code"]
    if len(bad):
        raise InputError(f"{path}: {bad.iloc[0]!r} is not a municipality code like GM0503")
    table = body[["gm_code", "period"]].copy()
    table["taakstelling"] = _persons(path, body["taakstelling"], first_line, body.index)
    table["achterstand"] = (
        _signed(path, body["achterstand"], first_line, body.index)
        if "achterstand" in body.columns
        else np.nan
    )
    return table


def _bijlage_a(
    path: Path,
    body: pd.DataFrame,
    first_line: int,
    names: Mapping[str, str] | None,
    period: str | None,
) -> pd.DataFrame:
    if names is None:
        raise InputError(
            f"{path}: a Bijlage A table names municipalities; a name table (CBS gemeenten, "
            "e.g. the data cache's Wijk- en Buurtkaart) is needed to map them to codes"
        )
    if period is None or not PERIOD.match(period):
        raise InputError(
            f"{path}: cannot tell the half year (no 'eerste/tweede helft <year>' in the text); "
            "give the period as YYYY-1 or YYYY-2"
        )
    gemeente = body["gemeente"]
    task_text = body["taakstelling"]
    # province headings and blank lines have no task; totals are named so
    rows = body.loc[
        (gemeente != "") & (task_text != "") & ~gemeente.str.lower().str.startswith("totaal")
    ]
    by_key = {name_key(n): c for n, c in names.items()}
    codes = rows["gemeente"].map(lambda n: by_key.get(name_key(n)))
    unknown = rows.loc[codes.isna(), "gemeente"]
    if len(unknown):
        line = first_line + int(unknown.index[0])
        raise InputError(
            f"{path}: row {line}: unknown municipality {unknown.iloc[0]!r} "
            f"({len(unknown)} name(s) not in the CBS name table)"
        )
    table = pd.DataFrame({"gm_code": codes.to_numpy(), "period": period}, index=rows.index)
    table["taakstelling"] = _persons(path, rows["taakstelling"], first_line, rows.index, dutch=True)
    table["achterstand"] = (
        _signed(path, rows["achterstand"], first_line, rows.index, dutch=True)
        if "achterstand" in rows.columns
        else np.nan
    )
    dup = table["gm_code"].duplicated()
    if dup.any():
        line = first_line + int(table.index[dup.to_numpy().argmax()])
        raise InputError(f"{path}: row {line}: {table.loc[dup, 'gm_code'].iloc[0]} twice")
    return table


def _number(text: pd.Series, *, dutch: bool) -> pd.Series:
    cleaned = text.astype(str).str.replace("\u2212", "-", regex=False)
    cleaned = cleaned.str.replace(r"\s", "", regex=True)
    if dutch:  # the published tables: 1.234 (thousands), 12,5 (decimal)
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(cleaned.replace("", "0"), errors="coerce")


def _persons(
    path: Path, text: pd.Series, first_line: int, index: pd.Index, *, dutch: bool = False
) -> pd.Series:
    values = _number(text, dutch=dutch)
    bad = values.isna() | (values < 0)
    if bad.any():
        line = first_line + int(index[bad.to_numpy().argmax()])
        raise InputError(f"{path}: row {line}: taakstelling must be a number >= 0")
    return values.astype(float)


def _signed(
    path: Path, text: pd.Series, first_line: int, index: pd.Index, *, dutch: bool = False
) -> pd.Series:
    values = _number(text, dutch=dutch)
    if values.isna().any():
        line = first_line + int(index[values.isna().to_numpy().argmax()])
        raise InputError(f"{path}: row {line}: achterstand must be a number")
    return values.astype(float)


def _period_of(text: str) -> str | None:
    match = HALF_YEAR.search(text)
    if not match:
        return None
    half = "1" if match.group(1).lower() in ("eerste", "1e", "1ste") else "2"
    year = match.group(2) or next(iter(YEAR.findall(text)), None)
    return f"{year}-{half}" if year else None
