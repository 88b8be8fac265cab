"""Site type labels follow the run's language in every output a reader sees.

The sample's sites, their types spread over every site type, rendered in Dutch and in
English: the HTML map (legend, popups, layer names), the HTML report, the static map's legend
and the typeset PDF. A Dutch output holds no English site type label and the reverse; all
labels come from one table (magicmix_geo/site_types.py SITE_TYPE_LABELS).
"""

from __future__ import annotations

import decimal
import html
import json
import pickle
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from magicmix_geo.config import load_settings
from magicmix_geo.language import format_numbers
from magicmix_geo.publish import write_interactive_map, write_municipality_report
from magicmix_geo.publish._common import format_number
from magicmix_geo.publish.index_page import index_html
from magicmix_geo.publish.maps import render_static_map
from magicmix_geo.publish.overview import colour_classes, overview_geojson
from magicmix_geo.publish.qgis_project import (
    PROJECT_FILE,
    ProjectMunicipality,
    write_qgis_project,
)
from magicmix_geo.publish.report import exclusion_summary
from magicmix_geo.publish.run_outputs import (
    category_labels,
    criterion_labels,
)
from magicmix_geo.score.explain import reasons
from magicmix_geo.score.method import method_rows
from magicmix_geo.score.model import exclusions
from magicmix_geo.site_types import SITE_TYPE_LABELS, SITE_TYPES
from tests.test_pdf_report import delft_pdf, poppler_tool

SETTINGS = load_settings()


OTHER = {"nl": "en", "en": "nl"}


def _label(site_type: str, lang: str) -> str:
    en, nl = SITE_TYPE_LABELS[site_type]
    return nl if lang == "nl" else en


@pytest.fixture(scope="module")
def typed(sample_run: Path, sample_sites: gpd.GeoDataFrame) -> dict[str, object]:
    """The sample's sites with every site type among the ranked ones, and its layers."""
    sites = sample_sites.copy()
    ranked = sites.index[sites["rank_gm"].notna()]
    assert len(ranked) >= len(SITE_TYPES)
    sites.loc[ranked, "site_type"] = [SITE_TYPES[i % len(SITE_TYPES)] for i in range(len(ranked))]
    # the reasons' own kind text is tested with the labels below: keep it out of this test
    sites = sites.drop(columns=["reasons_en", "reasons_nl"])
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    return {
        "sites": sites,
        "boundary": gpd.read_file(gpkg, layer="boundary"),
        "amenities": gpd.read_file(gpkg, layer="amenities"),
        "manifest": manifest,
    }


def _outputs(typed: dict[str, object], lang: str, folder: Path) -> dict[str, str]:
    sites, boundary = typed["sites"], typed["boundary"]
    assert isinstance(sites, gpd.GeoDataFrame) and isinstance(boundary, gpd.GeoDataFrame)
    manifest = typed["manifest"]
    assert isinstance(manifest, dict)
    folder.mkdir()
    write_interactive_map(
        folder / "map.html",
        sites,
        boundary,
        amenities=typed["amenities"],
        title="GM0503 Delft",
        lang=lang,
        category_labels=category_labels(SETTINGS, lang),
        criterion_labels=criterion_labels(SETTINGS, lang),
    )
    write_municipality_report(
        folder / "report.html",
        sites,
        title="GM0503 Delft",
        manifest=manifest,
        method=method_rows(SETTINGS, lang),
        lang=lang,
    )
    figure = render_static_map(sites, boundary, title="GM0503 Delft", context={}, lang=lang)
    legend = figure.axes[0].get_legend()
    assert legend is not None
    delft_pdf(folder / "report.pdf", sites, manifest, lang=lang)
    return {
        "map": html.unescape((folder / "map.html").read_text(encoding="utf-8")),
        "report": html.unescape((folder / "report.html").read_text(encoding="utf-8")),
        "png legend": "\n".join(t.get_text() for t in legend.get_texts()),
        "pdf": " ".join(_pdf_text(folder / "report.pdf").split()),
    }


def _pdf_text(pdf: Path) -> str:
    """The text layer in reading order (no -layout: a wrapped table cell stays together)."""
    done = subprocess.run(
        [poppler_tool("pdftotext"), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_site_type_labels_in_the_run_language_only(
    typed: dict[str, object], lang: str, tmp_path: Path
) -> None:
    shown = _outputs(typed, lang, tmp_path / lang)
    for output, text in shown.items():
        for site_type in SITE_TYPES:
            # the legends and the report's tables: "code: label" in the run's language
            if output != "pdf":
                assert f"{site_type}: {_label(site_type, lang)}" in text, (output, site_type)
            else:
                assert _label(site_type, lang) in text, (output, site_type)
            # never the other language's label
            assert _label(site_type, OTHER[lang]) not in text, (output, site_type)


def test_html_map_words_in_the_run_language(typed: dict[str, object], tmp_path: Path) -> None:
    dutch = _outputs(typed, "nl", tmp_path / "nl")
    english = _outputs(typed, "en", tmp_path / "en")
    # layer names, legend headings and popup labels
    for words in ("kandidaatlocaties (score_total", "gemeentegrens", "soort locatie (site_type)"):
        assert words in dutch["map"] and words not in english["map"], words
    for words in ("candidate sites (score_total", "municipal boundary", "site type (site_type)"):
        assert words in english["map"] and words not in dutch["map"], words
    # popup labels of the distances and the destinations' legend: the config's labels
    assert "loopafstand naar" in dutch["map"] and "walk to " not in dutch["map"]
    assert "onbereikbaar" not in english["map"]
    amenities = typed["amenities"]
    assert isinstance(amenities, gpd.GeoDataFrame)
    for category in set(amenities["category"]):
        labels = SETTINGS.categories[category]
        assert f"{labels.label_nl}</div>" in dutch["map"], category
        assert f"{labels.label_en}</div>" in english["map"], category
        if labels.label_nl != labels.label_en:
            assert f"{labels.label_en}</div>" not in dutch["map"], category
    assert "Kandidaten naar soort" in dutch["report"] and "Candidates by type" in english["report"]
    assert "Candidates by type" not in dutch["report"]


def _section(page: str, heading: str) -> str:
    """The first table after ``heading`` in ``page``."""
    start = page.index(heading)
    return page[start : page.index("</table>", start)]


def test_exclusion_reasons_in_the_run_language(typed: dict[str, object], tmp_path: Path) -> None:
    sites = typed["sites"]
    assert isinstance(sites, gpd.GeoDataFrame)
    excluded = sites[sites["excluded"].astype(bool)]
    assert len(excluded) and excluded["exclusion_reason_nl"].notna().all()
    dutch = _outputs(typed, "nl", tmp_path / "nl")
    english = _outputs(typed, "en", tmp_path / "en")
    kinds_nl, kinds_en = exclusion_summary(sites, "nl"), exclusion_summary(sites, "en")
    assert kinds_nl["sites"].tolist() == kinds_en["sites"].tolist()
    # the report's table of kinds, numbers as #: each language's own kinds only
    table_nl = _section(dutch["report"], "<h2>Waarom locaties zijn uitgesloten</h2>")
    table_en = _section(english["report"], "<h2>Why sites were excluded</h2>")
    for nl, en in zip(kinds_nl["reason"].head(12), kinds_en["reason"].head(12), strict=True):
        assert nl != en
        assert f"<td>{nl}</td>" in table_nl and f"<td>{en}</td>" not in table_nl
        assert f"<td>{en}</td>" in table_en and f"<td>{nl}</td>" not in table_en
    # the map's popups of excluded sites: each site's own reason in the map's language
    for nl, en in zip(excluded["exclusion_reason_nl"], excluded["exclusion_reason"], strict=True):
        assert f'"exclusion_reason": {json.dumps(nl)}' in dutch["map"], nl
        assert f'"exclusion_reason": {json.dumps(en)}' in english["map"], en
        assert json.dumps(en) not in dutch["map"], en


def test_method_rows_in_the_run_language() -> None:
    dutch, english = method_rows(SETTINGS, "nl"), method_rows(SETTINGS, "en")
    assert len(dutch) == len(english)
    ex = SETTINGS.exclusions
    low, high = format_number(ex.min_area_m2, 0, "nl"), format_number(ex.max_area_m2, 0, "nl")
    assert ("uitsluiting", f"oppervlak buiten {low}-{high} m2") in dutch
    assert "." in high  # the largest area is in the ten thousands
    for (name_nl, text_nl), (name_en, text_en) in zip(dutch, english, strict=True):
        if name_en.startswith("score_"):  # a criterion: its name, Dutch words, Dutch weights
            assert name_nl == name_en and "lineair daartussen" in text_nl
            assert "linear between" not in text_nl and "weights" not in text_nl
            assert re.search(r"gewichten: \w+ \d,\d{3}", text_nl), text_nl
            assert re.search(r"weights: \w+ \d\.\d{3}", text_en), text_en
        else:
            assert name_nl != name_en and text_nl != text_en


def test_the_sample_runs_report_explains_the_method_in_dutch(sample_run: Path) -> None:
    page = html.unescape((sample_run / "reports" / "GM0503.html").read_text(encoding="utf-8"))
    for name, text in method_rows(SETTINGS, "nl"):
        assert f"<tr><td>{name}</td><td>{text}</td></tr>" in page, text
    assert "linear between" not in page and "uitsluiting" in page


# -- numbers as the run's readers write them (publish/_common.format_number) -----------------


@pytest.mark.parametrize(
    ("value", "digits", "nl", "en"),
    [
        (1234.5, 1, "1.234,5", "1,234.5"),
        (-1234.56, 1, "-1.234,6", "-1,234.6"),
        (0, 0, "0", "0"),
        (0.0, 2, "0,00", "0.00"),
        (-0.4, 0, "0", "0"),  # rounds to zero: no "-0"
        (999.5, 0, "1.000", "1,000"),  # halves away from zero, carried into the thousands
        (-999.5, 0, "-1.000", "-1,000"),
        (998.5, 0, "999", "999"),  # not to the even neighbour
        (0.125, 2, "0,13", "0.13"),
        (2.675, 2, "2,68", "2.68"),  # its shortest decimal form, not the binary 2.67499...
        (1234567890123.0, 0, "1.234.567.890.123", "1,234,567,890,123"),
        (np.int64(9_007_199_254_740_993), 0, "9.007.199.254.740.993", "9,007,199,254,740,993"),
        (1e21, 0, "1" + ".000" * 7, "1" + ",000" * 7),
        (np.float32(0.5), 1, "0,5", "0.5"),
        (12, 2, "12,00", "12.00"),
        (float("nan"), 0, "", ""),
        (np.nan, 3, "", ""),
        (None, 0, "", ""),
        (pd.NA, 0, "", ""),
        (float("inf"), 0, "", ""),
    ],
)
def test_format_number(value: object, digits: int, nl: str, en: str) -> None:
    assert format_number(value, digits, "nl") == nl
    assert format_number(value, digits, "en") == en
    # both at once (the reasons are written in both languages side by side)
    assert format_numbers(value, digits) == {"nl": nl, "en": en}


def _reference_number(value: float, digits: int) -> str:
    """The rule in full, independently: the float's shortest decimal form, halves away from
    zero, no "-0", English separators."""
    with decimal.localcontext() as ctx:
        ctx.prec = 500
        step = decimal.Decimal(1).scaleb(-digits)
        exact = decimal.Decimal(repr(value)).quantize(step, decimal.ROUND_HALF_UP)
    return f"{abs(exact) if exact.is_zero() else exact:,.{digits}f}"


def test_format_number_agrees_with_exact_decimal_rounding() -> None:
    """The fast path (Python's own rounding where no half is at stake) writes what exact
    decimal rounding of the shortest form writes: halves, near-halves, tiny and huge floats,
    float32 values."""
    rng = np.random.default_rng(17)
    n = 4000
    digits = rng.integers(0, 5, 5 * n)
    halves = [round(v, d + 1) for v, d in zip(rng.uniform(-1e4, 1e4, n), digits[:n], strict=True)]
    values = np.concatenate(
        [
            rng.uniform(-1e4, 1e4, n),
            halves,
            rng.integers(-(10**6), 10**6, n) / 10.0 ** (digits[:n] + 1) + 5e-9,  # near-halves
            np.ldexp(rng.uniform(-1, 1, n), rng.integers(-40, 70, n)),  # 1e-12 .. 1e21
            rng.uniform(-1e6, 1e6, n).astype(np.float32).astype(float),
        ]
    )
    for value, d in zip(values.tolist(), digits.tolist(), strict=True):
        assert format_number(value, d, "en") == _reference_number(value, d), (value, d)


def test_format_number_refuses_another_language_or_negative_digits() -> None:
    with pytest.raises(ValueError, match="lang"):
        format_number(1.0, 0, "de")
    with pytest.raises(ValueError, match="digits"):
        format_number(1.0, -1, "nl")


# the best site's figures, set so that each shows a thousands separator or decimals
AREA = 12345.6  # area_m2: 12.346 / 12,346
SCORE = 0.8765  # score_total: 0,877 / 0.877
WALK = 1234.4  # the first dist_<category>_m: 1.234 m / 1,234 m; the second site's: unreachable
HOMES = 2500.0  # homes_planned: 2.500 / 2,500
INTERVAL = (1200, 1500)  # rank_p10, rank_p90: 1.200-1.500 / 1,200-1,500
SHOWN = {
    "nl": {
        "area": "12.346",
        "score": "0,877",
        "walk": "1.234 m",
        "homes": "2.500",
        "interval": "1.200-1.500",
        "unreachable": "onbereikbaar",
    },
    "en": {
        "area": "12,346",
        "score": "0.877",
        "walk": "1,234 m",
        "homes": "2,500",
        "interval": "1,200-1,500",
        "unreachable": "unreachable",
    },
}


@pytest.fixture(scope="module")
def numbered(typed: dict[str, object]) -> tuple[dict[str, object], str]:
    """The typed sample with the figures above on its best two sites; and the distance
    column they are set in."""
    sites = typed["sites"]
    assert isinstance(sites, gpd.GeoDataFrame)
    sites = sites.copy()
    ranks = pd.to_numeric(sites["rank_gm"], errors="coerce")
    best, second = ranks.idxmin(), ranks[ranks > ranks.min()].idxmin()
    walk = next(c for c in sites.columns if c.startswith("dist_") and c.endswith("_m"))
    sites.loc[best, ["area_m2", "score_total", walk, "homes_planned"]] = [
        AREA,
        SCORE,
        WALK,
        HOMES,
    ]
    sites.loc[best, ["rank_p10", "rank_p90"]] = INTERVAL
    sites.loc[second, walk] = np.nan
    return {**typed, "sites": sites}, walk


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_numbers_in_the_run_language(
    numbered: tuple[dict[str, object], str], lang: str, tmp_path: Path
) -> None:
    typed, walk = numbered
    shown = _outputs(typed, lang, tmp_path / lang)
    mine, theirs = SHOWN[lang], SHOWN[OTHER[lang]]
    # the HTML report: the best sites' table, the criteria table's distances
    report = shown["report"]
    for key in ("area", "score", "homes"):
        assert f">{mine[key]}<" in report, key
        assert f">{theirs[key]}<" not in report, key
    for key in ("walk", "unreachable"):
        assert f'<td class="num">{mine[key]}</td>' in report, key
        assert f'<td class="num">{theirs[key]}</td>' not in report, key
    # the HTML map's popups: numbers and distances as text, the site type with its label
    # (folium writes the escaped text's "&" as \u0026 in its JSON)
    popups = html.unescape(shown["map"].replace("\\u0026", "&"))
    assert f'"{walk}": "{mine["walk"]}"' in popups
    assert f'"{walk}": "{mine["unreachable"]}"' in popups
    assert f'"score_total": "{mine["score"]}"' in popups
    assert f'"homes_planned": "{mine["homes"]}"' in popups
    for site_type in SITE_TYPES:
        assert f'"site_type": "{site_type}: {_label(site_type, lang)}"' in popups, site_type
    assert f'"{walk}": "{theirs["walk"]}"' not in popups
    # the typeset PDF: the best sites' table
    for key in ("area", "score", "interval"):
        assert mine[key] in shown["pdf"], key
        assert theirs[key] not in shown["pdf"], key


@pytest.mark.parametrize(
    ("lang", "ticks"),
    [
        ("nl", ["0,0", "0,2", "0,4", "0,6", "0,8", "1,0"]),
        ("en", ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
    ],
)
def test_png_colour_bar_in_the_run_language(
    typed: dict[str, object], lang: str, ticks: list[str]
) -> None:
    sites, boundary = typed["sites"], typed["boundary"]
    assert isinstance(sites, gpd.GeoDataFrame) and isinstance(boundary, gpd.GeoDataFrame)
    figure = render_static_map(sites, boundary, title="GM0503 Delft", context={}, lang=lang)
    colour_bar = figure.axes[1]
    assert [t.get_text() for t in colour_bar.get_yticklabels()] == ticks


def _national_table() -> gpd.GeoDataFrame:
    """One municipality as overview_table has it, with figures in the thousands."""
    return gpd.GeoDataFrame(
        {
            "gm_code": ["GM0503"],
            "gm_name": ["Delft"],
            "candidates": [12345],
            "ranked": [2345],
            "excluded": [10000],
            "homes_reserved": [1234],
            "taakstelling": [5678.0],
            "coverage": [0.2173],
            "best_site_id": ["S1"],
            "best_score": [SCORE],
            "best_x": [85000.0],
            "best_y": [447000.0],
            "files": [["GM0503_Delft.gpkg", "reports/GM0503.html"]],
        },
        geometry=[box(84000, 446000, 86000, 448000)],
        crs="EPSG:28992",
    )


@pytest.mark.parametrize(
    ("lang", "cells", "popup"),
    [
        (
            "nl",
            ["12.345", "2.345", "10.000", "1.234", "5.678", "22 %", "0,877"],
            {"ranked": "2.345", "excluded": "10.000", "homes_reserved": "1.234"},
        ),
        (
            "en",
            ["12,345", "2,345", "10,000", "1,234", "5,678", "22 %", "0.877"],
            {"ranked": "2,345", "excluded": "10,000", "homes_reserved": "1,234"},
        ),
    ],
)
def test_index_and_overview_numbers_in_the_run_language(
    lang: str, cells: list[str], popup: dict[str, str], tmp_path: Path
) -> None:
    table = _national_table()
    page = index_html(tmp_path, table, manifest={"run_id": "r1"}, lang=lang)
    shown = re.findall(r'<td class="num" data-value="([^"]*)">([^<]*)</td>', page)
    assert [text for _value, text in shown] == cells
    # sorting still reads the machine numbers
    assert [float(value) for value, _text in shown][:3] == [12345.0, 2345.0, 10000.0]
    # the overview map's popups: the figures as text, the machine ones kept beside them
    area = overview_geojson(table, lang)["areas"]["features"][0]["properties"]
    assert {k: area["shown"][k] for k in popup} == popup
    assert area["ranked"] == 2345
    # the overview's legend, coloured by ranked candidates when no task is given
    ranked = pd.DataFrame({"coverage": [np.nan, np.nan], "ranked": [0, 5000]})
    sep = "." if lang == "nl" else ","
    assert colour_classes(ranked, lang)[2] == [
        f"0-1{sep}000",
        f"1{sep}000-2{sep}000",
        f"2{sep}000-3{sep}000",
        f"3{sep}000-4{sep}000",
        f"4{sep}000-5{sep}000",
    ]


# the QGIS project's graduated legend of the sites: no score, excluded, the five classes
RANGE_LABELS = {
    "nl": [
        "geen score",
        "uitgesloten",
        *("0,0 - 0,2", "0,2 - 0,4", "0,4 - 0,6", "0,6 - 0,8", "0,8 - 1,0"),
    ],
    "en": [
        "no score",
        "excluded",
        *("0.0 - 0.2", "0.2 - 0.4", "0.4 - 0.6", "0.6 - 0.8", "0.8 - 1.0"),
    ],
}


def _qgs_root(qgz: Path) -> ET.Element:
    """The project file (.qgs) inside the .qgz, parsed."""
    with zipfile.ZipFile(qgz) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".qgs"))
        return ET.fromstring(archive.read(name))


def _qgs_renderers(qgz: Path) -> dict[str, ET.Element]:
    """The project's layers by name: their renderer as QGIS wrote it in the .qgs."""
    out = {}
    for layer in _qgs_root(qgz).iter("maplayer"):
        renderer = layer.find("renderer-v2")
        if renderer is not None:
            out[str(layer.findtext("layername"))] = renderer
    return out


def _categories(renderer: ET.Element) -> dict[str, str]:
    return {str(c.get("value")): str(c.get("label")) for c in renderer.iter("category")}


def _raster_legends(qgz: Path) -> dict[str, dict[str, Any]]:
    """Per raster layer: the legend heading the layer tree gives it, the ramp's class labels
    and values, and its number format (separators), as QGIS wrote them."""
    root = _qgs_root(qgz)
    headings = {
        str(node.get("name")): {
            str(o.get("name")): str(o.get("value")) for o in node.iter("Option") if o.get("name")
        }.get("legend/label-0")
        for node in root.iter("layer-tree-layer")
    }
    out = {}
    for layer in root.iter("maplayer"):
        shader = layer.find(".//colorrampshader")
        if layer.get("type") != "raster" or shader is None:
            continue
        number = {
            str(o.get("name")): str(o.get("value")) for o in shader.iter("Option") if o.get("name")
        }
        name = str(layer.findtext("layername"))
        out[name] = {
            "heading": headings.get(name),
            "items": [(float(str(i.get("value"))), i.get("label")) for i in shader.iter("item")],
            "thousands": number.get("thousand_separator"),
            "decimal": number.get("decimal_separator"),
            "suffix": shader.find("rampLegendSettings").get("suffix"),  # type: ignore[union-attr]
        }
    return out


# the destinations of no configured category, and the transit stops' modes, in the legends
OTHER_LABEL = {"nl": "overig", "en": "other"}
MODE_LABELS = {
    "nl": {"train": "trein", "metro": "metro", "tram": "tram", "bus": "bus", "": "overig"},
    "en": {"train": "train", "metro": "metro", "tram": "tram", "bus": "bus", "": "other"},
}
# the rasters' legend headings (the GeoTIFFs' band descriptions are English)
RASTER_HEADINGS = {
    "nl": {
        "GM0503_dist_supermarket_m": "loopafstand naar de dichtstbijzijnde supermarkt (m)",
        "GM0503_transit_access_min": (
            "minuten tot instappen in het openbaar vervoer (lopen + gemiddeld wachten)"
        ),
        "GM0503_building_cover_400m": "bebouwingsgraad binnen 400 m (aandeel)",
    },
    "en": {
        "GM0503_dist_supermarket_m": "walking distance to the nearest supermarket (m)",
        "GM0503_transit_access_min": "minutes to board public transport (walk + average wait)",
        "GM0503_building_cover_400m": "building cover within 400 m (share)",
    },
}
RASTER_UNITS = {
    "GM0503_dist_supermarket_m": (0, " m"),
    "GM0503_transit_access_min": (0, " min"),
    "GM0503_building_cover_400m": (2, ""),
}


def _category_label(category: str, lang: str) -> str:
    labels = SETTINGS.categories[category]
    return labels.label_nl if lang == "nl" else labels.label_en


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_qgis_project_legends_in_the_run_language(
    sample_run: Path, tmp_path: Path, lang: str
) -> None:
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    shutil.copy(gpkg, tmp_path / gpkg.name)
    (tmp_path / "rasters").mkdir()
    rasters = []
    for name in RASTER_HEADINGS[lang]:
        shutil.copy(sample_run / "rasters" / f"{name}.tif", tmp_path / "rasters")
        rasters.append(f"rasters/{name}.tif")
    layers = ["sites", "stops", "amenities", "transit_stops"]
    municipality = ProjectMunicipality("GM0503", "Delft", gpkg.name, layers, rasters)
    result = write_qgis_project(
        tmp_path,
        [municipality],
        national_gpkg=None,
        title="t",
        lang=lang,
        category_labels=category_labels(SETTINGS, lang),
    )
    assert result["file"] == PROJECT_FILE
    renderers = _qgs_renderers(tmp_path / PROJECT_FILE)
    # the site type outlines: "type: label" in the run's language
    overlay = renderers["GM0503 sites site_type"]
    labels = {c.get("value"): c.get("label") for c in overlay.iter("category")}
    assert labels == {t: f"{t}: {_label(t, lang)}" for t in SITE_TYPES}
    # the score classes of the sites, their numbers as the run's readers write them
    sites = renderers["GM0503 sites"]
    assert [r.get("label") for r in sites.iter("range")] == RANGE_LABELS[lang]
    # destinations and stops: the configuration's labels of their categories
    for layer in ("GM0503 amenities", "GM0503 stops"):
        shown = _categories(renderers[layer])
        assert shown.pop("") == OTHER_LABEL[lang], layer
        assert shown == {c: _category_label(c, lang) for c in shown}, layer
    assert len(_categories(renderers["GM0503 amenities"])) == len(SETTINGS.categories) + 1
    assert _categories(renderers["GM0503 transit_stops"]) == MODE_LABELS[lang]
    # the rasters: their heading, and the ramp's numbers with the language's separators
    legends = _raster_legends(tmp_path / PROJECT_FILE)
    assert set(legends) == set(RASTER_HEADINGS[lang])
    thousands, point = (".", ",") if lang == "nl" else (",", ".")
    for name, legend in legends.items():
        digits, unit = RASTER_UNITS[name]
        assert legend["heading"] == RASTER_HEADINGS[lang][name]
        assert (legend["thousands"], legend["decimal"], legend["suffix"]) == (
            thousands,
            point,
            unit,
        )
        assert legend["items"], name
        for value, label in legend["items"]:
            assert label == f"{format_number(value, digits, lang)}{unit}", (name, value)
    # the walking distance's ramp reaches beyond 1,000 m: the thousands are written
    far = max(legends["GM0503_dist_supermarket_m"]["items"])
    assert far[0] >= 1000 and f"{thousands}" in str(far[1])


def test_the_sample_runs_qgis_project_is_dutch(sample_run: Path) -> None:
    renderers = _qgs_renderers(sample_run / PROJECT_FILE)
    for name in ("GM0503 sites", "national_ranking"):
        if name in renderers:
            assert [r.get("label") for r in renderers[name].iter("range")] == RANGE_LABELS["nl"]
    overlay = renderers["GM0503 sites site_type"]
    assert {c.get("label") for c in overlay.iter("category")} == {
        f"{t}: {_label(t, 'nl')}" for t in SITE_TYPES
    }
    # the run passes the configuration's Dutch category labels to the project
    amenities = _categories(renderers["GM0503 amenities"])
    assert amenities.pop("") == OTHER_LABEL["nl"]
    assert amenities == {c: _category_label(c, "nl") for c in amenities}
    legends = _raster_legends(sample_run / PROJECT_FILE)
    supermarket = legends["GM0503_dist_supermarket_m"]
    assert supermarket["heading"] == RASTER_HEADINGS["nl"]["GM0503_dist_supermarket_m"]
    assert (supermarket["thousands"], supermarket["decimal"]) == (".", ",")


# -- numbers in the reasons (score/explain.py, score/model.py) -------------------------------


def test_the_sample_runs_reasons_write_scores_as_their_language(
    sample_sites: gpd.GeoDataFrame,
) -> None:
    ranked = sample_sites[sample_sites["rank_gm"].notna()]
    assert len(ranked)
    # each criterion named in a reason ends with its score: "(0,85)" in Dutch
    for text in ranked["reasons_nl"]:
        assert re.search(r"\(\d,\d\d\)", text), text
        assert not re.search(r"\(\d\.\d\d\)", text), text
    for text in ranked["reasons_en"]:
        assert re.search(r"\(\d\.\d\d\)", text), text
        assert not re.search(r"\(\d,\d\d\)", text), text


def test_reasons_write_numbers_as_their_language() -> None:
    criterion = SETTINGS.criteria["supermarket"]
    table = pd.DataFrame(
        {"score_supermarket": [0.85], "excluded": [False], "exclusion_reason": [None]}
    )
    walk = (np.array([1234.4]), np.array([criterion.indicator]))
    nl, en = reasons(
        table, {"supermarket": criterion}, {"supermarket": 1.0}, {"supermarket": walk}, 1
    )
    # the criterion gained 0.85 and lost 0.15 of its weight: a reason for and against
    said_nl = f"{criterion.label_nl} 1.234 m lopen (0,85)"
    said_en = f"{criterion.label_en} 1,234 m walking (0.85)"
    assert nl.iloc[0] == f"Voor: {said_nl}. Tegen: {said_nl}."
    assert en.iloc[0] == f"For: {said_en}. Against: {said_en}."


def test_the_site_type_reason_says_its_rating() -> None:
    criterion = SETTINGS.criteria["site_type"]
    table = pd.DataFrame(
        {"score_site_type": [0.4], "excluded": [False], "exclusion_reason": [None]}
    )
    rated = (np.array([0.4]), np.array([criterion.indicator]))
    nl, en = reasons(table, {"site_type": criterion}, {"site_type": 1.0}, {"site_type": rated}, 1)
    # a rating from 0 to 1, not rounded to a bare "0"
    said_nl = f"{criterion.label_nl} waardering 0,40 (0,40)"
    said_en = f"{criterion.label_en} rating 0.40 (0.40)"
    assert nl.iloc[0] == f"Voor: {said_nl}. Tegen: {said_nl}."
    assert en.iloc[0] == f"For: {said_en}. Against: {said_en}."


def test_exclusion_reasons_write_numbers_as_their_language() -> None:
    rules = SETTINGS.exclusions
    sites = pd.DataFrame({"area_m2": [rules.max_area_m2 + 12345.6]})
    codes, en, nl = exclusions(sites, rules, "n_residential_buildings_50m")
    assert codes.iloc[0] == "area"
    area, high = rules.max_area_m2 + 12345.6, rules.max_area_m2
    assert f"oppervlak {format_number(area, 0, 'nl')} m²" in nl.iloc[0]
    assert f"-{format_number(high, 0, 'nl')} m²" in nl.iloc[0]
    assert f"area {format_number(area, 0, 'en')} m²" in en.iloc[0]
    assert "." in format_number(area, 0, "nl")  # the area is in the ten thousands


# -- the workbook's notes sheet (publish/lists.py) --------------------------------------------

NOTES = {
    "nl": (
        ("blad", "toelichting"),
        "1.234 rijen; de eerste 1.000 staan in deze werkmap, alle in national_ranking.csv en "
        "national_ranking.gpkg",
    ),
    "en": (
        ("sheet", "note"),
        "1,234 rows; the first 1,000 are in this workbook, all of them in national_ranking.csv "
        "and national_ranking.gpkg",
    ),
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_workbook_notes_in_the_run_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """The child process's entry point (side_process.main, as finish_run starts it with the
    run's language) writes the notes sheet in that language."""
    from openpyxl import load_workbook

    from magicmix_geo.publish import lists, side_process

    monkeypatch.setattr(lists, "XLSX_MAX_ROWS", 1000)  # a sheet longer than that is cut
    frame = pd.DataFrame({"rank_nl": range(1, 1235)})
    data = tmp_path / "sheets.pickle"
    data.write_bytes(pickle.dumps({"ranking": frame, "method": frame.head(2)}))
    assert side_process.main([str(data), str(tmp_path), lang]) == 0
    book = load_workbook(tmp_path / "national_ranking.xlsx", read_only=True)
    rows = list(book["notes"].values)
    header, note = NOTES[lang]
    assert rows == [header, ("ranking", note)]
