"""`magicmix-geo run` on the real sample: every output exists and holds what it must."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from magicmix_geo.config import load_settings

CATEGORIES = list(load_settings().categories)


def test_outputs_follow_the_interface_contract(sample_run: Path) -> None:
    gpkg = sample_run / "GM0503_Delft.gpkg"
    assert gpkg.is_file()
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"sites", "stops", "amenities", "boundary", "layer_styles"} <= layers
    for name in ("sites", "stops", "amenities", "boundary"):
        assert pyogrio.read_info(gpkg, layer=name)["crs"] == "EPSG:28992"
    for path in (
        "maps/GM0503.png",
        "maps/GM0503.html",
        "national_ranking.gpkg",
        "national_ranking.csv",
        "national_ranking.xlsx",
        "manifest.json",
    ):
        assert (sample_run / path).is_file(), path
        assert (sample_run / path).stat().st_size > 0, path
    # nothing half-written is left behind
    assert not [p for p in sample_run.parent.iterdir() if p.name.startswith(".")]


def test_sites_have_every_indicator_and_score(sample_sites: gpd.GeoDataFrame) -> None:
    settings = load_settings()
    sites = sample_sites
    assert len(sites) > 100
    for column in (
        "site_id",
        "gm_code",
        "area_m2",
        "score_total",
        "excluded",
        "exclusion_reason",
        "rank_gm",
    ):
        assert column in sites.columns, column
    for category in CATEGORIES:
        assert f"dist_{category}_m" in sites.columns
    for d in (400, 800, 1200):
        assert f"n_pt_stop_{d}m" in sites.columns
        assert f"n_supermarket_{d}m" in sites.columns
    for name in settings.criteria:
        score = sites[f"score_{name}"]
        assert score.between(0, 1).all(), name
    assert sites["score_total"].between(0, 1).all()
    assert (sites["gm_code"] == "GM0503").all()
    assert sites["site_id"].is_unique
    # counts grow with the radius; the nearest stop within D means at least one counted
    assert (sites["n_pt_stop_400m"] <= sites["n_pt_stop_800m"]).all()
    assert (sites["n_pt_stop_800m"] <= sites["n_pt_stop_1200m"]).all()
    near = sites["dist_pt_stop_m"] <= 400
    assert (sites.loc[near, "n_pt_stop_400m"] >= 1).all()
    assert (sites.loc[sites["dist_pt_stop_m"] > 1200, "n_pt_stop_1200m"] == 0).all()


def test_rank_is_a_permutation_of_the_non_excluded_sites(sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    ranked = sites.loc[~sites["excluded"].astype(bool)]
    assert len(ranked) > 10
    assert sorted(ranked["rank_gm"].astype(int)) == list(range(1, len(ranked) + 1))
    assert sites.loc[sites["excluded"].astype(bool), "rank_gm"].isna().all()
    assert sites.loc[sites["excluded"].astype(bool), "exclusion_reason"].notna().all()
    assert sites.loc[~sites["excluded"].astype(bool), "exclusion_reason"].isna().all()
    # a better rank never has a lower total
    by_rank = ranked.sort_values("rank_gm")
    assert (np.diff(by_rank["score_total"].to_numpy()) <= 1e-12).all()


def test_candidates_are_flagged_as_osm_proxies(
    sample_run: Path, sample_sites: gpd.GeoDataFrame
) -> None:
    manifest = json.loads((sample_run / "manifest.json").read_text())
    municipality = manifest["municipalities"][0]
    assert municipality["candidate_source"] == "osm_proxy"
    assert municipality["candidates_are_proxies"] is True
    # the land candidates are OSM proxies, flagged; the example plans are not (issue 14)
    proxy = sample_sites["site_type"] == "proxy"
    assert proxy.any() and sample_sites.loc[proxy, "is_proxy"].astype(bool).all()
    assert not sample_sites.loc[~proxy, "is_proxy"].astype(bool).any()
    for key in ("run_id", "started_at", "ended_at", "software", "config_hash", "inputs"):
        assert manifest[key], key
    licences = {item["source"]: item["licence"] for item in manifest["inputs"]}
    assert licences["osm"] == "ODbL-1.0"
    assert all(len(item["sha256"]) == 64 for item in manifest["inputs"])


def test_national_list_ranks_all_ranked_sites(
    sample_run: Path, sample_sites: gpd.GeoDataFrame
) -> None:
    table = pd.read_csv(sample_run / "national_ranking.csv")
    ranked = sample_sites.loc[~sample_sites["excluded"].astype(bool)]
    assert len(table) == len(ranked)
    assert sorted(table["rank_nl"]) == list(range(1, len(ranked) + 1))
    assert {"rank_nl", "gm_code", "site_id", "score_total"} <= set(table.columns)


def test_layer_styles_has_a_default_style_per_layer(sample_run: Path) -> None:
    with sqlite3.connect(sample_run / "GM0503_Delft.gpkg") as db:
        rows = db.execute(
            "SELECT f_table_name, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
    styled = {name for name, default, qml in rows if default and "<qgis" in qml}
    assert {"sites", "stops", "amenities", "boundary"} <= styled


def test_cbs_suppressed_values_are_null_and_buurt_is_joined(sample_sites: gpd.GeoDataFrame) -> None:
    assert sample_sites["bu_code"].notna().mean() > 0.9
    assert sample_sites["bu_code"].dropna().str.startswith("BU0503").all()
    for column in ("population", "pct_origin_outside_europe"):
        assert (sample_sites[column].dropna() >= 0).all(), column


@pytest.mark.parametrize("profile", ["singles", "families"])
def test_profiles_weigh_differently(profile: str) -> None:
    settings = load_settings()
    weights = settings.weights(profile)
    other = settings.weights("families" if profile == "singles" else "singles")
    assert weights != other
