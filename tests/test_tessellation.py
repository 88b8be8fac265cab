"""Enclosed tessellation (prepare/tessellation.py): small layouts, and momepy's as a reference."""

from __future__ import annotations

import geopandas as gpd
import momepy
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from magicmix_geo.prepare import tessellation
from tests.test_candidates import OSM_PBF, _load_osm

# momepy.enclosed_tessellation's default densification, the reference's setting
MOMEPY_SEGMENT_M = 0.5


def sample_blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks with two or more buildings, the buildings in them (one block each), their block."""
    streets, buildings, core = _load_osm(OSM_PBF)
    enclosures = momepy.enclosures(
        streets.clip(core.buffer(1.0)), limit=gpd.GeoSeries([core], crs=28992), clip=False
    )
    blocks = np.asarray(enclosures.geometry.array, dtype=object)
    footprints = np.asarray(buildings.geometry.array, dtype=object)
    footprints = shapely.make_valid(footprints)
    footprints = footprints[np.isin(shapely.get_type_id(footprints), (3, 6))]
    block_i, building_i = shapely.STRtree(footprints).query(blocks, predicate="contains")
    # a building in one block only, overlapping no other (momepy's documented input)
    once = np.bincount(building_i, minlength=len(footprints)) == 1
    keep = once[building_i]
    block_i, building_i = block_i[keep], building_i[keep]
    pieces = footprints[building_i]
    a, b = shapely.STRtree(pieces).query(pieces, predicate="overlaps")
    clean = np.ones(len(pieces), dtype=bool)
    clean[a[a != b]] = False
    pieces, block_i = pieces[clean], block_i[clean]
    many = np.bincount(block_i, minlength=len(blocks)) >= 2
    keep = many[block_i]
    return blocks, pieces[keep], block_i[keep]


def test_two_houses_share_their_block_along_the_bisector() -> None:
    block = box(0, 0, 40, 20)
    houses = np.array([box(2, 5, 12, 15), box(26, 5, 36, 15)], dtype=object)
    cells, home, owner = tessellation.block_cells(np.array([block]), houses, np.array([0, 0]))
    assert owner.tolist() == [0, 1]
    assert home.tolist() == [0, 0]
    # the gap between x=12 and x=26 is shared out at its middle
    assert shapely.area(cells).sum() == pytest.approx(block.area, rel=1e-9)
    assert cells[0].bounds[2] == pytest.approx(19.0, abs=0.01)
    assert cells[1].bounds[0] == pytest.approx(19.0, abs=0.01)
    assert all(cell.covers(house.buffer(-0.01)) for cell, house in zip(cells, houses, strict=True))


def test_a_sliver_building_has_no_cell_and_an_empty_block_stays_whole() -> None:
    blocks = np.array([box(0, 0, 40, 20), box(100, 0, 140, 20)], dtype=object)
    pieces = np.array(
        [
            box(2, 5, 12, 15),
            box(20, 5, 20.5, 15),  # 0.5 m wide: gone when shrunk by 0.4 m on each side
            box(101, 1, 101.6, 5),  # both slivers: the block has no building left
            box(130, 1, 130.6, 5),
        ],
        dtype=object,
    )
    cells, home, owner = tessellation.block_cells(blocks, pieces, np.array([0, 0, 1, 1]))
    assert owner.tolist() == [0, -1]
    assert home.tolist() == [0, 1]
    assert cells[0].equals(blocks[0])
    assert cells[1].equals(blocks[1])


def test_cells_match_momepy_on_the_real_sample() -> None:
    blocks, pieces, piece_block = sample_blocks()
    assert len(pieces) > 3000
    cells, home, owner = tessellation.block_cells(blocks, pieces, piece_block)
    reference = momepy.enclosed_tessellation(
        gpd.GeoSeries(pieces, crs=28992),
        gpd.GeoSeries(blocks, crs=28992),
        shrink=tessellation.SHRINK_M,
        segment=MOMEPY_SEGMENT_M,
        threshold=0.05,
        n_jobs=1,
    )
    reference = reference[reference.index >= 0]
    # the same buildings get a cell, in the same block
    assert sorted(owner.tolist()) == sorted(reference.index.tolist())
    assert (home == piece_block[owner]).all()
    theirs = np.asarray(reference.loc[owner].geometry.array, dtype=object)
    differ = shapely.area(shapely.symmetric_difference(cells, theirs))
    # cell by cell, the area in one but not the other (bench/tessellation.py prints these)
    share = differ / shapely.area(theirs)
    assert np.median(share) < 0.01
    assert np.percentile(share, 99) < 0.05
    assert differ.sum() / shapely.area(theirs).sum() < 0.005
    assert shapely.is_valid(cells).all()


def _reference_cells(block: shapely.Geometry, pieces: np.ndarray) -> np.ndarray:
    """One block shared out plainly: a Voronoi cell per outline point (as block_cells
    places, dedupes and jitters them), GEOS' coverage union per building, clipped to the
    block and simplified as one coverage. Every building keeps an outline when shrunk."""
    shrunk = shapely.buffer(pieces, -tessellation.SHRINK_M, cap_style="flat", join_style="mitre")
    dense = shapely.segmentize(shrunk, tessellation.SEGMENT_M)
    points, owner = shapely.get_coordinates(dense, return_index=True)
    grid = tessellation.GRID_M
    points, first = np.unique(np.round(points / grid) * grid, axis=0, return_index=True)
    owner = owner[first]
    x, y = points[:, 0], points[:, 1]
    dx = np.modf(np.abs(np.sin(x * 12.9898 + y * 78.233)) * 43758.5453)[0]
    dy = np.modf(np.abs(np.sin(x * 39.3468 + y * 11.135)) * 24634.6345)[0]
    moved = points + tessellation.JITTER_M[0] * np.column_stack([dx, dy])
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(moved), extend_to=block, ordered=True)
    )
    assert shapely.contains_xy(cells, moved[:, 0], moved[:, 1]).all()
    merged = shapely.normalize(
        np.array(
            [shapely.coverage_union_all(cells[owner == k]) for k in range(len(pieces))],
            dtype=object,
        )
    )
    return shapely.coverage_simplify(
        tessellation.clipped(merged, block), tessellation.SIMPLIFY_M, simplify_boundary=False
    )


def _assert_same_cells(got: np.ndarray, expected: np.ndarray) -> None:
    """Cell by cell the same, to rounding: the Voronoi vertices are circumcentres that the
    Delaunay path computes in its own floating point."""
    assert shapely.is_valid(got).all()
    differ = shapely.area(shapely.symmetric_difference(got, expected))
    assert (differ <= 1e-9 * shapely.area(expected)).all()
    # most cells come out vertex for vertex the same
    assert shapely.equals_exact(got, expected, tolerance=0).mean() > 0.8


def _busiest_blocks(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    blocks, pieces, piece_block = sample_blocks()
    busiest = np.argsort(np.bincount(piece_block))[-n:]
    mine = np.isin(piece_block, busiest)
    return blocks, pieces[mine], piece_block[mine], busiest


def test_cells_are_the_plain_voronoi_union_clipped_and_simplified() -> None:
    # the sample's five busiest blocks, all at once, against each block done plainly
    blocks, pieces, piece_block, busiest = _busiest_blocks(5)
    cells, home, owner = tessellation.block_cells(blocks, pieces, piece_block)
    assert sorted(home.tolist()) == sorted(piece_block.tolist())
    for b in busiest:
        in_block = np.flatnonzero(piece_block == b)
        expected = _reference_cells(blocks[b], pieces[in_block])
        got = cells[home == b][np.argsort(owner[home == b])]
        assert (np.sort(owner[home == b]) == in_block).all()
        _assert_same_cells(got, expected)


def test_where_the_triangulation_fails_geos_diagram_gives_the_same_cells(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks, pieces, piece_block, _ = _busiest_blocks(3)
    cells, home, owner = tessellation.block_cells(blocks, pieces, piece_block)
    failed = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    monkeypatch.setattr(tessellation, "delaunay", lambda xy: failed)
    geos_cells, geos_home, geos_owner = tessellation.block_cells(blocks, pieces, piece_block)
    assert (geos_home == home).all() and (geos_owner == owner).all()
    _assert_same_cells(cells, geos_cells)


def test_blocks_are_shared_out_apart_even_where_their_points_coincide() -> None:
    # the same block twice with the same two houses: each copy gets both cells
    block = box(0, 0, 40, 20)
    houses = [box(2, 5, 12, 15), box(26, 5, 36, 15)]
    cells, home, owner = tessellation.block_cells(
        np.array([block, block]), np.array(houses * 2, dtype=object), np.array([0, 0, 1, 1])
    )
    assert home.tolist() == [0, 0, 1, 1]
    assert owner.tolist() == [0, 1, 2, 3]
    assert shapely.equals_exact(cells[:2], cells[2:], tolerance=0).all()


def test_cell_rings_finds_each_cells_ring_and_refuses_a_broken_diagram() -> None:
    squares = np.array([box(0, 0, 1, 1), box(1, 0, 2, 1)], dtype=object)
    coords = shapely.get_coordinates(squares)
    points = np.array([[0.5, 0.5], [1.5, 0.5]])
    assert tessellation.cell_rings(coords, points).tolist() == [0, 5, 10]
    # a cell that does not hold its point, a point without a cell, a ring left open
    assert len(tessellation.cell_rings(coords, points[::-1])) == 0
    assert len(tessellation.cell_rings(coords, np.vstack([points, [[3.0, 0.5]]]))) == 0
    assert len(tessellation.cell_rings(coords[:-1], points)) == 0
    # a point just above its cell (the ray crosses no edge) and one beside it (two edges)
    assert len(tessellation.cell_rings(coords, np.array([[0.5, 1.01], [1.5, 0.5]]))) == 0
    assert len(tessellation.cell_rings(coords, np.array([[0.5, 0.5], [0.99, 0.5]]))) == 0


def test_blocks_done_together_give_the_cells_of_each_block_done_alone() -> None:
    # block 0's last outline point (by x, then y) is block 1's first: (13.6, 5.6) once shrunk, a
    # corner that shares out the space between two houses
    blocks = np.array([box(0, 0, 14, 8), box(13, 0, 40, 20)], dtype=object)
    pieces = np.array(
        [box(2, 2, 6, 6), box(10, 2, 14, 6), box(13.2, 5.2, 20, 10), box(14.5, 1, 20, 4.9)],
        dtype=object,
    )
    piece_block = np.array([0, 0, 1, 1])
    cells, home, owner = tessellation.block_cells(blocks, pieces, piece_block)
    assert owner.tolist() == [0, 1, 2, 3]
    for b in (0, 1):
        alone, _, alone_owner = tessellation.block_cells(
            blocks[b : b + 1], pieces[piece_block == b], np.zeros(2, dtype=int)
        )
        assert (alone_owner + 2 * b == owner[home == b]).all()
        assert shapely.equals_exact(alone, cells[home == b], tolerance=0).all()
