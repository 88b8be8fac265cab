"""The run's QGIS project (magicmix.qgz), opened by real QGIS after the run folder was moved.

QGIS is a required test dependency (``.ci/run``: python3-qgis); without it this test fails,
never skips. ``MAGICMIX_QGIS_PYTHON`` names another interpreter with PyQGIS.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest

from magicmix_geo._errors import OutputError
from magicmix_geo.publish._common import SITE_TYPE_STYLES
from magicmix_geo.publish.gpkg import spatial_layers
from magicmix_geo.publish.qgis_project import (
    FULL_GROUPS_MAX,
    PROJECT_FILE,
    ProjectMunicipality,
    project_spec,
    write_qgis_project,
)
from magicmix_geo.site_types import SITE_TYPES, site_type_label
from tests._qgis_check import run_qgis_check

CHECK_SCRIPT = Path(__file__).resolve().parent / "qgis_project_check.py"
TYPE_OVERLAY = "GM0503 sites site_type"  # the sites again, outlined by site_type
# QGIS's outline_style names as Qt.PenStyle values (SolidLine 1, DashLine 2, DotLine 3, ...)
PEN_STYLES = {"solid": 1, "dash": 2, "dot": 3, "dash dot": 4}


@pytest.fixture(scope="module")
def project_report(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Copy the run folder elsewhere (the project's paths must be relative), open the
    project there with tests/qgis_project_check.py; its JSON report."""
    tmp = tmp_path_factory.mktemp("qgis_project")
    moved = tmp / "moved" / "run"
    shutil.copytree(sample_run, moved)
    report, png = tmp / "report.json", tmp / "project.png"
    run_qgis_check(CHECK_SCRIPT, [moved / PROJECT_FILE, report, png], tmp)
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    data["png"] = str(png)
    data["moved"] = str(moved)
    return data


def test_manifest_names_the_project(sample_run: Path) -> None:
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["qgis_project"]["file"] == PROJECT_FILE
    assert (sample_run / PROJECT_FILE).is_file()


def test_project_opens_with_every_layer_valid_and_styled(
    project_report: dict[str, Any], sample_run: Path
) -> None:
    assert project_report["read"] is True
    assert project_report["crs"] == "EPSG:28992"
    layers = project_report["layers"]
    assert layers and all(layer["valid"] for layer in layers)
    # relative paths only: the copy opened, and no source names the original folder
    assert all(not s.startswith("/") for s in project_report["datasources"] if s)
    assert not any(str(sample_run) in s for s in project_report["datasources"])
    vectors = [
        layer for layer in layers if layer["kind"] == "vector" and layer["name"] != TYPE_OVERLAY
    ]
    for layer in vectors:
        # the renderer is the default style stored in the GeoPackage, not QGIS's random one;
        # its legend labels are the run's language (tests/test_labels_i18n.py), the style's
        # English
        assert layer["styles_in_file"], layer["name"]
        assert _symbols(layer["renderer"]) == _symbols(layer["default_style"]), layer["name"]
    # every spatial layer of the municipality's GeoPackage is in its group, with its features
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    spatial = {name for name, geom in pyogrio.list_layers(gpkg) if geom}
    group = {
        layer["name"].split(" ", 1)[1]: layer
        for layer in vectors
        if layer["group"] == "GM0503 Delft"
    }
    assert set(group) == spatial
    for name, layer in group.items():
        assert layer["features"] == pyogrio.read_info(gpkg, layer=name)["features"], name
    sites = group["sites"]
    assert sites["renderer"]["type"] == "graduatedSymbol"
    assert '"score_total"' in sites["renderer"]["field"]
    # the national list is there too
    assert any(layer["name"] == "national_ranking" for layer in vectors)
    # every raster of the run, styled, hidden at first; sites and context visible
    rasters = [layer for layer in layers if layer["kind"] == "raster"]
    assert {f"{r['name']}.tif" for r in rasters} == {
        p.name for p in (sample_run / "rasters").glob("GM0503_*.tif")
    }
    assert all(r["renderer"]["type"] == "singlebandpseudocolor" for r in rasters)
    assert not any(r["visible"] for r in rasters)
    for name in ("sites", "boundary", "streets", "buildings"):
        assert group[name]["visible"], name


def test_project_renders(project_report: dict[str, Any]) -> None:
    render = project_report["render"]
    assert render["saved"] and not render["errors"]
    # sites in five score colours over the context layers: far more than a blank map
    assert render["distinct_colours"] > 50
    assert Path(project_report["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_project_outlines_the_sites_by_site_type_over_the_score_colours(
    project_report: dict[str, Any], sample_sites: gpd.GeoDataFrame
) -> None:
    layers = project_report["layers"]
    names = [layer["name"] for layer in layers]
    assert TYPE_OVERLAY in names
    overlay = layers[names.index(TYPE_OVERLAY)]
    # the same features as the sites layer, drawn just above it and visible
    assert names.index(TYPE_OVERLAY) + 1 == names.index("GM0503 sites")
    assert overlay["group"] == "GM0503 Delft" and overlay["visible"]
    assert overlay["source_layer"] == "sites"
    assert overlay["features"] == len(sample_sites)
    renderer = overlay["renderer"]
    assert renderer["type"] == "categorizedSymbol" and renderer["field"] == "site_type"
    outlines = {value: rest for value, *rest in renderer["outlines"]}
    # one legend entry per site type, its label naming the type
    assert list(outlines) == list(SITE_TYPES)
    for site_type, (label, colour, pen, alpha) in outlines.items():
        want_colour, dash = SITE_TYPE_STYLES[site_type]
        # in the run's language (the sample run is Dutch)
        assert label == f"{site_type}: {site_type_label(site_type, 'nl')}"
        assert (colour, pen) == (want_colour, PEN_STYLES[dash]), site_type
        assert alpha == 0  # outline only: the score colour of the sites layer shows through
    # two types never look alike
    assert len({(c, p) for _label, c, p, _a in outlines.values()}) == len(outlines)
    # every sample site has a type the legend shows
    assert set(sample_sites["site_type"]) <= set(outlines)
    # and the sites layer's own map tip names the type
    sites = layers[names.index("GM0503 sites")]
    assert '"site_type"' in sites["map_tip"]


def _symbols(signature: dict[str, Any]) -> dict[str, Any]:
    """A renderer's signature (qgis_project_check.renderer_signature) without its legend
    labels: values, colours, outlines."""
    if "outlines" not in signature:
        return signature
    outlines = [[value, *rest] for value, _label, *rest in signature["outlines"]]
    return {**signature, "outlines": outlines}


def _municipalities(n: int) -> list[ProjectMunicipality]:
    layers = ("sites", "stops", "amenities", "boundary", "streets", "buildings", "water")
    return [
        ProjectMunicipality(
            f"GM{i:04d}", f"Gemeente {i}", f"GM{i:04d}.gpkg", layers, (f"rasters/GM{i:04d}.tif",)
        )
        for i in range(n)
    ]


def test_a_national_run_gets_compact_groups(tmp_path: Path) -> None:
    full = project_spec(tmp_path, _municipalities(FULL_GROUPS_MAX), national_gpkg=None, title="t")
    assert not full["compact"]
    for group in full["groups"]:
        names = [layer["layer"] for layer in group["layers"]]
        assert names == [
            "sites",
            "sites",
            "stops",
            "amenities",
            "boundary",
            "streets",
            "buildings",
            "water",
        ]  # the first "sites" is the site-type overlay
        assert len(group["rasters"]) == 1

    national = project_spec(
        tmp_path, _municipalities(FULL_GROUPS_MAX + 1), national_gpkg=None, title="t"
    )
    assert national["compact"]
    assert len(national["groups"]) == FULL_GROUPS_MAX + 1
    for group in national["groups"]:
        assert [layer["layer"] for layer in group["layers"]] == ["sites", "boundary"]
        assert group["rasters"] == []


def test_a_broken_raster_is_named_with_what_gdal_reported(sample_run: Path, tmp_path: Path) -> None:
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    shutil.copy(gpkg, tmp_path / gpkg.name)
    (tmp_path / "rasters").mkdir()
    (tmp_path / "rasters" / "GM0503_broken.tif").write_bytes(b"II*\x00 not a tiff")
    municipality = ProjectMunicipality(
        "GM0503", "Delft", gpkg.name, spatial_layers(gpkg), rasters=["rasters/GM0503_broken.tif"]
    )
    with pytest.raises(
        OutputError, match=r"GM0503_broken\.tif: raster is not valid in QGIS \(.+\)"
    ):
        write_qgis_project(tmp_path, [municipality], national_gpkg=None, title="t")
    assert not (tmp_path / PROJECT_FILE).exists()
