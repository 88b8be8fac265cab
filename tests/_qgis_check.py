"""Run one of the tests' PyQGIS check scripts with real QGIS (``.ci/run``: python3-qgis).

QGIS is a required test dependency: without it the calling test fails, never skips.
``MAGICMIX_QGIS_PYTHON`` names another interpreter with PyQGIS.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from magicmix_geo.publish.qgis_project import qgis_env, qgis_python


def run_qgis_check(script: Path, arguments: list[Path], home: Path) -> None:
    """Run ``script`` with ``arguments`` under QGIS's Python (its profile and working
    directory ``home``); fail the test with QGIS's stderr when it does not exit 0."""
    python = qgis_python()
    if not Path(python).is_file():
        pytest.fail(f"{python} not found: apt-get install -y python3-qgis (see .ci/run)")
    done = subprocess.run(
        [python, str(script), *map(str, arguments)],
        capture_output=True,
        text=True,
        env=qgis_env(home),
        cwd=home,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
