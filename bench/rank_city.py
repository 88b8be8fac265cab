"""End-to-end `magicmix-geo rank` on a synthetic 1 M-node city with 200,000 candidate parcels.

    .venv/bin/python bench/rank_city.py [--nodes 1000000] [--parcels 200000]

Writes (into bench/_work/) the city as ``.osm.pbf`` with amenity nodes of every category and a
GeoPackage of parcels (squares inside the street blocks, EPSG:28992), then runs the installed
command line ``magicmix-geo rank`` as a child process and reports its wall time and peak
memory (``ru_maxrss`` of the child) together with the pipeline's own stage timings from the
run's manifest.json (computation per stage, and the time per output: ``publish_*_s``)
and the size of every output file, so one can see which stage dominates. The run passes
``--no-cache`` so that it always computes.
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

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from synthetic import make_city, write_city_pbf  # noqa: E402

WORK = ROOT / "bench" / "_work"
AMENITIES = {  # name: (key, value, count) for a 1 M-node city (~ a city of 400k people)
    "bus_stop": ("highway", "bus_stop", 1500),
    "station": ("railway", "station", 8),
    "supermarket": ("shop", "supermarket", 250),
    "gp": ("amenity", "doctors", 200),
    "school": ("amenity", "school", 250),
    "childcare": ("amenity", "childcare", 300),
    "library": ("amenity", "library", 20),
    "community": ("amenity", "community_centre", 60),
    "social": ("amenity", "social_facility", 80),
    "park": ("leisure", "park", 400),
}


def write_inputs(nodes: int, parcels: int) -> tuple[Path, Path]:
    pbf = WORK / f"rank_city_{nodes}.osm.pbf"
    gpkg = WORK / f"rank_parcels_{parcels}.gpkg"
    city = make_city(nodes, seed=3)
    if not pbf.exists():
        write_city_pbf(city, pbf, AMENITIES, seed=3)
    if not gpkg.exists():
        to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
        x, y = to_rd.transform(city.lon, city.lat)
        rng = np.random.default_rng(4)
        # parcel centres: random blocks of the grid, one of four quarters of the block
        x0, y0 = np.min(x), np.min(y)
        side = city.side - 1
        slot = rng.choice(side * side * 4, size=parcels, replace=False)  # no two overlap
        block, quarter = np.divmod(slot, 4)
        bi, bj = np.divmod(block, side)
        cx = x0 + bi * 80.0 + 22 + (quarter % 2) * 36
        cy = y0 + bj * 80.0 + 22 + (quarter // 2) * 36
        half = rng.uniform(10, 16, parcels)
        geoms = shapely.box(cx - half, cy - half, cx + half, cy + half)
        frame = gpd.GeoDataFrame({"site_id": np.arange(parcels)}, geometry=geoms, crs="EPSG:28992")
        frame.to_file(gpkg, layer="candidates", engine="pyogrio")
    return pbf, gpkg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--parcels", type=int, default=200_000)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    pbf, gpkg = write_inputs(args.nodes, args.parcels)
    print(f"inputs ready in {time.perf_counter() - t:.0f} s: {pbf.name}, {gpkg.name}", flush=True)
    out = WORK / "rank_out"
    shutil.rmtree(out, ignore_errors=True)
    cli = Path(sys.executable).parent / "magicmix-geo"
    cmd = [
        str(cli),
        "rank",
        "--osm",
        str(pbf),
        "--area",
        "GM9999",
        "--candidates",
        str(gpkg),
        "--out",
        str(out),
        "--no-cache",
    ]  # really compute: no result from the cache
    print(" ".join(cmd), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"exit {proc.returncode}; wall {wall:.1f} s; peak memory {peak:.2f} GiB")
    manifest = out / "manifest.json"
    report = {
        "nodes": args.nodes,
        "parcels": args.parcels,
        "exit": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_gib": round(peak, 2),
    }
    if manifest.exists():
        data = json.loads(manifest.read_text())
        for gm in data.get("municipalities", []):
            stages = gm.get("timings_s") or {}
            report["stage_timings_s"] = {
                k: v for k, v in stages.items() if not k.startswith("publish_")
            }
            report["publish_timings_s"] = {
                k: v for k, v in stages.items() if k.startswith("publish_")
            }
            report["network"] = gm.get("network")
            print("stage timings (s):", json.dumps(report["stage_timings_s"]))
            print("publish timings (s):", json.dumps(report["publish_timings_s"]))
        report["output_mb"] = {
            p.relative_to(out).as_posix(): round(p.stat().st_size / 1e6, 1)
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
        print("output sizes (MB):", json.dumps(report["output_mb"]))
        started, ended = data.get("started_at"), data.get("ended_at")
        report["manifest_span"] = [started, ended]
    (WORK / "rank_city.json").write_text(json.dumps(report, indent=2))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
