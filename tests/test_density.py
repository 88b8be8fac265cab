"""Density rasters (rasterio): the real CBS 100 m grid of Ermelo, OSM buildings of the Delft
sample, focal sums against an independent vector sum, GeoTIFFs for QGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from magicmix_geo.config import load_settings
from magicmix_geo.measure.context import sum_within
from magicmix_geo.measure.density import (
    Raster,
    aligned_frame,
    building_cover,
    density_indicators,
    disc_kernel,
    focal_sum,
    grid_shares_within,
    grid_values,
    rasterise_cells,
    sample,
)
from magicmix_geo.prepare.layers import buildings_layer
from magicmix_geo.prepare.osm import read_osm_for
from magicmix_geo.publish.rasters import write_geotiff

TEST_DATA = Path(__file__).resolve().parent / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
GRID = TEST_DATA / "cbs_vk100_ermelo_centre.gpkg"


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    return gpd.read_file(GRID, engine="pyogrio")


@pytest.fixture(scope="module")
def delft_buildings() -> gpd.GeoDataFrame:
    settings = load_settings()
    return buildings_layer(read_osm_for(SAMPLE / "tudelft.osm.pbf", settings), settings)


def test_suppressed_grid_values_are_unknown(grid: gpd.GeoDataFrame) -> None:
    values = grid_values(grid)
    raw = grid["aantal_woningen"].to_numpy()
    assert (raw == -99997).any()
    assert values["dwellings"].isna().to_numpy().tolist() == (raw < 0).tolist()
    assert (values.dropna(how="all").fillna(0) >= 0).all().all()


def test_rasterised_grid_keeps_every_known_value_and_counts_unknown(grid: gpd.GeoDataFrame) -> None:
    values = grid_values(grid)
    transform, shape = aligned_frame(tuple(grid.total_bounds), 100.0, margin_m=300)
    pop, unknown = rasterise_cells(grid.geometry, values["population"].to_numpy(), transform, shape)
    assert pop.data.sum() == pytest.approx(values["population"].sum())
    assert unknown.data.sum() == values["population"].isna().sum()
    # each CBS cell lands on exactly one raster cell: its centre's
    c = grid.geometry.centroid
    at = sample(pop, c.x.to_numpy(), c.y.to_numpy())
    assert np.allclose(at, values["population"].fillna(0).to_numpy())


@pytest.mark.parametrize("radius", [450.0, 850.0])
def test_focal_sums_equal_an_independent_vector_sum(grid: gpd.GeoDataFrame, radius: float) -> None:
    values = grid_values(grid)
    transform, shape = aligned_frame(tuple(grid.total_bounds), 100.0, margin_m=radius + 100)
    pop, _ = rasterise_cells(grid.geometry, values["population"].to_numpy(), transform, shape)
    focal = focal_sum(pop, radius)
    # points: every cell centre of the grid plus points off-centre inside cells
    c = grid.geometry.centroid
    rng = np.random.default_rng(1)
    x = np.concatenate([c.x.to_numpy(), c.x.to_numpy()[:40] + rng.uniform(-40, 40, 40)])
    y = np.concatenate([c.y.to_numpy(), c.y.to_numpy()[:40] + rng.uniform(-40, 40, 40)])
    got = sample(focal, x, y)
    # the oracle: cells whose centre lies within the radius of the centre of the point's cell
    cx = np.floor(x / 100) * 100 + 50
    cy = np.floor(y / 100) * 100 + 50
    oracle = sum_within(
        gpd.GeoSeries(shapely.points(cx, cy), crs=28992),
        grid.geometry,
        values["population"].to_numpy(),
        radius,
    )
    assert np.allclose(got, oracle)
    assert disc_kernel(radius, 100.0).sum() == np.count_nonzero(
        np.add.outer(np.arange(-9, 10) ** 2, np.arange(-9, 10) ** 2) * 1e4 <= radius**2
    )


def test_density_indicators_from_the_grid(grid: gpd.GeoDataFrame) -> None:
    c = grid.geometry.centroid.iloc[:30]
    points = gpd.GeoSeries(c.to_numpy(), crs=28992)
    outside = gpd.GeoSeries([shapely.Point(150_000, 470_000)], crs=28992)
    result = density_indicators(
        gpd.GeoSeries(np.concatenate([points.to_numpy(), outside.to_numpy()]), crs=28992),
        gpd.GeoSeries([], crs=28992),
        grid,
        (400, 800),
    )
    table = result.indicators
    assert (table["pop_400m"].iloc[:30] > 0).all()
    assert (table["pop_400m"].iloc[:30] <= table["pop_800m"].iloc[:30]).all()
    assert np.isnan(table["pop_400m"].iloc[30])  # beyond the grid's extent: unknown, not 0
    assert (table["building_cover_400m"] == 0).all()
    assert {"pop_100m", "pop_400m", "dwellings_800m", "building_cover_400m"} <= set(result.rasters)


def test_grid_shares_are_population_weighted(grid: gpd.GeoDataFrame) -> None:
    c = grid.geometry.centroid
    points = gpd.GeoSeries(c.to_numpy(), crs=28992)
    shares = grid_shares_within(points, grid, 400.0)
    known = shares["grid_migration_known"].dropna()
    assert ((known >= 0) & (known <= 1)).all()
    pct = shares["grid_pct_migration"].dropna()
    assert ((pct >= 0) & (pct <= 100)).all()
    corp = shares["grid_pct_corporation"].dropna()
    assert ((corp >= 0) & (corp <= 100)).all()
    # one point by hand
    i = int(np.nanargmax(shares["grid_migration_known"].to_numpy()))
    values = grid_values(grid)
    mig = values["pct_non_western"]
    near = (np.hypot(c.x - c.x.iloc[i], c.y - c.y.iloc[i]) <= 400).to_numpy()
    w = values["population"].fillna(0).to_numpy()[near]
    m = mig.to_numpy()[near]
    ok = ~np.isnan(m)
    expected = (m[ok] * w[ok]).sum() / w[ok].sum()
    assert shares["grid_pct_migration"].iloc[i] == pytest.approx(expected)


def test_building_cover_is_the_exact_footprint_area(delft_buildings: gpd.GeoDataFrame) -> None:
    geoms = delft_buildings.geometry
    core = shapely.box(84_000, 446_000, 86_000, 447_200)
    inside = geoms[geoms.within(core)]
    transform, shape = aligned_frame(core.bounds, 100.0)
    cover = building_cover(inside, transform, shape)
    assert cover.data.sum() == pytest.approx(inside.area.sum(), rel=1e-9)
    assert (cover.data <= 100.0 * 100.0 + 1e-6).all()
    # share of the disc in [0, 1] and more built-up on the campus than in a park
    result = density_indicators(
        gpd.GeoSeries([shapely.Point(85_000, 446_500)], crs=28992), geoms, None, (400,)
    )
    share = result.indicators["building_cover_400m"].iloc[0]
    assert 0.0 < share < 1.0
    assert np.isnan(result.indicators["pop_400m"].iloc[0])


def test_geotiff_is_written_atomically_and_reads_back(tmp_path: Path) -> None:
    transform, shape = aligned_frame((85_000, 446_000, 86_000, 447_000), 25.0)
    data = np.arange(shape[0] * shape[1], dtype=float).reshape(shape)
    data[0, 0] = np.nan
    path = write_geotiff(
        tmp_path / "x" / "GM0503_test.tif",
        Raster(data, transform, "a test", "m"),
        tags={"run_id": "abc"},
    )
    assert [p.name for p in path.parent.iterdir()] == ["GM0503_test.tif"]
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 28992
        assert src.transform == transform
        back = src.read(1)
        assert src.descriptions == ("a test",)
        assert src.units == ("m",)
        assert src.tags()["run_id"] == "abc"
    assert np.isnan(back[0, 0])
    assert np.allclose(back[1:], data[1:])


def test_sample_run_writes_the_surfaces(sample_run: Path, sample_sites: gpd.GeoDataFrame) -> None:
    folder = sample_run / "rasters"
    names = {p.name for p in folder.glob("*.tif")}
    assert {
        "GM0503_dist_pt_stop_m.tif",
        "GM0503_dist_supermarket_m.tif",
        "GM0503_transit_access_min.tif",
        "GM0503_building_cover_400m.tif",
    } <= names
    ranked = sample_sites.loc[~sample_sites["excluded"].astype(bool)]
    pts = ranked.geometry.representative_point()
    with rasterio.open(folder / "GM0503_dist_pt_stop_m.tif") as src:
        assert src.crs.to_epsg() == 28992
        values = np.array([v[0] for v in src.sample(zip(pts.x, pts.y, strict=True))])
    # the surface at a site's cell agrees with the site's own distance to within the cell size
    diff = np.abs(values - ranked["dist_pt_stop_m"].to_numpy())
    assert np.nanmedian(diff) < 25.0
    assert np.isfinite(values).mean() > 0.9
    with rasterio.open(folder / "GM0503_building_cover_400m.tif") as src:
        cover = src.read(1)
        assert np.nanmax(cover) <= 1.0 and np.nanmin(cover) >= 0.0
    # the sample has no CBS grid: density falls back on the building cover
    assert sample_sites["pop_400m"].isna().all()
    assert sample_sites["building_cover_400m"].between(0, 1).all()
