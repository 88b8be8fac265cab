"""prepare/wkb_ragged.py reads WKB into what shapely.to_ragged_array gives, and refuses the
WKB it does not read with the row it is in."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from magicmix_geo.prepare.wkb_ragged import WkbError, line_strings, multipolygons


def _multipolygons() -> list[MultiPolygon]:
    square = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)])
    holed = Polygon(
        [(10, 10), (20, 10), (20, 20), (10, 20)],
        [[(11, 11), (12, 11), (12, 12)], [(15, 15), (16, 15), (16, 16), (15, 16)]],
    )
    far = Polygon([(-5.25, 51.5), (-5.0, 51.5), (-5.0, 51.75)])
    return [
        MultiPolygon([square]),
        MultiPolygon([holed, far]),
        MultiPolygon([far, square, holed]),
        MultiPolygon([holed]),
    ]


def _wkb(geometries: list[MultiPolygon] | list[LineString]) -> list[bytes]:
    return [shapely.to_wkb(g, byte_order=1) for g in geometries]


def test_multipolygons_are_what_shapely_lays_out() -> None:
    geometries = _multipolygons()
    xy, offsets = multipolygons(_wkb(geometries), "areas")
    _, expected_xy, expected = shapely.to_ragged_array(np.asarray(geometries, dtype=object))
    np.testing.assert_array_equal(xy, expected_xy)
    assert len(offsets) == 3
    for got, want in zip(offsets, reversed(expected), strict=True):
        np.testing.assert_array_equal(got, want)
    # parts of the second: the holed square (three rings), then the triangle (one)
    np.testing.assert_array_equal(offsets[0], [0, 1, 3, 6, 7])
    np.testing.assert_array_equal(np.diff(offsets[1]), [1, 3, 1, 1, 1, 3, 3])


def test_line_strings_are_what_shapely_lays_out() -> None:
    lines = [
        LineString([(0, 0), (1, 1)]),
        LineString([(4.3, 52.0), (4.31, 52.01), (4.32, 52.0), (4.3, 52.0)]),
        LineString([(-1e9, 1e-9), (0.1, 0.2), (3, 3)]),
    ]
    xy, offsets = line_strings(_wkb(lines), "lines")
    _, expected_xy, (expected,) = shapely.to_ragged_array(np.asarray(lines, dtype=object))
    np.testing.assert_array_equal(xy, expected_xy)
    np.testing.assert_array_equal(offsets, expected)


def test_nothing_to_read() -> None:
    xy, offsets = multipolygons([], "areas")
    assert xy.shape == (0, 2)
    assert [list(o) for o in offsets] == [[0], [0], [0]]
    xy, line_offsets = line_strings([], "lines")
    assert xy.shape == (0, 2)
    assert list(line_offsets) == [0]


def _refused(read, wkb: list[bytes], row: int) -> None:
    with pytest.raises(WkbError, match=f"areas: row {row} is not") as caught:
        read(wkb, "areas")
    assert caught.value.row == row


def test_refuses_what_it_does_not_read() -> None:
    good = _wkb(_multipolygons())
    holed = good[1]
    polygon = shapely.to_wkb(_multipolygons()[0].geoms[0], byte_order=1)
    big_endian = shapely.to_wkb(_multipolygons()[2], byte_order=0)
    with_z = shapely.to_wkb(shapely.force_3d(_multipolygons()[0]), byte_order=1)
    _refused(multipolygons, [*good, polygon], 4)  # a polygon, not a multipolygon
    _refused(multipolygons, [good[0], big_endian, *good], 1)
    _refused(multipolygons, [*good[:2], with_z], 2)
    _refused(multipolygons, [*good[:3], holed[:-5]], 3)  # cut short in the last ring
    _refused(multipolygons, [holed + b"\x00"], 0)  # a byte left over
    _refused(multipolygons, [holed[:20]], 0)  # cut short in a part's header
    line = shapely.to_wkb(LineString([(0, 0), (1, 1)]), byte_order=1)
    _refused(line_strings, [line, line[:-1]], 1)
    _refused(line_strings, [line, line, good[0]], 2)
