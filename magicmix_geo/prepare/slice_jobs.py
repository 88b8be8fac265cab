"""Slicing one region's file: parse it once, project it once, write every member's slice.

The OSM store (:mod:`magicmix_geo.prepare.extracts`) runs one job in its own process for a
single region, and several as separate programs (``python -m
magicmix_geo.prepare.slice_jobs JOB.json``), a few at a time: a program, not a
forked or spawned copy of the caller, because the caller may run threads (a Dask cluster
starting) and may be any script (a spawned child re-runs an unguarded ``__main__``). A job
file is JSON the store writes beside the region's file: the file, the source the user gave
(named in errors), the reader keys, and per member its polygon (WKB, hex) and slice path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.prepare.osm import ReaderKeys, gc_paused, parse_osm
from magicmix_geo.prepare.osm_slice_file import write_parts
from magicmix_geo.prepare.region_slices import RegionArrays

# a job that fails exits with this status and its error on the last line of stderr
FAILED = 2
# A program lays its region out in NumPy arrays, hundreds of them large and short-lived. By
# default NumPy advises transparent huge pages for every array over 4 MiB, and glibc maps a
# block over its mmap threshold (at most 32 MiB; a region's coordinates are ~60 MiB) afresh and
# unmaps it when freed: every new array came on fresh pages that the kernel zeroed first (a
# tenth of a program's CPU under `perf`). Without the advice, and with glibc keeping freed
# blocks in the process for reuse (both thresholds raised: the mmap threshold alone makes
# every large block grow and trim the heap instead), a program's system time halves and its
# CPU falls ~10 %, for 0.2-0.3 GB more peak memory (bench/README.md, "Session 15"). glibc
# reads its tunables left to right, so a caller's own GLIBC_TUNABLES, put after these, win;
# other C libraries ignore them.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"


@dataclass(frozen=True)
class SliceJob:
    """One region's file (or the whole source) and the slices to cut from it."""

    path: Path
    source: Path
    keys: ReaderKeys
    members: Mapping[str, tuple[BaseGeometry, Path]]


def run_job(job: SliceJob) -> None:
    """Read ``job.path`` once, lay it out as arrays projected once
    (:class:`~magicmix_geo.prepare.region_slices.RegionArrays`), and write every member's
    slice; errors name ``job.source``, the file the user gave."""
    try:
        parsed = parse_osm(job.path, job.keys, need_walk=False)
    except InputError as exc:
        if job.path == job.source:
            raise
        raise InputError(f"{job.source}: reading a region of it failed ({exc})") from exc
    with gc_paused():
        region = RegionArrays.of(parsed)
    del parsed  # the tag values and WKB: the region's arrays hold what is needed of them
    for polygon, target in job.members.values():
        write_parts(region.member(polygon), job.keys, target)


def run_jobs(jobs: Sequence[SliceJob], folder: Path, parallel: int) -> None:
    """Run ``jobs``: in this process when there is one, else as separate programs,
    ``parallel`` at a time (their job files written into ``folder``).

    Raises
    ------
    InputError
        A job failed (its error, which names the source).
    """
    if len(jobs) == 1 or parallel < 2:
        for job in jobs:
            run_job(job)
        return
    files = []
    for number, job in enumerate(jobs):
        files.append(folder / f"job-{number:04d}.json")
        files[-1].write_text(job_text(job), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for error in pool.map(_run_program, files):
            if error is not None:
                raise InputError(error)


def _run_program(job_file: Path) -> str | None:
    """Run one job file as its own program; its error, or None."""
    command = [sys.executable, "-m", "magicmix_geo.prepare.slice_jobs", str(job_file)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=program_environment(os.environ)
    )
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"{job_file}: slicing failed (exit {done.returncode})"


def program_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` as a region program gets it: with :data:`MALLOC_TUNABLES` before the
    caller's own glibc tunables and NumPy's huge-page advice off unless the caller set it."""
    tunables = ":".join(t for t in (MALLOC_TUNABLES, environment.get("GLIBC_TUNABLES")) if t)
    return {"NUMPY_MADVISE_HUGEPAGE": "0", **environment, "GLIBC_TUNABLES": tunables}


def job_text(job: SliceJob) -> str:
    """The job as the JSON its program reads."""
    return json.dumps(
        {
            "path": str(job.path),
            "source": str(job.source),
            "keys": json.loads(job.keys.canonical_json()),
            "members": {
                key: {"polygon": shapely.to_wkb(polygon, hex=True), "target": str(target)}
                for key, (polygon, target) in job.members.items()
            },
        }
    )


def read_job(text: str) -> SliceJob:
    """The job in ``text`` (:func:`job_text`)."""
    record = json.loads(text)
    keys = record["keys"]
    return SliceJob(
        path=Path(record["path"]),
        source=Path(record["source"]),
        keys=ReaderKeys(
            keys["way_filter"],
            tuple(keys["feature_keys"]),
            tuple(keys["tag_columns"]),
            None if keys["node_rules"] is None else tuple(keys["node_rules"]),
        ),
        members={
            key: (shapely.from_wkb(member["polygon"]), Path(member["target"]))
            for key, member in record["members"].items()
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m magicmix_geo.prepare.slice_jobs JOB.json``: run one job."""
    (job_file,) = sys.argv[1:] if argv is None else argv
    try:
        run_job(read_job(Path(job_file).read_text(encoding="utf-8")))
    except InputError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
