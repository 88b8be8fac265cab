"""The plans reader: plancapaciteit column names mapped by [plans.columns], every file format,
and bad files or mappings refused with exit 2 naming the file, the key and the column."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from magicmix_geo._errors import ConfigError, InputError
from magicmix_geo.cli import main
from magicmix_geo.config import load_settings
from magicmix_geo.prepare.plans import read_plans

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
PLANS = SAMPLE / "plannen_voorbeeld.gpkg"
SAMPLE_CONFIG = SAMPLE / "config.toml"
# the EIB / provincial plancapaciteit column names (docs/sources.md, "Plans")
EIB = {
    "name": "Plannaam",
    "homes": "Aantalrest",
    "status": "Planstatus",
    "type": "Plantype",
    "rent": "HUUR",
    "buy": "KOOP",
    "municipality": "Gem_naam",
}


def _columns(**over: str) -> dict[str, str]:
    return {**load_settings().sites.columns, **over}


def _eib_frame() -> gpd.GeoDataFrame:
    return gpd.read_file(PLANS, engine="pyogrio")


def test_sample_plans_mapped_by_the_sample_config() -> None:
    settings = load_settings(SAMPLE_CONFIG)
    assert settings.sites.columns["homes"] == "Aantalrest"
    plans = read_plans(
        PLANS, settings.sites.columns, temporary_words=settings.sites.temporary_words
    )
    raw = _eib_frame()
    assert len(plans) == len(raw)
    assert plans.crs.to_epsg() == 28992
    assert plans["name"].tolist() == raw["Plannaam"].tolist()
    assert plans["homes"].tolist() == raw["Aantalrest"].astype(float).tolist()
    assert plans["status"].tolist() == raw["Planstatus"].tolist()
    assert plans["type"].tolist() == raw["Plantype"].tolist()
    assert plans["rent"].tolist() == raw["HUUR"].astype(float).tolist()
    assert (plans["municipality"] == "Delft").all()
    # no period column in the file: the optional field stays empty
    assert plans["period"].isna().all()
    assert plans["plan_id"].is_unique and plans["plan_id"].str.startswith("PLAN-").all()
    # only the plan whose name says "tijdelijke flexwoningen" is temporary
    temporary = plans.loc[plans["temporary"], "name"].tolist()
    assert temporary == [n for n in raw["Plannaam"] if "tijdelijk" in n.lower()]
    assert len(temporary) == 1


@pytest.mark.parametrize("kind", ["geojson", "shp", "csv"])
def test_every_format_reads_the_same_plans(tmp_path: Path, kind: str) -> None:
    raw = _eib_frame()
    if kind == "geojson":  # GeoJSON is WGS84 by definition
        path = tmp_path / "plannen.geojson"
        raw.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")
    elif kind == "shp":  # dBase names of at most 10 characters: the EIB names fit
        path = tmp_path / "plannen.shp"
        raw.to_file(path, engine="pyogrio")
    else:  # semicolon CSV with the outline as WKT, RD New without an epsg column
        path = tmp_path / "plannen.csv"
        table = pd.DataFrame(raw.drop(columns="geometry"))
        table["wkt"] = raw.geometry.to_wkt()
        table.to_csv(path, sep=";", index=False)
    plans = read_plans(path, _columns(**EIB))
    reference = read_plans(PLANS, _columns(**EIB))
    assert plans["name"].tolist() == reference["name"].tolist()
    assert plans["homes"].tolist() == reference["homes"].tolist()
    assert np.allclose(plans.geometry.area, reference.geometry.area, rtol=1e-3)


def test_default_names_need_no_mapping(tmp_path: Path) -> None:
    raw = _eib_frame().rename(
        columns={"Plannaam": "name", "Aantalrest": "homes", "Planstatus": "status"}
    )
    path = tmp_path / "plans.gpkg"
    raw.to_file(path, engine="pyogrio")
    plans = read_plans(path, _columns())
    assert plans["homes"].tolist() == raw["homes"].astype(float).tolist()
    assert plans["status"].tolist() == raw["status"].tolist()
    # Plantype is not mapped and `type` is not in the file: left empty, no error
    assert plans["type"].isna().all()


def test_a_mapped_column_missing_from_the_file_is_refused() -> None:
    with pytest.raises(InputError) as info:
        read_plans(PLANS, _columns(**{**EIB, "period": "Fasering"}))
    text = str(info.value)
    assert str(PLANS) in text and "'Fasering'" in text and "plans.columns.period" in text


def test_required_field_missing_is_refused() -> None:
    # the file has Plannaam, not our default `name`
    with pytest.raises(InputError, match=r"no column 'name'.*plans\.columns\.name"):
        read_plans(PLANS, _columns())


def test_bad_homes_value_names_the_column(tmp_path: Path) -> None:
    raw = _eib_frame()
    raw["Aantalrest"] = raw["Aantalrest"].astype(str)
    raw.loc[2, "Aantalrest"] = "veel"
    path = tmp_path / "plannen.gpkg"
    raw.to_file(path, engine="pyogrio")
    with pytest.raises(InputError, match=r"'Aantalrest', plan 3: 'veel'"):
        read_plans(path, _columns(**EIB))


def test_unknown_plans_key_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "plans.toml"
    config.write_text('[plans.columns]\nnaam = "Plannaam"\n')
    with pytest.raises(ConfigError, match=r"plans\.columns\.naam"):
        load_settings(config)


def _rank(tmp_path: Path, config: Path, plans: Path) -> list[str]:
    return [
        "rank",
        "--osm",
        str(SAMPLE / "tudelft.osm.pbf"),
        "--area",
        "GM0503",
        "--boundary",
        str(SAMPLE / "area_tudelft_wippolder.gpkg"),
        "--plans",
        str(plans),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
        "--no-cache",
    ]


def test_cli_missing_mapped_column_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "plans.toml"
    config.write_text('[plans.columns]\nname = "Plannaam"\nhomes = "Woningen"\n')
    assert main(_rank(tmp_path, config, PLANS)) == 2
    err = capsys.readouterr().err
    assert str(PLANS) in err and "'Woningen'" in err and "plans.columns.homes" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_unknown_mapping_key_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "plans.toml"
    config.write_text('[plans.columns]\nhomse = "Aantalrest"\n')
    assert main(_rank(tmp_path, config, PLANS)) == 2
    err = capsys.readouterr().err
    assert "plans.columns.homse" in err and str(config) in err
    assert not (tmp_path / "out").exists()


def test_areas_file_takes_a_plans_file(tmp_path: Path) -> None:
    from magicmix_geo.national import read_areas_file

    areas = tmp_path / "areas.toml"
    areas.write_text(
        f'[defaults]\nplans = "{PLANS}"\n\n'
        f'[[municipality]]\ngm_code = "GM0503"\nosm = "{SAMPLE / "tudelft.osm.pbf"}"\n\n'
        f'[[municipality]]\ngm_code = "GM0518"\nosm = "{SAMPLE / "tudelft.osm.pbf"}"\n'
        'plans = "own_plans.gpkg"\n'
    )
    first, second = read_areas_file(areas)
    assert first.plans == PLANS
    assert second.plans == tmp_path / "own_plans.gpkg"  # relative to the areas file
