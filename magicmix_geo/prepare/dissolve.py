"""Dissolve a coverage of simple polygons by owner: the union of each owner's cells.

A Voronoi diagram is a coverage: neighbouring cells share their edges vertex for vertex. The
union of one owner's cells is then its cells' edges less those it shares with itself, chained
into rings. :func:`dissolve_by_owner` does that for all owners at once with integer keys
(numpy) and one ring walk (numba), where GEOS' ``coverage_union_all`` is a call per owner
(0.56 of the 2.0 s the Delft sample's tessellation took). An owner whose edges do not make
one shell with holes (cells in two pieces, or two rings through one vertex) is left to
``coverage_union_all``, so the result is always the coverage union; only where a ring
starts may differ, and :func:`dissolve_by_owner` normalises every polygon so that it does
not depend on which way computed it.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import shapely


def dissolve_by_owner(cells: np.ndarray, owner: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """The union of the cells of each owner in ``owners`` (sorted, unique), normalised.

    ``cells`` are polygons without holes that form a coverage (edges shared vertex for
    vertex), ``owner`` the owner of each cell; every owner in ``owners`` has a cell.
    """
    local = np.searchsorted(owners, owner)
    coords, cell = shapely.get_coordinates(cells, return_index=True)
    holes = shapely.get_num_interior_rings(cells)
    vertices, start, end, edge_owner = _directed_edges(coords, cell, local, len(cells))
    start, end, edge_owner = _outline_edges(start, end, edge_owner)
    merged = np.empty(len(owners), dtype=object)
    fallback = np.zeros(len(owners), dtype=bool)
    fallback[np.unique(local[holes > 0])] = True
    shells = _shells_with_holes(vertices, start, end, edge_owner, len(owners), fallback)
    found = np.flatnonzero(~fallback)
    merged[found] = shells[found]
    for k in np.flatnonzero(fallback):
        merged[k] = _coverage_union(cells[local == k])
    return shapely.normalize(merged)


def _directed_edges(
    coords: np.ndarray, cell: np.ndarray, local: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct points (vertices) and each cell's edges as (start vertex, end vertex,
    owner), every cell counter-clockwise."""
    # one complex number per point, hashed: several times faster than a sorting unique
    points = np.ascontiguousarray(coords).view(np.complex128).ravel()
    vertex, distinct = pd.factorize(points)
    vertices = np.column_stack([distinct.real, distinct.imag])
    same = cell[:-1] == cell[1:]
    a, b = vertex[:-1][same], vertex[1:][same]
    edge_cell = cell[:-1][same]
    x0, y0, x1, y1 = vertices[a, 0], vertices[a, 1], vertices[b, 0], vertices[b, 1]
    twice_area = np.bincount(edge_cell, weights=x0 * y1 - x1 * y0, minlength=n_cells)
    clockwise = (twice_area < 0)[edge_cell]
    start = np.where(clockwise, b, a)
    end = np.where(clockwise, a, b)
    return vertices, start, end, local[edge_cell]


def _outline_edges(
    start: np.ndarray, end: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges that lie between two owners or on the coverage's edge: an edge two cells of
    one owner share (once each way) cancels out."""
    n = np.int64(max(int(start.max(initial=0)), int(end.max(initial=0))) + 1)
    low, high = np.minimum(start, end), np.maximum(start, end)
    key = (owner.astype(np.int64) * n + low) * n + high
    keep = ~pd.Series(key).duplicated(keep=False).to_numpy()
    return start[keep], end[keep], owner[keep]


def _shells_with_holes(
    vertices: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    owner: np.ndarray,
    n_owners: int,
    fallback: np.ndarray,
) -> np.ndarray:
    """Chain each owner's outline edges into rings and make its polygon (one shell, any
    holes). Owners whose rings cannot be chained or give other than one shell are marked in
    ``fallback`` (and get no polygon)."""
    result = np.empty(n_owners, dtype=object)
    if not len(start):
        fallback[:] = True
        return result
    order, ring = _walk_rings(_following(start, end, owner, len(vertices), fallback))
    first = np.r_[0, np.flatnonzero(np.diff(ring)) + 1]
    ring_owner = owner[order][first]
    # each ring closed: its first vertex again after its last
    ring_start = np.r_[first, len(order)]
    closed = np.insert(start[order], ring_start[1:], start[order][first])
    xy = vertices[closed]
    closed_start = ring_start + np.arange(len(ring_start))
    shell = _ring_areas(xy, closed_start) > 0  # counter-clockwise: a shell, else a hole
    fallback[np.bincount(ring_owner[shell], minlength=n_owners) != 1] = True
    built = np.flatnonzero(~fallback)
    result[built] = _polygons(xy, closed_start, ring_owner, shell, fallback)
    return result


def _following(
    start: np.ndarray, end: np.ndarray, owner: np.ndarray, n_vertices: int, fallback: np.ndarray
) -> np.ndarray:
    """For each edge, the edge of its owner that starts where it ends. An owner with two
    such edges at a vertex (rings touching there) or none is marked in ``fallback``; a
    broken edge is followed by itself, so no ring leaves its owner."""
    n = np.int64(n_vertices)
    start_key = owner.astype(np.int64) * n + start
    by_start = np.argsort(start_key, kind="stable")
    sorted_keys = start_key[by_start]
    fallback[owner[by_start][1:][sorted_keys[1:] == sorted_keys[:-1]]] = True
    wanted = owner.astype(np.int64) * n + end
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    broken = sorted_keys[at] != wanted
    fallback[owner[broken]] = True
    following = by_start[at]
    following[broken] = np.flatnonzero(broken)
    return following


def _ring_areas(xy: np.ndarray, closed_start: np.ndarray) -> np.ndarray:
    """Twice the signed area of each closed ring (``xy[closed_start[r]:closed_start[r+1]]``)."""
    x, y = xy[:, 0], xy[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    ring_of_pair = np.repeat(np.arange(len(closed_start) - 1), np.diff(closed_start))[:-1]
    within = np.ones(len(cross), dtype=bool)
    within[closed_start[1:-1] - 1] = False  # the pair from one ring's end to the next's start
    return np.bincount(ring_of_pair[within], weights=cross[within], minlength=len(closed_start) - 1)


def _polygons(
    xy: np.ndarray,
    closed_start: np.ndarray,
    ring_owner: np.ndarray,
    shell: np.ndarray,
    fallback: np.ndarray,
) -> np.ndarray:
    """One polygon per owner not in ``fallback``: its shell, then its holes."""
    ring_order = np.lexsort((~shell, ring_owner))  # by owner, its shell first
    ring_order = ring_order[~fallback[ring_owner[ring_order]]]
    sizes = np.diff(closed_start)[ring_order]
    offsets = np.r_[0, np.cumsum(sizes)]
    points = xy[
        np.repeat(closed_start[:-1][ring_order] - offsets[:-1], sizes) + np.arange(offsets[-1])
    ]
    rings = np.bincount(ring_owner[ring_order], minlength=len(fallback))[~fallback]
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, points, (offsets, np.r_[0, np.cumsum(rings)])
    )


@numba.njit(cache=True)
def _walk_rings(following: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Edges in ring order (each ring followed from its lowest edge) and each one's ring."""
    n = following.size
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    ring = np.empty(n, dtype=np.int64)
    out = 0
    rings = 0
    for first in range(n):
        if seen[first]:
            continue
        edge = first
        while not seen[edge]:
            seen[edge] = True
            order[out] = edge
            ring[out] = rings
            out += 1
            edge = following[edge]
        rings += 1
    return order[:out], ring[:out]


def _coverage_union(cells: np.ndarray) -> shapely.Geometry:
    try:
        return shapely.coverage_union_all(cells)
    except shapely.errors.GEOSException:
        return shapely.union_all(cells)
