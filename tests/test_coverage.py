"""Honest distances: a walking distance longer than the way to the data's edge is censored.

A synthetic street along which the true nearest GP lies just outside the coverage (the
municipality plus the clip buffer), and the real sample, whose extract ends at the study area.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from magicmix_geo.config import load_settings
from magicmix_geo.measure.coverage import (
    EDGE_COLUMN,
    censoring,
    data_coverage,
    distance_to_edge,
)
from magicmix_geo.measure.distances import SegmentIndex, nearest_distance
from magicmix_geo.prepare.area import osm_extent
from magicmix_geo.prepare.clip import clip_to_area
from magicmix_geo.prepare.network import WalkNetwork, build_network
from magicmix_geo.prepare.osm import WalkWays
from magicmix_geo.score.criteria import CENSORED_SHARE
from magicmix_geo.score.model import score_sites

SETTINGS = load_settings()
TO_LONLAT = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
X0, Y0 = 85_000.0, 446_000.0  # Delft, RD New
BUFFER_M = SETTINGS.walk.clip_buffer_m  # 2 km


def _street() -> WalkNetwork:
    """One east-west street from x = -3 km to x = +4 km, a node every 100 m."""
    xs = np.arange(-3000, 4001, 100.0)
    lon, lat = TO_LONLAT.transform(X0 + xs, np.full(len(xs), Y0))
    ways = WalkWays(
        way_ids=np.array([1]),
        offsets=np.array([0, len(xs)]),
        node_ids=np.arange(1, len(xs) + 1),
        lon=np.asarray(lon, dtype=float),
        lat=np.asarray(lat, dtype=float),
    )
    return build_network(ways)


def _points(xs: list[float], y: float = 5.0) -> gpd.GeoSeries:
    return gpd.GeoSeries(
        gpd.points_from_xy([X0 + x for x in xs], [Y0 + y] * len(xs)), crs="EPSG:28992"
    )


def _nearest(net: WalkNetwork, sites: gpd.GeoSeries, dests: gpd.GeoSeries) -> np.ndarray:
    index = SegmentIndex(net)
    s = index.snap(sites.x.to_numpy(), sites.y.to_numpy())
    d = index.snap(dests.x.to_numpy(), dests.y.to_numpy())
    return nearest_distance(net, s, d)


# the municipality: x in [0, 1 km]; the coverage then ends at x = 3 km and x = -2 km
AREA = shapely.box(X0, Y0 - 1000, X0 + 1000, Y0 + 1000)
# site A at x = 900: the true nearest GP (x = 3,050 m) is 50 m beyond the coverage's east edge,
# so the run only finds the one at x = -1,950; site B at x = 100 reaches that one within reach
SITES = _points([900.0, 100.0])
GPS = _points([3050.0, -1950.0])


def _measured() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    net = _street()
    dests = gpd.GeoDataFrame({"category": ["gp", "gp"]}, geometry=GPS, crs="EPSG:28992")
    true = _nearest(net, SITES, dests.geometry)
    # the extract's buildings span the street's length, 3 km either side of it
    buildings = gpd.GeoSeries(
        [
            shapely.box(X0 - 3000, Y0 - 3000, X0 - 2990, Y0 - 2990),
            shapely.box(X0 + 3990, Y0 + 2990, X0 + 4000, Y0 + 3000),
        ],
        crs="EPSG:28992",
    )
    extent = osm_extent(buildings, (net.x, net.y))
    coverage = data_coverage(extent, AREA, BUFFER_M)
    clipped_net, clipped = clip_to_area(net, dests, AREA, BUFFER_M)
    measured = _nearest(clipped_net, SITES, clipped.geometry)
    distances = pd.DataFrame({"dist_gp_m": measured})
    flags = censoring(SITES, distances, coverage, ["gp"])
    return true, measured, pd.concat([distances, flags], axis=1)


def test_distance_beyond_the_coverage_is_flagged_and_exact_ones_are_not() -> None:
    true, measured, table = _measured()
    # the situation is real: the run's distance for A is not the true one, for B it is
    assert abs(true[0] - 2160) < 15
    assert measured[0] > true[0] + 500
    assert measured[1] == true[1]
    edge = table[EDGE_COLUMN].to_numpy()
    assert abs(edge[0] - 2100) < 1 and abs(edge[1] - 2100) < 1
    assert table["dist_gp_censored"].tolist() == [True, False]
    # what the flag promises: the true distance is at least the way to the edge
    assert true[0] >= edge[0]


def test_no_destination_at_all_is_censored_too() -> None:
    coverage = data_coverage(shapely.box(X0 - 3000, Y0 - 3000, X0 + 4000, Y0 + 3000), AREA, 2000)
    table = pd.DataFrame({"dist_library_m": [np.nan, 10.0]})
    flags = censoring(SITES, table, coverage, ["library"])
    assert flags["dist_library_censored"].tolist() == [True, False]


def test_coverage_without_boundary_is_the_extent() -> None:
    extent = shapely.box(X0, Y0, X0 + 1000, Y0 + 500)
    assert data_coverage(extent, None, BUFFER_M).equals(extent)
    # outside the coverage nothing is known: the edge distance is 0
    edge = distance_to_edge(np.array([X0 + 100, X0 - 10]), np.array([Y0 + 250, Y0 + 250]), extent)
    assert edge.tolist() == [100.0, 0.0]


def _scored_table(table: pd.DataFrame) -> pd.DataFrame:
    """The two sites with every other indicator the criteria need at its best value (so the
    GP is the one criterion that loses points and shows in the reasons)."""
    columns: dict[str, object] = {"site_id": ["A", "B"], "area_m2": [2000.0, 2000.0]}
    for crit in SETTINGS.criteria.values():
        columns[crit.indicator] = [crit.best, crit.best]
    frame = pd.DataFrame(columns)
    return pd.concat([frame.drop(columns="dist_gp_m"), table], axis=1)


def test_censored_distance_scores_as_unknown_and_the_reasons_say_so() -> None:
    _true, measured, table = _measured()
    gp = dataclasses.replace(SETTINGS.criteria["gp"], best=500.0, worst=4000.0, missing=0.0)
    settings = dataclasses.replace(SETTINGS, criteria={**SETTINGS.criteria, "gp": gp})
    scored = score_sites(_scored_table(table), settings, "singles", stability=False)
    # A: unknown, not far: half the score at the edge of the data (an upper bound of the true
    # score), neither the criterion's missing score (0, as if unreachable) nor the linear score
    # of the measured, too long walk
    edge = scored.loc[0, "coverage_edge_m"]
    at_edge = (4000.0 - edge) / 3500.0
    far = (4000.0 - measured[0]) / 3500.0
    assert np.isclose(scored.loc[0, "score_gp"], CENSORED_SHARE * at_edge)
    assert scored.loc[0, "score_gp"] > 0.0 and not np.isclose(scored.loc[0, "score_gp"], far)
    # B: the measured distance is a fact and scores as one
    assert np.isclose(scored.loc[1, "score_gp"], min(1.0, (4000.0 - measured[1]) / 3500.0))
    a_en, a_nl = scored.loc[0, "reasons_en"], scored.loc[0, "reasons_nl"]
    assert "general practitioner at least 2,100 m, beyond the data's coverage" in a_en
    assert "huisarts minstens 2.100 m, buiten het bereik van de data" in a_nl
    assert "beyond the data's coverage" not in scored.loc[1, "reasons_en"]


def test_sample_edge_sites_are_flagged(sample_run: Path) -> None:
    sites = gpd.read_file(next(sample_run.glob("GM0503_*.gpkg")), layer="sites")
    edge = sites[EDGE_COLUMN].to_numpy()
    for category in SETTINGS.categories:
        dist = sites[f"dist_{category}_m"].to_numpy(dtype=float)
        flag = sites[f"dist_{category}_censored"].astype(bool).to_numpy()
        assert (flag == (np.isnan(dist) | (dist > edge))).all(), category
    # the sample's known gap: no GP in the extract's box; most GP walks found end beyond the
    # edge, and no reason presents such a walk as a fact ("general practitioner 5,814 m")
    assert sites["dist_gp_censored"].astype(bool).mean() > 0.5
    ranked = sites.loc[sites["rank_gm"].notna()]
    for text, limit in zip(ranked["reasons_en"], ranked[EDGE_COLUMN], strict=True):
        for found in re.findall(r"general practitioner ([\d,]+) m walking", text):
            assert float(found.replace(",", "")) <= limit + 1, text
    assert ranked["reasons_en"].str.contains("beyond the data's coverage").any()
    assert ranked["reasons_nl"].str.contains("buiten het bereik van de data").any()
    # a site deep inside keeps facts: short supermarket walks are not censored
    near = sites["dist_supermarket_m"] < sites[EDGE_COLUMN]
    assert near.any() and not sites.loc[near, "dist_supermarket_censored"].astype(bool).any()
