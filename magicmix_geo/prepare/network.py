"""The walking network as arrays: nodes, straight segments and a CSR adjacency matrix.

The graph keeps every OSM node of the walkable ways (no topological simplification): shortest
path lengths are the same as on osmnx's simplified graph, and a point is joined to the exact
straight piece of street it is nearest to. Segment lengths are great-circle lengths on the
sphere of radius 6,371,009 m from the OSM coordinates, exactly as osmnx computes ``length``.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def n_edges_simplified(self) -> int:
        """Edges of the equivalent osmnx-simplified undirected graph (for reporting)."""
        degree = np.bincount(
            np.concatenate([self.seg_u, self.seg_v]), minlength=self.n_nodes
        )
        # interstitial nodes (degree 2) vanish in simplification; every other node is kept
        kept = int(np.count_nonzero(degree != 2))
        return int(self.n_segments - (self.n_nodes - kept))


def great_circle_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
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
    np.add.at(indptr, rows + 1, 1)
    np.cumsum(indptr, out=indptr)
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
