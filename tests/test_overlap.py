"""Areas of overlap by convex clips (prepare/overlap.py) and the four computations built on
them (the land filter's building cover, the residential share of a disc, the footprint area
per raster cell), against plain GEOS overlays on the real geometries of the sample: the OSM
buildings and land use of data/sample's tudelft.osm.pbf and the BAG panden of data/sample.

The tolerance for a continuous area is 1e-9 of the larger polygon's area (the clips agree
with GEOS to about 1e-12); a threshold decision must be GEOS' exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from shapely.geometry import LineString, Point, Polygon, box

from magicmix_geo.config import load_settings
from magicmix_geo.measure.context import share_covered
from magicmix_geo.measure.density import building_cover as cell_cover
from magicmix_geo.prepare import overlap
from magicmix_geo.prepare.bag import read_bag_panden
from magicmix_geo.prepare.osm import read_osm_for
from magicmix_geo.prepare.sites import building_cover, covered

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SETTINGS = load_settings()
RD_NEW = 28992
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def features() -> gpd.GeoDataFrame:
    return read_osm_for(SAMPLE / "tudelft.osm.pbf", SETTINGS).features


@pytest.fixture(scope="module")
def footprints(features: gpd.GeoDataFrame) -> np.ndarray:
    """OSM building outlines (one-part multipolygons, convex and concave)."""
    return features.loc[features["building"].notna()].geometry.to_numpy()


@pytest.fixture(scope="module")
def panden() -> np.ndarray:
    return read_bag_panden(SAMPLE / "bag_panden_delft_wippolder.gpkg").geometry.to_numpy()


@pytest.fixture(scope="module")
def plots(footprints: np.ndarray) -> np.ndarray:
    """Land of every kind: boxes over the core, footprints grown by 4 m (concave, rounded),
    rings (a grown footprint less the footprint: a hole), two-part multipolygons, and the
    degenerate: empty, zero area, self-crossing, a line."""
    x0, y0, x1, y1 = shapely.total_bounds(footprints)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    grid = [
        box(x, y, x + 41.0, y + 23.0)
        for x in np.arange(cx - 500, cx + 500, 83.0)
        for y in np.arange(cy - 500, cy + 500, 67.0)
    ]
    sample = footprints[::5]
    grown = shapely.buffer(sample, 4.0)
    rings = shapely.difference(grown[::3], sample[::3])
    pairs = shapely.union(
        shapely.buffer(footprints[1::40], 1.0), shapely.buffer(footprints[2::40], 1.0)
    )
    degenerate = [
        Polygon(),
        Polygon([(cx, cy), (cx + 20, cy), (cx + 40, cy)]),  # zero area
        Polygon([(cx, cy), (cx + 30, cy + 30), (cx + 30, cy), (cx, cy + 30)]),  # bow tie
        LineString([(cx - 50, cy), (cx + 50, cy)]),
    ]
    return np.array([*grid, *grown, *rings, *pairs, *degenerate], dtype=object)


def _geos_areas(a: np.ndarray, b: np.ndarray, a_i: np.ndarray, b_i: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.area(shapely.intersection(a[a_i], b[b_i])), dtype=float)


def _overlays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the pairs the fast code still overlays in GEOS."""
    calls: list[int] = []
    inner: Callable[..., Any] = shapely.intersection

    def counting(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(int(np.size(a)))
        return inner(a, b, *args, **kwargs)

    monkeypatch.setattr(shapely, "intersection", counting)
    return calls


def test_pair_areas_are_geos_areas(
    plots: np.ndarray, footprints: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every intersecting pair of plot and building: inside, straddling, holding it, with
    holes, degenerate; the invalid and non-polygonal ones overlaid in GEOS as before."""
    blds = footprints
    plot_i, bld_i = shapely.STRtree(blds).query(plots, predicate="intersects")
    # and pairs whose bounds meet but shapes do not (the clip must give 0)
    near_i, near_b = shapely.STRtree(blds).query(shapely.envelope(plots[::4]))
    plot_i = np.concatenate([plot_i, near_i * 4])
    bld_i = np.concatenate([bld_i, near_b])
    valid = shapely.is_valid(plots[plot_i])
    expected = np.full(len(plot_i), np.nan)
    expected[valid] = _geos_areas(plots, blds, plot_i[valid], bld_i[valid])
    calls = _overlays(monkeypatch)
    got = overlap.intersection_areas(plots, blds, plot_i[valid], bld_i[valid])
    scale = np.maximum(shapely.area(plots[plot_i[valid]]), shapely.area(blds[bld_i[valid]]))
    assert len(plot_i) > 2000
    assert np.all(np.abs(got - expected[valid]) <= TOLERANCE * np.maximum(scale, 1.0))
    # most pairs clipped (GEOS for the pairs of two polygons with neither convex pieces)
    assert sum(calls) < 0.05 * valid.sum()
    # the degenerate: zero where GEOS gives zero
    assert got[shapely.area(plots[plot_i[valid]]) == 0].sum() == 0.0


def test_invalid_polygons_go_to_geos(footprints: np.ndarray) -> None:
    """A self-crossing plot is not clipped: GEOS decides (here, it refuses) as before."""
    bowtie = Polygon([(0, 0), (30, 30), (30, 0), (0, 30)])
    square = np.array([box(5, 5, 25, 25)], dtype=object)
    idx = np.array([0])
    try:
        expected: float | None = float(_geos_areas(np.array([bowtie]), square, idx, idx)[0])
    except shapely.errors.GEOSException:
        expected = None
    if expected is None:
        with pytest.raises(shapely.errors.GEOSException):
            overlap.intersection_areas(np.array([bowtie]), square, idx, idx)
    else:
        got = overlap.intersection_areas(np.array([bowtie]), square, idx, idx)
        assert got[0] == expected


def test_panden_against_their_neighbours(panden: np.ndarray) -> None:
    """BAG panden against the panden around them grown by 3 m (rounded, concave): real
    outlines on both sides, pairs that hold, cross and touch."""
    grown = shapely.buffer(panden, 3.0)
    p_i, g_i = shapely.STRtree(grown).query(panden, predicate="intersects")
    expected = _geos_areas(panden, grown, p_i, g_i)
    got = overlap.intersection_areas(panden, grown, p_i, g_i)
    scale = np.maximum(shapely.area(panden[p_i]), shapely.area(grown[g_i]))
    assert len(p_i) > 100 and np.any((expected > 0) & (expected < shapely.area(panden[p_i])))
    assert np.all(np.abs(got - expected) <= TOLERANCE * scale)


def test_convex_is_convex(footprints: np.ndarray) -> None:
    """A footprint found convex is its own convex hull; boxes and discs are convex; an L, a
    bow tie, a spike, a polygon with a hole, two parts, empty or flat are not."""
    found = overlap.convex(footprints)
    assert 0.3 < found.mean() < 0.95
    hull = shapely.area(shapely.convex_hull(footprints[found]))
    assert np.allclose(hull, shapely.area(footprints[found]), rtol=1e-12, atol=0)
    yes = [box(0, 0, 2, 1), Point(0, 0).buffer(500, quad_segs=16), box(0, 0, 1, 1).reverse()]
    no = [
        Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]),
        Polygon([(0, 0), (30, 30), (30, 0), (0, 30)]),
        Polygon([(0, 0), (2, 0), (3, 0), (2, 0), (2, 1), (0, 1)]),
        box(0, 0, 10, 10).difference(box(4, 4, 6, 6)),
        # a pentagram: every turn to the left, but around twice
        Polygon([(np.cos(a), np.sin(a)) for a in np.arange(5) * 4 * np.pi / 5]),
        shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
        Polygon(),
        Polygon([(0, 0), (1, 0), (2, 0)]),
    ]
    assert overlap.convex(np.array(yes, dtype=object)).all()
    assert not overlap.convex(np.array(no, dtype=object)).any()


def test_pieces_partition_concave_footprints(footprints: np.ndarray) -> None:
    """The triangles of a concave footprint cover it exactly: their union is the footprint
    and their areas add up to its area (no overlap)."""
    concave = footprints[~overlap.convex(footprints) & shapely.is_valid(footprints)]
    pieces = overlap.convex_pieces(overlap.rings_of(concave))
    cut = np.flatnonzero(pieces.count > 1)
    assert len(cut) > 100
    for g in cut[:: max(1, len(cut) // 300)]:
        rings = [
            Polygon(pieces.xy[pieces.start[p] : pieces.end[p]])
            for p in range(pieces.first[g], pieces.first[g + 1])
        ]
        area = concave[g].area
        assert abs(sum(r.area for r in rings) - area) <= 1e-9 * area
        assert shapely.union_all(rings).symmetric_difference(concave[g]).area <= 1e-6 * area


@pytest.mark.parametrize("radius", [40.0, 500.0])
@pytest.mark.parametrize("tile_m", [100.0, 37.0])
def test_cover_areas_of_discs(features: gpd.GeoDataFrame, radius: float, tile_m: float) -> None:
    """Discs around real points against the union of the sample's land use (residential,
    grass, water: many parts, holes), tiled: GEOS' areas of overlap."""
    land = features.loc[
        features["landuse"].isin(["residential", "grass", "construction"])
        | (features["natural"] == "water")
    ]
    union = shapely.union_all(shapely.make_valid(land.geometry.to_numpy()))
    x0, y0, x1, y1 = union.bounds
    points = shapely.centroid(features.loc[features["building"].notna()].geometry.to_numpy())
    far = np.array([Point(x0 - 3 * radius, y0 - 3 * radius), Point(x1 + 2 * radius, y1)])
    discs = shapely.buffer(np.concatenate([points[::9], far]), radius, quad_segs=16)
    tiles = overlap.tile_cover(shapely.get_parts(union), tile_m)
    got = overlap.cover_areas(tiles, discs)
    expected = shapely.area(shapely.intersection(discs, union))
    assert np.all(np.abs(got - expected) <= TOLERANCE * shapely.area(discs))
    assert got[-2:].tolist() == [0.0, 0.0]
    assert np.mean(got > 0) > 0
    if radius < 100:  # some small discs lie wholly in the land use
        assert np.any(np.abs(got - shapely.area(discs)) < 1e-6 * radius**2)
    assert abs(tiles.area.sum() - union.area) <= TOLERANCE * union.area


def test_share_covered_is_geos_share(features: gpd.GeoDataFrame) -> None:
    """The residential share of 500 m and 60 m discs around building points."""
    residential = features.loc[features["landuse"] == "residential"].geometry
    points = gpd.GeoSeries(
        shapely.centroid(features.loc[features["building"].notna()].geometry.to_numpy()[::3]),
        crs=RD_NEW,
    )
    for radius in (500.0, 60.0):
        union = shapely.union_all(shapely.make_valid(residential.to_numpy()))
        discs = shapely.buffer(points.to_numpy(), radius, quad_segs=16)
        expected = np.clip(
            shapely.area(shapely.intersection(discs, union)) / shapely.area(discs), 0, 1
        )
        got = share_covered(points, residential, radius)
        assert np.all(np.abs(got - expected) <= TOLERANCE)
        assert 0 < got.mean() < 1


def test_cell_cover_is_geos_cell_cover(footprints: np.ndarray, panden: np.ndarray) -> None:
    """Footprint area per 100 m cell: buildings inside a cell, on its edges and corners."""
    for geoms in (footprints, panden):
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        left, top = np.floor(x0 / 100) * 100, np.ceil(y1 / 100) * 100
        shape = (
            int((top - np.floor(y0 / 100) * 100) // 100),
            int((np.ceil(x1 / 100) * 100 - left) // 100),
        )
        transform = Affine(100.0, 0.0, left, 0.0, -100.0, top)
        got = cell_cover(gpd.GeoSeries(geoms, crs=RD_NEW), transform, shape).data
        rows, cols = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
        boxes = shapely.box(
            left + cols * 100, top - rows * 100 - 100, left + cols * 100 + 100, top - rows * 100
        )
        b_i, c_i = shapely.STRtree(boxes).query(geoms, predicate="intersects")
        expected = np.zeros(shape[0] * shape[1])
        np.add.at(expected, c_i, shapely.area(shapely.intersection(geoms[b_i], boxes[c_i])))
        assert np.all(np.abs(got.ravel() - expected) <= TOLERANCE * 1e4)
        assert abs(got.sum() - shapely.area(geoms).sum()) <= 1e-6 * got.sum()


def _geos_share(plots: np.ndarray, footprints: np.ndarray) -> np.ndarray:
    """The land filter's building share as it was: GEOS' areas summed in pair order."""
    plot_i, bld_i = shapely.STRtree(footprints).query(plots, predicate="intersects")
    cover = np.zeros(len(plots))
    np.add.at(cover, plot_i, _geos_areas(plots, footprints, plot_i, bld_i))
    area = shapely.area(plots)
    return np.where(area > 0, np.minimum(cover / np.where(area > 0, area, 1.0), 1.0), 1.0)


def test_covered_decides_as_geos(plots: np.ndarray, footprints: np.ndarray) -> None:
    """The land filter's test on every plot, at the configured limit and at limits equal to
    some plot's own GEOS share (decided by the last bit): GEOS' decisions, every one."""
    land = plots[shapely.is_valid(plots) & np.isin(shapely.get_type_id(plots), (3, 6))]
    buildings = gpd.GeoDataFrame(geometry=footprints, crs=RD_NEW)
    expected = _geos_share(land, footprints)
    assert np.all(np.abs(building_cover(land, buildings) - expected) <= TOLERANCE)
    partly = np.flatnonzero((expected > 0.01) & (expected < 0.99))
    limits = [SETTINGS.sites.max_building_cover, 0.5, *expected[partly[::97]]]
    assert len(limits) > 5
    for share in limits:
        assert np.array_equal(covered(land, buildings, share), expected >= share), share
    # just above a plot's own share: not covered; its share itself: covered
    k = partly[0]
    assert not covered(land, buildings, float(np.nextafter(expected[k], 2.0)))[k]
    assert covered(land, buildings, float(expected[k]))[k]


def test_no_buildings_or_plots() -> None:
    empty = gpd.GeoDataFrame(geometry=[], crs=RD_NEW)
    plots = np.array([box(0, 0, 10, 10)], dtype=object)
    assert covered(plots, empty, 0.05).tolist() == [False]
    assert overlap.intersection_areas(plots, plots, np.array([], int), np.array([], int)).size == 0
    tiles = overlap.tile_cover(np.array([], dtype=object), 100.0)
    assert overlap.cover_areas(tiles, np.array([Point(0, 0).buffer(5)])).tolist() == [0.0]
    assert pd.isna(
        share_covered(
            gpd.GeoSeries([Point()], crs=RD_NEW), gpd.GeoSeries([box(0, 0, 1, 1)], crs=RD_NEW), 5.0
        )[0]
    )
