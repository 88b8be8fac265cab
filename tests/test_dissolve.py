"""Dissolving a coverage by owner (prepare/dissolve.py) gives GEOS' coverage union, exactly."""

from __future__ import annotations

import numpy as np
import shapely

from magicmix_geo.prepare.dissolve import dissolve_by_owner, dissolve_rings
from tests.test_tessellation import sample_blocks


def _grid(owners: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Unit squares in rows (the first row at the top), each with its owner."""
    cells, owner = [], []
    for row, line in enumerate(owners):
        for col, who in enumerate(line):
            cells.append(shapely.box(col, -row, col + 1, -row + 1))
            owner.append(who)
    return np.array(cells, dtype=object), np.array(owner)


def _reference(cells: np.ndarray, owner: np.ndarray) -> np.ndarray:
    owners = np.unique(owner)
    return shapely.normalize(
        np.array([shapely.coverage_union_all(cells[owner == k]) for k in owners], dtype=object)
    )


def _dissolved(cells: np.ndarray, owner: np.ndarray) -> np.ndarray:
    return dissolve_by_owner(cells, owner, np.unique(owner))


def test_a_ring_of_cells_around_another_owner_keeps_its_hole() -> None:
    cells, owner = _grid([[1, 1, 1], [1, 2, 1], [1, 1, 1]])
    result = _dissolved(cells, owner)
    assert shapely.get_num_interior_rings(result[0]) == 1
    assert shapely.area(result[0]) == 8
    assert shapely.equals_exact(result, _reference(cells, owner), tolerance=0).all()


def test_owners_in_two_pieces_or_touching_at_a_corner_get_the_coverage_union() -> None:
    apart, apart_owner = _grid([[1, 2, 1]])
    corner, corner_owner = _grid([[1, 2], [2, 1]])
    for cells, owner in ((apart, apart_owner), (corner, corner_owner)):
        result = _dissolved(cells, owner)
        assert shapely.get_type_id(result[0]) == shapely.GeometryType.MULTIPOLYGON
        assert shapely.equals_exact(result, _reference(cells, owner), tolerance=0).all()


def test_cells_with_holes_are_dissolved_by_geos() -> None:
    ring = shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2))
    cells = np.array([ring, shapely.box(1, 1, 2, 2), shapely.box(3, 0, 4, 3)], dtype=object)
    owner = np.array([1, 2, 1])
    result = _dissolved(cells, owner)
    assert shapely.area(result[0]) == 11
    assert shapely.equals_exact(result, _reference(cells, owner), tolerance=0).all()


def test_voronoi_cells_of_real_outlines_dissolve_as_geos_does() -> None:
    # the Delft sample's largest block: the outline points of its OSM buildings, as the
    # tessellation shares it out
    blocks, pieces, piece_block = sample_blocks()
    busiest = np.bincount(piece_block).argmax()
    outlines = shapely.segmentize(shapely.boundary(pieces[piece_block == busiest]), 1.0)
    points, owner = shapely.get_coordinates(outlines, return_index=True)
    points, first = np.unique(np.round(points, 3), axis=0, return_index=True)
    owner = owner[first]
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(points), extend_to=blocks[busiest], ordered=True
    )
    cells = shapely.get_parts(diagram)
    assert len(cells) == len(points) and len(np.unique(owner)) > 20
    result = _dissolved(cells, owner)
    assert shapely.equals_exact(result, _reference(cells, owner), tolerance=0).all()


def test_cells_given_as_rings_dissolve_as_the_geometries_do() -> None:
    # a hole, an owner in two pieces (left to GEOS, its cells made from the rings)
    cells, owner = _grid([[1, 1, 1, 3], [1, 2, 1, 4], [1, 1, 1, 3]])
    coords, cell = shapely.get_coordinates(cells, return_index=True)
    owners = np.unique(owner)
    result = dissolve_rings(coords, cell, owner, owners)
    assert shapely.get_type_id(result[2]) == shapely.GeometryType.MULTIPOLYGON
    assert shapely.equals_exact(result, _reference(cells, owner), tolerance=0).all()
