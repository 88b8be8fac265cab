"""Dissolve a coverage of simple polygons by owner: the union of each owner's cells.

A Voronoi diagram is a coverage: neighbouring cells share their edges vertex for vertex. The
union of one owner's cells is then its cells' edges less those it shares with itself, chained
into rings. :func:`dissolve_by_owner` does that for all owners at once with integer keys
(numpy) and one ring walk (numba), where GEOS' ``coverage_union_all`` is a call per owner
(0.56 of the 2.0 s the Delft sample's tessellation took). An owner whose edges do not make
one shell with holes (cells in two pieces, or two rings through one vertex) is left to
``coverage_union_all``, so the result is always the coverage union; only where a ring
starts may differ, and :func:`dissolve_by_owner` normalises every polygon so that it does
not depend on which way computed it (as ``shapely.normalize`` writes it, without calling it
for a polygon without holes). :func:`dissolve_rings` takes the cells as coordinates (a
diagram's, without a geometry per cell); :func:`outline_polygons` chains outline edges given
directly (a Delaunay triangulation's Voronoi edges between owners) the same way.
"""

from __future__ import annotations

from collections.abc import Callable

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
    fallback = np.zeros(len(owners), dtype=bool)
    fallback[np.unique(local[holes > 0])] = True
    return _dissolve(coords, cell, local, len(cells), fallback, lambda k: cells[local == k])


def dissolve_rings(
    coords: np.ndarray, cell: np.ndarray, owner: np.ndarray, owners: np.ndarray
) -> np.ndarray:
    """:func:`dissolve_by_owner` for cells given as coordinates: one closed ring per cell
    (``coords[cell == i]``, cells numbered from 0 without gaps), as a Voronoi diagram's
    ``shapely.get_coordinates`` gives them. Saves making a geometry per cell; the cells'
    polygons are made only for an owner left to GEOS."""
    local = np.searchsorted(owners, owner)
    n_cells = int(cell[-1]) + 1 if len(cell) else 0
    ring_start = np.searchsorted(cell, np.arange(n_cells + 1))

    def cells_of(k: int) -> np.ndarray:
        mine = np.flatnonzero(local == k)
        sizes = ring_start[mine + 1] - ring_start[mine]
        offsets = np.r_[0, np.cumsum(sizes)]
        rows = np.repeat(ring_start[mine] - offsets[:-1], sizes) + np.arange(offsets[-1])
        return shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, coords[rows], (offsets, np.arange(len(mine) + 1))
        )

    fallback = np.zeros(len(owners), dtype=bool)
    return _dissolve(coords, cell, local, n_cells, fallback, cells_of)


def _dissolve(
    coords: np.ndarray,
    cell: np.ndarray,
    local: np.ndarray,
    n_cells: int,
    fallback: np.ndarray,
    cells_of: Callable[[int], np.ndarray],
) -> np.ndarray:
    """Each owner's polygon (owners numbered ``0..len(fallback)-1``, ``local`` for each
    cell), normalised; the owners marked in ``fallback`` (and those whose rings do not
    chain) from GEOS' coverage union of ``cells_of(owner)``."""
    vertices, start, end, edge_owner = _directed_edges(coords, cell, local, n_cells)
    start, end, edge_owner = _outline_edges(start, end, edge_owner)
    merged = np.empty(len(fallback), dtype=object)
    shells = _shells_with_holes(vertices, start, end, edge_owner, len(fallback), fallback)
    found = np.flatnonzero(~fallback)
    merged[found] = shells[found]
    for k in np.flatnonzero(fallback):
        merged[k] = shapely.normalize(_coverage_union(cells_of(int(k))))
    return merged


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


def outline_polygons(
    vertices: np.ndarray, start: np.ndarray, end: np.ndarray, owner: np.ndarray, n_owners: int
) -> np.ndarray | None:
    """Each owner's polygon from its outline edges, normalised.

    The edges (``vertices[start] -> vertices[end]``) run with their owner on the left, and
    no owner passes a vertex twice (vertices as numbers: two may share coordinates), as
    the Voronoi edges of a Delaunay triangulation between owners are
    (:func:`magicmix_geo.prepare.delaunay.voronoi_edges`). An owner in several pieces
    gets a MultiPolygon. None when an owner's edges do not chain into rings or an owner
    has no shell.
    """
    fallback = np.zeros(n_owners, dtype=bool)
    if not len(start):
        return None
    xy, closed_start, ring_owner, shell = _rings(vertices, start, end, owner, fallback)
    n_shells = np.bincount(ring_owner[shell], minlength=n_owners)
    if fallback.any() or (n_shells == 0).any():
        return None
    several = n_shells > 1
    result = np.empty(n_owners, dtype=object)
    result[~several] = _polygons(xy, closed_start, ring_owner, shell, several)
    for k in np.flatnonzero(several):
        result[k] = _pieces(xy, closed_start, np.flatnonzero(ring_owner == k), shell)
    return result


def _pieces(
    xy: np.ndarray, closed_start: np.ndarray, rings: np.ndarray, shell: np.ndarray
) -> shapely.Geometry:
    """An owner in several pieces: its shells less its holes, normalised."""
    polygons = np.array(
        [shapely.Polygon(xy[closed_start[r] : closed_start[r + 1]]) for r in rings],
        dtype=object,
    )
    whole = shapely.union_all(polygons[shell[rings]])
    if (~shell[rings]).any():
        whole = shapely.difference(whole, shapely.union_all(polygons[~shell[rings]]))
    return shapely.normalize(whole)


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
    xy, closed_start, ring_owner, shell = _rings(vertices, start, end, owner, fallback)
    fallback[np.bincount(ring_owner[shell], minlength=n_owners) != 1] = True
    built = np.flatnonzero(~fallback)
    result[built] = _polygons(xy, closed_start, ring_owner, shell, fallback)
    return result


def _rings(
    vertices: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    owner: np.ndarray,
    fallback: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The edges chained into closed rings: their points, where each ring starts (and the
    last ends), each ring's owner and whether it is a shell (counter-clockwise). Owners
    whose edges do not chain are marked in ``fallback``."""
    order, ring = _walk_rings(_following(start, end, owner, len(vertices), fallback))
    first = np.r_[0, np.flatnonzero(np.diff(ring)) + 1]
    ring_owner = owner[order][first]
    # each ring closed: its first vertex again after its last
    ring_start = np.r_[first, len(order)]
    closed = np.insert(start[order], ring_start[1:], start[order][first])
    xy = vertices[closed]
    closed_start = ring_start + np.arange(len(ring_start))
    shell = _ring_areas(xy, closed_start) > 0  # counter-clockwise: a shell, else a hole
    return xy, closed_start, ring_owner, shell


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
    """One normalised polygon per owner not in ``fallback``: its shell, then its holes."""
    n_rings = np.bincount(ring_owner, minlength=len(fallback))
    result = np.empty(len(fallback), dtype=object)
    alone = ~fallback & (n_rings == 1)
    rings = np.flatnonzero(alone[ring_owner])
    rings = rings[np.argsort(ring_owner[rings], kind="stable")]  # one each: by owner
    result[alone] = _normalised_shells(xy, closed_start, rings)
    holed = ~fallback & (n_rings > 1)
    ring_order = np.lexsort((~shell, ring_owner))  # by owner, its shell first
    ring_order = ring_order[holed[ring_owner[ring_order]]]
    sizes = np.diff(closed_start)[ring_order]
    offsets = np.r_[0, np.cumsum(sizes)]
    points = xy[
        np.repeat(closed_start[:-1][ring_order] - offsets[:-1], sizes) + np.arange(offsets[-1])
    ]
    result[holed] = shapely.normalize(
        shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, points, (offsets, np.r_[0, np.cumsum(n_rings[holed])])
        )
    )
    return result[~fallback]


def _normalised_shells(xy: np.ndarray, closed_start: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Polygons of the counter-clockwise closed ``rings`` as ``shapely.normalize`` writes
    them: clockwise, from the ring's lowest vertex (by x, then y). The rings' vertices are
    distinct, so that vertex is one."""
    first = closed_start[:-1][rings]
    n = closed_start[1:][rings] - first - 1  # vertices, without the closing one
    ring_of = np.repeat(np.arange(len(rings)), n)
    rows = np.repeat(first, n) + _ranks(n)
    by = np.lexsort((xy[rows, 1], xy[rows, 0], ring_of))
    ring_first = np.cumsum(n) - n
    lowest = by[ring_first] - ring_first
    # from the lowest vertex backwards, round to it again
    step = np.repeat(lowest, n + 1) - _ranks(n + 1)
    points = xy[np.repeat(first, n + 1) + step % np.repeat(n, n + 1)]
    offsets = np.r_[0, np.cumsum(n + 1)]
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, points, (offsets, np.arange(len(rings) + 1))
    )


def _ranks(sizes: np.ndarray) -> np.ndarray:
    """0, 1, ... size - 1 for each size, concatenated."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - sizes, sizes)


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
