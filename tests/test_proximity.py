"""Pairs within a distance decided by bounds first (prepare/proximity.py), and the two counts
built on them (residential neighbours of a plot, neighbours of a site), against a plain
computation on the real footprints of the sample: the OSM buildings of data/sample's
tudelft.osm.pbf (the BAG import) and the BAG panden of data/sample.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from magicmix_geo.config import load_settings
from magicmix_geo.measure.indicators import neighbour_count
from magicmix_geo.prepare.bag import read_bag_panden
from magicmix_geo.prepare.layers import buildings_layer
from magicmix_geo.prepare.osm import read_osm_for
from magicmix_geo.prepare.proximity import MARGIN_M, dwithin_pairs, inner_points
from magicmix_geo.prepare.sites import residential_neighbours

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SETTINGS = load_settings()


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    osm = read_osm_for(SAMPLE / "tudelft.osm.pbf", SETTINGS)
    return buildings_layer(osm, SETTINGS, None)


@pytest.fixture(scope="module")
def plots(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Plots of every kind: a grid of boxes over the core, footprints grown by 5 m (real
    outlines, multipolygons among them), an empty one and a self-crossing one."""
    x0, y0, x1, y1 = buildings.total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    grid = [
        box(x, y, x + 41.0, y + 23.0)
        for x in np.arange(cx - 600, cx + 600, 83.0)
        for y in np.arange(cy - 600, cy + 600, 67.0)
    ]
    grown = list(buildings.geometry.buffer(5.0).to_numpy()[::7])
    bowtie = Polygon([(cx, cy), (cx + 30, cy + 30), (cx + 30, cy), (cx, cy + 30)])
    return np.array([*grid, *grown, Polygon(), bowtie], dtype=object)


def _tree_pairs(geoms: np.ndarray, targets: np.ndarray, radius: float) -> set[tuple[int, int]]:
    """The plain computation: the tree's own ``dwithin`` query, pair by pair in GEOS."""
    gi, ti = shapely.STRtree(targets).query(geoms, predicate="dwithin", distance=radius)
    return set(zip(gi.tolist(), ti.tolist(), strict=True))


@pytest.mark.parametrize("radius", [0.0, 3.5, 50.0, 100.0])
def test_pairs_are_the_trees_dwithin_pairs(
    plots: np.ndarray, buildings: gpd.GeoDataFrame, radius: float
) -> None:
    footprints = buildings.geometry.to_numpy()
    points = shapely.point_on_surface(footprints)
    for targets, target_points in ((footprints, None), (points, points)):
        gi, ti = dwithin_pairs(plots, targets, radius, target_points=target_points)
        got = set(zip(gi.tolist(), ti.tolist(), strict=True))
        assert len(got) == len(gi)  # no pair twice
        want = _tree_pairs(plots, targets, radius)
        assert got == want
        assert len(want) > len(plots)  # real work: many pairs, not a trivial case


def test_pairs_at_the_radius_itself_are_decided_by_geos() -> None:
    """Targets exactly at, just inside and just outside the radius of a plot's edge: no
    bound may decide them, the answer is GEOS's."""
    plot = box(85_000.0, 446_000.0, 85_020.0, 446_010.0)
    r = 100.0
    xs = [85_020.0 + r - MARGIN_M / 10, 85_020.0 + r, 85_020.0 + r + MARGIN_M / 10]
    targets = np.array([Point(x, 446_005.0) for x in xs], dtype=object)
    _, ti = dwithin_pairs(np.array([plot], dtype=object), targets, r, target_points=targets)
    assert set(ti.tolist()) == {t for _, t in _tree_pairs(np.array([plot]), targets, r)}
    assert {0, 1} <= set(ti.tolist())


def test_inner_points_lie_inside_or_are_empty(plots: np.ndarray) -> None:
    points = inner_points(plots)
    has = ~shapely.is_empty(points)
    assert has[:-2].all()  # every real plot has one
    assert not has[-2]  # the empty plot has none
    assert shapely.intersects(plots[has], points[has]).all()


def test_residential_neighbours_count_like_the_plain_query(
    plots: np.ndarray, buildings: gpd.GeoDataFrame
) -> None:
    r = SETTINGS.sites.residential_context_m
    counts = residential_neighbours(plots, buildings, r)
    homes = buildings.loc[buildings["residential"].astype(bool)].geometry.to_numpy()
    points = shapely.point_on_surface(homes)
    plain = np.array([int(shapely.dwithin(p, points, r).sum()) for p in plots])
    np.testing.assert_array_equal(counts, plain)
    assert (counts >= SETTINGS.sites.min_residential_buildings).sum() > len(plots) // 2


def test_neighbour_count_like_the_plain_computation(buildings: gpd.GeoDataFrame) -> None:
    """Sites: OSM footprints grown by 10 m (so buildings are on the site), the real BAG
    panden (at the extract's northern edge) and boxes; the count is of OSM residential
    buildings within 100 m, not those on the site."""
    panden = read_bag_panden(SAMPLE / "bag_panden_delft_wippolder.gpkg")
    x0, y0, _, _ = buildings.total_bounds
    boxes = [box(x0 + 90 * i, y0 + 60 * i, x0 + 90 * i + 25, y0 + 60 * i + 60) for i in range(20)]
    grown = buildings.geometry.buffer(10.0).to_numpy()[::11]
    sites = gpd.GeoDataFrame(geometry=[*grown, *panden.geometry, *boxes, Polygon()], crs=panden.crs)
    homes = buildings.loc[buildings["residential"].astype(bool)].geometry
    r = SETTINGS.context.neighbour_radius_m
    got = neighbour_count(sites, homes, r)
    anchors = shapely.point_on_surface(homes.to_numpy())
    plain = np.array(
        [
            int(
                (
                    shapely.dwithin(site, homes.to_numpy(), r) & ~shapely.contains(site, anchors)
                ).sum()
            )
            for site in sites.geometry
        ]
    )
    np.testing.assert_array_equal(got, plain)
    assert plain.min() == 0 and plain.max() > 50
    on_site = np.array([int(shapely.contains(s, anchors).sum()) for s in sites.geometry])
    assert on_site.max() > 0  # some sites hold buildings, which are not counted


def _degenerate_plots() -> np.ndarray:
    """A square with a square hole, a multipolygon of two far parts, a concave L, a square
    sharing an edge with the holed one, a bow-tie (invalid), an empty polygon and a point."""
    x, y = 85_000.0, 446_000.0
    holed = Polygon(
        [(x, y), (x + 60, y), (x + 60, y + 60), (x, y + 60)],
        [[(x + 20, y + 20), (x + 40, y + 20), (x + 40, y + 40), (x + 20, y + 40)]],
    )
    two = shapely.MultiPolygon([box(x + 200, y, x + 210, y + 10), box(x + 400, y, x + 410, y + 7)])
    ell = Polygon(
        [
            (x, y + 200),
            (x + 50, y + 200),
            (x + 50, y + 210),
            (x + 10, y + 210),
            (x + 10, y + 260),
            (x, y + 260),
        ]
    )
    touching = box(x + 60, y, x + 90, y + 30)
    bowtie = Polygon(
        [(x + 300, y + 300), (x + 330, y + 330), (x + 330, y + 300), (x + 300, y + 330)]
    )
    return np.array([holed, two, ell, touching, bowtie, Polygon(), Point(x + 150, y + 150)])


def _targets_around(plots: np.ndarray, radius: float) -> np.ndarray:
    """Small triangles and points just inside and just outside ``radius`` of each plot's
    vertices, straight out and diagonally (boxes apart: the facets decide), points in the
    holed square's hole and targets overlapping the plots (boxes overlapping)."""
    out: list[object] = []
    coords = shapely.get_coordinates(plots)
    for cx, cy in coords:
        for gap in (radius - 1e-3, radius + 1e-3, radius * 0.5, radius * 1.5):
            for ux, uy in ((1.0, 0.0), (0.0, -1.0), (-0.6, 0.8), (0.8, 0.6)):
                px, py = cx + ux * gap, cy + uy * gap
                out.append(Point(px, py))
                # a triangle pointing at the vertex, its apex at the point
                far_x, far_y = px + ux * 3, py + uy * 3
                out.append(
                    Polygon(
                        [
                            (px, py),
                            (far_x - uy * 2, far_y + ux * 2),
                            (far_x + uy * 2, far_y - ux * 2),
                        ]
                    )
                )
    x, y = 85_000.0, 446_000.0
    out += [
        Point(x + 30, y + 30),
        box(x + 25, y + 25, x + 35, y + 35),
        box(x + 55, y + 5, x + 65, y + 10),
        shapely.MultiPolygon([box(x + 5, y + 5, x + 8, y + 8), box(x + 600, y, x + 601, y + 1)]),
        Polygon(),
    ]
    return np.array(out, dtype=object)


@pytest.mark.parametrize("radius", [0.0, 2.0, 10.0, 35.0])
def test_facets_decide_degenerate_shapes_as_geos(
    radius: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holes, multipolygons, touching edges, an invalid and an empty polygon, points: the
    pairs are the tree's, and GEOS is asked about few of them (the facet distances decide
    the rest)."""
    plots = _degenerate_plots()
    targets = _targets_around(plots, radius)
    asked: list[int] = []
    dwithin = shapely.dwithin

    def counting(a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
        asked.append(len(a))
        return dwithin(a, b, r)

    monkeypatch.setattr(shapely, "dwithin", counting)
    for target_points in (None, shapely.point_on_surface(targets)):
        gi, ti = dwithin_pairs(plots, targets, radius, target_points=target_points)
        got = set(zip(gi.tolist(), ti.tolist(), strict=True))
        assert len(got) == len(gi)
        monkeypatch.setattr(shapely, "dwithin", dwithin)
        assert got == _tree_pairs(plots, targets, radius)
        monkeypatch.setattr(shapely, "dwithin", counting)
    # the candidates (bounds within the radius) whose boxes are apart never reach GEOS
    box_p, box_t = shapely.bounds(plots), shapely.bounds(targets)
    grown = shapely.box(*(box_p + np.array([-radius, -radius, radius, radius])).T)
    pi, tj = shapely.STRtree(targets).query(grown)
    a, b = box_p[pi], box_t[tj]
    apart = (np.maximum(b[:, 0] - a[:, 2], a[:, 0] - b[:, 2]) > 0) | (
        np.maximum(b[:, 1] - a[:, 3], a[:, 1] - b[:, 3]) > 0
    )
    assert len(asked) == 2 and max(asked) <= (~apart).sum()
    assert len(got) > 50
    assert radius == 0.0 or apart.sum() > 100  # at 0 every candidate's box meets the plot's
