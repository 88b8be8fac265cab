"""Every dist_<category>_m equals an independent osmnx + networkx computation.

The reference (tests/reference.py) builds osmnx's own walk graph with graph_from_xml and
routes with networkx; it shares no code with magicmix_geo. Run the same check on any other
OSM file with
``MAGICMIX_EXTRA_OSM=/path/a.osm.pbf[:/path/b.osm.pbf] pytest tests/test_distances_reference.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.contract import RankInputs
from magicmix_geo.pipeline import rank_municipality
from tests.reference import reference_distances, reference_walk_graph

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_M = 0.01
EXTRA = [Path(p) for p in os.environ.get("MAGICMIX_EXTRA_OSM", "").split(os.pathsep) if p]


def _compare(sites: gpd.GeoDataFrame, amenities: gpd.GeoDataFrame, osm: Path) -> dict[str, int]:
    graph = reference_walk_graph(osm)
    points = sites.geometry.representative_point()
    site_xy = np.column_stack([points.x, points.y])
    checked = {}
    for category in load_settings().categories:
        dests = amenities.loc[amenities["category"] == category]
        dest_xy = np.column_stack([dests.geometry.x, dests.geometry.y])
        expected = reference_distances(graph, site_xy, dest_xy)
        ours = sites[f"dist_{category}_m"].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected), err_msg=category)
        finite = ~np.isnan(ours)
        worst = np.max(np.abs(ours[finite] - expected[finite]), initial=0.0)
        assert worst <= TOLERANCE_M, f"{category}: max difference {worst:.4f} m"
        checked[category] = int(finite.sum())
    return checked


def test_sample_distances_equal_osmnx_networkx(sample_run: Path) -> None:
    gpkg = sample_run / "GM0503_Delft.gpkg"
    sites = gpd.read_file(gpkg, layer="sites", engine="pyogrio")
    amenities = gpd.read_file(gpkg, layer="amenities", engine="pyogrio")
    checked = _compare(sites, amenities, ROOT / "data" / "sample" / "tudelft.osm.pbf")
    # the sample has stops, supermarkets, schools, childcare, parks...: most are reachable
    assert checked["pt_stop"] == len(sites)
    assert checked["supermarket"] == len(sites)


if EXTRA:  # defined only when other files are given, so that it never shows as skipped

    @pytest.mark.parametrize("osm", EXTRA, ids=[p.name for p in EXTRA])
    def test_other_city_distances_equal_osmnx_networkx(osm: Path) -> None:
        result = rank_municipality(RankInputs(osm=osm, gm_code="GM0000"), load_settings())
        sites = result.sites
        if len(sites) > 400:
            sites = sites.sample(400, random_state=1)
        checked = _compare(sites, result.layers["amenities"], osm)
        print(f"{osm.name}: {len(sites)} sites, reachable per category {checked}")
