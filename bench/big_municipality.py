"""One large municipality made of many copies of the real Delft sample: how ranking scales.

The 355-municipality country (``bench/country.py``) measures the fixed cost per municipality
(each island is the 2.4 km² sample). A real municipality is larger: the national run is
~100 M nodes and ~9 M sites over 342 municipalities. This bench builds (once, cached in
``bench/_work/big-<n>``) one OSM file with ``n`` copies of the sample's core side by side on
a grid, and one municipality whose boundary is the union of the ``n`` moved study areas, then
runs ``magicmix-geo rank --no-cache`` on it in a child process and prints the wall time, the
peak memory of the child, the pipeline's own stage timings (manifest ``timings_s``) and the
rates per million OSM nodes and per thousand sites, next to the same figures for one copy.
Run::

    .venv/bin/python bench/big_municipality.py --copies 16
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests._islands import load_core, moved_area, write_boundary, write_islands  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
KERNCIJFERS = SHARED / "cbs_gemeenten_2020" / "cbs_gemeenten_2020_kerncijfers.gpkg"
WORK = ROOT / "bench" / "_work"
GM_CODE = "GM0503"  # Delft, whose CBS figures the copies carry
# copies sit this far apart beyond the core's own extent (degrees): separate islands
GAP_DEG = 0.002


def build(copies: int, work: Path) -> tuple[Path, Path]:
    """The OSM file and the boundary of a municipality of ``copies`` copies (built once)."""
    pbf, boundary = work / "city.osm.pbf", work / "boundary.gpkg"
    if pbf.is_file() and boundary.is_file():
        return pbf, boundary
    core = load_core(work)
    minx, miny, maxx, maxy = core.bounds
    cols = int(np.ceil(np.sqrt(copies)))
    shifts = [
        ((i % cols) * (maxx - minx + GAP_DEG), (i // cols) * (maxy - miny + GAP_DEG))
        for i in range(copies)
    ]
    write_islands(pbf, core, shifts)
    area = shapely.union_all([moved_area(core, shift) for shift in shifts])
    write_boundary(boundary, area, GM_CODE)
    return pbf, boundary


def rank(pbf: Path, boundary: Path, out: Path) -> tuple[float, float, int, dict[str, object]]:
    """Wall seconds, CPU seconds (the child's user + system time: what a loaded machine does
    not inflate much), peak RSS (bytes) and the municipality's manifest entry of one rank."""
    shutil.rmtree(out, ignore_errors=True)
    exe = Path(sys.executable).with_name("magicmix-geo")
    command = [
        str(exe),
        "rank",
        "--osm",
        str(pbf),
        "--area",
        GM_CODE,
        "--boundary",
        str(boundary),
        "--cbs",
        str(KERNCIJFERS),
        "--out",
        str(out),
        "--no-cache",
    ]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - clock
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    # the largest child so far: the runs go from small to large
    peak = after.ru_maxrss
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return wall, cpu, peak * 1024, manifest["municipalities"][0]


def node_count(pbf: Path) -> int:
    info = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", str(pbf)], check=True, capture_output=True, text=True
    )
    return int(json.loads(info.stdout)["data"]["count"]["nodes"])


def report(
    label: str, nodes: int, wall: float, cpu: float, peak: int, entry: dict[str, object]
) -> None:
    timings = entry["timings_s"]
    assert isinstance(timings, dict)
    sites, ranked = int(str(entry["sites"])), int(str(entry["ranked"]))
    compute = sum(v for k, v in timings.items() if not k.startswith("publish_"))
    publish = sum(v for k, v in timings.items() if k.startswith("publish_"))
    print(
        f"{label}: {nodes:,} nodes, {sites:,} sites, {ranked:,} ranked; wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s, peak {peak / 2**30:.2f} GiB; computation {compute:.1f} s, "
        f"outputs {publish:.1f} s"
    )
    print(
        f"  CPU per million nodes {cpu / nodes * 1e6:.1f} s; per thousand sites "
        f"{cpu / max(sites, 1) * 1e3:.1f} s"
    )
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(timings.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    args = parser.parse_args(argv)
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    for copies in (1, args.copies):
        work = WORK / f"big-{copies}"
        pbf, boundary = build(copies, work)
        wall, cpu, peak, entry = rank(pbf, boundary, work / "out")
        label = f"{copies} cop{'y' if copies == 1 else 'ies'}"
        report(label, node_count(pbf), wall, cpu, peak, entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
