"""A region's slicing as its own program: the job file carries everything exactly, the
programs write the same slices as this process does, and a failing one is an InputError
naming the file the user gave.

Data: the real Delft sample (data/sample/tudelft.osm.pbf), two polygons over it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import box

from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings
from magicmix_geo.prepare import slice_jobs
from magicmix_geo.prepare.extracts import extract_polygon
from magicmix_geo.prepare.osm import reader_keys
from magicmix_geo.prepare.osm_slice_file import SLICE_SUFFIX
from magicmix_geo.prepare.slice_jobs import (
    MALLOC_TUNABLES,
    SliceJob,
    job_text,
    program_environment,
    read_job,
    run_job,
    run_jobs,
)
from tests._islands import SAMPLE_AREA, SAMPLE_PBF


def job(folder: Path, path: Path = SAMPLE_PBF) -> SliceJob:
    """Two members: the west and the east half of the sample's study area, grown 300 m."""
    x0, y0, x1, y1 = gpd.read_file(SAMPLE_AREA).to_crs(28992).total_bounds
    middle = (x0 + x1) / 2
    halves = {"GM9901": box(x0, y0, middle, y1), "GM9902": box(middle, y0, x1, y1)}
    members = {
        key: (extract_polygon(area, 300.0), folder / f"{key}{SLICE_SUFFIX}")
        for key, area in halves.items()
    }
    return SliceJob(path, SAMPLE_PBF, reader_keys(load_settings()), members)


def test_a_job_file_carries_the_job_exactly(tmp_path: Path) -> None:
    original = job(tmp_path)
    back = read_job(job_text(original))
    assert (back.path, back.source, back.keys) == (original.path, original.source, original.keys)
    assert back.keys.digest() == original.keys.digest()
    assert back.members.keys() == original.members.keys()
    for key, (polygon, target) in original.members.items():
        assert shapely.equals_exact(back.members[key][0], polygon, tolerance=0)
        assert back.members[key][1] == target


def test_a_program_keeps_freed_memory_and_the_callers_settings_win() -> None:
    plain = program_environment({"PATH": "/usr/bin"})
    assert plain == {
        "PATH": "/usr/bin",
        "NUMPY_MADVISE_HUGEPAGE": "0",
        "GLIBC_TUNABLES": MALLOC_TUNABLES,
    }
    assert "glibc.malloc.mmap_threshold=" in MALLOC_TUNABLES
    own = program_environment(
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1", "NUMPY_MADVISE_HUGEPAGE": "1"}
    )
    # glibc reads tunables left to right: the caller's come last and so take effect
    assert own["GLIBC_TUNABLES"] == f"{MALLOC_TUNABLES}:glibc.malloc.trim_threshold=1"
    assert own["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_each_program_runs_with_those_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, str]] = []

    def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        seen.append(options["env"])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(slice_jobs.subprocess, "run", run)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    run_jobs([job(tmp_path), job(tmp_path)], tmp_path, parallel=2)
    expected = f"{MALLOC_TUNABLES}:glibc.malloc.arena_max=2"
    assert [env["GLIBC_TUNABLES"] for env in seen] == [expected, expected]
    assert all(env["NUMPY_MADVISE_HUGEPAGE"] == "0" for env in seen)


@pytest.mark.timeout(300)
def test_programs_write_the_slices_this_process_writes(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    run_job(job(here))
    # two jobs: separate programs, two at a time
    run_jobs([job(there), job(there)], there, parallel=2)
    for key in ("GM9901", "GM9902"):
        written = (there / f"{key}{SLICE_SUFFIX}").read_bytes()
        assert written == (here / f"{key}{SLICE_SUFFIX}").read_bytes(), key
    assert sorted(p.name for p in there.glob("job-*.json")) == ["job-0000.json", "job-0001.json"]


@pytest.mark.timeout(300)
def test_a_failing_program_names_the_source(tmp_path: Path) -> None:
    broken = tmp_path / "region.osm.pbf"
    broken.write_bytes(b"not a PBF file at all")
    with pytest.raises(InputError, match=f"{SAMPLE_PBF}: reading a region of it failed"):
        run_jobs([job(tmp_path, broken), job(tmp_path)], tmp_path, parallel=2)
