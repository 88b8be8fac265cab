"""Enclosed tessellation: a street block shared out to the buildings in it.

The method is momepy's ``enclosed_tessellation`` (Fleischmann et al. 2020, morphological
tessellation within enclosures): each building outline is shrunk a little, densified, and
every point of the block goes to the building whose outline point is nearest (a Voronoi
diagram of the outline points, dissolved per building and clipped to the block). momepy's
own version spends most of its time building a GeoDataFrame per block and per dissolve (8.0
of 8.9 s on the sample), and a national run does this for every municipality
(``bench/tessellation.py`` compares the two, cell by cell).

Here each block's buildings get their regions straight from a Delaunay triangulation of the
outline points (:mod:`magicmix_geo.prepare.delaunay`, compiled): a building's region is
bounded by the Voronoi edges between its points and other buildings' points, chained into
rings by :func:`~magicmix_geo.prepare.dissolve.outline_polygons`. That is the union of its
Voronoi cells without making a cell (GEOS' ``voronoi_polygons`` and the dissolve of its
cells were 1.3 of the 2.0 s the sample took). Where the triangulation fails in floating
point, GEOS' diagram is dissolved instead (:func:`~magicmix_geo.prepare.dissolve.dissolve_rings`);
the two agree to rounding. The regions are then clipped to the block and simplified as one
coverage.
"""

from __future__ import annotations

import numba
import numpy as np
import shapely

from magicmix_geo.prepare.delaunay import circumcentres, delaunay, voronoi_edges
from magicmix_geo.prepare.dissolve import dissolve_rings, outline_polygons

# outlines are shrunk by this much before sharing out space, so that buildings that touch
# (terraced houses) still have points of their own
SHRINK_M = 0.4
# outlines are densified every SEGMENT_M for the Voronoi points. 2 m is 3.5 times faster but
# lets a cell cut through a building's corner (tests/test_candidates.py): correctness first
SEGMENT_M = 1.0
# a block's cells are simplified (as one coverage, the block's outline kept) to this tolerance:
# half a segment removes the Voronoi staircase without moving a cell edge by more than that
SIMPLIFY_M = SEGMENT_M / 2
# GEOS returns broken cells for co-circular points (a regular outline densified evenly is full
# of them; libgeos/geos#1062): every point is moved by less than this, by a hash of its own
# coordinates, so the result does not depend on the order of the input
JITTER_M = (1e-4, 1e-3)
# points are rounded to this before duplicates are dropped (segmentize may put a point a
# nanometre from a vertex)
GRID_M = 1e-3
# the frame around a block's points for the Delaunay triangulation, in block diagonals from
# the block's centre (more than 1.5 keeps the frame's cells out of the block)
FRAME = 4.0


def block_cells(
    blocks: np.ndarray, pieces: np.ndarray, piece_block: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of the buildings in the blocks: one per building that keeps an outline.

    Parameters
    ----------
    blocks
        Block polygons (shapely, metres).
    pieces
        Building footprints, each inside one block; a block should hold two or more (a lone
        building's cell is its whole block, which the caller knows without this).
    piece_block
        For each piece, the position of its block in ``blocks``.

    Returns
    -------
    tuple
        ``cells`` (polygons, block by block), ``block`` (the position in ``blocks`` of each
        cell's block) and ``owner`` (the position in ``pieces`` of each cell's building). A
        piece that vanishes when shrunk (thinner than twice :data:`SHRINK_M`) has no cell:
        its block is shared out to the others. In a block where no piece keeps an outline,
        the block is one cell with owner -1.
    """
    shrunk = shapely.buffer(pieces, -SHRINK_M, cap_style="flat", join_style="mitre")
    dense = shapely.segmentize(shrunk, SEGMENT_M)
    points, owner = _block_points(dense, piece_block)
    home = piece_block[owner]
    starts = np.searchsorted(home, np.arange(len(blocks) + 1))
    cells: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    homes: list[np.ndarray] = []
    for b in np.unique(piece_block):
        lo, hi = starts[b], starts[b + 1]
        block_cells_, block_owner = _share_out(blocks[b], points[lo:hi], owner[lo:hi])
        cells.append(block_cells_)
        owners.append(block_owner)
        homes.append(np.full(len(block_owner), b))
    if not cells:
        return np.empty(0, dtype=object), np.empty(0, dtype=int), np.empty(0, dtype=int)
    return np.concatenate(cells), np.concatenate(homes), np.concatenate(owners)


def _block_points(dense: np.ndarray, piece_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The outline points on :data:`GRID_M`, each once per block, and their piece: by block,
    then x, then y; a point on two outlines goes to the first piece."""
    points, owner = shapely.get_coordinates(dense, return_index=True)
    points = np.round(points / GRID_M) * GRID_M
    home = piece_block[owner]
    order = np.lexsort((points[:, 1], points[:, 0], home))  # stable: the first piece first
    points, owner, home = points[order], owner[order], home[order]
    again = np.r_[False, (home[1:] == home[:-1]) & (points[1:] == points[:-1]).all(axis=1)]
    return points[~again], owner[~again]


def _share_out(
    block: shapely.Geometry, points: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One block's cells: the Voronoi cells of its outline points, dissolved per owner."""
    pieces = np.unique(owner)
    if len(pieces) < 2:
        whole_owner = int(pieces[0]) if len(pieces) else -1
        return np.array([block], dtype=object), np.array([whole_owner])
    merged = _owner_regions(block, points, np.searchsorted(pieces, owner), len(pieces))
    if merged is None:  # GEOS' diagram instead (none of the Delft sample's 69 blocks)
        coords, cell = _voronoi_cells(block, points)
        merged = dissolve_rings(coords, cell, owner, pieces)
    # only the regions on the block's edge reach beyond it: clip those
    simplified = shapely.coverage_simplify(
        clipped(merged, block), SIMPLIFY_M, simplify_boundary=False
    )
    return simplified, pieces


def clipped(geoms: np.ndarray, to: np.ndarray | shapely.Geometry) -> np.ndarray:
    """``shapely.intersection(geoms, to)``, computed only where a geometry is not wholly inside
    ``to`` (prepared here); the others are returned as they are."""
    shapely.prepare(to)
    out = np.asarray(geoms, dtype=object).copy()
    crossing = ~shapely.contains_properly(to, out)
    other = to[crossing] if isinstance(to, np.ndarray) else to
    out[crossing] = shapely.intersection(out[crossing], other)
    return out


def _owner_regions(
    block: shapely.Geometry, points: np.ndarray, owner: np.ndarray, n_owners: int
) -> np.ndarray | None:
    """The union of each owner's Voronoi cells (owners numbered from 0), normalised, from a
    Delaunay triangulation of the points (jittered as for GEOS) and a frame of points far
    enough away that no cell is cut inside the block; None when the triangulation or the
    rings fail in floating point."""
    xmin, ymin, xmax, ymax = block.bounds
    origin = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
    # every point of the block is nearer to every outline point (at most a diagonal away)
    # than to the frame (at least FRAME - half a diagonal from any of it)
    far = FRAME * max(np.hypot(xmax - xmin, ymax - ymin), 1.0)
    frame = far * np.array([[-1, -1], [0, -1], [1, -1], [1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0]])
    moved = points + JITTER_M[0] * _hash_offsets(points) - origin
    xy = np.vstack([moved, frame])
    triangles, halfedges = delaunay(xy)
    if not len(triangles):
        return None
    start, end, edge_owner = voronoi_edges(
        triangles, halfedges, np.r_[owner, np.full(len(frame), -1)]
    )
    return outline_polygons(circumcentres(xy, triangles) + origin, start, end, edge_owner, n_owners)


def _voronoi_cells(block: shapely.Geometry, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Voronoi cell of each point (in the order of the points), covering the block: the
    cells' rings as coordinates and, for each coordinate, its cell."""
    for jitter in JITTER_M:
        moved = points + jitter * _hash_offsets(points)
        diagram = shapely.voronoi_polygons(
            shapely.multipoints(moved), extend_to=block, ordered=True
        )
        coords = shapely.get_coordinates(diagram)
        ring_start = cell_rings(coords, moved)
        if len(ring_start):
            return coords, np.repeat(np.arange(len(points)), np.diff(ring_start))
    raise RuntimeError(
        f"Voronoi diagram of {len(points)} points near {block.representative_point().wkt}: "
        "cells do not hold their points"
    )


def _hash_offsets(points: np.ndarray) -> np.ndarray:
    """Offsets in [0, 1) x [0, 1), a fixed function of each point's own coordinates."""
    x, y = points[:, 0], points[:, 1]
    dx = np.modf(np.abs(np.sin(x * 12.9898 + y * 78.233)) * 43758.5453)[0]
    dy = np.modf(np.abs(np.sin(x * 39.3468 + y * 11.135)) * 24634.6345)[0]
    return np.column_stack([dx, dy])


@numba.njit(cache=True)
def cell_rings(coords: np.ndarray, points: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Where each cell's ring starts in ``coords`` (a Voronoi diagram's coordinates, one
    closed ring per cell), and where the last ends; empty unless the diagram has one
    simple ring per point, each around its point (GEOS' cells for co-circular points may
    not be: libgeos/geos#1062)."""
    n_coords = coords.shape[0]
    n = points.shape[0]
    starts = np.empty(n + 1, dtype=np.int64)
    broken = np.empty(0, dtype=np.int64)
    first = 0
    for r in range(n):
        if first >= n_coords:
            return broken
        x0, y0 = coords[first, 0], coords[first, 1]
        last = first + 1  # the ring closes where its first point comes again
        while last < n_coords and (coords[last, 0] != x0 or coords[last, 1] != y0):
            last += 1
        if last == n_coords or last - first < 3:
            return broken
        px, py = points[r, 0], points[r, 1]
        inside = False  # even-odd rule
        for k in range(first, last):
            xa, ya, xb, yb = coords[k, 0], coords[k, 1], coords[k + 1, 0], coords[k + 1, 1]
            if (ya > py) != (yb > py) and px < (xb - xa) * (py - ya) / (yb - ya) + xa:
                inside = not inside
        if not inside:
            return broken
        starts[r] = first
        first = last + 1
    if first != n_coords:
        return broken
    starts[n] = n_coords
    return starts
