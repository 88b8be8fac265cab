"""The ranking model on the real sample: scores, exclusions with reasons, profiles, explanations."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magicmix_geo._errors import ConfigError
from magicmix_geo.config import Criterion, Fallback, load_settings
from magicmix_geo.score.criteria import criterion_score, linear_score
from magicmix_geo.score.model import exclusions, score_sites

SETTINGS = load_settings()
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def _criterion(direction: str, a: float, b: float, missing: float = 0.0) -> Criterion:
    lo, hi = sorted((a, b))
    best, worst = (lo, hi) if direction == "lower_is_better" else (hi, lo)
    return Criterion("c", "x", direction, best, worst, missing)


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from(["lower_is_better", "higher_is_better"]),
    a=st.floats(0, 5000),
    gap=st.floats(1, 5000),
    x=st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=30),
    missing=st.floats(0, 1),
)
def test_scores_lie_in_unit_interval(
    direction: str, a: float, gap: float, x: list[float], missing: float
) -> None:
    crit = _criterion(direction, a, a + gap, missing)
    score = criterion_score(np.array(x), crit)
    assert np.all((score >= 0) & (score <= 1))
    assert np.all(score[np.isnan(x)] == missing)


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(0, 5000), gap=st.floats(1, 5000), d1=st.floats(0, 20_000), d2=st.floats(0, 20_000)
)
def test_distance_scores_never_rise_with_distance(
    a: float, gap: float, d1: float, d2: float
) -> None:
    crit = _criterion("lower_is_better", a, a + gap)
    near, far = sorted((d1, d2))
    s_near, s_far = criterion_score(np.array([near, far]), crit)
    assert s_near >= s_far
    # the plateau and the floor
    assert criterion_score(np.array([a]), crit)[0] == 1.0
    assert criterion_score(np.array([a + gap]), crit)[0] == 0.0


@settings(max_examples=200, deadline=None)
@given(q1=st.floats(0, 1e5), q2=st.floats(0, 1e5))
def test_quantity_scores_never_fall_with_quantity(q1: float, q2: float) -> None:
    for name in ("neighbours", "density", "no_industry", "residential_setting"):
        crit = SETTINGS.criteria[name]
        low, high = sorted((q1, q2))
        s = criterion_score(np.array([low, high]), crit)
        assert s[0] <= s[1], name


@settings(max_examples=100, deadline=None)
@given(d=st.lists(st.floats(0, 10_000), min_size=2, max_size=20))
def test_every_configured_distance_criterion_decays(d: list[float]) -> None:
    x = np.sort(np.array(d))
    for name, crit in SETTINGS.criteria.items():
        if crit.direction == "lower_is_better":
            s = criterion_score(x, crit)
            assert np.all(np.diff(s) <= 0), name
            assert np.all((s >= 0) & (s <= 1)), name


def test_fallback_scores_where_the_indicator_is_null() -> None:
    crit = Criterion(
        "density", "pop", "higher_is_better", 2000, 0, 0.5, fallback=Fallback("cover", 0.2, 0.0)
    )
    score = criterion_score(np.array([1000, np.nan, np.nan]), crit, np.array([0.0, 0.1, np.nan]))
    assert score.tolist() == [0.5, 0.5, 0.5]
    score = criterion_score(np.array([np.nan]), crit, np.array([0.3]))
    assert score.tolist() == [1.0]
    assert linear_score(np.array([0.05]), "higher_is_better", 0.2, 0.0)[0] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[transit]\nwalk_sped = 80\n", "transit.walk_sped"),
        ("[transit.mode_wait_min]\nferry = 5\n", "transit.mode_wait_min.ferry"),
        ("[stability]\ndraws = 0\n", "stability.draws"),
        ("[stability]\nspred = 0.1\n", "stability.spred"),
        ("[criteria.density.fallback]\nbest = -1\n", "criteria.density.fallback"),
        ("[criteria.density.fallback]\nindcator = 'x'\n", "criteria.density.fallback.indcator"),
        ("[criteria.transit]\nlabel = 'x'\n", "criteria.transit.label"),
        ("[rasters]\ncategories = ['teleport']\n", "rasters.categories"),
        ("[exclusions]\nmax_share_water = 2\n", "exclusions.max_share_water"),
        ("[social]\nradius = 400\n", "social.radius"),
        ("[profiles.families]\nplayground = -1\n", "profiles.families.playground"),
    ],
)
def test_new_model_keys_are_validated(tmp_path: Path, text: str, needle: str) -> None:
    user = tmp_path / "bad.toml"
    user.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(user)
    assert needle in str(info.value)


def test_every_criterion_has_labels_and_both_profiles_weigh_it() -> None:
    for name in SETTINGS.criteria:
        raw = SETTINGS.raw["criteria"][name]
        assert raw.get("label_en") and raw.get("label_nl"), name
        for profile in ("singles", "families"):
            assert name in SETTINGS.profiles[profile], (profile, name)
    singles, families = SETTINGS.weights("singles"), SETTINGS.weights("families")
    for name in ("primary_school", "childcare", "playground"):
        assert families[name] > singles[name]
    assert singles["transit"] > families["transit"]


# ---------------------------------------------------------------------------- the real sample


def test_exclusions_carry_reasons_in_both_languages(sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    excluded = sites["excluded"].astype(bool)
    assert excluded.any() and (~excluded).any()
    for col in ("exclusion_reason", "exclusion_reason_nl", "exclusion_codes"):
        assert sites.loc[excluded, col].notna().all(), col
        assert sites.loc[~excluded, col].isna().all(), col
    codes = set(sites["exclusion_codes"].dropna().str.split("; ").explode())
    # the sample's OSM plots are candidates only with >= 3 residential buildings within 100 m
    # (vacant land in a residential setting, issue 14), so none lacks direct neighbours (the
    # rule is tested on a synthetic table in test_sites.py); its example plans include a
    # temporary one. Its stop distances beyond 800 m are all censored near the data's edge
    # (unknown, not far: tests/test_no_transit_censored.py), so no site lacks transit for sure
    assert {"industry", "area", "water", "infrastructure", "temporary"} <= codes
    # each code's rule holds for its sites, and the text states the measured value
    rules = load_settings().exclusions
    coded = sites.loc[excluded]
    has = coded["exclusion_codes"].str.split("; ")
    industry = coded.loc[has.apply(lambda c: "industry" in c)]
    assert (industry["dist_industrial_m"] < rules.industrial_within_m).all()
    assert industry["exclusion_reason"].str.contains("industrial land within").all()
    assert industry["exclusion_reason_nl"].str.contains("industrieterrein op").all()
    walk = rules.max_walk_to_pt_stop_m
    transit = coded.loc[has.apply(lambda c: "no_transit" in c)]
    assert (~(transit["dist_pt_stop_m"] <= walk)).all()
    censored = transit["dist_pt_stop_censored"].astype(bool)
    assert (transit.loc[censored, "coverage_edge_m"] > walk).all()
    water = coded.loc[has.apply(lambda c: "water" in c)]
    assert (water["share_site_water"] >= rules.max_share_water).all()
    assert water["exclusion_reason_nl"].str.contains("water").all()
    infra = coded.loc[has.apply(lambda c: "infrastructure" in c)]
    assert (infra["share_site_infrastructure"] >= rules.max_share_infrastructure).all()
    area = coded.loc[has.apply(lambda c: "area" in c)]
    assert ((area["area_m2"] < rules.min_area_m2) | (area["area_m2"] > rules.max_area_m2)).all()
    # ranked sites pass every rule
    ranked = sites.loc[~excluded]
    near = ranked["dist_pt_stop_m"] <= walk
    unknown = ranked["dist_pt_stop_censored"].astype(bool) & (ranked["coverage_edge_m"] <= walk)
    assert (near | unknown).all()
    assert (ranked["n_residential_buildings_100m"] >= rules.min_neighbour_buildings).all()
    assert (ranked["share_site_infrastructure"] < rules.max_share_infrastructure).all()


def test_temporary_sites_are_excluded_with_a_reason(sample_sites: gpd.GeoDataFrame) -> None:
    table = pd.DataFrame(sample_sites.drop(columns="geometry"))
    ranked = table.loc[~table["excluded"].astype(bool)].head(5).copy()
    ranked["temporary"] = [True, False, True, False, False]
    _, en, nl = exclusions(ranked, SETTINGS.exclusions, "n_residential_buildings_100m")
    assert en.notna().tolist() == [True, False, True, False, False]
    assert (en.dropna() == "temporary site").all()
    assert (nl.dropna() == "tijdelijke locatie").all()


def test_scores_and_contributions_add_up(sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    names = list(SETTINGS.criteria)
    weights = SETTINGS.weights("singles")
    for name in names:
        assert sites[f"score_{name}"].between(0, 1).all(), name
        assert np.allclose(sites[f"contrib_{name}"], weights[name] * sites[f"score_{name}"])
    total = sites[[f"contrib_{n}" for n in names]].sum(axis=1)
    assert np.allclose(total, sites["score_total"], atol=1e-9)
    assert sites["score_total"].between(0, 1).all()


def test_reasons_name_the_measured_facts(sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    ranked = sites.loc[~sites["excluded"].astype(bool)].sort_values("rank_gm")
    # the kind of site first (issue 14), then the reasons for and against
    assert ranked["reasons_en"].str.match(r"^Kind: .*\. For: ").all()
    assert ranked["reasons_nl"].str.match(r"^Soort: .*\. Voor: ").all()
    assert ranked["reasons_en"].str.contains("Against: ").all()
    assert ranked["reasons_nl"].str.contains("Tegen: ").all()
    best = ranked.iloc[0]
    # the best site's strongest reason is its largest contribution, with its value
    contrib = {n: best[f"contrib_{n}"] for n in SETTINGS.criteria}
    top = max(contrib, key=contrib.get)
    assert SETTINGS.criteria[top].label_en in best["reasons_en"].split(". Against")[0]
    assert SETTINGS.criteria[top].label_nl in best["reasons_nl"].split(". Tegen")[0]
    excluded = sites.loc[sites["excluded"].astype(bool)]
    assert excluded["reasons_en"].str.match(r"^Kind: .*\. Excluded: ").all()
    assert excluded["reasons_nl"].str.match(r"^Soort: .*\. Uitgesloten: ").all()


def _rescore(sample_sites: gpd.GeoDataFrame, profile: str) -> pd.DataFrame:
    keep = [
        c
        for c in sample_sites.columns
        if not c.startswith(("score_", "contrib_", "rank_", "reasons_", "exclusion"))
        and c not in ("excluded", "geometry")
    ]
    table = pd.DataFrame(sample_sites[keep])
    return score_sites(table, SETTINGS, profile, stability=False).set_index("site_id")


def test_the_two_profiles_rank_differently_where_they_should(
    sample_sites: gpd.GeoDataFrame,
) -> None:
    singles = _rescore(sample_sites, "singles")
    families = _rescore(sample_sites, "families")
    # the same exclusions (they are the booklet's basic principles, not preferences)
    assert (singles["excluded"] == families["excluded"]).all()
    ranked = singles.index[~singles["excluded"]]
    a = singles.loc[ranked, "rank_gm"].astype(int)
    b = families.loc[ranked, "rank_gm"].astype(int)
    assert sorted(b) == list(range(1, len(ranked) + 1))
    assert (a != b).sum() > len(ranked) // 2
    # families move up where schools, childcare and play are close, singles where transit is
    family_gain = singles.loc[
        ranked, ["score_primary_school", "score_childcare", "score_playground"]
    ].mean(axis=1)
    moved_up = (a - b).astype(float)  # > 0: better rank for families
    rho = pd.Series(moved_up).corr(family_gain, method="spearman")
    assert rho > 0.3
    # the top 10 are not the same
    top_s = set(a.nsmallest(10).index)
    top_f = set(b.nsmallest(10).index)
    assert top_s != top_f
    # scoring the same table again gives the same ranks (the model is deterministic)
    again = _rescore(sample_sites, "singles")
    assert again.loc[ranked, "rank_gm"].astype(int).equals(a)


def test_sample_rescore_matches_the_published_run(sample_sites: gpd.GeoDataFrame) -> None:
    singles = _rescore(sample_sites, "singles")
    published = sample_sites.set_index("site_id")
    assert np.allclose(singles["score_total"], published.loc[singles.index, "score_total"])
    ranked = ~published["excluded"].astype(bool)
    assert (
        singles.loc[ranked[ranked].index, "rank_gm"].astype(int)
        == published.loc[ranked, "rank_gm"].astype(int)
    ).all()
