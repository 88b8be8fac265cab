"""A temporary Prefect server and PREFECT_HOME, for the tests that run the flows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect.settings import (
    PREFECT_HOME,
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness


@contextmanager
def prefect_server(home: Path) -> Iterator[Path]:
    """Prefect's test harness with ``home`` as PREFECT_HOME (results, storage); yields it."""
    with (
        temporary_settings(
            updates={
                PREFECT_HOME: str(home),
                PREFECT_LOCAL_STORAGE_PATH: str(home / "storage"),
                PREFECT_SERVER_ANALYTICS_ENABLED: False,
            }
        ),
        prefect_test_harness(server_startup_timeout=180),  # the first start migrates a database
    ):
        yield home
