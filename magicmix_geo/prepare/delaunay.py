"""Delaunay triangulation of points in the plane, compiled (numba), and its Voronoi edges.

The sweep-hull algorithm of mapbox/delaunator (v5: points added by distance from a seed
triangle's circumcentre, the convex hull kept as a linked list with an angular hash, edges
flipped until every triangle is Delaunay), written here with every triangle
counter-clockwise. GEOS' ``voronoi_polygons`` spends about 7 µs a point on the same
diagram and builds a polygon per point; the enclosed tessellation only needs, for each
building, the Voronoi edges between its points and other buildings' points, which are the
Delaunay edges between them (:func:`voronoi_edges`).

Plain floating point, not robust predicates: :func:`delaunay` checks its own result (every
point in a triangle, every triangle counter-clockwise, the triangles' area the hull's) and
returns empty arrays when it fails, so that the caller can fall back to GEOS. Near
co-circular points (where a flip decision can go either way in floating point) give
triangulations whose Voronoi vertices differ by rounding only.
"""

from __future__ import annotations

import numba
import numpy as np

# flips waiting to be checked (delaunator's EDGE_STACK): only reached on degenerate input
_STACK = 512
# points closer than this (in each coordinate) are one point: the caller's input has none
_SAME = 2.0**-52


@numba.njit(cache=True)
def _cross(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """Twice the signed area of a, b, c: positive when counter-clockwise."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@numba.njit(cache=True)
def _in_circle(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, px: float, py: float
) -> bool:
    """True when p is inside the circle through the counter-clockwise a, b, c."""
    dx, dy = ax - px, ay - py
    ex, ey = bx - px, by - py
    fx, fy = cx - px, cy - py
    ap = dx * dx + dy * dy
    bp = ex * ex + ey * ey
    cp = fx * fx + fy * fy
    return dx * (ey * cp - bp * fy) - dy * (ex * cp - bp * fx) + ap * (ex * fy - ey * fx) > 0


@numba.njit(cache=True)
def _circumcentre(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float
) -> tuple[float, float]:
    """The circumcentre of a, b, c relative to a (infinite for collinear points)."""
    dx, dy = bx - ax, by - ay
    ex, ey = cx - ax, cy - ay
    bl = dx * dx + dy * dy
    cl = ex * ex + ey * ey
    det = dx * ey - dy * ex
    if det == 0:
        return np.inf, np.inf
    d = 0.5 / det
    return (ey * bl - dy * cl) * d, (dx * cl - ex * bl) * d


@numba.njit(cache=True)
def _hash_key(x: float, y: float, cx: float, cy: float, size: int) -> int:  # pragma: no cover
    dx, dy = x - cx, y - cy
    p = dx / (abs(dx) + abs(dy))
    angle = (3.0 - p if dy > 0 else 1.0 + p) / 4.0  # monotonic in the angle, in [0, 1]
    return int(np.floor(angle * size)) % size


@numba.njit(cache=True)
def _link(half: np.ndarray, a: int, b: int) -> None:  # pragma: no cover
    half[a] = b
    if b != -1:
        half[b] = a


@numba.njit(cache=True)
def _add(
    tri: np.ndarray,
    half: np.ndarray,
    count: np.ndarray,
    i0: int,
    i1: int,
    i2: int,
    a: int,
    b: int,
    c: int,
) -> int:  # pragma: no cover
    t = count[0]
    tri[t], tri[t + 1], tri[t + 2] = i0, i1, i2
    _link(half, t, a)
    _link(half, t + 1, b)
    _link(half, t + 2, c)
    count[0] = t + 3
    return t


@numba.njit(cache=True)
def _legalize(
    a: int,
    xy: np.ndarray,
    tri: np.ndarray,
    half: np.ndarray,
    hull_tri: np.ndarray,
    hull_prev: np.ndarray,
    hull_start: int,
    stack: np.ndarray,
) -> int:  # pragma: no cover
    """Flip the edge ``a`` and those it uncovers until they are Delaunay; the halfedge
    before ``a`` in its (last) triangle, as delaunator returns it."""
    i = 0
    ar = 0
    while True:
        b = half[a]
        a0 = a - a % 3
        ar = a0 + (a + 2) % 3
        if b == -1:  # a hull edge
            if i == 0:
                break
            i -= 1
            a = stack[i]
            continue
        b0 = b - b % 3
        al = a0 + (a + 1) % 3
        bl = b0 + (b + 2) % 3
        p0, pr, pl, p1 = tri[ar], tri[a], tri[al], tri[bl]
        if _in_circle(
            xy[p0, 0],
            xy[p0, 1],
            xy[pr, 0],
            xy[pr, 1],
            xy[pl, 0],
            xy[pl, 1],
            xy[p1, 0],
            xy[p1, 1],
        ):
            tri[a] = p1
            tri[b] = p0
            hbl = half[bl]
            if hbl == -1:  # the flipped edge was on the hull: its reference moves
                e = hull_start
                while True:
                    if hull_tri[e] == bl:
                        hull_tri[e] = a
                        break
                    e = hull_prev[e]
                    if e == hull_start:
                        break
            _link(half, a, hbl)
            _link(half, b, half[ar])
            _link(half, ar, bl)
            if i < stack.size:
                stack[i] = b0 + (b + 1) % 3
                i += 1
        else:
            if i == 0:
                break
            i -= 1
            a = stack[i]
    return ar


@numba.njit(cache=True)
def _seed(xy: np.ndarray) -> tuple[int, int, int]:  # pragma: no cover
    """delaunator's first triangle: the point nearest the bounding box's centre, its
    nearest point, and the point that makes the smallest circle with them (counter-clockwise);
    -1s when all points are collinear."""
    n = xy.shape[0]
    cx = (xy[:, 0].min() + xy[:, 0].max()) / 2
    cy = (xy[:, 1].min() + xy[:, 1].max()) / 2
    i0, i1, i2 = -1, -1, -1
    best = np.inf
    for i in range(n):
        d = (xy[i, 0] - cx) ** 2 + (xy[i, 1] - cy) ** 2
        if d < best:
            i0, best = i, d
    best = np.inf
    for i in range(n):
        d = (xy[i, 0] - xy[i0, 0]) ** 2 + (xy[i, 1] - xy[i0, 1]) ** 2
        if i != i0 and d < best:
            i1, best = i, d
    best = np.inf
    for i in range(n):
        if i in (i0, i1):
            continue
        ux, uy = _circumcentre(xy[i0, 0], xy[i0, 1], xy[i1, 0], xy[i1, 1], xy[i, 0], xy[i, 1])
        r = ux * ux + uy * uy
        if r < best:
            i2, best = i, r
    if i2 == -1:
        return -1, -1, -1
    if _cross(xy[i0, 0], xy[i0, 1], xy[i1, 0], xy[i1, 1], xy[i2, 0], xy[i2, 1]) < 0:
        i1, i2 = i2, i1
    return i0, i1, i2


@numba.njit(cache=True)
def delaunay(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The Delaunay triangles of distinct points ``xy`` (n x 2, n >= 3, not all collinear).

    Returns
    -------
    tuple
        ``triangles``: three point indices per triangle, flat, each triangle
        counter-clockwise; ``halfedges``: for each edge ``e`` of a triangle (from point
        ``triangles[e]`` to the next point of its triangle), the index of the same edge in
        the neighbouring triangle, -1 on the hull. Both empty when the points do not give a
        valid triangulation in floating point (duplicates, all collinear, a failed check).
    """
    failed = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    n = xy.shape[0]
    if n < 3:
        return failed
    i0, i1, i2 = _seed(xy)
    if i0 == -1:
        return failed
    ux, uy = _circumcentre(xy[i0, 0], xy[i0, 1], xy[i1, 0], xy[i1, 1], xy[i2, 0], xy[i2, 1])
    cx, cy = xy[i0, 0] + ux, xy[i0, 1] + uy
    dist = (xy[:, 0] - cx) ** 2 + (xy[:, 1] - cy) ** 2
    ids = np.argsort(dist)

    size = int(np.ceil(np.sqrt(n)))
    hull_prev = np.zeros(n, dtype=np.int64)
    hull_next = np.zeros(n, dtype=np.int64)
    hull_tri = np.zeros(n, dtype=np.int64)
    hull_hash = np.full(size, -1, dtype=np.int64)
    tri = np.full(3 * max(2 * n - 5, 1), -1, dtype=np.int64)
    half = np.full(tri.size, -1, dtype=np.int64)
    count = np.zeros(1, dtype=np.int64)
    stack = np.empty(_STACK, dtype=np.int64)

    # the hull, counter-clockwise: hull_next goes round it with the inside on the left
    hull_start = i0
    hull_next[i0], hull_next[i1], hull_next[i2] = i1, i2, i0
    hull_prev[i0], hull_prev[i1], hull_prev[i2] = i2, i0, i1
    hull_tri[i0], hull_tri[i1], hull_tri[i2] = 0, 1, 2
    for i in (i0, i1, i2):
        hull_hash[_hash_key(xy[i, 0], xy[i, 1], cx, cy, size)] = i
    _add(tri, half, count, i0, i1, i2, -1, -1, -1)

    for k in range(n):
        i = ids[k]
        px, py = xy[i, 0], xy[i, 1]
        if k > 0:
            j = ids[k - 1]
            if abs(px - xy[j, 0]) <= _SAME and abs(py - xy[j, 1]) <= _SAME:
                return failed
        if i in (i0, i1, i2):
            continue
        key = _hash_key(px, py, cx, cy, size)
        start = 0
        for j in range(size):
            start = hull_hash[(key + j) % size]
            if start != -1 and start != hull_next[start]:
                break
        start = hull_prev[start]
        # a hull edge that p sees: p on its right
        e = start
        while True:
            q = hull_next[e]
            if _cross(xy[e, 0], xy[e, 1], xy[q, 0], xy[q, 1], px, py) < 0:
                break
            e = q
            if e == start:
                return failed
        t = _add(tri, half, count, e, i, hull_next[e], -1, -1, hull_tri[e])
        hull_tri[i] = _legalize(t + 2, xy, tri, half, hull_tri, hull_prev, hull_start, stack)
        hull_tri[e] = t
        # the hull edges after it that p also sees
        nxt = hull_next[e]
        while True:
            q = hull_next[nxt]
            if not _cross(xy[nxt, 0], xy[nxt, 1], xy[q, 0], xy[q, 1], px, py) < 0:
                break
            t = _add(tri, half, count, nxt, i, q, hull_tri[i], -1, hull_tri[nxt])
            hull_tri[i] = _legalize(t + 2, xy, tri, half, hull_tri, hull_prev, hull_start, stack)
            hull_next[nxt] = nxt  # off the hull
            nxt = q
        # and those before it
        if e == start:
            while True:
                q = hull_prev[e]
                if not _cross(xy[q, 0], xy[q, 1], xy[e, 0], xy[e, 1], px, py) < 0:
                    break
                t = _add(tri, half, count, q, i, e, -1, hull_tri[e], hull_tri[q])
                _legalize(t + 2, xy, tri, half, hull_tri, hull_prev, hull_start, stack)
                hull_tri[q] = t
                hull_next[e] = e
                e = q
        hull_start = e
        hull_prev[i] = e
        hull_next[e] = i
        hull_prev[nxt] = i
        hull_next[i] = nxt
        hull_hash[_hash_key(px, py, cx, cy, size)] = i
        hull_hash[_hash_key(xy[e, 0], xy[e, 1], cx, cy, size)] = e

    tri, half = tri[: count[0]], half[: count[0]]
    if not _valid(xy, tri, half, hull_next, hull_start):
        return failed
    return tri, half


@numba.njit(cache=True)
def _valid(
    xy: np.ndarray, tri: np.ndarray, half: np.ndarray, hull_next: np.ndarray, hull_start: int
) -> bool:  # pragma: no cover
    """Every point in a triangle, every triangle counter-clockwise, each shared edge the same
    both ways, and the triangles' area the hull's: a triangulation of the points."""
    used = np.zeros(xy.shape[0], dtype=np.bool_)
    total = 0.0
    for t in range(0, tri.size, 3):
        a, b, c = tri[t], tri[t + 1], tri[t + 2]
        used[a] = used[b] = used[c] = True
        area = _cross(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1])
        if not area > 0:
            return False
        total += area
    for e in range(half.size):
        o = half[e]
        if o == -1:
            continue
        e_end = tri[e - e % 3 + (e + 1) % 3]
        o_end = tri[o - o % 3 + (o + 1) % 3]
        if half[o] != e or tri[o] != e_end or o_end != tri[e]:
            return False
    hull = 0.0
    e = hull_start
    while True:
        q = hull_next[e]
        hull += xy[e, 0] * xy[q, 1] - xy[q, 0] * xy[e, 1]
        e = q
        if e == hull_start:
            break
    return bool(used.all()) and abs(total - hull) <= 1e-9 * hull


@numba.njit(cache=True)
def voronoi_edges(
    tri: np.ndarray, half: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The Voronoi edges between points of different owners, as (start triangle, end
    triangle, owner): one per owner side, the owner's cells on its left (a Voronoi edge
    runs between the circumcentres of the two triangles on its Delaunay edge). Owners below
    0 get none."""
    n = 0
    for e in range(tri.size):
        p, q = tri[e], tri[e - e % 3 + (e + 1) % 3]
        if half[e] != -1 and owner[p] >= 0 and owner[p] != owner[q]:
            n += 1
    start = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    which = np.empty(n, dtype=np.int64)
    k = 0
    for e in range(tri.size):
        o = half[e]
        if o == -1:
            continue
        p, q = tri[e], tri[e - e % 3 + (e + 1) % 3]
        if owner[p] >= 0 and owner[p] != owner[q]:
            start[k], end[k], which[k] = o // 3, e // 3, owner[p]
            k += 1
    return start, end, which


@numba.njit(cache=True)
def circumcentres(xy: np.ndarray, tri: np.ndarray) -> np.ndarray:  # pragma: no cover
    """The circumcentre of each triangle (flat point indices, three a triangle)."""
    out = np.empty((tri.size // 3, 2))
    for t in range(tri.size // 3):
        a, b, c = tri[3 * t], tri[3 * t + 1], tri[3 * t + 2]
        ux, uy = _circumcentre(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1])
        out[t, 0] = xy[a, 0] + ux
        out[t, 1] = xy[a, 1] + uy
    return out
