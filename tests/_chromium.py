"""Headless Debian Chromium for the tests that load our HTML pages (maps, overview, index).

Without it those tests fail; they never skip. ``MAGICMIX_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MAGICMIX_CHROMIUM") or shutil.which("chromium") or "chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=10000",  # let the page's scripts run to completion
]


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with ``args`` and a private profile folder (also its HOME)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium"
            " (see tests/setup.sh)"
        )
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "HOME": str(profile)},
    )
