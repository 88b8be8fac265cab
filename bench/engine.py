"""Engine benchmark: our engine vs pandana vs per-site networkx vs the raw scipy floor.

    .venv/bin/python bench/engine.py [--quick]

On two graphs (the bundled sample, and a synthetic 1 M-node city), for the same sites and
10 destination categories, it times

(a) our engine: contraction + grid index + snapping + one multi-source Dijkstra per category;
(b) pandana: Network build (contraction hierarchies) + set_pois + nearest_pois per category;
(c) osmnx users' per-site approach: one networkx Dijkstra per site (all categories at once)
    on a sample of sites, extrapolated to all sites;
(d) the floor: scipy.sparse.csgraph.dijkstra from a virtual source, per category, on the
    uncontracted CSR graph (the Dijkstra call only);

checks that every answer agrees (sites and destinations sit on network nodes, so all four
define the same distance), and ends with the line
``ratio_vs_pandana=X ratio_vs_networkx=Y ratio_vs_floor=Z`` for the larger graph, where X and
Y are how many times faster our engine is and Z is our time over the floor's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synthetic import make_city  # noqa: E402

from magicmix_geo.measure.distances import SegmentIndex, nearest_distance  # noqa: E402
from magicmix_geo.prepare.network import WalkNetwork, build_network, contract  # noqa: E402
from magicmix_geo.prepare.osm import read_walk_ways  # noqa: E402

WORK = ROOT / "bench" / "_work"
PANDANA_MAXDIST = 3000.0  # pandana needs a search radius; answers beyond it are not compared


def _graphs(quick: bool) -> list[tuple[str, WalkNetwork, int, list[int]]]:
    with (ROOT / "config" / "network.toml").open("rb") as fh:
        way_filter = tomllib.load(fh)["walk"]["way_filter"]
    sample = build_network(read_walk_ways(ROOT / "data" / "sample" / "tudelft.osm.pbf", way_filter))
    big = build_network(make_city(200_000 if quick else 1_000_000).walk_ways())
    return [
        ("sample (TU Delft, real OSM)", sample, 5_000, [40, 4, 12, 3, 10, 15, 2, 3, 6, 20]),
        (
            f"synthetic city ({big.n_nodes:,} nodes)",
            big,
            200_000,
            [3000, 60, 400, 300, 500, 800, 60, 100, 150, 600],
        ),
    ]


def _time(fn, *args, **kw):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def ours(
    net: WalkNetwork, site_nodes: np.ndarray, dest_nodes: list[np.ndarray]
) -> tuple[list, float]:
    t = time.perf_counter()
    object.__setattr__(net, "core", contract(net))  # time the contraction inside ours
    index = SegmentIndex(net)
    sites = index.snap(net.x[site_nodes], net.y[site_nodes])
    out = []
    for nodes in dest_nodes:
        dests = index.snap(net.x[nodes], net.y[nodes])
        out.append(nearest_distance(net, sites, dests))
    return out, time.perf_counter() - t


def floor(
    net: WalkNetwork, site_nodes: np.ndarray, dest_nodes: list[np.ndarray]
) -> tuple[list, float]:
    n = net.n_nodes
    adj = net.adjacency
    out = []
    total = 0.0
    for nodes in dest_nodes:
        nodes = np.unique(nodes)
        graph = sp.csr_matrix(
            (
                np.concatenate([adj.data, np.zeros(nodes.size)]),
                np.concatenate([adj.indices, nodes.astype(adj.indices.dtype)]),
                np.concatenate([adj.indptr, [adj.indptr[-1] + nodes.size]]),
            ),
            shape=(n + 1, n + 1),
        )
        dist, seconds = _time(dijkstra, graph, directed=True, indices=n)
        total += seconds
        out.append(dist[site_nodes])
    return out, total


def pandana_run(net: WalkNetwork, site_nodes: np.ndarray, dest_nodes: list[np.ndarray]):  # type: ignore[no-untyped-def]
    import pandana
    import pandas as pd

    t = time.perf_counter()
    upper = net.seg_u < net.seg_v
    a = np.where(upper, net.seg_u, net.seg_v)
    b = np.where(upper, net.seg_v, net.seg_u)
    edges = pd.DataFrame({"from": a, "to": b, "w": net.seg_length})
    edges = edges.sort_values("w").drop_duplicates(["from", "to"])
    nodes = pd.DataFrame({"x": net.x, "y": net.y})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pnet = pandana.Network(
            nodes.x, nodes.y, edges["from"], edges["to"], edges[["w"]], twoway=True
        )
        out = []
        for k, d in enumerate(dest_nodes):
            cat = f"c{k}"
            pnet.set_pois(cat, PANDANA_MAXDIST, 1, net.x[d], net.y[d])
            res = pnet.nearest_pois(PANDANA_MAXDIST, cat, num_pois=1)
            out.append(res[1].to_numpy()[site_nodes])
    return out, time.perf_counter() - t


def networkx_run(
    net: WalkNetwork, site_nodes: np.ndarray, dest_nodes: list[np.ndarray], sample: int
) -> tuple[list, float, np.ndarray]:
    graph = nx.Graph()
    for u, v, w in zip(
        net.seg_u.tolist(), net.seg_v.tolist(), net.seg_length.tolist(), strict=True
    ):
        if not graph.has_edge(u, v) or graph[u][v]["weight"] > w:
            graph.add_edge(u, v, weight=w)
    picked = np.random.default_rng(1).choice(site_nodes.size, sample, replace=False)
    out = [np.full(sample, np.nan) for _ in dest_nodes]
    t = time.perf_counter()
    for i, s in enumerate(site_nodes[picked].tolist()):
        lengths = nx.single_source_dijkstra_path_length(graph, s, weight="weight")
        for k, d in enumerate(dest_nodes):
            out[k][i] = min((lengths.get(x, np.inf) for x in d.tolist()), default=np.inf)
    per_site = (time.perf_counter() - t) / sample
    return out, per_site * site_nodes.size, picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 200k-node city instead of 1M")
    parser.add_argument("--nx-sites", type=int, default=5, help="sites timed with networkx")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    # compile the numba kernels outside the timings
    warm = build_network(make_city(2_000).walk_ways())
    ours(warm, np.arange(10), [np.arange(3)])
    results = []
    for name, net, n_sites, n_dests in _graphs(args.quick):
        rng = np.random.default_rng(0)
        site_nodes = rng.integers(0, net.n_nodes, n_sites)
        dest_nodes = [rng.integers(0, net.n_nodes, m) for m in n_dests]
        print(
            f"\n{name}: {net.n_nodes:,} nodes, {net.n_segments:,} segments, "
            f"{n_sites:,} sites, {len(n_dests)} categories ({sum(n_dests):,} destinations)"
        )
        a, t_ours = ours(net, site_nodes, dest_nodes)
        _, t_ours2 = ours(net, site_nodes, dest_nodes)
        t_ours = min(t_ours, t_ours2)
        d, t_floor = floor(net, site_nodes, dest_nodes)
        b, t_pandana = pandana_run(net, site_nodes, dest_nodes)
        c, t_nx, picked = networkx_run(net, site_nodes, dest_nodes, min(args.nx_sites, n_sites))
        worst = {"floor": 0.0, "pandana": 0.0, "networkx": 0.0}
        for k in range(len(dest_nodes)):
            worst["floor"] = max(worst["floor"], float(np.max(np.abs(a[k] - d[k]))))
            within = a[k] < PANDANA_MAXDIST - 1
            worst["pandana"] = max(worst["pandana"], float(np.max(np.abs(a[k] - b[k])[within])))
            assert np.all(b[k][~within] >= PANDANA_MAXDIST - 1.5), "pandana beyond its radius"
            worst["networkx"] = max(worst["networkx"], float(np.max(np.abs(a[k][picked] - c[k]))))
        core = net.core
        print(
            f"  contracted: {core.n_core:,} core nodes ({core.n_core / net.n_nodes:.0%}), "
            f"{core.n_chains:,} chains"
        )
        print(f"  (a) ours (contract+index+snap+10 Dijkstras): {t_ours:8.3f} s")
        print(f"  (b) pandana build + query:                  {t_pandana:8.3f} s")
        print(
            f"  (c) networkx per site, extrapolated:        {t_nx:8.1f} s "
            f"({args.nx_sites} sites timed)"
        )
        print(f"  (d) scipy floor (10 Dijkstra calls only):   {t_floor:8.3f} s")
        print(
            "  max |difference| vs ours (m): " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
        )
        # pandana computes in single precision: agreement to a few decimetres over 3 km
        ok = worst["floor"] < 1e-6 and worst["networkx"] < 1e-6 and worst["pandana"] < 0.5
        print(f"  answers agree: {ok}")
        if not ok:
            return 1
        results.append(
            {
                "graph": name,
                "nodes": net.n_nodes,
                "sites": n_sites,
                "ours_s": t_ours,
                "pandana_s": t_pandana,
                "networkx_extrapolated_s": t_nx,
                "floor_s": t_floor,
                "max_diff_m": worst,
            }
        )
    (WORK / "engine.json").write_text(json.dumps(results, indent=2))
    last = results[-1]
    print(
        f"ratio_vs_pandana={last['pandana_s'] / last['ours_s']:.1f} "
        f"ratio_vs_networkx={last['networkx_extrapolated_s'] / last['ours_s']:.0f} "
        f"ratio_vs_floor={last['ours_s'] / last['floor_s']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
