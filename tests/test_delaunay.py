"""Delaunay triangulation (prepare/delaunay.py) against qhull's (scipy), and its checks."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.spatial import Delaunay

from magicmix_geo.prepare.delaunay import circumcentres, delaunay, voronoi_edges


def _triangle_set(flat: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(sorted(t)) for t in flat.reshape(-1, 3).tolist()}


def _assert_triangulation(xy: np.ndarray, tri: np.ndarray, half: np.ndarray) -> None:
    a, b, c = xy[tri[0::3]], xy[tri[1::3]], xy[tri[2::3]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert (cross > 0).all()  # counter-clockwise
    inner = np.flatnonzero(half >= 0)
    assert (half[half[inner]] == inner).all()
    # an edge and its twin join the same two points, the other way round
    nxt = inner - inner % 3 + (inner + 1) % 3
    twin = half[inner]
    assert (tri[twin] == tri[nxt]).all()
    assert (tri[twin - twin % 3 + (twin + 1) % 3] == tri[inner]).all()


@pytest.mark.parametrize("n", [3, 4, 50, 2000])
def test_random_points_give_qhulls_triangles(n: int) -> None:
    xy = np.random.default_rng(n).random((n, 2)) * 100
    tri, half = delaunay(xy)
    _assert_triangulation(xy, tri, half)
    assert _triangle_set(tri) == _triangle_set(Delaunay(xy).simplices.ravel())


def test_outline_points_jittered_off_their_grid_give_qhulls_triangles() -> None:
    # a densified outline is full of collinear and co-circular points: the tessellation
    # moves each by a fraction of a millimetre, as here
    grid = np.stack(np.meshgrid(np.arange(60.0), np.arange(40.0)), axis=-1).reshape(-1, 2)
    xy = grid + 1e-4 * np.random.default_rng(0).random(grid.shape)
    tri, half = delaunay(xy)
    _assert_triangulation(xy, tri, half)
    assert _triangle_set(tri) == _triangle_set(Delaunay(xy).simplices.ravel())
    # Euler: 2n - 2 - h triangles, h the hull's edges (those without a twin)
    assert len(tri) // 3 == 2 * len(xy) - 2 - (half == -1).sum()


def test_inputs_without_a_triangulation_give_empty_arrays() -> None:
    line = np.column_stack([np.arange(10.0), 2 * np.arange(10.0)])
    twice = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    for xy in (line, twice, line[:2]):
        tri, half = delaunay(xy)
        assert len(tri) == 0 and len(half) == 0


def test_voronoi_edges_outline_each_owners_cells_counter_clockwise() -> None:
    # a square of four points, the left two owned by 0, the right two by 1, in a frame
    xy = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    frame = 20 * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    allxy = np.vstack([xy, frame + 0.5])
    owner = np.array([0, 0, 1, 1, -1, -1, -1, -1])
    tri, half = delaunay(allxy)
    start, end, which = voronoi_edges(tri, half, owner)
    centres = circumcentres(allxy, tri)
    # owner 0's edges towards owner 1 lie on x = 0.5 and run upwards (0 on their left)
    towards_one = (
        (which == 0) & np.isclose(centres[start, 0], 0.5) & np.isclose(centres[end, 0], 0.5)
    )
    assert towards_one.any()
    # (the four points are co-circular: two circumcentres coincide, one edge has no length)
    assert (centres[end[towards_one], 1] >= centres[start[towards_one], 1]).all()
    assert (centres[end[towards_one], 1] - centres[start[towards_one], 1]).sum() > 0
    # each owner's edges close into one ring round its two points
    for k in (0, 1):
        mine = which == k
        ring = shapely.polygonize(
            shapely.linestrings(np.stack([centres[start[mine]], centres[end[mine]]], axis=1))
        )
        cell = shapely.get_geometry(ring, 0)
        assert shapely.contains_xy(cell, xy[owner[:4] == k][:, 0], xy[owner[:4] == k][:, 1]).all()
        assert not shapely.contains_xy(
            cell, xy[owner[:4] != k][:, 0], xy[owner[:4] != k][:, 1]
        ).any()


def test_nearly_collinear_points_give_a_valid_triangulation_or_none() -> None:
    # a row of points off a line by a nanometre, at RD New's coordinates: floating point
    # cannot tell their sides, and what comes out must still be a triangulation
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = np.arange(200.0) + 84000
        xy = np.column_stack([x, 445000 + 1e-9 * rng.standard_normal(200)])
        tri, half = delaunay(xy)
        if len(tri):
            _assert_triangulation(xy, tri, half)
            a, b, c = xy[tri[0::3]], xy[tri[1::3]], xy[tri[2::3]]
            d, e = b - a, c - a
            area = np.abs(d[:, 0] * e[:, 1] - d[:, 1] * e[:, 0]).sum() / 2
            hull = shapely.convex_hull(shapely.multipoints(xy)).area
            assert area == pytest.approx(hull, rel=1e-6)
