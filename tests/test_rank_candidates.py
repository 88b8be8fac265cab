"""`magicmix-geo rank` with candidate files: real OSM office/school/university footprints of the
sample (buildings a municipality could transform) as sites, in GeoJSON (EPSG:4326) and CSV+WKT."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from magicmix_geo.cli import main
from magicmix_geo.config import load_settings
from magicmix_geo.prepare.osm import read_osm

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
KINDS = {"office", "commercial", "university", "school", "retail"}


@pytest.fixture(scope="module")
def footprints() -> gpd.GeoDataFrame:
    osm = read_osm(
        SAMPLE / "tudelft.osm.pbf", load_settings().walk.way_filter, ["building"], ["building"]
    )
    area = gpd.read_file(SAMPLE / "area_tudelft_wippolder.gpkg", engine="pyogrio").union_all()
    feats = osm.features
    chosen = feats.loc[feats["building"].isin(KINDS) & (feats["osm_type"] == "way")]
    chosen = chosen.loc[chosen.representative_point().within(area)]
    chosen = chosen.assign(site_id="W" + chosen["osm_id"].astype(str))
    return chosen[["site_id", "building", "geometry"]].reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_rank_with_candidate_file(tmp_path: Path, footprints: gpd.GeoDataFrame, fmt: str) -> None:
    assert len(footprints) > 20
    if fmt == "geojson":
        path = tmp_path / "sites.geojson"
        footprints.to_crs("EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    else:
        path = tmp_path / "sites.csv"
        table = footprints.drop(columns="geometry").assign(wkt=footprints.geometry.to_wkt())
        table.to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(
        [
            "rank",
            "--osm",
            str(SAMPLE / "tudelft.osm.pbf"),
            "--area",
            "GM0503",
            "--boundary",
            str(SAMPLE / "area_tudelft_wippolder.gpkg"),
            "--candidates",
            str(path),
            "--profile",
            "families",
            "--cbs",
            str(SAMPLE / "cbs_buurten_2023_delft.gpkg"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    sites = gpd.read_file(out / "GM0503_GM0503.gpkg", layer="sites", engine="pyogrio")
    assert len(sites) == len(footprints)
    assert set(sites["site_id"]) == set(footprints["site_id"])
    assert sites.crs.to_epsg() == 28992
    # the footprints came back where they were (GeoJSON went through EPSG:4326)
    merged = sites.set_index("site_id").geometry.area
    expected = footprints.set_index("site_id").geometry.area
    np.testing.assert_allclose(merged.loc[expected.index], expected, rtol=1e-4)
    assert (sites["profile"] == "families").all()
    assert sites["bu_code"].str.startswith("BU0503").all()
    assert sites["dist_pt_stop_m"].notna().all()
    ranked = sites.loc[~sites["excluded"].astype(bool), "rank_gm"]
    assert sorted(ranked.astype(int)) == list(range(1, len(ranked) + 1))
