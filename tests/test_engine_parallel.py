"""The dask runner gives the same columns as the serial engine."""

from __future__ import annotations

import numpy as np

from magicmix_geo.cluster import dask_client
from magicmix_geo.measure.parallel import map_parallel, network_distances
from magicmix_geo.prepare.network import build_network
from tests.test_engine_chains import _random_ways


def _tile_sum(item: int, *, offset: int) -> int:
    return item + offset


def test_dask_categories_equal_serial_and_tiles_keep_order() -> None:
    net = build_network(_random_ways(0))
    rng = np.random.default_rng(5)
    box = (net.x.min(), net.x.max(), net.y.min(), net.y.max())

    def pts(n: int) -> np.ndarray:
        return np.column_stack([rng.uniform(*box[:2], n), rng.uniform(*box[2:], n)])

    sites = pts(300)
    dests = {"a": pts(3), "b": pts(9), "c": pts(0)}
    radii = {"a": (300, 600)}
    serial = network_distances(net, sites, dests, radii, workers=0)
    with dask_client(workers=2) as client:
        parallel = network_distances(net, sites, dests, radii, client=client)
        assert map_parallel(_tile_sum, range(5), client=client, offset=10) == list(range(10, 15))
    assert list(parallel.columns) == [
        "dist_a_m",
        "n_a_300m",
        "n_a_600m",
        "dist_b_m",
        "dist_c_m",
        "snap_distance_m",
    ]
    np.testing.assert_array_equal(parallel.to_numpy(), serial.to_numpy())
    assert parallel["dist_c_m"].isna().all()
