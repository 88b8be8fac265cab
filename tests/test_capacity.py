"""Capacity: homes per site, homes reserved, selection without concentration, summary sums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from magicmix_geo._errors import InputError
from magicmix_geo.config import CapacitySettings
from magicmix_geo.prepare.tasks import read_tasks
from magicmix_geo.score.capacity import (
    estimate_homes,
    municipality_summary,
    planned_homes,
    reserve_clusters,
    reserved_homes,
    select_sites,
    urbanity_from_address_density,
)

SETTINGS = CapacitySettings(
    reserve_share=0.05,
    min_homes=35,
    max_homes=160,
    homes_per_ha={1: 100.0, 2: 75.0, 3: 55.0, 4: 40.0, 5: 30.0},
    cluster_min=4,
    cluster_max=8,
    max_sites_per_buurt=1,
    min_distance_m=250.0,
)


def test_urbanity_classes_follow_cbs_breaks() -> None:
    got = urbanity_from_address_density(np.array([3000, 2500, 2000, 1200, 700, 100, np.nan]))
    np.testing.assert_array_equal(got[:-1], [1, 1, 2, 3, 4, 5])
    assert np.isnan(got[-1])


def test_homes_estimate_bounded_and_known_units_win() -> None:
    area = np.array([1000.0, 8000.0, 100_000.0, 5000.0])
    urbanity = np.array([1, 1, 3, np.nan])
    known = np.array([np.nan, np.nan, np.nan, 12])
    est = estimate_homes(area, urbanity, SETTINGS, known_units=known)
    # 0.1 ha x 100 = 10 -> 35 (floor of the booklet's range); 0.8 ha x 100 = 80;
    # 10 ha x 55 = 550 -> 160; a known project of 12 units stays 12
    assert est.tolist() == [35, 80, 160, 12]


def test_reserved_homes_round_up_with_a_cluster_minimum() -> None:
    est = np.array([35, 80, 160, 12, 3])
    # a project smaller than one cluster (3 homes) reserves its plain share, 1 home
    assert reserved_homes(est, 0.05, SETTINGS).tolist() == [4, 4, 8, 4, 1]
    assert reserved_homes(est, 0.10, SETTINGS).tolist() == [4, 8, 16, 4, 1]
    with pytest.raises(ValueError):
        reserved_homes(est, 0.0, SETTINGS)


def _sites() -> tuple[pd.DataFrame, np.ndarray]:
    sites = pd.DataFrame(
        {
            "gm_code": ["GM0001"] * 5,
            "rank_gm": pd.array([1, 2, 3, 4, pd.NA], dtype="Int64"),
            "bu_code": ["BU1", "BU1", "BU2", "BU3", "BU4"],
            "homes_est": [80, 60, 40, 35, 35],
            "homes_reserved": [4, 4, 4, 4, 4],
        }
    )
    points = np.array([[0, 0], [1000, 0], [100, 0], [2000, 0], [5000, 0]], dtype=float)
    return sites, points


def test_selection_keeps_sites_apart_and_stops_at_the_task() -> None:
    sites, points = _sites()
    chosen = select_sites(sites, points, None, SETTINGS)
    # rank 2 shares buurt BU1 with rank 1; rank 3 lies 100 m from rank 1; rank 4 is fine;
    # the unranked (excluded) site is never selected
    assert chosen.tolist() == [True, False, False, True, False]
    only_one = select_sites(sites, points, 4, SETTINGS)
    assert only_one.tolist() == [True, False, False, False, False]
    for buurt, n in sites.loc[chosen].groupby("bu_code").size().items():
        assert n <= SETTINGS.max_sites_per_buurt, buurt


def test_summary_sums_and_shortfall(tmp_path: Path) -> None:
    sites, points = _sites()
    sites["selected"] = select_sites(sites, points, None, SETTINGS)
    other = sites.assign(gm_code="GM0002", selected=[True, False, False, False, False])
    both = pd.concat([sites, other], ignore_index=True)
    csv = tmp_path / "tasks.csv"
    csv.write_text(
        "gm_code;period;taakstelling\nGM0001;2024-2;5\nGM0001;2025-1;3\nGM0002;2024-2;2\n"
    )
    summary = municipality_summary(both, read_tasks(csv), 0.05).set_index("gm_code")
    assert summary.loc["GM0001", "homes_reserved"] == 8
    assert summary.loc["GM0001", "taakstelling"] == 8
    assert summary.loc["GM0001", "period"] == "2024-2,2025-1"
    assert summary.loc["GM0001", "coverage"] == pytest.approx(1.0)
    assert not summary.loc["GM0001", "falls_short"]
    assert summary.loc["GM0002", "homes_reserved"] == 4
    assert summary.loc["NL", "homes_reserved"] == 12
    assert summary.loc["NL", "taakstelling"] == 10
    assert summary.loc["NL", "sites_selected"] == 3


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("gm_code,period\nGM0503,2024-2\n", "missing column"),
        ("gm_code,period,taakstelling\nDelft,2024-2,5\n", "'Delft'"),
        ("gm_code,period,taakstelling\nGM0503,2024-2,-3\n", "row 2"),
    ],
)
def test_bad_task_files(tmp_path: Path, text: str, needle: str) -> None:
    csv = tmp_path / "tasks.csv"
    csv.write_text(text)
    with pytest.raises(InputError, match=needle) as info:
        read_tasks(csv)
    assert str(csv) in str(info.value)


def test_sample_run_with_tasks_and_what_if(tmp_path: Path) -> None:
    """The real sample with a task for Delft: sums agree, no buurt holds two selected sites,
    and 10 % reserves at least as many homes as 5 %."""
    import geopandas as gpd

    from magicmix_geo.cli import main

    tasks = tmp_path / "tasks.csv"
    tasks.write_text("gm_code,period,taakstelling\nGM0503,2025-1,40\n")
    totals = {}
    for share in ("0.05", "0.10"):
        out = tmp_path / f"out_{share}"
        run = ["run", "--out", str(out), "--tasks", str(tasks), "--reserve-share", share]
        assert main(run) == 0
        sites = gpd.read_file(out / "GM0503_Delft.gpkg", layer="sites", engine="pyogrio")
        summary = pd.read_csv(out / "national_summary.csv").set_index("gm_code")
        chosen = sites.loc[sites["selected"].astype(bool)]
        assert len(chosen) > 0
        assert chosen["rank_gm"].notna().all()
        assert chosen.groupby("bu_code").size().max() <= SETTINGS.max_sites_per_buurt
        assert summary.loc["GM0503", "homes_reserved"] == chosen["homes_reserved"].sum()
        assert summary.loc["GM0503", "sites_selected"] == len(chosen)
        assert summary.loc["NL", "homes_reserved"] == summary.loc["GM0503", "homes_reserved"]
        assert summary.loc["GM0503", "taakstelling"] == 40
        assert summary.loc["GM0503", "coverage"] == pytest.approx(
            summary.loc["GM0503", "homes_reserved"] / 40
        )
        assert sites["homes_est"].between(1, 160).all()
        floor = np.minimum(SETTINGS.cluster_min, chosen["homes_est"])
        assert (chosen["homes_reserved"] >= floor).all()
        from openpyxl import load_workbook

        assert "capacity" in load_workbook(out / "national_ranking.xlsx", read_only=True).sheetnames
        totals[share] = int(summary.loc["NL", "homes_reserved"])
    assert totals["0.10"] >= totals["0.05"]


def test_bad_reserve_share_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from magicmix_geo.cli import main

    assert main(["run", "--out", str(tmp_path / "o"), "--reserve-share", "1.5"]) == 2
    assert "--reserve-share" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_homes_reserved_arithmetic() -> None:
    """share x homes_planned rounded up; raised to one cluster of 4 where the project holds 4;
    never more than the project; clusters of at most 8."""
    planned = np.array([0, 1, 3, 4, 5, 24, 60, 80, 81, 120, 160, 200, 400])
    got = reserved_homes(planned, 0.05, SETTINGS)
    # ceil(5 %): 0, 1, 1, 1, 1, 2, 3, 4, 5, 6, 8, 10, 20
    assert got.tolist() == [0, 1, 1, 4, 4, 4, 4, 4, 5, 6, 8, 10, 20]
    assert (got <= planned).all()
    assert (got >= np.ceil(planned * 0.05 - 1e-9)).all()
    assert reserve_clusters(got, SETTINGS).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3]
    # 10 %: 400 homes -> 40 reserved in 5 clusters of 8
    assert reserved_homes(np.array([400]), 0.10, SETTINGS).tolist() == [40]
    assert reserve_clusters(np.array([40]), SETTINGS).tolist() == [5]


def test_homes_planned_from_each_source() -> None:
    sites = pd.DataFrame(
        {
            "site_type": [
                "plan",
                "plan",
                "new_build",
                "transformation",
                "transformation",
                "proxy",
                "vacant_land",
            ],
            "plan_homes": [120, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
            "bag_units": [np.nan, 14, 30, np.nan, np.nan, np.nan, np.nan],
            "floor_area_m2": [np.nan, np.nan, np.nan, 1200.0, 30.0, np.nan, np.nan],
            "area_m2": [5000.0, 3000.0, 800.0, 300.0, 40.0, 1000.0, 8000.0],
        }
    )
    homes, source = planned_homes(sites, np.array([1, 1, 1, 1, 1, 1, 1]), SETTINGS)
    # the plan's homes; BAG units of a plan without homes; BAG units of new build;
    # floor area / 50 m2 (24; a 30 m2 building still one home); the density norm of the
    # urbanity class (0.1 ha x 100 -> 10 -> the booklet's minimum 35; 0.8 ha x 100 = 80)
    assert homes.tolist() == [120, 14, 30, 24, 1, 35, 80]
    assert source.tolist() == [
        "plan",
        "bag_units",
        "bag_units",
        "floor_area",
        "floor_area",
        "density_norm",
        "density_norm",
    ]
    small = planned_homes(sites.iloc[[3]].assign(floor_area_m2=200.0), np.array([1]), SETTINGS)
    assert small[0].tolist() == [4]  # a 4-home transformation keeps its 4 homes


def test_summary_sums_reserved_homes_by_type() -> None:
    sites, _ = _sites()
    sites["selected"] = [True, False, False, True, False]
    sites["site_type"] = ["plan", "plan", "proxy", "transformation", "proxy"]
    summary = municipality_summary(sites, None, 0.05).set_index("gm_code")
    assert summary.loc["GM0001", "homes_reserved_plan"] == 4
    assert summary.loc["GM0001", "homes_reserved_transformation"] == 4
    assert summary.loc["GM0001", "homes_reserved_proxy"] == 0
    by_type = [c for c in summary.columns if c.startswith("homes_reserved_")]
    assert summary.loc["GM0001", by_type].sum() == summary.loc["GM0001", "homes_reserved"]
    assert summary.loc["NL", "homes_reserved_plan"] == 4


# --- the published taakstelling (Bijlage A of the half-yearly circulaire) ---------------------

# the layout of the published table: title lines naming the half year, a header with the
# municipality and task columns (and the achterstand where given), province headings, totals;
# Dutch number notation. Names as CBS spells them (the test map's real gemeenten rows).
BIJLAGE_A = """\
Bijlage A Circulaire eerste helft 2023 taakstelling vergunninghouders;;;;
;;;;
Provincie;Gemeente;Inwoners 1-1-2022;Taakstelling 1e helft 2023;Achterstand per 1-1-2023
Zuid-Holland;;;;
Zuid-Holland;Delft;104.089;75;12
Zuid-Holland;'s-Gravenhage;552.995;1.036;-8
Zuid-Holland;Midden-Delfland;19.851;14;0
Zuid-Holland;Pijnacker-Nootdorp;56.709;41;
Zuid-Holland;Rijswijk;56.199;41;3
Totaal Zuid-Holland;;789.843;1.207;
"""


@pytest.fixture(scope="module")
def cbs_names(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import pyogrio

    from magicmix_geo.prepare.tasks import names_from_cbs
    from tests._sources_server import cbs_map_layers

    path = tmp_path_factory.mktemp("cbs") / "wijkenbuurten.gpkg"
    pyogrio.write_dataframe(cbs_map_layers()["gemeenten"], path, layer="gemeenten")
    return names_from_cbs(path)


def test_bijlage_a_layout_names_to_codes_with_achterstand(
    tmp_path: Path, cbs_names: dict[str, str]
) -> None:
    path = tmp_path / "bijlage_a.csv"
    path.write_text(BIJLAGE_A, encoding="utf-8")
    tasks = read_tasks(path, names=cbs_names).set_index("gm_code")
    assert list(tasks.index) == ["GM0503", "GM0518", "GM1842", "GM1926", "GM0603"]
    assert set(tasks["period"]) == {"2023-1"}  # from "eerste helft 2023" in the title
    assert tasks.loc["GM0518", "taakstelling"] == 1036  # "1.036": Dutch thousands
    assert tasks.loc["GM0503", "achterstand"] == 12
    assert tasks.loc["GM0503", "taakstelling_corrected"] == 87  # task + achterstand
    assert tasks.loc["GM0518", "taakstelling_corrected"] == 1028  # a lead (-8) lowers it
    assert tasks.loc["GM1926", "taakstelling_corrected"] == 41  # no achterstand given
    assert tasks["taakstelling"].sum() == 1207  # the province total line is not a row


def test_bijlage_a_as_xlsx(tmp_path: Path, cbs_names: dict[str, str]) -> None:
    rows = [line.split(";") for line in BIJLAGE_A.splitlines()]
    path = tmp_path / "bijlage_a.xlsx"
    pd.DataFrame(rows).to_excel(path, header=False, index=False)
    from_xlsx = read_tasks(path, names=cbs_names)
    csv = tmp_path / "bijlage_a.csv"
    csv.write_text(BIJLAGE_A, encoding="utf-8")
    pd.testing.assert_frame_equal(from_xlsx, read_tasks(csv, names=cbs_names))


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace("Rijswijk;", "Rijswijk (ZH);"), "row 9: unknown municipality"),
        (
            lambda t: t.replace("eerste helft 2023", "2023").replace("1e helft 2023", ""),
            "cannot tell the half year",
        ),
        (lambda t: t.replace(";41;3", ";veel;3"), "row 9: taakstelling must be a number"),
        (lambda t: t.replace("Gemeente;", "Naam;"), "no taakstelling header"),
    ],
)
def test_bad_bijlage_a(
    tmp_path: Path, cbs_names: dict[str, str], edit: object, needle: str
) -> None:
    path = tmp_path / "bijlage_a.csv"
    path.write_text(edit(BIJLAGE_A), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(InputError, match=needle) as info:
        read_tasks(path, names=cbs_names)
    assert str(path) in str(info.value)


def test_bijlage_a_needs_names_and_takes_a_given_period(
    tmp_path: Path, cbs_names: dict[str, str]
) -> None:
    path = tmp_path / "bijlage_a.csv"
    undated = BIJLAGE_A.replace("eerste helft 2023", "2023").replace("1e helft 2023", "")
    path.write_text(undated, encoding="utf-8")
    with pytest.raises(InputError, match="name table"):
        read_tasks(path)
    assert set(read_tasks(path, names=cbs_names, period="2023-2")["period"]) == {"2023-2"}


def test_tasks_in_homes_per_profile(tmp_path: Path, cbs_names: dict[str, str]) -> None:
    from magicmix_geo.config import load_settings
    from magicmix_geo.prepare.tasks import tasks_in_homes

    path = tmp_path / "bijlage_a.csv"
    path.write_text(BIJLAGE_A, encoding="utf-8")
    tasks = read_tasks(path, names=cbs_names)
    ppm = load_settings().persons_per_home
    assert ppm == {"singles": 1.0, "families": 3.5}
    families = tasks_in_homes(tasks, ppm["families"]).set_index("gm_code")
    assert families.loc["GM0503", "taakstelling_homes"] == 25  # ceil(87 / 3.5)
    singles = tasks_in_homes(tasks, ppm["singles"]).set_index("gm_code")
    assert singles.loc["GM0503", "taakstelling_homes"] == 87


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[capacity.persons_per_home]\nfamilies = 0.5\n", "capacity.persons_per_home.families"),
        ("[capacity.persons_per_home]\nstudents = 1.0\n", "capacity.persons_per_home.students"),
        ("[profiles.students]\ntransit = 1.0\n", "persons_per_home needs a value for profile"),
    ],
)
def test_persons_per_home_is_validated(tmp_path: Path, text: str, needle: str) -> None:
    from magicmix_geo._errors import ConfigError
    from magicmix_geo.config import load_settings

    user = tmp_path / "user.toml"
    user.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(user)


def test_load_tasks_reads_names_from_a_cbs_file(tmp_path: Path) -> None:
    import pyogrio

    from magicmix_geo.prepare.tasks import load_tasks
    from tests._sources_server import cbs_map_layers

    names = tmp_path / "wijkenbuurten.gpkg"
    pyogrio.write_dataframe(cbs_map_layers()["gemeenten"], names, layer="gemeenten")
    path = tmp_path / "bijlage_a.csv"
    path.write_text(BIJLAGE_A, encoding="utf-8")
    tasks = load_tasks(path, persons_per_home=3.5, names_file=names).set_index("gm_code")
    assert tasks.loc["GM0518", "taakstelling_homes"] == 294  # ceil(1028 / 3.5)
    ours = tmp_path / "tasks.csv"
    ours.write_text("gm_code,period,taakstelling\nGM0503,2025-1,40\n")
    plain = load_tasks(ours, persons_per_home=1.0, names_file=tmp_path / "absent.gpkg")
    assert plain["taakstelling_homes"].tolist() == [40]
