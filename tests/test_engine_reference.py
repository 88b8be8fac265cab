"""The distance engine alone on the real sample equals the osmnx + networkx oracle.

Independent of the scoring configuration: random sites and destination sets over the sample's
walking network, compared with tests/reference.py (osmnx graph_from_xml + networkx) to 0.01 m,
and counts within D compared with per-destination oracle distances.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from magicmix_geo.measure.distances import SegmentIndex, counts_within, nearest_distance
from magicmix_geo.prepare.network import WalkNetwork, build_network
from magicmix_geo.prepare.osm import read_osm
from tests.reference import reference_distances, reference_walk_graph

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_OSM = ROOT / "data" / "sample" / "tudelft.osm.pbf"
TOLERANCE_M = 0.01


def _way_filter() -> str:
    with (ROOT / "config" / "network.toml").open("rb") as fh:
        return str(tomllib.load(fh)["walk"]["way_filter"])


@pytest.fixture(scope="module")
def sample_net() -> WalkNetwork:
    osm = read_osm(SAMPLE_OSM, _way_filter(), ["shop"], ["shop"])
    return build_network(osm.walk)


@pytest.fixture(scope="module")
def oracle_graph():  # type: ignore[no-untyped-def]
    return reference_walk_graph(SAMPLE_OSM)


def _points(net: WalkNetwork, count: int, rng: np.random.Generator) -> np.ndarray:
    # the core of the extract (the sample's box), where the network is complete
    x0, x1 = np.quantile(net.x, [0.2, 0.8])
    y0, y1 = np.quantile(net.y, [0.2, 0.8])
    return np.column_stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count)])


def test_contraction_keeps_every_segment_on_one_chain(sample_net: WalkNetwork) -> None:
    core = sample_net.core
    assert core.n_core < sample_net.n_nodes / 2  # most OSM nodes are shape points
    assert (core.seg_chain >= 0).all()
    np.testing.assert_allclose(
        np.bincount(core.seg_chain, weights=sample_net.seg_length), core.chain_len, rtol=1e-12
    )


@pytest.mark.parametrize("n_dests", [1, 7, 60])
def test_nearest_and_counts_equal_osmnx_networkx(
    sample_net: WalkNetwork,
    oracle_graph,
    n_dests: int,  # type: ignore[no-untyped-def]
) -> None:
    rng = np.random.default_rng(n_dests)
    sites = _points(sample_net, 300, rng)
    dests = _points(sample_net, n_dests, rng)
    index = SegmentIndex(sample_net)
    s_snap = index.snap(sites[:, 0], sites[:, 1])
    d_snap = index.snap(dests[:, 0], dests[:, 1])
    ours = nearest_distance(sample_net, s_snap, d_snap)
    expected = reference_distances(oracle_graph, sites, dests)
    # sites on a closed way hanging off one node (a self-loop of the simplified graph) are
    # included: the oracle keeps the shorter way round the loop
    core = sample_net.core
    chain = core.seg_chain[s_snap.segment]
    assert (core.chain_a[chain] == core.chain_b[chain]).any()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    assert np.nanmax(np.abs(ours - expected)) <= TOLERANCE_M
    if n_dests <= 7:
        per_dest = np.column_stack(
            [reference_distances(oracle_graph, sites, dests[j : j + 1]) for j in range(n_dests)]
        )
        counts = counts_within(sample_net, s_snap, d_snap, [250, 600])
        for radius in (250, 600):
            # away from the boundary by more than the tolerance, counts must agree exactly
            clear = np.all(np.abs(per_dest - radius) > TOLERANCE_M, axis=1)
            np.testing.assert_array_equal(
                counts[float(radius)][clear], (per_dest[clear] <= radius).sum(axis=1)
            )
