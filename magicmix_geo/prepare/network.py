"""The walking network as arrays: nodes, straight segments and a CSR adjacency matrix.

The graph keeps every OSM node of the walkable ways (no topological simplification): shortest
path lengths are the same as on osmnx's simplified graph, and a point is joined to the exact
straight piece of street it is nearest to. Segment lengths are great-circle lengths on the
sphere of radius 6,371,009 m from the OSM coordinates, exactly as osmnx computes ``length``.

For speed, routing runs on a contracted copy (:class:`CoreGraph`): chains of nodes with exactly
two incident segments collapse into one edge between their end nodes. Every segment keeps its
place on its chain (chain id, offset, direction), so points still join the exact straight
segment and distances stay exact: a point inside a chain is reached through one of the chain's
two ends, or straight along the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import scipy.sparse as sp
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components

from magicmix_geo.prepare.osm import WalkWays

EARTH_RADIUS_M = 6_371_009.0  # osmnx.distance.EARTH_RADIUS_M
_TO_RD = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)


@dataclass(frozen=True)
class WalkNetwork:
    """An undirected walking network in EPSG:28992.

    Node ``i`` is OSM node ``osm_node_id[i]`` at (``x[i]``, ``y[i]``), metres. Segment ``k`` joins
    nodes ``seg_u[k]`` and ``seg_v[k]`` with great-circle length ``seg_length[k]`` (metres), and
    belongs to OSM way ``seg_way[k]``. ``adjacency`` is the symmetric CSR matrix of the shortest
    segment between each pair of nodes.
    """

    osm_node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    seg_u: np.ndarray
    seg_v: np.ndarray
    seg_length: np.ndarray
    seg_way: np.ndarray
    adjacency: sp.csr_matrix

    @property
    def n_nodes(self) -> int:
        return int(self.x.size)

    @property
    def n_segments(self) -> int:
        return int(self.seg_u.size)

    @cached_property
    def core(self) -> CoreGraph:
        """The contracted routing graph (built on first use, then kept)."""
        return contract(self)

    def n_edges_simplified(self) -> int:
        """Edges of the equivalent osmnx-simplified undirected graph (for reporting)."""
        degree = np.bincount(np.concatenate([self.seg_u, self.seg_v]), minlength=self.n_nodes)
        # interstitial nodes (degree 2) vanish in simplification; every other node is kept
        kept = int(np.count_nonzero(degree != 2))
        return int(self.n_segments - (self.n_nodes - kept))


@dataclass(frozen=True)
class CoreGraph:
    """The network with chains of degree-2 nodes contracted, for routing.

    Core nodes are the nodes with a segment degree other than two (plus one node of each ring
    that has none). Chain ``c`` runs from core node ``chain_a[c]`` to ``chain_b[c]`` (equal for
    a loop) over ``chain_len[c]`` metres. Segment ``k`` lies on chain ``seg_chain[k]``, its
    chain-earlier end at ``seg_offset[k]`` metres from ``chain_a``; ``seg_forward[k]`` tells
    whether that end is ``seg_u[k]``. The CSR arrays hold the shortest chain between each pair
    of distinct core nodes (both directions); ``inc_*`` list every chain end at each core node.
    ``seg_length`` is the network's segment lengths (metres).
    """

    n_core: int
    core_of_node: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    chain_a: np.ndarray
    chain_b: np.ndarray
    chain_len: np.ndarray
    seg_chain: np.ndarray
    seg_offset: np.ndarray
    seg_forward: np.ndarray
    inc_ptr: np.ndarray
    inc_chain: np.ndarray
    inc_at_b: np.ndarray
    seg_length: np.ndarray

    @property
    def n_chains(self) -> int:
        return int(self.chain_len.size)

    def chain_position(
        self, segment: np.ndarray, along: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chain and position on it (metres from ``chain_a``) of points ``along`` m from seg_u."""
        offset = self.seg_offset[segment]
        forward = self.seg_forward[segment]
        length = self.seg_length[segment]
        t = np.where(forward, offset + along, offset + (length - along))
        return self.seg_chain[segment], t


def contract(net: WalkNetwork) -> CoreGraph:
    """Contract chains of degree-2 nodes of ``net`` (see :class:`CoreGraph`)."""
    n = net.n_nodes
    seg_u = net.seg_u.astype(np.int64)
    seg_v = net.seg_v.astype(np.int64)
    ends = np.concatenate([seg_u, seg_v])
    degree = np.bincount(ends, minlength=n)
    # incidence lists: node -> segments
    order = np.argsort(ends, kind="stable")
    inc_seg = (order % max(seg_u.size, 1)).astype(np.int64)
    inc_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=inc_ptr[1:])
    is_core = degree != 2
    seg_chain, seg_offset, seg_forward, chain_a, chain_b, chain_len = _walk_chains(
        seg_u, seg_v, net.seg_length, inc_ptr, inc_seg, is_core
    )
    core_nodes = np.flatnonzero(is_core)
    core_of_node = np.full(n, -1, dtype=np.int64)
    core_of_node[core_nodes] = np.arange(core_nodes.size)
    a = core_of_node[chain_a]
    b = core_of_node[chain_b]
    # routing edges: the shortest chain between each pair of distinct core nodes
    proper = a != b
    rows = np.concatenate([a[proper], b[proper]])
    cols = np.concatenate([b[proper], a[proper]])
    weights = np.concatenate([chain_len[proper], chain_len[proper]])
    keep = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, weights = rows[first], cols[first], weights[first]
    indptr = np.zeros(core_nodes.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=core_nodes.size), out=indptr[1:])
    # chain ends at each core node (a loop chain appears twice)
    chains = np.arange(chain_len.size, dtype=np.int64)
    end_node = np.concatenate([a, b])
    end_chain = np.concatenate([chains, chains])
    end_at_b = np.concatenate([np.zeros(chains.size, bool), np.ones(chains.size, bool)])
    by_node = np.argsort(end_node, kind="stable")
    e_ptr = np.zeros(core_nodes.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(end_node, minlength=core_nodes.size), out=e_ptr[1:])
    return CoreGraph(
        n_core=int(core_nodes.size),
        core_of_node=core_of_node,
        indptr=indptr,
        indices=cols.astype(np.int64),
        weights=weights.astype(np.float64),
        chain_a=a,
        chain_b=b,
        chain_len=chain_len,
        seg_chain=seg_chain,
        seg_offset=seg_offset,
        seg_forward=seg_forward,
        inc_ptr=e_ptr,
        inc_chain=end_chain[by_node],
        inc_at_b=end_at_b[by_node],
        seg_length=net.seg_length,
    )


@numba.njit(cache=True)
def _walk_chains(seg_u, seg_v, seg_len, inc_ptr, inc_seg, is_core):
    n_seg = seg_u.size
    seg_chain = np.full(n_seg, -1, dtype=np.int64)
    seg_offset = np.zeros(n_seg, dtype=np.float64)
    seg_forward = np.zeros(n_seg, dtype=np.bool_)
    chain_a = np.empty(n_seg, dtype=np.int64)
    chain_b = np.empty(n_seg, dtype=np.int64)
    chain_len = np.empty(n_seg, dtype=np.float64)
    n_chains = 0
    # first from every core node, then rings of degree-2 nodes (no core node on them)
    for phase in range(2):
        for start_seg in range(n_seg):
            if seg_chain[start_seg] >= 0:
                continue
            if phase == 0:
                if is_core[seg_u[start_seg]]:
                    start = seg_u[start_seg]
                elif is_core[seg_v[start_seg]]:
                    start = seg_v[start_seg]
                else:
                    continue
            else:
                start = seg_u[start_seg]
                is_core[start] = True
            c = n_chains
            n_chains += 1
            pos = 0.0
            cur = start
            s = start_seg
            while True:
                forward = seg_u[s] == cur
                other = seg_v[s] if forward else seg_u[s]
                seg_chain[s] = c
                seg_offset[s] = pos
                seg_forward[s] = forward
                pos += seg_len[s]
                if is_core[other]:
                    break
                nxt = inc_seg[inc_ptr[other]]
                if nxt == s:
                    nxt = inc_seg[inc_ptr[other] + 1]
                cur = other
                s = nxt
            chain_a[c] = start
            chain_b[c] = other
            chain_len[c] = pos
    return (
        seg_chain,
        seg_offset,
        seg_forward,
        chain_a[:n_chains].copy(),
        chain_b[:n_chains].copy(),
        chain_len[:n_chains].copy(),
    )


def great_circle_m(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    """Haversine distance in metres, the formula and radius osmnx uses."""
    y1 = np.deg2rad(lat1)
    y2 = np.deg2rad(lat2)
    dy = y2 - y1
    dx = np.deg2rad(lon2) - np.deg2rad(lon1)
    h = np.sin(dy / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(dx / 2) ** 2
    h = np.minimum(1, h)
    return 2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M


def build_network(ways: WalkWays, *, largest_component_only: bool = True) -> WalkNetwork:
    """Build the network from the walkable ways.

    Consecutive repeated node references are collapsed and segments touching a node missing
    from the file are left out (a clipped extract), as a way is cut at such a node. With
    ``largest_component_only`` only the largest connected component is kept, like osmnx's
    ``retain_all=False``.
    """
    n_refs = ways.node_ids.size
    way_of_ref = np.repeat(ways.way_ids, np.diff(ways.offsets))
    # a segment joins ref i and ref i+1 when both belong to the same way
    first = np.arange(n_refs - 1)
    same_way = np.ones(max(n_refs - 1, 0), dtype=bool)
    same_way[ways.offsets[1:-1] - 1] = False
    first = first[same_way]
    a_id = ways.node_ids[first]
    b_id = ways.node_ids[first + 1]
    located = ~(np.isnan(ways.lon[first]) | np.isnan(ways.lon[first + 1]))
    keep = located & (a_id != b_id)
    first = first[keep]
    seg_way = way_of_ref[first]

    # node table: every located node that ends a kept segment
    ends = np.concatenate([first, first + 1])
    node_ids, inverse = np.unique(ways.node_ids[ends], return_inverse=True)
    ref_of_node = np.empty(node_ids.size, dtype=np.int64)
    ref_of_node[inverse] = ends
    lon = ways.lon[ref_of_node]
    lat = ways.lat[ref_of_node]
    seg_u = inverse[: first.size].astype(np.int64)
    seg_v = inverse[first.size :].astype(np.int64)
    seg_length = great_circle_m(lat[seg_u], lon[seg_u], lat[seg_v], lon[seg_v])
    x, y = _TO_RD.transform(lon, lat)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)

    if largest_component_only and seg_u.size:
        seg_u, seg_v, seg_length, seg_way, node_ids, x, y = _largest_component(
            seg_u, seg_v, seg_length, seg_way, node_ids, x, y
        )
    return WalkNetwork(
        osm_node_id=node_ids,
        x=x,
        y=y,
        seg_u=seg_u,
        seg_v=seg_v,
        seg_length=seg_length,
        seg_way=seg_way,
        adjacency=_adjacency(seg_u, seg_v, seg_length, node_ids.size),
    )


def subset_network(net: WalkNetwork, keep_seg: np.ndarray) -> WalkNetwork:
    """The segments ``keep_seg`` (a mask) of ``net`` and the nodes they use, order kept."""
    if keep_seg.all():
        return net
    seg_u = net.seg_u[keep_seg]
    seg_v = net.seg_v[keep_seg]
    used = np.zeros(net.n_nodes, dtype=bool)
    used[seg_u] = True
    used[seg_v] = True
    new_index = np.cumsum(used) - 1
    seg_u = new_index[seg_u]
    seg_v = new_index[seg_v]
    length = net.seg_length[keep_seg]
    return WalkNetwork(
        osm_node_id=net.osm_node_id[used],
        x=net.x[used],
        y=net.y[used],
        seg_u=seg_u,
        seg_v=seg_v,
        seg_length=length,
        seg_way=net.seg_way[keep_seg],
        adjacency=_adjacency(seg_u, seg_v, length, int(used.sum())),
    )


def area_components(
    net: WalkNetwork, in_area: np.ndarray, *, min_nodes: int, largest_only: bool
) -> WalkNetwork:
    """The connected components of ``net`` that serve an area (the component rule).

    ``in_area`` marks the nodes inside the area itself (not its buffer). The largest component
    is always kept (ties: the one holding the smallest OSM node id); unless ``largest_only``,
    so is every other component with at least ``min_nodes`` nodes of which at least one lies
    inside the area: an island or a separate village of the municipality keeps its own
    streets, while stray fragments (an unconnected footway, a piece cut off by the clip) are
    dropped, as osmnx drops them.
    """
    if net.n_segments == 0:
        return net
    n_comp, labels = connected_components(net.adjacency, directed=False)
    sizes = np.bincount(labels, minlength=n_comp)
    biggest = np.flatnonzero(sizes == sizes.max())
    if biggest.size > 1:
        smallest_id = [net.osm_node_id[labels == c].min() for c in biggest]
        largest = biggest[int(np.argmin(smallest_id))]
    else:
        largest = biggest[0]
    keep = np.zeros(n_comp, dtype=bool)
    keep[largest] = True
    if not largest_only:
        touches = np.bincount(labels[in_area], minlength=n_comp) > 0
        keep |= touches & (sizes >= min_nodes)
    return subset_network(net, keep[labels[net.seg_u]])


def _adjacency(seg_u: np.ndarray, seg_v: np.ndarray, length: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric CSR matrix holding the shortest segment between each pair of nodes.

    Explicit zeros stay edges (scipy.sparse.csgraph treats stored zeros in sparse input as
    zero-length edges), so two OSM nodes at the same location remain connected.
    """
    rows = np.concatenate([seg_u, seg_v])
    cols = np.concatenate([seg_v, seg_u])
    weights = np.concatenate([length, length])
    # keep the shortest of parallel segments: sort by (row, col, weight), take the first
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, weights = rows[first], cols[first], weights[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((weights, cols.astype(np.int32), indptr), shape=(n, n))


def _largest_component(
    seg_u: np.ndarray,
    seg_v: np.ndarray,
    seg_length: np.ndarray,
    seg_way: np.ndarray,
    node_ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> tuple[np.ndarray, ...]:
    n = node_ids.size
    graph = sp.coo_matrix((np.ones(seg_u.size), (seg_u, seg_v)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    # ties between equally large components: the one holding the smallest OSM node id, so the
    # choice does not depend on the order of the file
    biggest = np.flatnonzero(sizes == sizes.max())
    if biggest.size > 1:
        smallest_id = [node_ids[labels == c].min() for c in biggest]
        keep_label = biggest[int(np.argmin(smallest_id))]
    else:
        keep_label = biggest[0]
    keep_node = labels == keep_label
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    keep_seg = keep_node[seg_u]
    return (
        new_index[seg_u[keep_seg]],
        new_index[seg_v[keep_seg]],
        seg_length[keep_seg],
        seg_way[keep_seg],
        node_ids[keep_node],
        x[keep_node],
        y[keep_node],
    )
