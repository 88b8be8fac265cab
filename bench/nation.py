"""A tenth of the national run at the nation's shape: municipalities of national average size.

``bench/country.py`` runs 355 municipalities of one small island each (~530 sites): the
country's count, not its size. The nightly run is ~342 municipalities holding ~9 M Kadaster
parcels (~26,000 each on average) and ~100 M OSM nodes, whose 2 km buffers overlap their
neighbours. This bench builds (once, cached in ``bench/_work/nation-<m>x<k>``) ``m``
municipalities of ``k`` copies of the real Delft sample's core each (a small ring around the
study area), packed on one grid so that a municipality's buffer reaches its neighbours'
copies; every municipality gets its parcels in the BRK candidate format (the sample's own plots,
``bench/kadaster_parcels.py``'s, moved with each copy). Then it ranks and publishes all of them
as the nightly run does from the data cache (``national.run_national`` with
``candidate_source = "brk"``, 2 workers, a fresh result cache holding the OSM store) and prints
the wall time, the OSM store's part, the CPU per municipality, the peak memory, how much the
slices hold against the file (the buffers' overlap), and the national figure scaled from it:
the ranking by parcels (9 M / this run's), the store by nodes (100 M / this run's), plus the
nightly renumbering of the real file (sparse ids; this file's ids are dense). Run::

    .venv/bin/python bench/nation.py --municipalities 34 --copies 6

``--store-only`` runs only the OSM store for them (a temporary store) and prints its wall and
CPU seconds next to one ``osmium cat`` pass (``bench/country.py``'s ``--store-only``).

Synthetic data for scale, made only of the real sample: no real municipality looks like six
copies of the TU Delft quarter, and its plots stand in for BRK parcels (there is no BRK extract
of the sample's area here).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from country import KERNCIJFERS, TreeMemory, cat_pass, run_watched, store_run  # noqa: E402
from kadaster_parcels import parcels as sample_plots  # noqa: E402
from region_outlines import national_volumes, region_volumes  # noqa: E402

from magicmix_geo.formats.boundary import read_boundary  # noqa: E402
from magicmix_geo.prepare.extracts import Extent  # noqa: E402
from tests._islands import Core, load_core, moved_area, write_boundary, write_islands  # noqa: E402

WORK = ROOT / "bench" / "_work"
RD_NEW = "EPSG:28992"
# the ring of the sample kept around the study area in each copy (degrees lon, lat: ~400 m)
CORE_MARGIN_DEG = (0.006, 0.004)
# a municipality is a block of copies this many wide (and k / this many high)
BLOCK_COLUMNS = 3
NATIONAL_PARCELS = 9_000_000
NATIONAL_NODES = 100_000_000
NATIONAL_MUNICIPALITIES = 342
# one `osmium renumber` of the real (sparse-id) national file, in `osmium cat` passes of
# this file, its copy written as the store writes it (bench/renumber.py: 0.65-0.69 on this
# file; 1.08-1.17 with zlib and metadata, as until session 12), times the real file's slower
# decoding per node (~1.7, bench/README.md "bench/nation.py: a tenth of the nation")
RENUMBER_CAT_PASSES = 0.67 * 1.7


def build(m: int, k: int, work: Path, gap_deg: float = 0.0) -> Path:
    """The inputs of ``m`` municipalities of ``k`` copies each, as a JSON list (built once);
    ``gap_deg`` between neighbouring copies."""
    listing = work / "inputs.json"
    if listing.is_file():
        return listing
    core = load_core(work, CORE_MARGIN_DEG)
    plots = _one_copy_plots(core, work / "one")
    shifts = _block_shifts(core, m, k, gap_deg)
    pbf = work / "nation.osm.pbf"
    write_islands(pbf, core, shifts)
    codes = _codes(m)
    (work / "boundaries").mkdir(exist_ok=True)
    (work / "parcels").mkdir(exist_ok=True)
    inputs = []
    for j, code in enumerate(codes):
        mine = shifts[j * k : (j + 1) * k]
        boundary = work / "boundaries" / f"{code}.gpkg"
        write_boundary(boundary, shapely.union_all([moved_area(core, s) for s in mine]), code)
        candidates = work / "parcels" / f"{code}.gpkg"
        _municipality_parcels(plots, mine).to_file(candidates, layer="candidates")
        inputs.append(
            {
                "gm_code": code,
                "osm": str(pbf),
                "boundary": str(boundary),
                "candidates": str(candidates),
            }
        )
    listing.write_text(json.dumps(inputs, indent=1), encoding="utf-8")
    return listing


def _one_copy_plots(core: Core, work: Path) -> gpd.GeoDataFrame:
    """One copy's plots in the BRK candidate format, in EPSG:4326 (moved per copy later)."""
    work.mkdir(parents=True, exist_ok=True)
    pbf, boundary = work / "one.osm.pbf", work / "boundary.gpkg"
    if not pbf.is_file():
        write_islands(pbf, core, [(0.0, 0.0)])
        write_boundary(boundary, moved_area(core, (0.0, 0.0)), "GM0503")
    return gpd.read_file(sample_plots(pbf, boundary, work / "percelen.gpkg")).to_crs(4326)


def _block_shifts(core: Core, m: int, k: int, gap_deg: float) -> list[tuple[float, float]]:
    """Shifts (degrees) of ``m * k`` copies: municipality ``j`` is the ``j``-th block of
    ``BLOCK_COLUMNS`` x ``k / BLOCK_COLUMNS`` copies on a square-ish grid of blocks, copies
    ``gap_deg`` apart (each an island: no street joins two copies)."""
    minx, miny, maxx, maxy = core.bounds
    width, height = maxx - minx + gap_deg, maxy - miny + gap_deg
    rows = int(np.ceil(k / BLOCK_COLUMNS))
    blocks_across = int(np.ceil(np.sqrt(m * rows / BLOCK_COLUMNS)))
    shifts = []
    for j in range(m):
        bx, by = j % blocks_across, j // blocks_across
        for i in range(k):
            cx, cy = bx * BLOCK_COLUMNS + i % BLOCK_COLUMNS, by * rows + i // BLOCK_COLUMNS
            shifts.append((cx * width, cy * height))
    return shifts


def _codes(m: int) -> list[str]:
    gemeenten = gpd.read_file(KERNCIJFERS, ignore_geometry=True)
    column = next(c for c in gemeenten.columns if c.lower() in {"gm_code", "gemeentecode"})
    return sorted(gemeenten[column].astype(str).str.strip())[:m]


def _municipality_parcels(
    plots: gpd.GeoDataFrame, shifts: list[tuple[float, float]]
) -> gpd.GeoDataFrame:
    """The copies' plots moved with them, numbered as one kadastral section per copy."""
    frames = []
    for i, (dx, dy) in enumerate(shifts):
        moved = plots.geometry.map(lambda g, dx=dx, dy=dy: affinity.translate(g, dx, dy))
        section = chr(ord("A") + i)
        ids = [f"DLF01-{section}-{n}" for n in range(1, len(plots) + 1)]
        frames.append(gpd.GeoDataFrame({"site_id": ids}, geometry=moved.to_numpy(), crs=4326))
    merged = gpd.GeoDataFrame(
        {"site_id": np.concatenate([f["site_id"].to_numpy() for f in frames])},
        geometry=np.concatenate([f.geometry.to_numpy() for f in frames]),
        crs=4326,
    )
    return merged.to_crs(RD_NEW)


def child(listing: Path, out: Path, cache: Path, workers: int) -> int:
    """Rank and publish every municipality of ``listing`` as the nightly run does."""
    from magicmix_geo.config import load_settings
    from magicmix_geo.contract import RankInputs
    from magicmix_geo.national import run_national

    rows = json.loads(listing.read_text(encoding="utf-8"))
    areas = [
        RankInputs(
            osm=Path(r["osm"]),
            gm_code=r["gm_code"],
            boundary=Path(r["boundary"]),
            cbs=(KERNCIJFERS,),
            candidates=Path(r["candidates"]),
            candidate_source="brk",
        )
        for r in rows
    ]
    run = run_national(areas, load_settings(), out, workers=workers, cache_dir=cache)
    return run.exit_code


def slice_walk_refs(cache: Path) -> int:
    """How many walk-way node references the slices of ``cache`` hold together."""
    total = 0
    for path in cache.rglob("*.osmslice.npz"):
        with np.load(path, allow_pickle=False) as arrays:
            total += arrays["walk_node_ids"].size
    return total


def file_walk_refs(pbf: Path) -> int:
    from magicmix_geo.config import load_settings
    from magicmix_geo.prepare.osm import read_walk_ways

    return int(read_walk_ways(pbf, load_settings().walk.way_filter).node_ids.size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--municipalities", type=int, default=34)
    parser.add_argument("--copies", type=int, default=6, help="copies per municipality")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.0, help="degrees between copies")
    parser.add_argument("--store-only", action="store_true", help="run the OSM store only")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        listing, out, cache, workers = args.child
        return child(Path(listing), Path(out), Path(cache), int(workers))
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    work = WORK / f"nation-{args.municipalities}x{args.copies}"
    if args.gap:
        work = work.with_name(f"{work.name}-gap{args.gap:g}")
    clock = time.perf_counter()
    listing = build(args.municipalities, args.copies, work, args.gap)
    print(f"nation: {work} (built or reused in {time.perf_counter() - clock:.0f} s)")
    pbf = work / "nation.osm.pbf"
    rows = json.loads(listing.read_text(encoding="utf-8"))
    boundaries = [read_boundary(Path(r["boundary"])) for r in rows]
    if args.store_only:
        store_run(
            pbf, [Extent(r["gm_code"], b) for r, b in zip(rows, boundaries, strict=True)], None
        )
        return 0
    info = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", str(pbf)], check=True, capture_output=True, text=True
    )
    nodes = int(json.loads(info.stdout)["data"]["count"]["nodes"])
    parcels = sum(
        len(gpd.read_file(r["candidates"], columns=["site_id"], ignore_geometry=True)) for r in rows
    )
    print(f"  {len(rows)} municipalities, {parcels:,} parcels, {nodes:,} nodes")
    cat_s, _ = cat_pass(pbf)
    out, cache = work / "out", work / "cache"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, __file__, "--child", str(listing), str(out), str(cache)]
    print(f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    wall, memory, failed = run_watched([*command, str(args.workers)])
    if failed:
        return 1
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    store_s = report(
        out, cache, pbf, wall, children.ru_utime + children.ru_stime, memory, cat_s, nodes, parcels
    )
    report_volumes(boundaries, nodes, store_s, cat_s)
    return 0


def report(
    out: Path,
    cache: Path,
    pbf: Path,
    wall: float,
    cpu: float,
    memory: TreeMemory,
    cat_s: float,
    nodes: int,
    parcels: int,
) -> float:
    """Print the run's figures and the national figure scaled by nodes; the store's seconds."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    rows = manifest["run_summary"]["municipalities"]
    failed = sum(r["status"] == "failed" for r in rows)
    seconds = np.array([r["seconds"] for r in rows if r["status"] != "failed"])
    cpus = np.array([r.get("cpu_seconds") or np.nan for r in rows if r["status"] != "failed"])
    store_s = sum(r["seconds"] for r in manifest.get("osm_store", []))
    overlap = slice_walk_refs(cache) / file_walk_refs(pbf)
    print(
        f"  {len(rows)} municipalities, {failed} failed, published "
        f"{len(manifest['municipalities'])}; wall {wall:.1f} s ({wall / 60:.1f} min), "
        f"CPU of the run's processes {cpu:.0f} s"
    )
    print(
        f"  OSM store {store_s:.1f} s ({store_s / cat_s:.2f} x one `osmium cat` of "
        f"{cat_s:.1f} s); the rest {wall - store_s:.1f} s"
    )
    print(
        f"  per municipality on a worker: median {np.median(seconds):.1f} s, max "
        f"{seconds.max():.1f} s; CPU median {np.nanmedian(cpus):.1f} s, sum {np.nansum(cpus):.0f} s"
    )
    print(
        f"  peak memory: largest process {memory.peak / 2**30:.2f} GiB, whole tree "
        f"{memory.peak_total / 2**30:.2f} GiB"
    )
    print(f"  the slices hold {overlap:.2f} x the file's walk-way node references")
    by_parcels = NATIONAL_PARCELS / parcels
    by_nodes = NATIONAL_NODES / nodes
    rest = (wall - store_s) * by_parcels
    store = store_s * by_nodes
    renumber = RENUMBER_CAT_PASSES * cat_s * by_nodes
    print(
        f"  scaled to the nation: the rest x {by_parcels:.2f} (parcels) = {rest / 60:.1f} min; "
        f"the store x {by_nodes:.2f} (nodes) = {store / 60:.1f} min; renumbering "
        f"{RENUMBER_CAT_PASSES:.2f} `cat` = {renumber / 60:.1f} min; "
        f"**{(rest + store + renumber) / 60:.1f} min** "
        f"({len(rows) * by_parcels:.0f} municipalities at this size)"
    )
    return float(store_s)


def report_volumes(
    boundaries: list[BaseGeometry], nodes: int, store_s: float, cat_s: float
) -> None:
    """What this run's slices and regions hold against the nation's (by land area, each
    municipality's weight spread over it: ``bench/region_outlines.py``), and the store scaled
    by nodes and by what the regions hold: the store is an osmium pass (~1 `cat`) and the
    regions' parse, which grows with what the regions hold."""
    areas = gpd.GeoSeries(boundaries, crs=RD_NEW)
    slices, _, regions = region_volumes(areas, {"land area": areas.area.to_numpy()}, nodes)[
        "land area"
    ]
    nation = national_volumes(NATIONAL_NODES)
    by_area, by_people = nation["land area"], nation["people"]
    print(
        f"  by land area the slices hold {slices:.2f} x the municipalities and the regions "
        f"{regions:.2f} x; the nation's: slices {by_area[0]:.2f}-{by_people[0]:.2f} x, regions "
        f"{by_area[2]:.2f}-{by_people[2]:.2f} x (by land area - by people)"
    )
    by_nodes = NATIONAL_NODES / nodes
    parse = max(store_s - cat_s, 0.0) * by_nodes
    low, high = (cat_s * by_nodes + parse * v[2] / regions for v in (by_area, by_people))
    print(
        f"  the store scaled by nodes and by what the regions hold: {low / 60:.1f}-"
        f"{high / 60:.1f} min (by nodes alone {store_s * by_nodes / 60:.1f})"
    )


if __name__ == "__main__":
    sys.exit(main())
