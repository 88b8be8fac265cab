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
