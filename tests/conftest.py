"""Shared fixtures: the real sample and one end-to-end run of it per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest

from magicmix_geo.cli import main
from magicmix_geo.prepare import extracts

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TEST_DATA = Path(__file__).resolve().parent / "data"


_ISOLATED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """A private result cache and data cache for the session: tests never read or fill the
    user's ~/.cache/magicmix-geo, and every session computes from scratch."""
    root = tempfile.mkdtemp(prefix="magicmix-tests-")
    _ISOLATED.append(root)
    os.environ["MAGICMIX_CACHE_DIR"] = str(Path(root) / "cache")
    os.environ["MAGICMIX_DATA_DIR"] = str(Path(root) / "data")


def pytest_unconfigure(config: pytest.Config) -> None:
    for root in _ISOLATED:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`magicmix-geo run --out DIR` on the bundled sample; returns DIR."""
    out = tmp_path_factory.mktemp("sample_run") / "out"
    assert main(["run", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def sample_sites(sample_run: Path) -> gpd.GeoDataFrame:
    gpkgs = sorted(sample_run.glob("GM0503_*.gpkg"))
    assert len(gpkgs) == 1
    return gpd.read_file(gpkgs[0], layer="sites", engine="pyogrio")


@pytest.fixture
def osmium_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every command the OSM store runs (osmium extract, renumber, fileinfo...), as run."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], *args: object, **kwargs: object) -> object:
        calls.append([str(c) for c in command])
        return real_run(command, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(extracts.subprocess, "run", run)
    yield calls
