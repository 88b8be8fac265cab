"""A country-sized national run: hundreds of islands made from the real Delft sample.

Builds (once, cached in ``bench/_work/country-<n>``) one OSM file holding ``n`` copies of the
real sample's core (its study area + 2.6 km), each with its own dense ids, moved to its own
spot on a grid over the Netherlands so that every copy is an island; each copy is a real
municipality (the first ``n`` codes of CBS's 2020 kerncijfers, with their CBS attributes) whose
boundary is the sample's study area moved with it. Then runs::

    magicmix-geo national --areas-file areas.toml --workers 2 --no-cache --out OUT

and prints the wall time, the time per municipality, the peak memory of the largest process
(sampled over the whole process tree), and the OSM store's time next to one ``osmium cat``
pass over the same file. Run::

    .venv/bin/python bench/country.py --municipalities 355

With ``--store-only`` it runs only the OSM store (``prepare/extracts.slice_areas``) for
every municipality of the areas file, into a temporary store, and prints its seconds, passes
and regions, CPU seconds, and the ratio to one ``osmium cat`` pass; ``--regions 0`` parses
the whole file in one process, ``--regions N`` cuts N regions and parses each;
``--work DIR`` reads a country built elsewhere (nothing is written there)::

    .venv/bin/python bench/country.py --municipalities 355 --store-only --regions 0

Note: the copies are renumbered to dense ids (1..n*68k); with real, sparse ids osmium
extract needs ~3.5 GB per region, and the OSM store renumbers the file first
(prepare/extracts.py; bench/sparse_ids.py measures that case).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from magicmix_geo.config import load_settings  # noqa: E402
from magicmix_geo.formats.boundary import read_boundary  # noqa: E402
from magicmix_geo.national import read_areas_file  # noqa: E402
from magicmix_geo.prepare.clip import CLIP_MARGIN_M  # noqa: E402
from magicmix_geo.prepare.extracts import EXTRACT_SLACK_M, Extent, slice_areas  # noqa: E402
from magicmix_geo.prepare.osm import reader_keys  # noqa: E402
from tests._islands import load_core, moved_area, write_boundary, write_islands  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
KERNCIJFERS = SHARED / "cbs_gemeenten_2020" / "cbs_gemeenten_2020_kerncijfers.gpkg"
WORK = ROOT / "bench" / "_work"
# the Netherlands' land, roughly (lon, lat): the copies are spread over this box
NL_BOX = (3.7, 50.9, 7.0, 53.4)


def build_country(n: int, work: Path) -> Path:
    """The areas file of a country of ``n`` island municipalities (built once)."""
    areas_file = work / "areas.toml"
    if areas_file.is_file():
        return areas_file
    core = load_core(work)
    gemeenten = gpd.read_file(KERNCIJFERS)
    code_column = next(c for c in gemeenten.columns if c.lower() in {"gm_code", "gemeentecode"})
    codes = sorted(gemeenten[code_column].astype(str).str.strip())[:n]
    shifts = _grid_shifts(n, core.centre)
    write_islands(work / "country.osm.pbf", core, shifts)
    (work / "boundaries").mkdir(exist_ok=True)
    lines = [
        "# a synthetic country: copies of the real Delft sample as islands (bench/country.py)",
        "[defaults]",
        'osm = "country.osm.pbf"',
        f'cbs = ["{KERNCIJFERS}"]',
        "",
    ]
    for code, shift in zip(codes, shifts, strict=True):
        write_boundary(work / "boundaries" / f"{code}.gpkg", moved_area(core, shift), code)
        lines += [
            "[[municipality]]",
            f'gm_code = "{code}"',
            f'boundary = "boundaries/{code}.gpkg"',
            "",
        ]
    areas_file.write_text("\n".join(lines), encoding="utf-8")
    return areas_file


def _grid_shifts(n: int, centre: tuple[float, float]) -> list[tuple[float, float]]:
    """Shifts that put ``n`` copies on a grid over the Netherlands' box."""
    aspect = (NL_BOX[2] - NL_BOX[0]) / (NL_BOX[3] - NL_BOX[1]) / 1.6  # degrees lon per lat
    cols = int(np.ceil(np.sqrt(n * aspect)))
    rows = int(np.ceil(n / cols))
    xs = np.linspace(NL_BOX[0], NL_BOX[2], cols)
    ys = np.linspace(NL_BOX[1], NL_BOX[3], rows)
    spots = [(x, y) for y in ys for x in xs][:n]
    return [(x - centre[0], y - centre[1]) for x, y in spots]


def _run(command: list[str]) -> float:
    clock = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - clock


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cat_pass(source: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one ``osmium cat`` pass over ``source`` (into a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="country-cat.") as tmp:
        cpu = _children_cpu()
        wall = _run(["osmium", "cat", "-O", "-o", str(Path(tmp) / "cat.osm.pbf"), str(source)])
        return wall, _children_cpu() - cpu


def store_only(areas_file: Path, regions: int | None, verbose: bool = False) -> None:
    """Run the OSM store alone for every municipality of ``areas_file`` and print its cost
    next to one ``osmium cat`` pass."""
    inputs = read_areas_file(areas_file)
    sources = {Path(item.osm).resolve() for item in inputs}
    if len(sources) != 1:
        raise SystemExit(f"{areas_file}: the municipalities do not share one OSM file")
    (source,) = sources
    extents = [
        Extent(item.gm_code, read_boundary(item.boundary))
        for item in inputs
        if item.boundary is not None
    ]
    store_run(source, extents, regions, verbose)


def store_run(
    source: Path, extents: list[Extent], regions: int | None, verbose: bool = False
) -> None:
    """Run the OSM store alone for ``extents`` of ``source`` (a temporary store) and print
    its cost next to one ``osmium cat`` pass."""
    buffer_m = load_settings().walk.clip_buffer_m + CLIP_MARGIN_M + EXTRACT_SLACK_M
    print(f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    cat_s, cat_cpu = cat_pass(source)
    with tempfile.TemporaryDirectory(prefix="country-store.") as tmp:
        cpu, own, clock = _children_cpu(), time.process_time(), time.perf_counter()

        def log(message: str) -> None:
            if verbose:
                print(f"  {time.perf_counter() - clock:7.1f} s {message}", flush=True)

        keys = reader_keys(load_settings())
        run = slice_areas(source, extents, buffer_m, Path(tmp), keys, regions=regions, log=log)
        cpu, own = _children_cpu() - cpu, time.process_time() - own
    levels = (
        f"{run.passes} osmium pass(es) over the file for {run.regions} regions"
        if run.regions
        else "no osmium pass"
    )
    print(
        f"  OSM store: {run.seconds:.1f} s wall ({cpu:.1f} s CPU of osmium and the parsing "
        f"processes, {own:.1f} s of this one) for {len(run.cut)} slices: {levels}, "
        f"{run.parses} file(s) parsed"
    )
    print(
        f"  one `osmium cat` pass: {cat_s:.1f} s wall ({cat_cpu:.1f} s CPU); ratio "
        f"{run.seconds / cat_s:.2f} wall, {(cpu + own) / cat_cpu:.2f} CPU"
    )
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


class TreeMemory:
    """Peak RSS of the largest process in this process's tree, sampled every 0.5 s."""

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        self.peak = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                continue
            sizes = []
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    sizes.append(proc.memory_info().rss)
            if sizes:
                self.peak = max(self.peak, max(sizes))
                self.peak_total = max(self.peak_total, sum(sizes))


def run_watched(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, TreeMemory, bool]:
    """Run ``command``, watching its process tree's memory: wall seconds, the watcher, and
    whether it failed (its stderr's end then printed)."""
    clock = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with TreeMemory(process.pid) as memory:
        _, stderr = process.communicate()
    wall = time.perf_counter() - clock
    if process.returncode != 0:
        print(stderr[-3000:], file=sys.stderr)
    return wall, memory, process.returncode != 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--municipalities", type=int, default=355)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store-only", action="store_true", help="run the OSM store only")
    parser.add_argument("--regions", type=int, default=None, help="with --store-only")
    parser.add_argument("--work", type=Path, default=None, help="an existing country's folder")
    parser.add_argument("--verbose", action="store_true", help="with --store-only: the steps")
    args = parser.parse_args(argv)
    work = args.work or WORK / f"country-{args.municipalities}"
    if args.store_only:
        print(f"country: {work / 'areas.toml'}")
        store_only(work / "areas.toml", args.regions, args.verbose)
        return 0
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    clock = time.perf_counter()
    areas = build_country(args.municipalities, work)
    print(
        f"country: {work / 'country.osm.pbf'} (built or reused in "
        f"{time.perf_counter() - clock:.0f} s)"
    )
    info = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", str(work / "country.osm.pbf")],
        check=True,
        capture_output=True,
        text=True,
    )
    counts = json.loads(info.stdout)["data"]["count"]
    print(
        f"  {counts['nodes']:,} nodes, {counts['ways']:,} ways, {counts['relations']:,} relations"
    )
    cat_s, _ = cat_pass(work / "country.osm.pbf")
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    store = work / "cache"
    shutil.rmtree(store, ignore_errors=True)
    exe = Path(sys.executable).with_name("magicmix-geo")
    command = [
        str(exe),
        "national",
        "--areas-file",
        str(areas),
        "--all",
        "--workers",
        str(args.workers),
        "--out",
        str(out),
        "--quiet",
    ]
    env = {**os.environ, "MAGICMIX_CACHE_DIR": str(store)}
    wall, memory, failed = run_watched(command, env)
    if failed:
        return 1
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["run_summary"]["municipalities"]
    seconds = np.array([r["seconds"] for r in rows if r["status"] != "failed"])
    cpu = np.array([r.get("cpu_seconds") or np.nan for r in rows if r["status"] != "failed"])
    osm = manifest.get("osm_store", [])
    osm_s = sum(r["seconds"] for r in osm)
    print(
        f"national: {len(rows)} municipalities, {sum(r['status'] == 'failed' for r in rows)} "
        f"failed, published {len(manifest['municipalities'])}"
    )
    print(
        f"  wall {wall:.1f} s ({wall / 60:.1f} min); per municipality (rank + publish on a "
        f"worker) median {np.median(seconds):.1f} s, p90 {np.percentile(seconds, 90):.1f} s; "
        f"CPU median {np.nanmedian(cpu):.1f} s"
    )
    stages: dict[str, list[float]] = {}
    for entry in manifest["municipalities"]:
        for stage, value in entry.get("timings_s", {}).items():
            stages.setdefault(stage, []).append(value)
    print(
        "  median stage seconds: "
        + ", ".join(f"{k} {np.median(v):.2f}" for k, v in sorted(stages.items()))
    )
    print(
        f"  peak memory: largest process {memory.peak / 2**30:.2f} GiB, "
        f"whole tree {memory.peak_total / 2**30:.2f} GiB"
    )
    print(
        f"  OSM store: {osm_s:.1f} s in {sum(r['passes'] for r in osm)} osmium pass(es) "
        f"and {sum(r['parses'] for r in osm)} parse(s) "
        f"for {sum(r['municipalities'] for r in osm)} slices; one `osmium cat` pass "
        f"{cat_s:.1f} s; ratio {osm_s / cat_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
