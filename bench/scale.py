"""Scale benchmark: a synthetic national-size city as a real .osm.pbf, PBF -> graph -> distances.

    .venv/bin/python bench/scale.py [--nodes 5200000] [--sites 1000000] [--workers 0|N]

Writes ``bench/_work/scale_city.osm.pbf`` (>= 5 M nodes, pyosmium's writer, in a child process
so its memory does not count), then in this process times: PBF -> walkable ways (pyosmium,
C++-side filters) -> CSR network -> contraction, the grid index and snapping of ``--sites``
random sites, and all 10 categories (nearest distance each; counts within 400/800/1200 m for
pt_stop and supermarket), serially (``--workers 0``) or on a dask LocalCluster. Peak memory is
``ru_maxrss`` of this process (and of the dask workers, when used).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WORK = ROOT / "bench" / "_work"
# destinations per category: roughly the Dutch counts scaled to a 5 M-node network
CATEGORIES = {
    "pt_stop": 12_000,
    "train_station": 120,
    "supermarket": 2_000,
    "gp": 1_500,
    "primary_school": 2_200,
    "childcare": 3_000,
    "library": 300,
    "community_centre": 800,
    "social_support": 600,
    "park": 4_000,
}
COUNTS = {"pt_stop": (400, 800, 1200), "supermarket": (400, 800, 1200)}


def _peak_gib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20  # KiB on Linux


def generate(path: Path, nodes: int) -> None:
    from synthetic import make_city, write_city_pbf

    t = time.perf_counter()
    city = make_city(nodes, seed=7)
    write_city_pbf(city, path)
    print(
        f"wrote {path.name}: {city.node_id.size:,} nodes, {city.way_id.size:,} ways, "
        f"{path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.0f} s",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5_200_000)
    parser.add_argument("--sites", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=0, help="0: serial; N: dask LocalCluster")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.nodes)
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    pbf = WORK / f"scale_city_{args.nodes}.osm.pbf"
    if not pbf.exists():
        subprocess.run(
            [sys.executable, __file__, "--nodes", str(args.nodes), "--generate-only", str(pbf)],
            check=True,
        )
    from magicmix_geo.measure.distances import SegmentIndex
    from magicmix_geo.measure.parallel import network_distances
    from magicmix_geo.prepare.network import build_network
    from magicmix_geo.prepare.osm import read_walk_ways

    with (ROOT / "config" / "network.toml").open("rb") as fh:
        way_filter = tomllib.load(fh)["walk"]["way_filter"]
    times: dict[str, float] = {}
    t = time.perf_counter()
    ways = read_walk_ways(pbf, way_filter)
    times["pbf_to_ways_s"] = time.perf_counter() - t
    t = time.perf_counter()
    net = build_network(ways)
    times["ways_to_csr_s"] = time.perf_counter() - t
    del ways
    t = time.perf_counter()
    core = net.core
    times["contract_s"] = time.perf_counter() - t
    print(
        f"network: {net.n_nodes:,} nodes, {net.n_segments:,} segments; contracted to "
        f"{core.n_core:,} core nodes, {core.n_chains:,} chains",
        flush=True,
    )
    rng = np.random.default_rng(11)
    lo = np.array([net.x.min(), net.y.min()])
    hi = np.array([net.x.max(), net.y.max()])
    sites = rng.uniform(lo, hi, (args.sites, 2))
    dests = {name: rng.uniform(lo, hi, (m, 2)) for name, m in CATEGORIES.items()}
    t = time.perf_counter()
    SegmentIndex(net).snap(sites[:, 0], sites[:, 1])  # timed alone for the report
    times["index_and_snap_sites_s"] = time.perf_counter() - t
    t = time.perf_counter()
    table = network_distances(net, sites, dests, COUNTS, workers=args.workers)
    times["all_categories_s"] = time.perf_counter() - t
    peak = _peak_gib()
    workers_peak = _peak_gib(resource.RUSAGE_CHILDREN) if args.workers else 0.0
    reachable = float(table["dist_pt_stop_m"].notna().mean())
    report = {
        "pbf": pbf.name,
        "pbf_mib": round(pbf.stat().st_size / 2**20, 1),
        "nodes": net.n_nodes,
        "segments": net.n_segments,
        "core_nodes": core.n_core,
        "sites": args.sites,
        "categories": len(CATEGORIES),
        "destinations": sum(CATEGORIES.values()),
        "workers": args.workers,
        **{k: round(v, 2) for k, v in times.items()},
        "sites_per_s_all_categories": round(args.sites / times["all_categories_s"]),
        "peak_rss_gib": round(peak, 2),
        "peak_rss_children_gib": round(workers_peak, 2),
        "pt_stop_reachable_share": reachable,
        "median_dist_pt_stop_m": round(float(table["dist_pt_stop_m"].median()), 1),
    }
    (WORK / f"scale_{args.workers}.json").write_text(json.dumps(report, indent=2))
    for key, value in report.items():
        print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
