"""Tests of magicmix_geo.formats.cbs on real CBS files.

``tests/data/cbs_gemeenten_2020_sample.gpkg`` holds the rows GM0233 Ermelo, GM0363 Amsterdam,
GM0503 Delft and GM0935 Maastricht of /work/shared/data/cbs_gemeenten_2020/
cbs_gemeenten_2020_kerncijfers.gpkg (CBS Wijk- en buurtkaart 2020, CC-BY 4.0), values, columns,
layer name and polygons unchanged, written with pyogrio.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from magicmix_geo._errors import InputError
from magicmix_geo.formats.cbs import (
    join_buurt,
    null_suppressed,
    read_cbs_buurten,
    read_cbs_municipalities,
)

ROOT = Path(__file__).resolve().parents[1]
GEMEENTEN_2020 = ROOT / "tests" / "data" / "cbs_gemeenten_2020_sample.gpkg"
BUURTEN_DELFT = ROOT / "data" / "sample" / "cbs_buurten_2023_delft.gpkg"

MUNICIPALITY_NAMES = [
    "gm_code", "gm_name", "population", "density_per_km2", "urbanity", "pct_non_western",
    "pct_origin_outside_europe", "pct_corporation_rental", "dwellings",
]  # fmt: skip
BUURT_NAMES = [
    "bu_code", "bu_name", "wk_code", "gm_code", "gm_name", "population", "density_per_km2",
    "urbanity", "pct_non_western", "pct_origin_outside_europe", "pct_corporation_rental",
    "dwellings",
]  # fmt: skip


@pytest.fixture(scope="module")
def gemeenten() -> gpd.GeoDataFrame:
    return read_cbs_municipalities(GEMEENTEN_2020)


@pytest.fixture(scope="module")
def delft_buurten() -> gpd.GeoDataFrame:
    return read_cbs_buurten(BUURTEN_DELFT, gm_code="GM0503")


# --------------------------------------------------------------------------------------------
# municipalities
# --------------------------------------------------------------------------------------------


def test_municipalities_2020_are_normalised(gemeenten: gpd.GeoDataFrame) -> None:
    assert gemeenten.crs.to_epsg() == 28992
    assert list(gemeenten.columns[: len(MUNICIPALITY_NAMES)]) == MUNICIPALITY_NAMES
    assert sorted(gemeenten["gm_code"]) == ["GM0233", "GM0363", "GM0503", "GM0935"]
    # all 183 original columns are kept beside ours
    assert "Afstand tot huisartsenpraktijk (km)" in gemeenten.columns
    assert "Bevolkinsdichtheid (aantal inwoners per km2)" in gemeenten.columns
    assert len(gemeenten.columns) == 183 + len(MUNICIPALITY_NAMES)
    # the 2020 table has the migration background, not the 2022+ country of origin
    assert gemeenten["pct_non_western"].notna().all()
    assert gemeenten["pct_origin_outside_europe"].isna().all()
    assert gemeenten.attrs["columns_from"]["pct_origin_outside_europe"] is None


def test_delft_2020_figures(gemeenten: gpd.GeoDataFrame) -> None:
    delft = gemeenten.set_index("gm_code").loc["GM0503"]
    assert delft["gm_name"] == "Delft"
    assert delft["population"] == 103_595
    assert delft["urbanity"] == 1
    assert delft["density_per_km2"] == pytest.approx(4573)
    assert delft["Afstand tot huisartsenpraktijk (km)"] == pytest.approx(0.6)
    # polygon reprojected to RD New: Delft is about 24 km2 and lies near (85000, 446000)
    assert delft.geometry.area / 1e6 == pytest.approx(24.1, abs=0.5)
    assert delft.geometry.contains(Point(84900, 447300))


def test_municipality_filter_accepts_short_codes() -> None:
    one = read_cbs_municipalities(GEMEENTEN_2020, gm_code="503")
    assert one["gm_code"].tolist() == ["GM0503"]
    assert one.index.tolist() == [0]


def test_a_file_read_again_is_the_same_and_a_changed_file_is_read_anew(tmp_path: Path) -> None:
    """A national run reads the same CBS file for every municipality: the file is parsed once
    per process, each caller gets its own frame, and a file changed on disk is read again."""
    path = tmp_path / "gemeenten.gpkg"
    frame = pyogrio.read_dataframe(GEMEENTEN_2020)
    pyogrio.write_dataframe(frame, path)
    first = read_cbs_municipalities(path, gm_code="GM0503")
    first.loc[0, "population"] = -1.0  # a caller changing its frame changes nobody else's
    first.attrs["columns_from"]["population"] = "changed"
    again = read_cbs_municipalities(path, gm_code="GM0503")
    pd.testing.assert_frame_equal(again, read_cbs_municipalities(GEMEENTEN_2020, gm_code="503"))
    assert again.attrs["columns_from"]["population"] == "Aantal inwoners"
    frame.loc[frame["GM_CODE"] == "GM0503", "Aantal inwoners"] = 123456
    pyogrio.write_dataframe(frame, path)
    assert read_cbs_municipalities(path, gm_code="GM0503")["population"].tolist() == [123456]


def test_unknown_municipality_code(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_cbs_municipalities(GEMEENTEN_2020, gm_code="GM9999")
    message = str(info.value)
    assert message.startswith(f"{GEMEENTEN_2020}: ")
    assert "GM9999" in message
    assert "\n" not in message
    with pytest.raises(InputError, match=r"not a CBS municipality code"):
        read_cbs_municipalities(GEMEENTEN_2020, gm_code="Delft")


def test_missing_code_column(tmp_path: Path) -> None:
    frame = pyogrio.read_dataframe(GEMEENTEN_2020).drop(columns=["GM_CODE"])
    path = tmp_path / "no_code.gpkg"
    pyogrio.write_dataframe(frame, path)
    with pytest.raises(InputError, match=r"no municipality code column \(GM_CODE") as info:
        read_cbs_municipalities(path)
    assert str(info.value).startswith(f"{path}: ")


def test_suppressed_values_in_municipality_file(tmp_path: Path) -> None:
    # the 2020 file had its codes replaced by NA already; put real CBS codes back in
    frame = pyogrio.read_dataframe(GEMEENTEN_2020)
    frame.loc[frame["GM_CODE"] == "GM0233", "Woningen in bezit woningcorporatie (%)"] = -99997.0
    frame.loc[frame["GM_CODE"] == "GM0363", "Afstand tot bibliotheek (km)"] = -99999999.0
    path = tmp_path / "coded.gpkg"
    pyogrio.write_dataframe(frame, path)
    out = read_cbs_municipalities(path).set_index("gm_code")
    assert np.isnan(out.loc["GM0233", "pct_corporation_rental"])
    assert np.isnan(out.loc["GM0233", "Woningen in bezit woningcorporatie (%)"])
    assert np.isnan(out.loc["GM0363", "Afstand tot bibliotheek (km)"])
    assert out.loc["GM0503", "pct_corporation_rental"] == pytest.approx(45)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [("missing.gpkg", None, "file not found"), ("empty.gpkg", b"", "file is empty"),
     ("garbage.gpkg", b"not a geopackage\n" * 20, "cannot read")],
)  # fmt: skip
def test_bad_municipality_files(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_cbs_municipalities(path)
    assert str(info.value).startswith(f"{path}: {problem}")


# --------------------------------------------------------------------------------------------
# buurten
# --------------------------------------------------------------------------------------------


def test_buurten_2023_are_normalised(delft_buurten: gpd.GeoDataFrame) -> None:
    assert delft_buurten.crs.to_epsg() == 28992
    assert list(delft_buurten.columns[: len(BUURT_NAMES)]) == BUURT_NAMES
    assert delft_buurten.geometry.name == "geometry"
    assert len(delft_buurten) == 91
    assert (delft_buurten["gm_code"] == "GM0503").all()
    assert delft_buurten["bu_code"].is_unique
    assert delft_buurten.area.sum() / 1e6 == pytest.approx(24.06, abs=0.05)
    assert "huisartsenpraktijkGemiddeldeAfstandInKm" in delft_buurten.columns
    wippolder = delft_buurten.set_index("bu_code").loc["BU05032802"]
    assert wippolder["bu_name"] == "Wippolder-Noord"
    assert wippolder["wk_code"] == "WK050328"
    assert wippolder["huisartsenpraktijkGemiddeldeAfstandInKm"] == pytest.approx(0.3)
    assert wippolder["population"] > 0
    assert wippolder["dwellings"] > 0


def test_without_filter_the_neighbours_slivers_remain() -> None:
    everything = read_cbs_buurten(BUURTEN_DELFT)
    assert len(everything) == 105
    assert set(everything["gm_code"]) == {"GM0503", "GM0518", "GM0603", "GM1842", "GM1926"}


def test_buurt_suppressed_values_become_nan(delft_buurten: gpd.GeoDataFrame) -> None:
    raw = pyogrio.read_dataframe(BUURTEN_DELFT)
    assert (raw.loc[raw["buurtnaam"] == "Bedrijventerrein Wateringseweg",
                    "huisartsenpraktijkGemiddeldeAfstandInKm"] == -99997).all()  # fmt: skip
    row = delft_buurten.set_index("bu_name").loc["Bedrijventerrein Wateringseweg"]
    assert row["population"] == 0  # a true zero stays
    assert np.isnan(row["pct_origin_outside_europe"])
    assert np.isnan(row["huisartsenpraktijkGemiddeldeAfstandInKm"])
    assert np.isnan(row["groteSupermarktGemiddeldeAfstandInKm"])
    numeric = delft_buurten.select_dtypes("number").drop(
        columns=["mediaanVermogenVanParticuliereHuish"]
    )
    assert not (numeric < 0).any().any()


def test_negative_wealth_is_a_figure_not_a_code(delft_buurten: gpd.GeoDataFrame) -> None:
    # households on the TU campus have a negative median wealth (student debt)
    campus = delft_buurten.set_index("bu_code").loc["BU05032805"]
    assert campus["mediaanVermogenVanParticuliereHuish"] == pytest.approx(-1.4)
    wealth = delft_buurten["mediaanVermogenVanParticuliereHuish"]
    assert not (wealth <= -99990).any()


def test_buurt_unknown_code() -> None:
    with pytest.raises(InputError, match=r"unknown municipality GM0363") as info:
        read_cbs_buurten(BUURTEN_DELFT, gm_code="GM0363")
    assert str(info.value).startswith(f"{BUURTEN_DELFT}: ")


def test_buurt_code_column_required(tmp_path: Path) -> None:
    frame = pyogrio.read_dataframe(BUURTEN_DELFT, columns=["buurtnaam", "aantalInwoners"])
    path = tmp_path / "no_code.gpkg"
    pyogrio.write_dataframe(frame, path)
    with pytest.raises(InputError, match=r"no buurt code column") as info:
        read_cbs_buurten(path)
    assert str(info.value).startswith(f"{path}: ")


def test_gm_code_derived_from_buurt_code(tmp_path: Path) -> None:
    frame = pyogrio.read_dataframe(
        BUURTEN_DELFT, columns=["buurtcode", "buurtnaam", "aantalInwoners"]
    )
    path = tmp_path / "codes_only.gpkg"
    pyogrio.write_dataframe(frame, path)
    out = read_cbs_buurten(path, gm_code="GM0503")
    assert len(out) == 91
    assert out.attrs["columns_from"]["gm_code"] == "bu_code"


# --------------------------------------------------------------------------------------------
# null_suppressed and join_buurt
# --------------------------------------------------------------------------------------------


def test_null_suppressed_rule() -> None:
    frame = pd.DataFrame(
        {
            "count": [5, -99997, 0],
            "share": [12.5, -99999999.0, np.nan],
            "mediaanVermogen": [-1.4, -99997.0, 3.0],
            "flag": [True, False, True],
            "name": ["a", "b", "c"],
        }
    )
    out = null_suppressed(frame)
    assert out["count"].tolist()[::2] == [5, 0] and np.isnan(out["count"].iloc[1])
    assert np.isnan(out["share"].iloc[1])
    assert out["mediaanVermogen"].iloc[0] == -1.4 and np.isnan(out["mediaanVermogen"].iloc[1])
    assert out["flag"].tolist() == [True, False, True]
    assert out["name"].tolist() == ["a", "b", "c"]
    assert frame["count"].iloc[1] == -99997  # the input is not changed


def test_join_buurt_wippolder(delft_buurten: gpd.GeoDataFrame) -> None:
    wippolder = delft_buurten.set_index("bu_code").geometry.loc["BU05032802"]
    inside = wippolder.representative_point()
    site = inside.buffer(5)  # a small site polygon around it
    sites = gpd.GeoDataFrame(
        {"name": ["point", "polygon", "nowhere", "empty"]},
        geometry=[inside, site, Point(150000, 450000), None],
        index=[11, 12, 13, 14],
        crs=28992,
    )
    out = join_buurt(sites, delft_buurten, ["bu_code", "bu_name", "population"])
    assert out.index.tolist() == [11, 12, 13, 14]
    assert list(out.columns) == ["bu_code", "bu_name", "population"]
    assert out.loc[11, "bu_code"] == "BU05032802"
    assert out.loc[12, "bu_name"] == "Wippolder-Noord"
    assert (
        out.loc[12, "population"]
        == delft_buurten.set_index("bu_code").loc["BU05032802", "population"]
    )
    assert out.loc[[13, 14]].isna().all().all()


def test_join_buurt_checks_crs_and_columns(delft_buurten: gpd.GeoDataFrame) -> None:
    sites = gpd.GeoDataFrame(geometry=[Point(85400, 446900)], crs=28992)
    with pytest.raises(ValueError, match=r"^sites_points: CRS is EPSG:4326"):
        join_buurt(sites.to_crs(4326), delft_buurten, ["bu_code"])
    with pytest.raises(ValueError, match=r"^columns: not in buurten: nope"):
        join_buurt(sites, delft_buurten, ["bu_code", "nope"])
