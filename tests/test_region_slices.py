"""The OSM store's array path (prepare/region_slices.py) writes, for every member, the bytes
the frame path (``write_slice(slice_osm(...))``) writes: the same rows, the same projected
coordinates bit for bit, the same tags.

Data: the real Delft sample (data/sample/tudelft.osm.pbf), members cut over it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import extract_polygon
from magicmix_geo.prepare.osm import ParsedOsm, osm_data, parse_osm, project, reader_keys
from magicmix_geo.prepare.osm_slice import slice_osm
from magicmix_geo.prepare.osm_slice_file import write_parts, write_slice
from magicmix_geo.prepare.region_slices import Ragged, RegionArrays, take_ranges
from magicmix_geo.prepare.wkb_ragged import WkbError
from tests._islands import SAMPLE_AREA, SAMPLE_PBF


@pytest.fixture(scope="module")
def parsed() -> ParsedOsm:
    return parse_osm(SAMPLE_PBF, reader_keys(load_settings()), need_walk=False)


def _members() -> dict[str, MultiPolygon]:
    """The sample's study area in quarters, each grown by 150 m (they overlap), the whole
    area, a concave piece, and a square in Groningen (nothing of the sample in it)."""
    x0, y0, x1, y1 = gpd.read_file(SAMPLE_AREA).to_crs(28992).total_bounds
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    areas = {
        "sw": box(x0, y0, xm, ym),
        "se": box(xm, y0, x1, ym),
        "nw": box(x0, ym, xm, y1),
        "ne": box(xm, ym, x1, y1),
        "all": box(x0, y0, x1, y1),
        "ell": box(x0, y0, x1, y1).difference(box(xm, ym, x1 + 1, y1 + 1)),
        "groningen": box(233_000, 581_000, 234_000, 582_000),
    }
    return {key: extract_polygon(area, 150.0) for key, area in areas.items()}


def test_every_member_gets_the_bytes_of_the_frame_path(parsed: ParsedOsm, tmp_path: Path) -> None:
    keys = reader_keys(load_settings())
    region = RegionArrays.of(parsed)
    data = osm_data(parsed)
    projected = project(data)
    holed = shapely.get_num_interior_rings(shapely.get_parts(data.features.geometry)) > 0
    assert holed.any()  # the sample has multipolygons with inner rings: they are compared too
    for key, polygon in _members().items():
        frames, arrays = tmp_path / f"{key}-frames.npz", tmp_path / f"{key}-arrays.npz"
        write_slice(slice_osm(data, polygon, projected), keys, frames)
        write_parts(region.member(polygon), keys, arrays)
        assert arrays.read_bytes() == frames.read_bytes(), key


def test_take_ranges_gathers_rows_in_the_order_given() -> None:
    offsets = np.array([0, 2, 2, 5, 6])  # row 1 holds nothing
    positions, taken = take_ranges(offsets, np.array([3, 0, 1, 2]))
    assert positions.tolist() == [5, 0, 1, 2, 3, 4]
    assert taken.tolist() == [0, 1, 3, 3, 6]
    positions, taken = take_ranges(offsets, np.zeros(0, dtype=np.int64))
    assert positions.size == 0 and taken.tolist() == [0]


def test_ragged_take_equals_taking_the_geometries() -> None:
    shapes = np.array(
        [
            MultiPolygon([box(0, 0, 1, 1)]),
            MultiPolygon(
                [box(5, 5, 6, 6), Polygon(box(2, 2, 4, 4).exterior, [box(3, 3, 3.5, 3.5).exterior])]
            ),
            MultiPolygon([box(7, 7, 9, 8)]),
        ]
    )
    _, xy, offsets = shapely.to_ragged_array(shapes)
    ragged = Ragged(xy, tuple(np.asarray(o, dtype=np.int64) for o in reversed(offsets)))
    assert ragged.vertex_counts().tolist() == [5, 15, 5]
    rows = np.array([2, 1])
    taken = ragged.take(rows)
    _, want_xy, want = shapely.to_ragged_array(shapes[rows])
    assert np.array_equal(taken.xy, want_xy)
    assert [o.tolist() for o in taken.offsets] == [o.tolist() for o in reversed(want)]


def test_a_region_with_a_broken_area_is_refused(parsed: ParsedOsm) -> None:
    """An area's WKB that libosmium would not write: the row named, or the open ring told."""
    wkb = list(parsed.area_wkb)
    good = wkb[3]
    wkb[3] = good[:-16] + np.array([1.5, 2.5]).tobytes()  # the last ring's end moved
    with pytest.raises(ValueError, match="a ring of an area feature is not closed"):
        RegionArrays.of(replace(parsed, area_wkb=wkb))
    wkb[3] = shapely.to_wkb(shapely.from_wkb(good), byte_order=0)  # big-endian
    with pytest.raises(WkbError, match="area features: row 3 is not"):
        RegionArrays.of(replace(parsed, area_wkb=wkb))
