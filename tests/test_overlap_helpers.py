"""Two helpers of ``prepare/overlap``: ``rings_of`` reads polygons' rings from their WKB
(every coordinate in GEOS' order, each ring's points, shell or hole, and each polygon's
rings, for polygons with holes, multipolygons of several parts, one-part multipolygons and
none at all); ``intersecting_pairs`` gives the pairs of ``STRtree.query(predicate=
"intersects")`` in its order, also for touching, holed, invalid and empty geometries."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from magicmix_geo.prepare.overlap import intersecting_pairs, rings_of

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


def test_intersecting_pairs_are_the_predicate_query() -> None:
    rng = np.random.default_rng(11)
    cells = np.array(
        [box(x, y, x + 10, y + 10) for x in range(0, 100, 10) for y in range(0, 100, 10)],
        dtype=object,
    )
    geoms = np.array(
        [
            HOLED,  # two holes; its edges run along the cells' edges
            box(10, 10, 20, 20),  # exactly a cell: touches eight others
            Polygon([(30, 30), (50, 50), (50, 30), (30, 50)]),  # a bow tie (invalid)
            MultiPolygon([box(61, 61, 62, 62), box(75, 5, 79, 9)]),
            LineString([(0, 95), (100, 95)]),
            Point(55, 55),
            Polygon(),
            None,
            box(200, 200, 210, 210),
            *[
                shapely.buffer(Point(x, y), r)
                for x, y, r in rng.uniform(0, 100, (20, 3)) / (1, 1, 8)
            ],
        ],
        dtype=object,
    )
    for targets, queried in ((cells, geoms), (geoms, cells)):
        tree = shapely.STRtree(targets)
        want = tree.query(queried, predicate="intersects")
        got = intersecting_pairs(queried, tree, targets)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
        assert len(got[0]) > 20
