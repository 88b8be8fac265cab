"""Text that is safe in a spreadsheet cell: no formula from data (CSV and xlsx alike).

A site id, buurt name or reason comes from files anyone can write. Excel, LibreOffice and
Google Sheets read a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (``=HYPERLINK(...)`` becomes a live link; DDE payloads run commands).
Following OWASP's CSV-injection advice (ASVS 1.2.10), such text gets a leading single quote,
which spreadsheets read as "this is text". Numbers are not touched, and text that is a plain
number (``-12.5``) is no formula and stays as it is. CSV follows RFC 4180: CRLF line ends,
and a field holding a line break (CR or LF), a quote or a comma is quoted, so a stray CR in a
name cannot start a new row whose first cell is a formula.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

# first characters that start a formula; NUL per ASVS 1.2.10, the full-width forms because
# some locales' spreadsheets read them as their ASCII counterparts
FORMULA_TRIGGERS = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\0",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)
TEXT_MARK = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_text(text: str) -> str:
    """``text`` as it may enter a spreadsheet cell: with a leading ``'`` when a spreadsheet
    would otherwise read it as a formula.

    Parameters
    ----------
    text
        Any text from data.
    """
    if text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return TEXT_MARK + text
    return text


def spreadsheet_value(value: Any) -> Any:
    """A cell value: text through :func:`spreadsheet_text`, anything else as it is."""
    return spreadsheet_text(value) if isinstance(value, str) else value


def spreadsheet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names pass :func:`spreadsheet_text`;
    numeric columns are untouched (numbers stay numbers)."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(spreadsheet_value)
    out.columns = [spreadsheet_value(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as UTF-8 CSV (RFC 4180, no index) after :func:`spreadsheet_frame`.

    Parameters
    ----------
    frame
        The table; numeric columns are written as numbers.
    path
        The target file (the caller makes the write atomic).
    """
    spreadsheet_frame(frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\r\n")


__all__ = [
    "FORMULA_TRIGGERS",
    "spreadsheet_frame",
    "spreadsheet_text",
    "spreadsheet_value",
    "write_csv",
]
