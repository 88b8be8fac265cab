"""``measure/context.distance_to_nearest`` measures only the targets that may be nearest; its
values must be GEOS' nearest distances (``STRtree.query_nearest``) to the last bit, on the
real geometries of the sample and on hostile cases: empty and missing geometries, touching
and overlapping ones, a site in a target's hole, multipolygons, lines and points.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from magicmix_geo.config import load_settings
from magicmix_geo.measure.context import distance_to_nearest
from magicmix_geo.prepare.osm import read_osm_for

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
RD_NEW = 28992


def reference(geoms: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """GEOS' distance to the nearest target by its own tree search (NaN where none)."""
    out = np.full(len(geoms), np.nan)
    if len(geoms) and len(targets):
        tree = shapely.STRtree(targets)
        (idx, _), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
        out[idx] = dist
    return out


def check(geoms: list[object] | np.ndarray, targets: list[object] | np.ndarray) -> np.ndarray:
    g = np.asarray(geoms, dtype=object)
    t = np.asarray(targets, dtype=object)
    got = distance_to_nearest(gpd.GeoSeries(g, crs=RD_NEW), gpd.GeoSeries(t, crs=RD_NEW))
    want = reference(g, t)
    # bit for bit, NaN where GEOS has no nearest
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert got[~np.isnan(got)].tobytes() == want[~np.isnan(want)].tobytes()
    return got


def test_empty_inputs_give_nan() -> None:
    assert check([], [box(0, 0, 1, 1)]).shape == (0,)
    assert np.isnan(check([box(0, 0, 1, 1)], [])).all()
    assert np.isnan(check([box(0, 0, 1, 1)], [None, Polygon()])).all()


def test_missing_and_empty_geometries_have_no_distance() -> None:
    got = check([None, Polygon(), box(5, 5, 6, 6)], [box(0, 0, 1, 1), None, Point()])
    assert np.isnan(got[:2]).all() and got[2] == pytest.approx(np.hypot(4, 4))


def test_touching_overlapping_and_inside_a_hole() -> None:
    ring = Polygon(
        [(0, 0), (100, 0), (100, 100), (0, 100)], [[(40, 40), (60, 40), (60, 60), (40, 60)]]
    )
    sites = [
        box(100, 0, 110, 10),  # touches the ring's outside
        box(90, 90, 120, 120),  # overlaps it
        box(45, 45, 55, 55),  # in the hole: 5 m from its edge
        box(40, 40, 60, 60),  # fills the hole exactly: touches
        box(300, 300, 301, 301),
    ]
    got = check(sites, [ring, box(250, 250, 260, 260)])
    assert got[:2].tolist() == [0.0, 0.0] and got[2] == 5.0 and got[3] == 0.0


def test_a_long_edge_far_from_every_vertex() -> None:
    # the nearest target is near only along an edge whose vertices are far: the bound from
    # vertices must still reach it, while a nearer-by-vertex target is farther in truth
    strip = Polygon([(-1000, 0), (1000, 0), (1000, 1), (-1000, 1)])
    dot = box(0, 30, 1, 31)
    got = check([box(0, 10, 2, 12), box(-990, 3, -989, 4)], [dot, strip])
    assert got[0] == 9.0 and got[1] == 2.0


def test_multipolygons_lines_and_points() -> None:
    rng = np.random.default_rng(7)
    parts = [box(x, y, x + 5, y + 3) for x, y in rng.uniform(0, 500, (40, 2))]
    targets = [
        MultiPolygon(parts[:3]),
        MultiPolygon(parts[3:5]),
        LineString([(0, 0), (500, 500)]),
        Point(250, 10),
        *parts[5:20],
    ]
    sites = [
        MultiPolygon(parts[20:22]),
        *[shapely.buffer(Point(x, y), r) for x, y, r in rng.uniform(0, 500, (30, 3)) / (1, 1, 25)],
        *parts[22:],
        LineString([(10, 400), (30, 420)]),
    ]
    check(sites, targets)


def test_the_sample_buildings_and_land_use() -> None:
    features = read_osm_for(SAMPLE / "tudelft.osm.pbf", load_settings()).features
    polygons = np.isin(shapely.get_type_id(features.geometry.to_numpy()), (3, 6))
    shapes = features.loc[polygons].geometry.to_numpy()
    buildings = shapes[features.loc[polygons, "building"].notna().to_numpy()]
    land = shapes[features.loc[polygons, "building"].isna().to_numpy()]
    assert len(buildings) > 1000 and len(land) > 50
    got = check(buildings, land[::7])
    assert (got == 0).any() and (got > 0).any()
