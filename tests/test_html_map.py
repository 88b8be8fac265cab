"""The interactive map of the sample run, loaded offline in headless Chromium.

Chromium is a required test dependency: CI installs Debian's ``chromium`` (``.ci/run``).
Without it this test fails; it never skips. ``MAGICMIX_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
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


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium"
            " (see .ci/run)"
        )
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def html_map(sample_run: Path) -> Path:
    maps = sorted((sample_run / "maps").glob("GM*.html"))
    assert maps, "the sample run wrote no interactive map"
    return maps[0]


def test_html_map_is_self_contained(html_map: Path) -> None:
    text = html_map.read_text(encoding="utf-8")
    # no script or stylesheet from a CDN: the file works without internet
    assert re.findall(r"<script[^>]+src=", text) == []
    assert re.findall(r"<link[^>]+stylesheet", text) == []
    assert "Leaflet 1.9.3" in text and "BSD 2-Clause License" in text


def test_html_map_renders_offline_in_headless_chromium(
    html_map: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    done = _chromium(["--dump-dom", html_map.as_uri()], tmp_path / "profile-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # the map container exists and Leaflet ran (it adds its classes and panes at runtime)
    assert re.search(r'class="folium-map leaflet-container[^"]*"', dom)
    assert 'class="leaflet-pane leaflet-overlay-pane"' in dom
    # every site polygon, the boundary and the destinations are SVG paths Leaflet drew
    paths = len(re.findall(r'<path[^>]+class="leaflet-interactive"', dom))
    assert paths >= len(sample_sites) + 1
    # the top 10 badges, the layer control and the legend
    ranked = int(sample_sites["rank_gm"].notna().sum())
    assert len(re.findall(r'class="leaflet-marker-icon', dom)) == min(ranked, 10)
    assert "leaflet-control-layers" in dom
    assert "score_total" in dom and "OpenStreetMap contributors" in dom

    png = tmp_path / "map.png"
    shot = _chromium(
        ["--window-size=1200,800", f"--screenshot={png}", html_map.as_uri()],
        tmp_path / "profile-shot",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a drawn map, not a blank page
