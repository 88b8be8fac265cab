"""``prepare/overlap.rings_of`` reads polygons' rings from their WKB: every coordinate in
GEOS' order, each ring's points, shell or hole, and each polygon's rings, for polygons with
holes, multipolygons of several parts, one-part multipolygons and none at all."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from magicmix_geo.prepare.overlap import rings_of

HOLED = Polygon(
    [(0, 0), (10, 0), (10, 10), (0, 10)],
    [[(1, 1), (2, 1), (2, 2)], [(5, 5), (6, 5), (6, 6), (5, 6)]],
)


def test_rings_are_the_polygons_rings_in_order() -> None:
    rng = np.random.default_rng(3)
    polys = np.array(
        [
            HOLED,
            MultiPolygon([box(20, 20, 21, 21), HOLED.buffer(0.0), box(30, 0, 31.5, 2.25)]),
            MultiPolygon([box(0.1, 0.2, 0.3, 0.4)]),
            *[shapely.buffer(shapely.Point(x, y), 3.0) for x, y in rng.uniform(-1e5, 6e5, (5, 2))],
        ],
        dtype=object,
    )
    rings = rings_of(polys)
    assert rings.xy.tobytes() == shapely.get_coordinates(polys).tobytes()
    parts = [part for p in polys for part in shapely.get_parts(p)]
    want_rings = [ring for part in parts for ring in shapely.get_rings(part)]
    assert (rings.end - rings.start).tolist() == [len(r.coords) for r in want_rings]
    assert rings.start[0] == 0 and (rings.start[1:] == rings.end[:-1]).all()
    shells = [k == 0 for part in parts for k in range(len(shapely.get_rings(part)))]
    assert rings.sign.tolist() == [1.0 if s else -1.0 for s in shells]
    per_polygon = [sum(len(shapely.get_rings(q)) for q in shapely.get_parts(p)) for p in polys]
    assert np.diff(rings.first).tolist() == per_polygon


def test_no_polygons() -> None:
    rings = rings_of(np.array([], dtype=object))
    assert rings.xy.shape == (0, 2) and rings.first.tolist() == [0]
