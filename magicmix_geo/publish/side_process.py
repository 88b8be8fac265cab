"""The national workbook written in a process of its own, beside the run's other files.

xlsxwriter writes cell by cell (the longest of the national files: about 11 s of CPU for
355 municipalities), so :func:`start_workbook` starts ``python -m
magicmix_geo.publish.side_process`` on the sheets (pickled into a private temporary folder)
and returns at once; :meth:`WorkbookProcess.wait` waits for it. A subprocess, not
multiprocessing: it never re-imports the caller's ``__main__``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from magicmix_geo._errors import OutputError
from magicmix_geo.language import check_lang


class WorkbookProcess:
    """``national_ranking.xlsx`` being written by a child process."""

    def __init__(self, out_dir: Path, sheets: dict[str, pd.DataFrame], lang: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="magicmix-xlsx-")
        data = Path(self._tmp.name) / "sheets.pickle"
        with data.open("wb") as handle:
            pickle.dump(sheets, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(data), str(out_dir), lang],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait(self) -> None:
        """Wait for the workbook; OutputError with the child's last line if it failed."""
        try:
            _out, err = self._process.communicate()
            if self._process.returncode != 0:
                reason = (err.strip().splitlines() or ["no message"])[-1]
                raise OutputError(f"national_ranking.xlsx: not written ({reason})")
        finally:
            self._tmp.cleanup()

    def cancel(self) -> None:
        """Stop the child (the run failed meanwhile)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        self._tmp.cleanup()


def start_workbook(
    out_dir: Path, sheets: dict[str, pd.DataFrame], *, lang: str = "nl"
) -> WorkbookProcess:
    """Start writing ``out_dir/national_ranking.xlsx`` from the sheets of
    :func:`magicmix_geo.publish.lists.national_sheets` (its ``notes`` in ``lang``); returns
    at once."""
    check_lang(lang)
    return WorkbookProcess(Path(out_dir), sheets, lang)


def main(argv: list[str]) -> int:
    from magicmix_geo.publish.lists import write_national_xlsx

    data, out_dir, lang = argv
    with open(data, "rb") as handle:
        sheets = pickle.load(handle)  # written by our parent into its private folder
    write_national_xlsx(Path(out_dir), sheets, lang=lang)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
