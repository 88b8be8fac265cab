"""Site type labels follow the run's language in every output a reader sees.

The sample's sites, their types spread over every site type, rendered in Dutch and in
English: the HTML map (legend, popups, layer names), the HTML report, the static map's legend
and the typeset PDF. A Dutch output holds no English site type label and the reverse; all
labels come from one table (magicmix_geo/site_types.py SITE_TYPE_LABELS).
"""

from __future__ import annotations

import html
import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.publish import write_interactive_map, write_municipality_report
from magicmix_geo.publish.maps import render_static_map
from magicmix_geo.publish.run_outputs import (
    category_labels,
    criterion_labels,
)
from magicmix_geo.score.method import method_rows
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
        method=method_rows(SETTINGS),
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
