"""Typed candidates: each type from its source, overlaps merged, the outside reported, the size
exclusion only for land, and the sample end to end.

The BAG fixture is the real Delft BAG sample (data/sample/bag_panden_delft_wippolder.gpkg,
60 panden, all in use); to exercise the statuses a new-build project and a building out of
use carry, a few rows get another status spelled as the BAG catalogue spells it
("Bouw gestart", "Bouwvergunning verleend", "Pand buiten gebruik"; docs/sources.md).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from magicmix_geo.config import SiteSettings, load_settings
from magicmix_geo.formats.bag import flag_panden
from magicmix_geo.prepare.bag import read_bag_panden
from magicmix_geo.prepare.plans import read_plans
from magicmix_geo.prepare.sites import building_cover, covered, floor_area, typed_candidates
from magicmix_geo.score.model import exclusions, site_preference

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
BAG = SAMPLE / "bag_panden_delft_wippolder.gpkg"
SETTINGS = load_settings()
RULES: SiteSettings = SETTINGS.sites

OFFICE = "503100000025503"  # kantoorfunctie, 1 unit
SCHOOL_OFFICE = "503100000032817"  # kantoorfunctie, onderwijsfunctie, 5 units
SHOP = "503100000004258"  # winkelfunctie
HOUSE = "503100000004254"  # woonfunctie
MIXED = "503100000019913"  # winkelfunctie, woonfunctie, 7 units
HOUSE_OUT = "503100000017088"  # woonfunctie


def _panden(statuses: dict[str, str]) -> gpd.GeoDataFrame:
    panden = read_bag_panden(BAG)
    panden = panden.loc[panden["identificatie"].astype(str).str.match(r"^\d{15}$")].copy()
    for pid, status in statuses.items():
        panden.loc[panden["identificatie"] == pid, "status"] = status
    return flag_panden(panden)


STATUSES = {
    OFFICE: "Pand buiten gebruik",
    SCHOOL_OFFICE: "Pand buiten gebruik",
    SHOP: "Pand buiten gebruik",
    HOUSE_OUT: "Pand buiten gebruik",
    HOUSE: "Bouw gestart",
    MIXED: "Bouwvergunning verleend",
}


@pytest.fixture(scope="module")
def panden() -> gpd.GeoDataFrame:
    return _panden(STATUSES)


@pytest.fixture(scope="module")
def area(panden: gpd.GeoDataFrame) -> object:
    return box(*panden.total_bounds).buffer(300)


def _geom(panden: gpd.GeoDataFrame, pid: str) -> object:
    return panden.loc[panden["identificatie"] == pid].geometry.iloc[0]


def _buildings(panden: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"residential": panden["residential"].to_numpy()},
        geometry=panden.geometry.to_numpy(),
        crs=28992,
    )


def _by_id(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return frame.set_index("site_id")


def test_bag_types_from_their_status_and_use(panden: gpd.GeoDataFrame, area: object) -> None:
    inside, outside = typed_candidates(area, RULES, panden=panden)
    assert len(outside) == 0
    kinds = _by_id(inside)["site_type"].to_dict()
    # new build: permit granted or construction started, holding homes
    assert kinds[f"BAG-{HOUSE}"] == "new_build"
    assert kinds[f"BAG-{MIXED}"] == "new_build"
    # out of use and an office / education building: to repurpose
    assert kinds[f"BAG-{OFFICE}"] == "transformation"
    assert kinds[f"BAG-{SCHOOL_OFFICE}"] == "transformation"
    # a shop out of use is not a use worth repurposing for housing here; a house out of use
    # is residential (no transformation); panden in use are no candidates
    assert set(kinds) == {f"BAG-{p}" for p in (HOUSE, MIXED, OFFICE, SCHOOL_OFFICE)}
    rows = _by_id(inside)
    assert rows.loc[f"BAG-{MIXED}", "bag_units"] == 7
    assert np.isnan(rows.loc[f"BAG-{OFFICE}", "bag_units"])
    # floor area: units x mean of the smallest and largest unit (BAG oppervlakte_min/max)
    assert rows.loc[f"BAG-{SCHOOL_OFFICE}", "floor_area_m2"] == pytest.approx(5 * (163 + 2272) / 2)
    assert rows.loc[f"BAG-{OFFICE}", "floor_area_m2"] == pytest.approx(569)
    assert rows.loc[f"BAG-{OFFICE}", "repurpose"]
    assert not rows["is_proxy"].any()


def test_no_bag_candidates_from_the_real_sample_as_it_is(area: object) -> None:
    """All 60 real panden are in use: no new build, nothing to repurpose."""
    inside, outside = typed_candidates(area, RULES, panden=_panden({}))
    assert len(inside) == 0 and len(outside) == 0


def test_plan_from_plans_file(area: object) -> None:
    settings = load_settings(SAMPLE / "config.toml")
    plans = read_plans(
        SAMPLE / "plannen_voorbeeld.gpkg",
        settings.sites.columns,
        temporary_words=settings.sites.temporary_words,
    )
    sample_area = gpd.read_file(SAMPLE / "area_tudelft_wippolder.gpkg").union_all()
    inside, outside = typed_candidates(sample_area, settings.sites, plans=plans)
    assert (inside["site_type"] == "plan").all()
    assert len(inside) + len(outside) == len(plans)
    # plans outside the area are reported, not ranked
    assert outside["name"].str.contains("buiten het gebied").all() and len(outside) == 1
    rows = _by_id(inside)
    by_name = inside.set_index("name")
    assert by_name.loc["Voorbeeldplan A (fictief, geen echt plan)", "plan_homes"] == 120
    assert by_name.loc["Voorbeeldplan D (fictief, geen echt plan)", "repurpose"]  # pand transf.
    assert by_name.loc["Voorbeeldplan G (fictief, geen echt plan)", "edge"]  # uitleg
    assert rows["temporary"].sum() == 1


def test_plan_holding_new_build_is_one_candidate(panden: gpd.GeoDataFrame, area: object) -> None:
    outline = _geom(panden, HOUSE).buffer(3).union(_geom(panden, MIXED).buffer(3))
    plans = gpd.GeoDataFrame(
        {
            "plan_id": ["PLAN-1"],
            "name": ["Plan"],
            "status": ["1A. Onherroepelijk"],
            "period": [None],
            "type": ["Verdichting"],
            "municipality": ["Delft"],
            "homes": [np.nan],
            "rent": [np.nan],
            "buy": [np.nan],
            "social": [np.nan],
            "temporary": [False],
        },
        geometry=[outline],
        crs=28992,
    )
    inside, _ = typed_candidates(area, RULES, plans=plans, panden=panden)
    rows = _by_id(inside)
    # the two new-build panden are the plan's evidence, not candidates of their own
    assert f"BAG-{HOUSE}" not in rows.index and f"BAG-{MIXED}" not in rows.index
    assert rows.loc["PLAN-1", "site_type"] == "plan"
    assert rows.loc["PLAN-1", "bag_units"] == 1 + 7
    assert set(rows.loc["PLAN-1", "evidence"].split(", ")) == {f"BAG-{HOUSE}", f"BAG-{MIXED}"}
    # the buildings to repurpose outside the plan stay candidates of their own
    assert rows.loc[f"BAG-{OFFICE}", "site_type"] == "transformation"


def _land(panden: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    x, y = _geom(panden, HOUSE).representative_point().coords[0]
    far = box(x + 2000, y, x + 2030, y + 30)  # no residential building within 100 m
    covering = _geom(panden, HOUSE_OUT).buffer(2)  # almost all building
    empty = box(x - 15, y + 20, x + 15, y + 50)  # next to the houses, no building on it
    holding_office = _geom(panden, OFFICE).buffer(15)
    return gpd.GeoDataFrame(
        {"site_id": ["far", "covering", "empty", "office"]},
        geometry=[far, covering, empty, holding_office],
        crs=28992,
    )


@pytest.mark.parametrize("land_type", ["vacant_land", "proxy"])
def test_vacant_land_and_proxies(panden: gpd.GeoDataFrame, land_type: str) -> None:
    land = _land(panden)
    empty = land.geometry.iloc[2]
    assert building_cover(np.array([empty]), _buildings(panden))[0] < RULES.max_building_cover
    big_area = box(*land.total_bounds).buffer(100)
    inside, _ = typed_candidates(
        big_area, RULES, panden=panden, land=land, land_type=land_type, buildings=_buildings(panden)
    )
    rows = _by_id(inside)
    land_rows = rows.loc[rows["site_type"] == land_type]
    # only the empty plot in a residential setting; the one holding the office to repurpose
    # gives way to it (one place, one candidate)
    assert land_rows.index.tolist() == ["empty"]
    assert bool(land_rows["is_proxy"].iloc[0]) == (land_type == "proxy")
    assert f"BAG-{OFFICE}" in rows.index


def test_covered_is_the_cover_test_exactly(panden: gpd.GeoDataFrame) -> None:
    """``covered`` (the land filter's fast path) answers ``building_cover >= share`` for every
    plot, also at a share equal to a plot's own cover, on the real BAG footprints: plots of a
    grid over them (several buildings per plot, none, parts) and plots around single panden."""
    x0, y0, x1, y1 = panden.total_bounds
    grid = [
        box(x, y, x + 37.0, y + 29.0)
        for x in np.arange(x0 - 20, x1, 37.0)
        for y in np.arange(y0 - 20, y1, 29.0)
    ]
    around = list(panden.geometry.buffer(6).to_numpy()) + list(
        panden.geometry.representative_point().buffer(4).to_numpy()
    )
    plots = np.array([*grid, *around], dtype=object)
    buildings = _buildings(panden)
    cover = building_cover(plots, buildings)
    assert 0 < (cover == 0).sum() < (cover > 0.5).sum() < len(plots)
    for share in (0.0, 0.05, RULES.max_building_cover, 0.5, 1.0, *np.unique(cover)[1::7]):
        np.testing.assert_array_equal(covered(plots, buildings, share), cover >= share)
    np.testing.assert_array_equal(covered(plots, None, 0.05), np.zeros(len(plots), dtype=bool))


def test_file_candidates_kept_as_given_except_under_a_typed_one(
    panden: gpd.GeoDataFrame,
) -> None:
    land = _land(panden).assign(owner=["a", "b", "c", "d"])
    big_area = box(*land.total_bounds).buffer(100)
    inside, _ = typed_candidates(
        big_area, RULES, panden=panden, land=land, land_type="file", buildings=_buildings(panden)
    )
    files = _by_id(inside.loc[inside["site_type"] == "file"])
    assert sorted(files.index) == ["covering", "empty", "far"]
    assert files.loc["far", "owner"] == "a"  # the file's own columns are kept


def test_floor_area_falls_back_to_the_footprint(panden: gpd.GeoDataFrame) -> None:
    bare = panden[["geometry"]].iloc[:3]
    assert np.allclose(floor_area(bare), bare.geometry.area)


def test_size_exclusion_applies_to_land_only() -> None:
    table = pd.DataFrame(
        {
            "site_type": ["transformation", "plan", "proxy", "vacant_land", "transformation"],
            "area_m2": [200.0, 300.0, 200.0, 200.0, 200.0],
            "n_residential_buildings_100m": [5, 5, 5, 5, 0],
        }
    )
    codes, _, _ = exclusions(table, SETTINGS.exclusions, "n_residential_buildings_100m")
    # a 4-home transformation on 200 m2 is a real cluster: not excluded for its size, but an
    # isolated one (no residential building within 100 m) is, for having no direct neighbours
    assert codes.tolist() == [None, None, "area", "area", "no_neighbours"]


def test_site_preference_follows_the_booklet() -> None:
    table = pd.DataFrame(
        {
            "site_type": ["transformation", "plan", "plan", "plan", "new_build", "proxy"],
            "repurpose": [True, True, False, False, False, False],
            "edge": [False, False, False, True, False, False],
        }
    )
    value = site_preference(table, SETTINGS.site_preference)
    transformation, plan_repurpose, plan, plan_edge, new_build, proxy = value
    assert transformation == plan_repurpose >= plan > new_build > proxy > plan_edge
    assert np.isnan(
        site_preference(table.drop(columns="site_type"), SETTINGS.site_preference)
    ).all()


def test_sample_end_to_end_typed(sample_run: Path, sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    assert set(sites["site_type"]) == {"plan", "proxy"}
    plans = sites.loc[sites["site_type"] == "plan"].set_index("name")
    raw = gpd.read_file(SAMPLE / "plannen_voorbeeld.gpkg", engine="pyogrio")
    # every example plan inside the area is a candidate with its planned homes
    outside = gpd.read_file(sample_run / "GM0503_Delft.gpkg", layer="candidates_outside")
    assert sorted([*plans.index, *outside["name"]]) == sorted(raw["Plannaam"])
    homes = raw.set_index("Plannaam")["Aantalrest"]
    assert (plans["homes_planned"] == homes.loc[plans.index]).all()
    assert (plans["homes_source"] == "plan").all()
    # the temporary plan is excluded; the 4-home plan is ranked, not excluded for its size
    temporary = plans.loc[plans.index.str.contains("tijdelijk")]
    assert temporary["excluded"].all()
    assert temporary["exclusion_codes"].str.contains("temporary").all()
    small = plans.loc[homes.loc[plans.index] == 4]
    assert len(small) == 1 and "area" not in str(small["exclusion_codes"].iloc[0])
    assert (small["homes_reserved"] == 4).all()
    # proxies are vacant OSM plots, flagged
    proxies = sites.loc[sites["site_type"] == "proxy"]
    assert proxies["is_proxy"].astype(bool).all()
    assert (sites.loc[sites["site_type"] == "plan", "is_proxy"].astype(bool) == False).all()  # noqa: E712
    # reasons name the kind of site
    assert sites["reasons_nl"].str.startswith("Soort: ").all()
    assert sites["reasons_en"].str.startswith("Kind: ").all()
    # lists and summary carry the types and the homes
    ranking = pd.read_csv(sample_run / "national_ranking.csv")
    for column in ("site_type", "homes_planned", "homes_reserved", "name"):
        assert column in ranking.columns
    summary = pd.read_csv(sample_run / "national_summary.csv").set_index("gm_code")
    chosen = sites.loc[sites["selected"].astype(bool)]
    for kind in ("plan", "proxy"):
        assert (
            summary.loc["GM0503", f"homes_reserved_{kind}"]
            == chosen.loc[chosen["site_type"] == kind, "homes_reserved"].sum()
        )
    from openpyxl import load_workbook

    sheet = load_workbook(sample_run / "national_ranking.xlsx", read_only=True)["by_type"]
    rows = list(sheet.values)
    by_type = pd.DataFrame(rows[1:], columns=rows[0]).set_index("site_type")
    assert by_type.loc["plan", "candidates"] == len(plans)
    assert by_type.loc["plan", "ranked"] == plans["rank_gm"].notna().sum()
    assert (
        by_type.loc["plan", "homes_planned"]
        == plans.loc[plans["rank_gm"].notna(), "homes_planned"].sum()
    )
    report = (sample_run / "reports" / "GM0503.html").read_text(encoding="utf-8")
    # the sample run is Dutch (the default language)
    assert "Kandidaten naar soort" in report
    assert "Beste kandidaten: plan: gepland woningbouwproject" in report


def test_covered_with_ties_holes_and_empty_shapes() -> None:
    """Buildings whose boxes overlap a plot's equally (the same footprint twice, mirror
    images), a plot with a hole holding a building, a multipolygon plot, an empty plot and an
    empty footprint: ``covered`` is still ``building_cover >= share``."""
    x, y = 85_000.0, 446_000.0
    holed = Polygon(
        [(x, y), (x + 40, y), (x + 40, y + 40), (x, y + 40)],
        [[(x + 10, y + 10), (x + 30, y + 10), (x + 30, y + 30), (x + 10, y + 30)]],
    )
    plots = np.array(
        [
            box(x + 100, y, x + 120, y + 20),
            holed,
            MultiPolygon([box(x + 200, y, x + 210, y + 10), box(x + 220, y, x + 230, y + 10)]),
            Polygon(),
            box(x + 300, y, x + 310, y + 10),
        ],
        dtype=object,
    )
    footprints = [
        box(x + 101, y + 1, x + 104, y + 4),
        box(x + 101, y + 1, x + 104, y + 4),  # the same footprint twice: a tie
        box(x + 116, y + 16, x + 119, y + 19),  # the mirror image's box overlaps as much
        box(x + 12, y + 12, x + 28, y + 28),  # in the hole: not on the plot
        box(x + 35, y + 35, x + 45, y + 45),  # over the holed plot's corner
        box(x + 205, y + 5, x + 225, y + 6),  # across both parts
        Polygon(),
        box(x + 300, y, x + 310, y + 10),  # the whole plot
    ]
    buildings = gpd.GeoDataFrame(
        {"residential": [True] * len(footprints)}, geometry=footprints, crs=28992
    )
    cover = building_cover(plots, buildings)
    assert cover[4] == 1.0 and cover[3] == 1.0 and 0 < cover[1] < 0.1
    for share in (0.0, 0.01, 0.05, 0.1, *np.unique(cover), 1.0):
        np.testing.assert_array_equal(covered(plots, buildings, share), cover >= share)
