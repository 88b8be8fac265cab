"""Property-based geometry edge cases: whatever polygons come in, candidates come out valid
and polygonal, or are reported as dropped; never a crash."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magicmix_geo.measure.context import share_covered
from magicmix_geo.prepare.candidates import read_candidates

X0, Y0 = 85000.0, 446500.0
coordinate = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)
ring = st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=7)


def _polygon(points: list[tuple[float, float]]) -> shapely.Polygon:
    return shapely.Polygon([(X0 + x, Y0 + y) for x, y in points])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rings=st.lists(ring, min_size=1, max_size=6))
def test_any_polygons_become_valid_sites_or_are_reported(tmp_path: Path, rings: list) -> None:
    geoms = [_polygon(r) for r in rings]
    path = tmp_path / "c.gpkg"
    frame = gpd.GeoDataFrame(
        {"site_id": [f"S{i}" for i in range(len(geoms))]}, geometry=geoms, crs="EPSG:28992"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # writing deliberately broken rings
        frame.to_file(path, engine="pyogrio")
    try:
        sites = read_candidates(path)
    except ValueError as exc:  # InputError: all rows unusable, reported with the file name
        assert str(path) in str(exc)
        return
    assert sites.geometry.is_valid.all()
    assert sites.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert (sites.geometry.area > 0).all()
    dropped = sites.attrs.get("dropped", [])
    assert len(sites) + len(dropped) == len(geoms)
    assert sites["site_id"].is_unique


@settings(max_examples=60, deadline=None)
@given(
    radius=st.floats(min_value=1, max_value=2000),
    cover=st.lists(ring, min_size=0, max_size=5),
    dx=coordinate,
    dy=coordinate,
)
def test_share_covered_is_a_share(radius: float, cover: list, dx: float, dy: float) -> None:
    points = gpd.GeoSeries([shapely.Point(X0 + dx, Y0 + dy)], crs="EPSG:28992")
    polygons = gpd.GeoSeries([_polygon(r) for r in cover], crs="EPSG:28992")
    share = share_covered(points, polygons, radius)
    assert share.shape == (1,)
    assert 0.0 <= share[0] <= 1.0
    assert np.isfinite(share).all()
