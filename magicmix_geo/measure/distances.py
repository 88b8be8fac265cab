"""Walking distances over the network: snap points to segments, multi-source shortest paths.

The definition (docs/interfaces.md): a point is joined to its nearest network segment by a
straight connector (Euclidean, EPSG:28992 metres); the walk then runs along the network from
the connector's foot. The position of the foot along a segment is the fraction of the segment's
straight length in EPSG:28992 times the segment's great-circle length, so that partial segment
lengths add up exactly to osmnx's ``length``. Distances are exact shortest paths (Dijkstra).

The searches run on the contracted graph (:class:`~magicmix_geo.prepare.network.CoreGraph`):
a point's position is its chain and the metres along it, a destination is a source at both
ends of its chain, and points on one chain also reach each other straight along it. The
kernels are numba-compiled, release the GIL, and allocate nothing of size sites x nodes:
nearest distances take one multi-source Dijkstra per category, counts take one search per
destination bounded by the largest radius, touching only that destination's neighbourhood.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import shapely

from magicmix_geo.prepare.network import CoreGraph, WalkNetwork

_INF = np.inf


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
    """A uniform grid over the straight segments of a network, for nearest-segment joins.

    Each segment is listed in every cell its bounding box covers; a query scans rings of cells
    around the point until no unscanned segment can be nearer. Exact (same nearest distance as
    a GEOS STRtree), numba-compiled and parallel over points.
    """

    def __init__(self, net: WalkNetwork) -> None:
        self.net = net
        x0 = net.x[net.seg_u]
        y0 = net.y[net.seg_u]
        x1 = net.x[net.seg_v]
        y1 = net.y[net.seg_v]
        self._coords = (x0, y0, x1, y1)
        if net.n_segments == 0:
            raise ValueError("a network without segments has no segment index")
        self.origin = (float(net.x.min()), float(net.y.min()))
        width = float(net.x.max()) - self.origin[0]
        height = float(net.y.max()) - self.origin[1]
        # cells about twice the mean segment length, and not many more cells than segments
        mean_len = float(np.mean(np.hypot(x1 - x0, y1 - y0))) if net.n_segments else 1.0
        cell = max(2.0 * mean_len, np.sqrt(max(width * height, 1.0) / net.n_segments), 1.0)
        self.cell = float(cell)
        self.shape = (int(width // cell) + 1, int(height // cell) + 1)
        self.cell_ptr, self.cell_seg = _grid_cells(
            x0, y0, x1, y1, self.origin[0], self.origin[1], self.cell, self.shape[0], self.shape[1]
        )

    @property
    def lines(self) -> np.ndarray:
        """The segments as shapely LineStrings (EPSG:28992), for display and checks."""
        x0, y0, x1, y1 = self._coords
        ends = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
        return shapely.linestrings(ends)

    def snap(self, x: np.ndarray, y: np.ndarray) -> Snap:
        """Join points (EPSG:28992 metres) to their nearest segment."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if x.size == 0:
            empty = np.empty(0)
            return Snap(np.empty(0, dtype=np.int64), empty, empty)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("cannot snap points with missing coordinates")
        x0, y0, x1, y1 = self._coords
        segment, fraction, connector = _snap_points(
            x,
            y,
            x0,
            y0,
            x1,
            y1,
            self.cell_ptr,
            self.cell_seg,
            self.origin[0],
            self.origin[1],
            self.cell,
            self.shape[0],
            self.shape[1],
        )
        along = fraction * self.net.seg_length[segment]
        return Snap(segment=segment, along=along, connector=connector)


def nearest_distance(net: WalkNetwork, sites: Snap, dests: Snap) -> np.ndarray:
    """Walking distance (m) from every site to its nearest destination; NaN if none reachable.

    One multi-source Dijkstra over the contracted graph, the destinations' costs put on the
    ends of their chains, plus the straight way along a shared chain.
    """
    if len(dests) == 0 or len(sites) == 0:
        return np.full(len(sites), np.nan)
    core = net.core
    node_dist = source_costs(core, dests)
    _dijkstra(core.indptr, core.indices, core.weights, node_dist)
    s_chain, s_t = _chain_position(core, sites)
    result = sites.connector + np.minimum(
        node_dist[core.chain_a[s_chain]] + s_t,
        node_dist[core.chain_b[s_chain]] + (core.chain_len[s_chain] - s_t),
    )
    # straight along a chain shared with a destination (only those sites need sorting)
    d_chain, d_t = _chain_position(core, dests)
    shared = np.flatnonzero(np.isin(s_chain, d_chain))
    if shared.size:
        along = np.full(shared.size, _INF)
        c, t = s_chain[shared], s_t[shared]
        _along_chain(
            c,
            t,
            np.lexsort((t, c)),
            d_chain,
            d_t,
            dests.connector,
            np.lexsort((d_t, d_chain)),
            along,
        )
        result[shared] = np.minimum(result[shared], sites.connector[shared] + along)
    result[~np.isfinite(result)] = np.nan
    return result


def _chain_position(core: CoreGraph, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Chain and position of snapped points, computed once per (points, network)."""
    cached = snap.__dict__.get("_chain_cache")
    if cached is not None and cached[0] is core:
        return cached[1], cached[2]
    chain, t = core.chain_position(snap.segment, snap.along)
    object.__setattr__(snap, "_chain_cache", (core, chain, t))
    return chain, t


def source_costs(core: CoreGraph, dests: Snap) -> np.ndarray:
    """Initial Dijkstra costs on the core nodes: every destination at both ends of its chain."""
    chain, t = _chain_position(core, dests)
    cost = np.full(core.n_core, _INF)
    np.minimum.at(cost, core.chain_a[chain], dests.connector + t)
    np.minimum.at(cost, core.chain_b[chain], dests.connector + (core.chain_len[chain] - t))
    return cost


def counts_within(
    net: WalkNetwork, sites: Snap, dests: Snap, radii: Sequence[float]
) -> dict[float, np.ndarray]:
    """For each radius D, how many destinations lie within D metres walking of every site.

    One Dijkstra per destination bounded by the largest radius; memory is O(nodes + sites).
    """
    counts = {float(r): np.zeros(len(sites), dtype=np.int64) for r in radii}
    if len(dests) == 0 or len(sites) == 0 or not radii:
        return counts
    core = net.core
    radii_sorted = np.array(sorted(counts), dtype=np.float64)
    s_chain, s_t = _chain_position(core, sites)
    order = np.lexsort((s_t, s_chain))
    site_ptr = np.zeros(core.n_chains + 1, dtype=np.int64)
    np.cumsum(np.bincount(s_chain, minlength=core.n_chains), out=site_ptr[1:])
    d_chain, d_t = _chain_position(core, dests)
    out = np.zeros((len(sites), radii_sorted.size), dtype=np.int64)
    _count_kernel(
        core.indptr,
        core.indices,
        core.weights,
        core.chain_a,
        core.chain_b,
        core.chain_len,
        core.inc_ptr,
        core.inc_chain,
        core.inc_at_b,
        site_ptr,
        s_t[order],
        order.astype(np.int64),
        sites.connector[order],
        d_chain,
        d_t,
        dests.connector,
        radii_sorted,
        out,
    )
    return {float(r): out[:, i].copy() for i, r in enumerate(radii_sorted)}


# --- numba kernels -------------------------------------------------------------------------


@numba.njit(cache=True)
def _grid_cells(x0, y0, x1, y1, ox, oy, cell, nx, ny):  # type: ignore[no-untyped-def]
    """CSR lists of the segments whose bounding box covers each cell (cell id = i * ny + j)."""
    n = x0.size
    # each segment's range of cells, computed once for the counting and the filling pass
    i0 = ((np.minimum(x0, x1) - ox) // cell).astype(np.int64)
    i1 = ((np.maximum(x0, x1) - ox) // cell).astype(np.int64)
    j0 = ((np.minimum(y0, y1) - oy) // cell).astype(np.int64)
    j1 = ((np.maximum(y0, y1) - oy) // cell).astype(np.int64)
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for k in range(n):
        for i in range(i0[k], i1[k] + 1):
            for j in range(j0[k], j1[k] + 1):
                counts[i * ny + j + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    segs = np.empty(ptr[-1], dtype=np.int64)
    for k in range(n):
        for i in range(i0[k], i1[k] + 1):
            for j in range(j0[k], j1[k] + 1):
                segs[fill[i * ny + j]] = k
                fill[i * ny + j] += 1
    return ptr, segs


_PARALLEL_SNAP_MIN = 50_000  # below this, starting threads costs more than it saves


def _snap_points(px, py, x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny):  # type: ignore[no-untyped-def]
    """Nearest segment of each point: ring search over grid cells, exact."""
    m = px.size
    out_seg = np.empty(m, dtype=np.int64)
    out_frac = np.empty(m, dtype=np.float64)
    out_dist = np.empty(m, dtype=np.float64)
    run = _snap_many_parallel if m >= _PARALLEL_SNAP_MIN else _snap_many
    run(px, py, x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny, out_seg, out_frac, out_dist)
    return out_seg, out_frac, out_dist


@numba.njit(cache=True)
def _snap_many(  # type: ignore[no-untyped-def]
    px, py, x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny, o_seg, o_frac, o_dist
):
    for q in range(px.size):
        o_seg[q], o_frac[q], o_dist[q] = _snap_one(
            px[q], py[q], x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny
        )


@numba.njit(cache=True, parallel=True)
def _snap_many_parallel(  # type: ignore[no-untyped-def]
    px, py, x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny, o_seg, o_frac, o_dist
):
    for q in numba.prange(px.size):
        o_seg[q], o_frac[q], o_dist[q] = _snap_one(
            px[q], py[q], x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny
        )


@numba.njit(cache=True, nogil=True)
def _snap_one(x, y, x0, y0, x1, y1, ptr, segs, ox, oy, cell, nx, ny):  # type: ignore[no-untyped-def]
    ci = int((x - ox) // cell)
    cj = int((y - oy) // cell)
    best = np.inf
    best_seg = -1
    best_frac = 0.0
    # past this ring, every cell of the grid has been scanned
    last = max(max(ci, nx - 1 - ci), max(cj, ny - 1 - cj))
    ring = 0
    while True:
        for i in range(ci - ring, ci + ring + 1):
            if i < 0 or i >= nx:
                continue
            on_edge_i = i == ci - ring or i == ci + ring
            step = 1 if on_edge_i else 2 * ring
            j = cj - ring
            while j <= cj + ring:
                if 0 <= j < ny:
                    c = i * ny + j
                    for p in range(ptr[c], ptr[c + 1]):
                        k = segs[p]
                        dx = x1[k] - x0[k]
                        dy = y1[k] - y0[k]
                        len2 = dx * dx + dy * dy
                        f = 0.0
                        if len2 > 0.0:
                            f = ((x - x0[k]) * dx + (y - y0[k]) * dy) / len2
                            f = min(max(f, 0.0), 1.0)
                        ex = x0[k] + f * dx - x
                        ey = y0[k] + f * dy - y
                        d = np.sqrt(ex * ex + ey * ey)
                        if d < best or (d == best and k < best_seg):
                            best = d
                            best_seg = k
                            best_frac = f
                j += step if step > 0 else 1
        # every segment nearer than ring * cell has been seen
        if best <= ring * cell or ring >= last:
            break
        ring += 1
    return best_seg, best_frac, best


@numba.njit(cache=True, nogil=True, inline="always")
def _push(keys, vals, size, key, val):  # type: ignore[no-untyped-def]
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _pop(keys, vals, size):  # type: ignore[no-untyped-def]
    top_key = keys[0]
    top_val = vals[0]
    size -= 1
    key = keys[size]
    val = vals[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    if size > 0:
        keys[i] = key
        vals[i] = val
    return top_key, top_val, size


@numba.njit(cache=True, nogil=True)
def _dijkstra(indptr, indices, weights, dist):  # type: ignore[no-untyped-def]
    """Multi-source Dijkstra; ``dist`` holds the sources' costs (inf elsewhere), in place."""
    n = dist.size
    cap = indices.size + n + 1
    keys = np.empty(cap, dtype=np.float64)
    vals = np.empty(cap, dtype=np.int64)
    size = 0
    for i in range(n):
        if dist[i] < np.inf:
            size = _push(keys, vals, size, dist[i], i)
    while size > 0:
        d, u, size = _pop(keys, vals, size)
        if d > dist[u]:
            continue
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            nd = d + weights[p]
            if nd < dist[v]:
                dist[v] = nd
                size = _push(keys, vals, size, nd, v)


@numba.njit(cache=True, nogil=True)
def _along_chain(s_chain, s_t, s_order, d_chain, d_t, d_cost, d_order, out):  # type: ignore[no-untyped-def]
    """``out[i]`` = min over destinations on site i's chain of cost + |t_site - t_dest|."""
    m = d_order.size
    # forward: destinations at or before the site on its chain
    j = 0
    run = np.inf
    run_chain = -1
    for ii in range(s_order.size):
        i = s_order[ii]
        c = s_chain[i]
        t = s_t[i]
        while j < m:
            k = d_order[j]
            if d_chain[k] < c or (d_chain[k] == c and d_t[k] <= t):
                if d_chain[k] != run_chain:
                    run_chain = d_chain[k]
                    run = np.inf
                run = min(run, d_cost[k] - d_t[k])
                j += 1
            else:
                break
        if run_chain == c:
            out[i] = min(out[i], t + run)
    # backward: destinations at or after the site
    j = m - 1
    run = np.inf
    run_chain = -1
    for ii in range(s_order.size - 1, -1, -1):
        i = s_order[ii]
        c = s_chain[i]
        t = s_t[i]
        while j >= 0:
            k = d_order[j]
            if d_chain[k] > c or (d_chain[k] == c and d_t[k] >= t):
                if d_chain[k] != run_chain:
                    run_chain = d_chain[k]
                    run = np.inf
                run = min(run, d_cost[k] + d_t[k])
                j -= 1
            else:
                break
        if run_chain == c:
            out[i] = min(out[i], run - t)


@numba.njit(cache=True, nogil=True, inline="always")
def _offer(s, cand, j, stamp, best, hit, n_hit):  # type: ignore[no-untyped-def]
    """Site ``s`` is reached at ``cand`` by destination ``j``: keep its best, note it once."""
    if stamp[s] != j:
        stamp[s] = j
        best[s] = cand
        hit[n_hit] = s
        return n_hit + 1
    if cand < best[s]:
        best[s] = cand
    return n_hit


@numba.njit(cache=True, nogil=True)
def _count_kernel(  # type: ignore[no-untyped-def]
    indptr,
    indices,
    weights,
    chain_a,
    chain_b,
    chain_len,
    inc_ptr,
    inc_chain,
    inc_at_b,
    site_ptr,
    site_t,
    site_id,
    site_conn,
    d_chain,
    d_t,
    d_cost,
    radii,
    out,
):
    n = indptr.size - 1
    n_sites = site_id.size
    limit = radii[-1]
    dist = np.full(n, np.inf)
    touched = np.empty(n, dtype=np.int64)
    keys = np.empty(indices.size + 3, dtype=np.float64)
    vals = np.empty(indices.size + 3, dtype=np.int64)
    best = np.full(n_sites, np.inf)
    stamp = np.full(n_sites, -1, dtype=np.int64)
    hit = np.empty(n_sites, dtype=np.int64)
    for j in range(d_chain.size):
        c = d_chain[j]
        t = d_t[j]
        cost = d_cost[j]
        if cost > limit:
            continue
        n_touched = 0
        n_hit = 0
        size = 0
        for end in range(2):
            x = chain_a[c] if end == 0 else chain_b[c]
            dd = cost + t if end == 0 else cost + (chain_len[c] - t)
            if dd <= limit and dd < dist[x]:
                if dist[x] == np.inf:
                    touched[n_touched] = x
                    n_touched += 1
                dist[x] = dd
                size = _push(keys, vals, size, dd, x)
        while size > 0:
            d, u, size = _pop(keys, vals, size)
            if d > dist[u]:
                continue
            for p in range(indptr[u], indptr[u + 1]):
                v = indices[p]
                nd = d + weights[p]
                if nd <= limit and nd < dist[v]:
                    if dist[v] == np.inf:
                        touched[n_touched] = v
                        n_touched += 1
                    dist[v] = nd
                    size = _push(keys, vals, size, nd, v)
        # sites straight along the destination's own chain
        lo = site_ptr[c]
        hi = site_ptr[c + 1]
        reach = limit - cost
        p0 = lo + np.searchsorted(site_t[lo:hi], t - reach)
        for p in range(p0, hi):
            if site_t[p] > t + reach:
                break
            cand = cost + abs(site_t[p] - t) + site_conn[p]
            n_hit = _offer(site_id[p], cand, j, stamp, best, hit, n_hit)
        # sites on the chains at every reached core node
        for q in range(n_touched):
            x = touched[q]
            dx = dist[x]
            rem = limit - dx
            for r in range(inc_ptr[x], inc_ptr[x + 1]):
                ch = inc_chain[r]
                lo = site_ptr[ch]
                hi = site_ptr[ch + 1]
                length = chain_len[ch]
                if inc_at_b[r]:
                    p = hi - 1
                    while p >= lo and length - site_t[p] <= rem:
                        cand = dx + (length - site_t[p]) + site_conn[p]
                        n_hit = _offer(site_id[p], cand, j, stamp, best, hit, n_hit)
                        p -= 1
                else:
                    p = lo
                    while p < hi and site_t[p] <= rem:
                        cand = dx + site_t[p] + site_conn[p]
                        n_hit = _offer(site_id[p], cand, j, stamp, best, hit, n_hit)
                        p += 1
        for q in range(n_hit):
            s = hit[q]
            for r in range(radii.size):
                if best[s] <= radii[r]:
                    out[s, r] += 1
        for q in range(n_touched):
            dist[touched[q]] = np.inf
