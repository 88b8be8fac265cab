"""Run the distance engine in parallel with dask: categories, and municipality tiles.

A LocalCluster of ``workers`` processes by default; with ``dask_address`` the same code runs
on an existing cluster (``tcp://host:port``). The network is scattered once to every worker
(broadcast) and each task gets only the snapped points of its category: one multi-source
Dijkstra and the bounded count searches. Snapping (the grid index) stays on the caller.

Entry points: :func:`network_distances` and :func:`map_parallel` (clients come from
:mod:`magicmix_geo.cluster`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from distributed import Client

from magicmix_geo.cluster import dask_client
from magicmix_geo.measure.distances import SegmentIndex, Snap, counts_within, nearest_distance
from magicmix_geo.prepare.network import WalkNetwork

T = TypeVar("T")
R = TypeVar("R")


def _category_columns(
    net: WalkNetwork, sites: Snap, dests: Snap, name: str, radii: Sequence[int]
) -> dict[str, np.ndarray]:
    columns = {f"dist_{name}_m": nearest_distance(net, sites, dests)}
    if radii:
        counts = counts_within(net, sites, dests, radii)
        for radius in radii:
            columns[f"n_{name}_{radius}m"] = counts[float(radius)]
    return columns


def network_distances(
    net: WalkNetwork,
    site_xy: np.ndarray,
    dest_xy: Mapping[str, np.ndarray],
    radii: Mapping[str, Sequence[int]] | None = None,
    *,
    client: Client | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
) -> pd.DataFrame:
    """``dist_<category>_m`` and ``n_<category>_<D>m`` of every site, categories in parallel.

    Parameters
    ----------
    net
        The walking network.
    site_xy
        Site points, (n, 2), EPSG:28992 metres.
    dest_xy
        Destination points per category, (m, 2) each, EPSG:28992 metres.
    radii
        Count radii (metres) per category; categories without an entry get no counts.
    client, workers, dask_address
        An existing client, or how to get one (see :func:`dask_client`). ``workers=0`` runs
        in this process without dask.
    """
    radii = radii or {}
    index = SegmentIndex(net)
    site_xy = np.asarray(site_xy, dtype=np.float64).reshape(-1, 2)
    sites = index.snap(site_xy[:, 0], site_xy[:, 1])
    dests = {}
    for name, xy in dest_xy.items():
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        dests[name] = index.snap(xy[:, 0], xy[:, 1])
    _ = net.core  # contract once here, so the workers receive it with the network
    if client is None and workers == 0:
        parts = [_category_columns(net, sites, d, n, radii.get(n, ())) for n, d in dests.items()]
    elif client is None:
        with dask_client(workers, dask_address) as own:
            return network_distances(net, site_xy, dest_xy, radii, client=own)
    else:
        net_f, sites_f = client.scatter([net, sites], broadcast=True)
        futures = [
            client.submit(
                _category_columns, net_f, sites_f, d, n, tuple(radii.get(n, ())), pure=False
            )
            for n, d in dests.items()
        ]
        parts = client.gather(futures)
    columns: dict[str, np.ndarray] = {}
    for part in parts:
        columns.update(part)
    columns["snap_distance_m"] = sites.connector
    return pd.DataFrame(columns)


def map_parallel(
    fn: Callable[..., R],
    items: Iterable[T],
    *,
    client: Client | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    **shared: Any,
) -> list[R]:
    """``[fn(item, **shared) for item in items]`` on dask (e.g. one municipality tile each).

    ``shared`` values (a national network, settings) are scattered once to every worker.
    Results come back in the order of ``items``.
    """
    items = list(items)
    if client is None:
        with dask_client(workers, dask_address) as own:
            return map_parallel(fn, items, client=own, **shared)
    scattered = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
    futures = [client.submit(fn, item, pure=False, **scattered) for item in items]
    return list(client.gather(futures))
