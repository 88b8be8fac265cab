"""What QGIS shows of a run speaks the run's language: map tips, label rules, legends and the
layers' descriptions, in the GeoPackages' styles and in the project; map tips escape data.

Real QGIS evaluates the map tips (tests/qgis_maptip_check.py, as QGIS's map tip does); QGIS
is a required test dependency (``.ci/run``: python3-qgis): without it these tests fail.
"""

from __future__ import annotations

import html
import json
import shutil
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from contextlib import closing
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.publish.gpkg import write_municipality_gpkg
from magicmix_geo.publish.qgis_project import (
    PROJECT_FILE,
    ProjectMunicipality,
    write_qgis_project,
)
from magicmix_geo.publish.qgis_styles import packaged_style, run_style
from magicmix_geo.publish.run_outputs import category_labels
from magicmix_geo.site_types import SITE_TYPES, site_type_label
from tests._qgis_check import run_qgis_check

SETTINGS = load_settings()
CHECK_SCRIPT = Path(__file__).resolve().parent / "qgis_maptip_check.py"
# markup, an entity, quotes and QGIS's own expression brackets: data, never HTML or code
HOSTILE = "<img src=x onerror=\"window.__pwned='x'\">&amp;'%] [% 1+1 %]</b><script>1</script>"
# the English texts a Dutch run used to show in QGIS (and must no longer)
ENGLISH = (
    "top 10 of the municipality",
    "top 10 of the country",
    "departures per hour",
    "average wait",
    "</b> rank ",
    "<br>site_type ",
    "</b> site_type ",
    "magicmix-geo default style for",
    "QGIS layer styles",
    "Candidate housing sites ranked",
    "All ranked sites of the run",
    "Public transport stops",
    "Destinations used for",
    "The study area",
    "Building footprints",
    "Streets and paths",
    "Water areas",
    "The full run manifest",
    "no score",
)
# what a Dutch run shows instead
DUTCH_RULES = {"sites": "top 10 van de gemeente", "national_ranking": "top 10 van het land"}
ENGLISH_RULES = {"sites": "top 10 of the municipality", "national_ranking": "top 10 of the country"}


def _check(source: Path, tmp: Path) -> dict[str, Any]:
    """tests/qgis_maptip_check.py on ``source`` (a .qgz or .gpkg): its JSON report."""
    out = tmp / f"{source.stem}-{source.suffix[1:]}.json"
    run_qgis_check(CHECK_SCRIPT, [source, out], tmp)
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    for name, layer in report.items():
        if isinstance(layer, dict):
            assert layer["parser_errors"] == [], name
    return report


def _hostile_layers(sample_run: Path) -> dict[str, gpd.GeoDataFrame]:
    """The sample's sites, destinations and transit stops, the first of each named, typed and
    explained with :data:`HOSTILE`; the second site of a known type and scored."""
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    layers = {
        name: gpd.read_file(gpkg, layer=name, engine="pyogrio")
        for name in ("sites", "amenities", "stops", "transit_stops", "boundary")
    }
    ranked = layers["sites"].sort_values("rank_gm").head(12).reset_index(drop=True)
    for column in ("site_id", "site_type", "name", "exclusion_reason", "exclusion_reason_nl"):
        ranked[column] = ranked[column].astype(object)
        ranked.loc[0, column] = HOSTILE
    ranked.loc[1, "site_type"] = "vacant_land"
    ranked.loc[1, "score_total"] = 0.625
    layers["sites"] = ranked
    for name, columns in (
        ("amenities", ("name", "category")),
        ("stops", ("name", "category")),
        ("transit_stops", ("name", "mode")),
    ):
        frame = layers[name].head(5).reset_index(drop=True)
        for column in columns:
            frame[column] = frame[column].astype(object)
            frame.loc[0, column] = HOSTILE
        layers[name] = frame
    layers["transit_stops"].loc[1, ["mode", "departures_per_hour", "wait_min"]] = [
        "train",
        12.5,
        2.5,
    ]
    layers["amenities"].loc[1, "category"] = "supermarket"
    layers["amenities"].loc[2, "category"] = "playground"
    layers["stops"].loc[1, "category"] = "pt_stop"
    return layers


# a configured label with markup, a quote and QGIS's closing bracket (config/categories.toml)
ODD_LABEL = "speel'plek %] <i>"


@pytest.fixture(scope="module")
def hostile(sample_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """GeoPackages of the hostile layers in each language, what QGIS shows of them opened on
    their own, and of a project of each language over each (the layer names as they are)."""
    tmp = tmp_path_factory.mktemp("qgis_styles_i18n")
    layers = _hostile_layers(sample_run)
    out: dict[str, Any] = {}
    for lang in ("nl", "en"):
        folder = tmp / lang
        folder.mkdir()
        gpkg = folder / "GM0503_Delft.gpkg"
        labels = {**category_labels(SETTINGS, lang), "playground": ODD_LABEL}
        write_municipality_gpkg(gpkg, layers, {}, lang=lang, category_labels=labels)
        out[f"gpkg_{lang}"] = _check(gpkg, folder)
        out[f"path_{lang}"] = gpkg
    for project_lang, gpkg_lang in (("nl", "nl"), ("en", "en"), ("en", "nl")):
        folder = tmp / f"project_{project_lang}_{gpkg_lang}"
        folder.mkdir()
        shutil.copy(out[f"path_{gpkg_lang}"], folder)
        municipality = ProjectMunicipality(
            "GM0503",
            "Delft",
            "GM0503_Delft.gpkg",
            ["sites", "amenities", "stops", "transit_stops"],
        )
        result = write_qgis_project(
            folder,
            [municipality],
            national_gpkg=None,
            title="t",
            lang=project_lang,
            category_labels=category_labels(SETTINGS, project_lang),
        )
        assert result["file"] == PROJECT_FILE
        out[f"project_{project_lang}_{gpkg_lang}"] = _check(folder / PROJECT_FILE, folder)
    return out


def _assert_escaped(tips: list[str]) -> None:
    """The hostile text is shown as text: escaped, never as markup; QGIS's brackets in it
    are not evaluated."""
    assert any(html.escape(HOSTILE, quote=False) in tip for tip in tips)
    for tip in tips:
        assert "<img" not in tip and "<script" not in tip, tip


def _sites_tips(report: dict[str, Any], layer: str) -> list[str]:
    tips: list[str] = report[layer]["tips"]
    assert len(tips) == 12
    return tips


@pytest.mark.parametrize("source", ["gpkg_nl", "project_nl_nl"])
def test_dutch_map_tips_and_rules(hostile: dict[str, Any], source: str) -> None:
    report = hostile[source]
    prefix = "GM0503 " if source.startswith("project") else ""
    sites = _sites_tips(report, f"{prefix}sites")
    _assert_escaped(sites)
    # the Dutch words, the site type's Dutch label, the score with a decimal comma
    assert all(" rang " in tip and "<br>soort locatie " in tip for tip in sites)
    assert f"soort locatie {site_type_label('vacant_land', 'nl')} " in sites[1]
    assert "score_total 0,625<br>" in sites[1]
    assert report[f"{prefix}sites"]["rules"] == [DUTCH_RULES["sites"]]
    stops = report[f"{prefix}transit_stops"]["tips"]
    _assert_escaped(stops)
    assert "(trein): 12,5 vertrekken per uur, gemiddeld 2,5 min wachten" in stops[1]
    amenities = report[f"{prefix}amenities"]["tips"]
    _assert_escaped(amenities)
    assert amenities[1].startswith("supermarkt: ")
    stop_tips = report[f"{prefix}stops"]["tips"]
    _assert_escaped(stop_tips)
    assert stop_tips[1].startswith("ov-halte: ")
    if source == "gpkg_nl":  # the configuration's label, whatever it holds, shown as text
        assert "<i>" not in amenities[2]
        assert html.unescape(amenities[2]).startswith(f"{ODD_LABEL}: ")
    for layer in report.values():
        if isinstance(layer, dict):
            for text in (layer["template"], *layer["tips"], *layer["rules"], *layer["legend"]):
                assert not any(english in text for english in ENGLISH), text
    assert report[f"{prefix}sites"]["legend"][:2] == ["geen score", "uitgesloten"]


@pytest.mark.parametrize("source", ["gpkg_en", "project_en_en", "project_en_nl"])
def test_english_map_tips_and_rules(hostile: dict[str, Any], source: str) -> None:
    """English as before, the values escaped; an English project over a Dutch GeoPackage
    still shows English map tips and rules (the project sets them)."""
    report = hostile[source]
    prefix = "GM0503 " if source.startswith("project") else ""
    sites = _sites_tips(report, f"{prefix}sites")
    _assert_escaped(sites)
    assert all("</b> rank " in tip and "<br>site_type " in tip for tip in sites)
    assert "<br>site_type vacant_land " in sites[1]
    assert "score_total 0.625<br>" in sites[1]
    assert report[f"{prefix}sites"]["rules"] == [ENGLISH_RULES["sites"]]
    stops = report[f"{prefix}transit_stops"]["tips"]
    _assert_escaped(stops)
    assert "(train): 12.5 departures per hour, average wait 2.5 min" in stops[1]
    amenities = report[f"{prefix}amenities"]["tips"]
    _assert_escaped(amenities)
    assert amenities[1].startswith("supermarket: ")
    stop_tips = report[f"{prefix}stops"]["tips"]
    _assert_escaped(stop_tips)
    assert stop_tips[1].startswith("pt_stop: ")
    assert report[f"{prefix}sites"]["legend"][:2] == ["no score", "excluded"]


def test_hostile_values_are_escaped_as_html_text(hostile: dict[str, Any]) -> None:
    """Each hostile value reaches the map tip once per place it is shown, escaped; nothing
    of it is evaluated by QGIS (``[% 1+1 %]`` in data stays as it is, no "2")."""
    escaped = html.escape(HOSTILE, quote=False)
    for lang in ("nl", "en"):
        sites = hostile[f"gpkg_{lang}"]["sites"]["tips"][0]
        # site id, site type, name and reason
        assert sites.count(escaped) == 4, sites
        assert html.unescape(sites).count(HOSTILE) == 4
        stop = hostile[f"gpkg_{lang}"]["transit_stops"]["tips"][0]
        assert stop.count(escaped) == 2, stop  # name and mode
        amenity = hostile[f"gpkg_{lang}"]["amenities"]["tips"][0]
        assert amenity == f"{escaped}: {escaped}"


def _gpkg_texts(gpkg: Path) -> list[str]:
    """What QGIS shows of a GeoPackage's own texts: its styles' map tips, label rules and
    legend labels, the styles' descriptions, the layers' descriptions (abstracts)."""
    with closing(sqlite3.connect(gpkg)) as con:
        styles = con.execute("SELECT styleQML, description FROM layer_styles").fetchall()
        contents = [row[0] for row in con.execute("SELECT description FROM gpkg_contents")]
    texts = [*contents, *(description for _qml, description in styles)]
    for qml, _description in styles:
        texts.extend(_qml_texts(ET.fromstring(qml)))
    return texts


def _qml_texts(root: ET.Element) -> list[str]:
    """The texts a reader sees of a style or project: map tips, rule descriptions, legend
    labels, abstracts (the layers' descriptions)."""
    texts = [str(tip.text or "") for tip in root.iter("mapTip")]
    texts += [str(rule.get("description")) for rule in root.iter("rule")]
    texts += [str(c.get("label")) for c in root.iter("category")]
    texts += [str(r.get("label")) for r in root.iter("range")]
    texts += [str(a.text or "") for a in root.iter("abstract")]
    return texts


def test_the_dutch_sample_runs_qgis_texts_are_dutch(sample_run: Path, tmp_path: Path) -> None:
    """The sample run (Dutch): its GeoPackages' styles and descriptions and its project hold
    the Dutch texts and none of the English ones they replaced."""
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    texts = {
        "municipality": _gpkg_texts(gpkg),
        "national": _gpkg_texts(sample_run / "national_ranking.gpkg"),
    }
    with zipfile.ZipFile(sample_run / PROJECT_FILE) as archive:
        qgs = next(n for n in archive.namelist() if n.endswith(".qgs"))
        texts["project"] = _qml_texts(ET.fromstring(archive.read(qgs)))
    for where, found in texts.items():
        for text in found:
            assert not any(english in text for english in ENGLISH), (where, text)
    joined = {where: "\n".join(found) for where, found in texts.items()}
    for where in ("municipality", "project"):
        assert DUTCH_RULES["sites"] in joined[where]
        assert "<br>soort locatie [%" in joined[where]
        assert "vertrekken per uur" in joined[where]
        assert "Kandidaatlocaties gerangschikt" in joined[where]
    for where in ("national", "project"):
        assert DUTCH_RULES["national_ranking"] in joined[where]
        assert "Alle gerangschikte locaties" in joined[where]
    assert "standaardstijl van magicmix-geo voor sites" in joined["municipality"]
    # what QGIS shows when hovering the sample's sites
    report = _check(sample_run / PROJECT_FILE, tmp_path)
    tips = report["GM0503 sites"]["tips"]
    assert tips and all(" rang " in tip and "soort locatie " in tip for tip in tips)
    assert any(site_type_label(t, "nl") in tip for tip in tips for t in SITE_TYPES)
    assert report["national_ranking"]["rules"] == [DUTCH_RULES["national_ranking"]]


def _without(root: ET.Element, lang: str) -> ET.Element:
    """A style without what an English run changed: its map tip (escaped now) and the legend
    labels of the destination categories the configuration names otherwise."""
    for tip in root.iter("mapTip"):
        tip.text = None
    labels = category_labels(SETTINGS, lang)
    for category in root.iter("category"):
        if category.get("value") in labels:
            category.set("label", "")
    return root


@pytest.mark.parametrize(
    "style",
    ["sites", "national_ranking", "site_types", "amenities", "stops", "transit_stops"],
)
def test_an_english_runs_styles_are_the_packaged_ones(style: str) -> None:
    """An English run writes the packaged styles but for the map tips (their values escaped,
    see above) and the destinations' legend labels, which are the configuration's English
    labels, as the project's legends already were (``park or green space``, not ``park``)."""
    packaged = packaged_style(style)
    written = run_style(style, "en", category_labels(SETTINGS, "en"))
    assert packaged is not None and written is not None
    assert written.startswith("<!DOCTYPE qgis ")
    before, after = ET.fromstring(packaged), ET.fromstring(written)
    assert ET.tostring(_without(before, "en")) == ET.tostring(_without(after, "en"))
    if style == "amenities":
        labels = {c.get("value"): c.get("label") for c in ET.fromstring(written).iter("category")}
        assert labels["park"] == SETTINGS.categories["park"].label_en
