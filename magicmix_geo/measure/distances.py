"""Walking distances over the network: snap points to segments, multi-source shortest paths.

The definition (docs/interfaces.md): a point is joined to its nearest network segment by a
straight connector (Euclidean, EPSG:28992 metres); the walk then runs along the network from
the connector's foot. The position of the foot along a segment is the fraction of the segment's
straight length in EPSG:28992 times the segment's great-circle length, so that partial segment
lengths add up exactly to osmnx's ``length``. Distances are exact shortest paths (Dijkstra).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from magicmix_geo.prepare.network import WalkNetwork

# bounded searches for counts hold a (sources x nodes) float64 matrix; keep it near this size
_COUNT_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Snap:
    """Points joined to the network: for point ``i``, segment ``segment[i]``, the foot at
    ``along[i]`` metres from the segment's first node, and a connector of ``connector[i]`` m."""

    segment: np.ndarray
    along: np.ndarray
    connector: np.ndarray

    def __len__(self) -> int:
        return int(self.segment.size)


class SegmentIndex:
    """A spatial index (shapely STRtree) over the straight segments of a network."""

    def __init__(self, net: WalkNetwork) -> None:
        coords = np.stack(
            [
                np.column_stack([net.x[net.seg_u], net.y[net.seg_u]]),
                np.column_stack([net.x[net.seg_v], net.y[net.seg_v]]),
            ],
            axis=1,
        )
        self.net = net
        self.lines = shapely.linestrings(coords)
        self.tree = shapely.STRtree(self.lines)

    def snap(self, x: np.ndarray, y: np.ndarray) -> Snap:
        """Join points (EPSG:28992 metres) to their nearest segment."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.size == 0:
            empty = np.empty(0)
            return Snap(np.empty(0, dtype=np.int64), empty, empty)
        points = shapely.points(x, y)
        (point_idx, seg_idx), dist = self.tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        segment = np.empty(x.size, dtype=np.int64)
        connector = np.empty(x.size, dtype=np.float64)
        segment[point_idx] = seg_idx
        connector[point_idx] = dist
        fraction = shapely.line_locate_point(self.lines[segment], points, normalized=True)
        fraction = np.nan_to_num(fraction, nan=0.0)  # a zero-length segment
        along = fraction * self.net.seg_length[segment]
        return Snap(segment=segment, along=along, connector=connector)


def nearest_distance(net: WalkNetwork, sites: Snap, dests: Snap) -> np.ndarray:
    """Walking distance (m) from every site to its nearest destination; NaN if none reachable.

    One Dijkstra pass from a virtual source joined to both ends of every destination's segment.
    """
    if len(dests) == 0 or len(sites) == 0:
        return np.full(len(sites), np.nan)
    n = net.n_nodes
    d_nodes, d_cost = _end_costs(net, dests)
    source = n
    graph = _with_source(net.adjacency, d_nodes, d_cost)
    node_dist = dijkstra(graph, directed=True, indices=source)[:n]
    result = _via_nodes(net, sites, node_dist)
    same = _same_segment(sites, dests)
    if same is not None:
        site_idx, direct = same
        np.minimum.at(result, site_idx, direct)
    result[~np.isfinite(result)] = np.nan
    return result


def counts_within(
    net: WalkNetwork, sites: Snap, dests: Snap, radii: Sequence[float]
) -> dict[float, np.ndarray]:
    """For each radius D, how many destinations lie within D metres walking of every site."""
    counts = {float(r): np.zeros(len(sites), dtype=np.int64) for r in radii}
    if len(dests) == 0 or len(sites) == 0 or not radii:
        return counts
    limit = float(max(radii))
    n = net.n_nodes
    block = max(1, int(_COUNT_BLOCK_BYTES // (16 * max(n, 1))))
    same = _same_segment(sites, dests, keep_pairs=True)
    for start in range(0, len(dests), block):
        idx = np.arange(start, min(start + block, len(dests)))
        u = net.seg_u[dests.segment[idx]]
        v = net.seg_v[dests.segment[idx]]
        sources = np.unique(np.concatenate([u, v]))
        from_src = dijkstra(net.adjacency, directed=True, indices=sources, limit=limit)
        row = np.searchsorted(sources, u), np.searchsorted(sources, v)
        off_u = dests.connector[idx] + dests.along[idx]
        off_v = dests.connector[idx] + (net.seg_length[dests.segment[idx]] - dests.along[idx])
        # node distances from each destination of the block: (block, n)
        node_dist = np.minimum(
            off_u[:, None] + from_src[row[0]], off_v[:, None] + from_src[row[1]]
        )
        site_dist = _via_nodes_matrix(net, sites, node_dist)
        if same is not None:
            site_idx, dest_idx, direct = same
            in_block = (dest_idx >= idx[0]) & (dest_idx <= idx[-1])
            rows = dest_idx[in_block] - idx[0]
            cols = site_idx[in_block]
            site_dist[rows, cols] = np.minimum(site_dist[rows, cols], direct[in_block])
        for radius, count in counts.items():
            count += np.count_nonzero(site_dist <= radius, axis=0)
    return counts


def _end_costs(net: WalkNetwork, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Cost of reaching each end node of the snapped segments from the snapped points."""
    u = net.seg_u[snap.segment]
    v = net.seg_v[snap.segment]
    off_u = snap.connector + snap.along
    off_v = snap.connector + (net.seg_length[snap.segment] - snap.along)
    return np.concatenate([u, v]), np.concatenate([off_u, off_v])


def _with_source(adjacency: sp.csr_matrix, nodes: np.ndarray, cost: np.ndarray) -> sp.csr_matrix:
    """The adjacency plus one virtual node (the last) with edges to ``nodes`` of ``cost``."""
    n = adjacency.shape[0]
    order = np.lexsort((cost, nodes))
    nodes, cost = nodes[order], cost[order]
    first = np.ones(nodes.size, dtype=bool)
    first[1:] = nodes[1:] != nodes[:-1]
    nodes, cost = nodes[first], cost[first]
    indptr = np.concatenate([adjacency.indptr, [adjacency.indptr[-1] + nodes.size]])
    indices = np.concatenate([adjacency.indices, nodes.astype(adjacency.indices.dtype)])
    data = np.concatenate([adjacency.data, cost])
    return sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))


def _via_nodes(net: WalkNetwork, sites: Snap, node_dist: np.ndarray) -> np.ndarray:
    u = net.seg_u[sites.segment]
    v = net.seg_v[sites.segment]
    to_u = sites.connector + sites.along
    to_v = sites.connector + (net.seg_length[sites.segment] - sites.along)
    return np.minimum(to_u + node_dist[u], to_v + node_dist[v])


def _via_nodes_matrix(net: WalkNetwork, sites: Snap, node_dist: np.ndarray) -> np.ndarray:
    u = net.seg_u[sites.segment]
    v = net.seg_v[sites.segment]
    to_u = sites.connector + sites.along
    to_v = sites.connector + (net.seg_length[sites.segment] - sites.along)
    return np.minimum(to_u[None, :] + node_dist[:, u], to_v[None, :] + node_dist[:, v])


def _same_segment(
    sites: Snap, dests: Snap, *, keep_pairs: bool = False
) -> tuple[np.ndarray, ...] | None:
    """Direct distances along a shared segment, for site/destination pairs on one segment."""
    left = pd.DataFrame({"segment": sites.segment, "site": np.arange(len(sites))})
    right = pd.DataFrame({"segment": dests.segment, "dest": np.arange(len(dests))})
    pairs = left.merge(right, on="segment")
    if pairs.empty:
        return None
    s = pairs["site"].to_numpy()
    d = pairs["dest"].to_numpy()
    direct = (
        sites.connector[s] + np.abs(sites.along[s] - dests.along[d]) + dests.connector[d]
    )
    if keep_pairs:
        return s, d, direct
    return s, direct
