"""Social mix: CBS migration-background and corporation-rental shares, buurt or grid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from magicmix_geo.config import load_settings
from magicmix_geo.formats.cbs import read_cbs_buurten
from magicmix_geo.measure.density import grid_shares_within
from magicmix_geo.measure.social import social_indicators
from magicmix_geo.score.criteria import criterion_score

SETTINGS = load_settings()
TEST_DATA = Path(__file__).resolve().parent / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_the_2023_definition_wins_and_2020_fills_in() -> None:
    buurt = pd.DataFrame(
        {
            "pct_origin_outside_europe": [30.0, np.nan, np.nan],
            "pct_non_western": [25.0, 40.0, np.nan],
            "pct_corporation_rental": [10.0, np.nan, 80.0],
        }
    )
    out = social_indicators(buurt, None, 0.5)
    assert out["social_pct_migration"].tolist()[:2] == [30.0, 40.0]
    assert np.isnan(out["social_pct_migration"].iloc[2])
    assert out["social_pct_migration_source"].tolist() == [
        "buurt_origin_outside_europe",
        "buurt_non_western",
        None,
    ]
    assert out["social_pct_corporation_source"].tolist() == ["buurt", None, "buurt"]


def test_the_grid_is_used_where_enough_of_it_is_known() -> None:
    grid = gpd.read_file(TEST_DATA / "cbs_vk100_ermelo_centre.gpkg", engine="pyogrio")
    points = gpd.GeoSeries(grid.geometry.centroid.to_numpy(), crs=28992)
    shares = grid_shares_within(points, grid, 400.0)
    buurt = pd.DataFrame(
        {
            "pct_non_western": np.full(len(points), 99.0),
            "pct_corporation_rental": np.full(len(points), 99.0),
        }
    )
    out = social_indicators(buurt, shares, 0.5)
    use = shares["grid_migration_known"] >= 0.5
    assert use.any() and (~use).any()  # the real grid is partly suppressed
    assert (out.loc[use, "social_pct_migration_source"] == "grid").all()
    assert np.allclose(out.loc[use, "social_pct_migration"], shares.loc[use, "grid_pct_migration"])
    assert (out.loc[~use, "social_pct_migration"] == 99.0).all()
    assert (out.loc[~use, "social_pct_migration_source"] == "buurt_non_western").all()


def test_concentration_penalty() -> None:
    crit = SETTINGS.criteria["mix_migration"]
    score = criterion_score(np.array([5.0, 20.0, 35.0, 50.0, 80.0, np.nan]), crit)
    assert score.tolist() == [1.0, 1.0, 0.5, 0.0, 0.0, crit.missing]
    crit = SETTINGS.criteria["mix_housing"]
    score = criterion_score(np.array([10.0, 30.0, 50.0, 70.0, 95.0]), crit)
    assert score.tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]


def test_sample_sites_carry_their_buurt_shares(sample_sites: gpd.GeoDataFrame) -> None:
    path = SAMPLE / "cbs_buurten_2023_delft.gpkg"
    buurten = read_cbs_buurten(path, "GM0503").set_index("bu_code")
    sites = sample_sites.loc[sample_sites["bu_code"].notna()]
    expected = sites["bu_code"].map(buurten["pct_origin_outside_europe"])
    assert np.allclose(sites["social_pct_migration"], expected, equal_nan=True)
    known = sites["social_pct_migration"].notna()
    assert (sites.loc[known, "social_pct_migration_source"] == "buurt_origin_outside_europe").all()
    expected = sites["bu_code"].map(buurten["pct_corporation_rental"])
    assert np.allclose(sites["social_pct_corporation"], expected, equal_nan=True)
    # the campus buurten differ: the penalty separates them
    assert sites["score_mix_migration"].nunique() > 3
