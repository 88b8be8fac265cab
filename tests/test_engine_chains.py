"""The contracted engine on awkward synthetic networks: rings, loops, parallel ways, islands.

Every case is checked against a networkx Dijkstra on the uncontracted network split at the
snapped points (tests/test_network.py), for nearest distances and for counts within D.
"""

from __future__ import annotations

import numpy as np
import pytest

from magicmix_geo.measure.distances import SegmentIndex, counts_within, nearest_distance
from magicmix_geo.prepare.network import build_network
from magicmix_geo.prepare.osm import WalkWays
from tests.test_network import _networkx_reference, _ways

LON0, LAT0 = 4.36, 52.0


def _random_ways(seed: int) -> WalkWays:
    """A jittered grid of streets with shape points, a lasso (ring hanging off one node), a
    detached ring, parallel ways between the same nodes, a duplicate way and dead ends."""
    rng = np.random.default_rng(seed)
    size = 6
    step = 0.0012
    node = {}
    next_id = 1

    def nid(key: tuple, lon: float, lat: float) -> tuple[int, float, float]:
        nonlocal next_id
        if key not in node:
            node[key] = (next_id, lon, lat)
            next_id += 1
        return node[key]

    def corner(i: int, j: int) -> tuple[int, float, float]:
        jitter = rng.normal(0, step / 10, 2)
        return nid(("c", i, j), LON0 + i * step + jitter[0], LAT0 + j * step * 0.6 + jitter[1])

    ways: list[tuple[int, list[tuple[int, float, float]]]] = []
    way_id = 1
    corners = {(i, j): corner(i, j) for i in range(size) for j in range(size)}
    for (i, j), a in corners.items():
        for di, dj in ((1, 0), (0, 1)):
            if (i + di, j + dj) not in corners or rng.random() < 0.15:
                continue
            b = corners[(i + di, j + dj)]
            shape = [
                nid(
                    ("s", way_id, k),
                    a[1] + (b[1] - a[1]) * f + rng.normal(0, 2e-5),
                    a[2] + (b[2] - a[2]) * f + rng.normal(0, 2e-5),
                )
                for k, f in enumerate(np.sort(rng.uniform(0.1, 0.9, rng.integers(0, 4))))
            ]
            ways.append((way_id, [a, *shape, b]))
            way_id += 1
    a, b = corners[(1, 1)], corners[(2, 1)]
    bend = nid(("bend",), (a[1] + b[1]) / 2, a[2] + 0.0004)
    ways.append((way_id, [a, bend, b]))  # a parallel way with a bend
    ways.append((way_id + 1, [a, b]))  # a duplicate of the straight street, if it exists
    c = corners[(3, 3)]
    ring = [
        nid(("r", k), c[1] + 0.0003 * np.cos(t), c[2] + 0.0004 + 0.0003 * np.sin(t))
        for k, t in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 7)[:-1])
    ]
    ways.append((way_id + 2, [c, ring[0], *ring[1:], ring[0]]))  # a lasso
    d = corners[(0, 5)]
    ways.append((way_id + 3, [d, nid(("dead",), d[1] - 0.0008, d[2] + 0.0003)]))  # dead end
    far = [
        nid(("far", k), LON0 + 0.02 + 0.0004 * np.cos(t), LAT0 + 0.0004 * np.sin(t))
        for k, t in enumerate(np.linspace(0, 2 * np.pi, 6)[:-1])
    ]
    ways.append((way_id + 4, [*far, far[0]]))  # a detached ring: a chain with no core node
    return _ways(ways)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("largest_only", [True, False])
def test_contracted_engine_equals_split_graph_dijkstra(seed: int, largest_only: bool) -> None:
    net = build_network(_random_ways(seed), largest_component_only=largest_only)
    core = net.core
    assert (core.seg_chain >= 0).all()
    assert (core.chain_a == core.chain_b).any()  # the lasso (and the detached ring)
    rng = np.random.default_rng(100 + seed)
    x0, x1, y0, y1 = net.x.min() - 40, net.x.max() + 40, net.y.min() - 40, net.y.max() + 40
    sites = np.column_stack([rng.uniform(x0, x1, 150), rng.uniform(y0, y1, 150)])
    # sites on and beside the ring too
    ring = core.chain_a == core.chain_b
    on_ring = np.flatnonzero(ring[core.seg_chain])[:10]
    mid = np.column_stack(
        [
            (net.x[net.seg_u[on_ring]] + net.x[net.seg_v[on_ring]]) / 2 + 3,
            (net.y[net.seg_u[on_ring]] + net.y[net.seg_v[on_ring]]) / 2 - 2,
        ]
    )
    sites = np.vstack([sites, mid])
    dests = np.column_stack([rng.uniform(x0, x1, 4), rng.uniform(y0, y1, 4)])
    index = SegmentIndex(net)
    s_snap = index.snap(sites[:, 0], sites[:, 1])
    d_snap = index.snap(dests[:, 0], dests[:, 1])
    ours = nearest_distance(net, s_snap, d_snap)
    oracle = _networkx_reference(net, sites, dests)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(oracle))
    np.testing.assert_allclose(ours, oracle, rtol=0, atol=1e-6)
    per_dest = np.column_stack(
        [_networkx_reference(net, sites, dests[j : j + 1]) for j in range(len(dests))]
    )
    counts = counts_within(net, s_snap, d_snap, [120, 350, 700])
    for radius in (120, 350, 700):
        clear = np.all(np.isnan(per_dest) | (np.abs(per_dest - radius) > 1e-6), axis=1)
        np.testing.assert_array_equal(
            counts[float(radius)][clear], (per_dest[clear] <= radius).sum(axis=1)
        )
