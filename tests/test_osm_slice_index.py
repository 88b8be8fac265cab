"""The OSM store's lookups that make slicing a region cost what a member holds, not what the
region holds (prepare/osm_slice.py): the grid point index and the key join."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from magicmix_geo.prepare.osm_slice import PointIndex, matches


def test_the_index_finds_what_a_full_test_finds() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(4.0, 5.0, 20_000)
    y = rng.uniform(52.0, 53.0, 20_000)
    x[::97] = np.nan  # nodes missing from a clipped file
    y[::89] = np.nan
    x[:50] = 4.5  # a column of equal x, part of it on the polygon's edge
    polygons = [
        box(4.2, 52.2, 4.5, 52.6),
        Polygon([(4.1, 52.1), (4.9, 52.3), (4.3, 52.9)]),
        box(4.6, 52.6, 4.7, 52.7).difference(box(4.62, 52.62, 4.68, 52.68)),  # a hole
        box(6.0, 52.0, 6.1, 52.1),  # nothing inside
    ]
    index = PointIndex.of(x, y)
    for polygon in polygons:
        with np.errstate(invalid="ignore"):
            expected = np.flatnonzero(shapely.contains_xy(polygon, x, y))
        assert np.array_equal(np.sort(index.inside(polygon)), expected)


def test_the_grid_index_is_exact_on_cell_and_polygon_edges() -> None:
    # a lattice of 1e-7 degree steps (libosmium's) over a small square: points fall on the
    # grid's cell edges and on polygons' edges, where only GEOS may decide
    steps = np.arange(0, 200) * 1e-7
    x, y = (a.ravel() for a in np.meshgrid(4.0 + steps, 52.0 + steps))
    polygons = [
        box(4.0, 52.0, 4.00001, 52.00001),  # edges on the lattice
        box(4.0000050, 52.0000050, 4.0000150, 52.0000150),
        Polygon([(4.0, 52.0), (4.00002, 52.0), (4.0, 52.00002)]),  # a diagonal edge
        box(3.0, 51.0, 5.0, 53.0),  # the whole grid, and more
    ]
    index = PointIndex.of(x, y)
    assert index.columns > 10  # the points are spread over many cells
    for polygon in polygons:
        expected = np.flatnonzero(shapely.contains_xy(polygon, x, y))
        assert np.array_equal(np.sort(index.inside(polygon)), expected)


def test_the_grid_index_of_one_location_or_none() -> None:
    same = PointIndex.of(np.full(5, 4.5), np.full(5, 52.5))
    assert np.array_equal(np.sort(same.inside(box(4.4, 52.4, 4.6, 52.6))), np.arange(5))
    assert same.inside(box(4.5, 52.5, 4.6, 52.6)).size == 0  # on the edge: outside
    nothing = PointIndex.of(np.array([np.nan]), np.array([np.nan]))
    assert nothing.inside(box(0.0, 0.0, 90.0, 90.0)).size == 0
    assert PointIndex.of(np.zeros(0), np.zeros(0)).inside(box(0, 0, 1, 1)).size == 0


def test_matches_gives_every_pair_of_equal_keys() -> None:
    keys = np.array([5, 3, 5, 9, 1, 5], dtype=np.int64)  # 5 three times: duplicate nodes
    other = np.array([5, 7, 1, 3, 3, 5], dtype=np.int64)  # 7 matches nothing
    i, j = matches(keys, other)
    found = sorted(zip(i.tolist(), j.tolist(), strict=True))
    expected = sorted(
        (a, b) for a in range(len(keys)) for b in range(len(other)) if keys[a] == other[b]
    )
    assert found == expected
    assert np.all(np.diff(j) >= 0)  # ordered by the other side's position


def test_matches_of_nothing_is_empty() -> None:
    empty = np.zeros(0, dtype=np.int64)
    for keys, other in ((empty, np.array([1, 2])), (np.array([1, 2]), empty), (empty, empty)):
        i, j = matches(keys, other)
        assert i.size == 0 and j.size == 0
