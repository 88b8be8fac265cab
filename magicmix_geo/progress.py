"""Progress bars and the run summary on stderr (rich), quiet when asked.

Long steps show a bar on a terminal; in a log file (no terminal) rich draws no live bar, so
each finished item is also printed as one line, which is what a nightly log wants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

STATUS_STYLE = {"done": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow"}


def stderr_console(enabled: bool = True) -> Console:
    """A console on stderr; ``enabled=False`` swallows everything (``quiet=True``)."""
    # soft_wrap: a log line stays one line, whatever the width
    return Console(stderr=True, quiet=not enabled, highlight=False, soft_wrap=True)


@dataclass
class Bar:
    """One counting bar; :meth:`advance` moves it and logs the finished item."""

    progress: Progress | None
    task_id: Any
    console: Console
    lines: list[str] = field(default_factory=list)

    def advance(self, line: str | None = None) -> None:
        if line:
            self.lines.append(line)
            self.console.print(line)
        if self.progress is not None:
            self.progress.advance(self.task_id)


@contextlib.contextmanager
def progress_bar(description: str, total: int, *, console: Console) -> Iterator[Bar]:
    """A bar over ``total`` items with count, elapsed and remaining time."""
    if console.quiet:
        yield Bar(None, None, console)
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=not console.is_terminal,  # in a log the per-item lines say it all
    )
    with progress:
        task_id = progress.add_task(description, total=total)
        yield Bar(progress, task_id, progress.console)


@contextlib.contextmanager
def spinner(message: str, *, console: Console) -> Iterator[None]:
    """A spinner with ``message`` while a step without countable parts runs."""
    if console.quiet or not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def summary_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    """Rows with ``gm_code``, ``status``, ``seconds`` and ``error`` as a rich table."""
    table = Table(title=title, title_justify="left")
    table.add_column("municipality")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("sites", justify="right")
    table.add_column("note", overflow="fold")
    for row in rows:
        status = str(row["status"])
        table.add_row(
            str(row["gm_code"]),
            f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]",
            f"{row.get('seconds') or 0:.1f}",
            "" if row.get("sites") is None else str(row["sites"]),
            str(row.get("error") or ""),
        )
    return table
