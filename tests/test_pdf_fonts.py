"""CJK text and emoji in the PDF report: set in a fallback font, or shown as a stand-in.

Plan names and OSM names are free text. DejaVu Sans has no CJK glyphs and no emoji: without a
fallback ReportLab drew blanks. Read back with pdftotext (the text layer) and pdffonts (the
embedded fonts); poppler-utils, fonts-wqy-zenhei and fonts-symbola are installed by
tests/setup.sh.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest

from magicmix_geo.publish import pdf_fonts
from tests.test_pdf_report import delft_pdf, pdf_text, poppler_tool

CJK = "北京路住宅"
EMOJI = "\U0001f3e0\U0001f680"  # house, rocket: not in DejaVu Sans (its 😀 is)
NAME = f"Plan {CJK} {EMOJI}"


def _pdf(sample_run: Path, sample_sites: gpd.GeoDataFrame, pdf: Path) -> str:
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    sites = sample_sites.copy()
    first = sites["rank_gm"].astype("Float64") == 1
    sites.loc[first, "site_id"] = NAME
    sites.loc[first, "bu_name"] = CJK
    sites.loc[first, "reasons_nl"] = f"Soort: gepland woningbouwproject '{NAME}'."
    delft_pdf(pdf, sites, manifest, lang="nl")
    return " ".join(pdf_text(pdf).split())


def _fonts(pdf: Path) -> str:
    done = subprocess.run(
        [poppler_tool("pdffonts"), str(pdf)], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_cjk_and_emoji_names_are_set_in_fallback_fonts(
    sample_run: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    pdf = tmp_path / "cjk.pdf"
    flat = _pdf(sample_run, sample_sites, pdf)
    # the best-sites table (name and buurt), the card title (both) and the reasons; a
    # table cell may wrap the name, so the parts are counted
    assert flat.count(CJK) >= 5 and flat.count(EMOJI) >= 3, flat[:3000]
    assert flat.count(NAME) >= 2, flat[:3000]
    assert "[U+" not in flat  # every character had a font
    fonts = _fonts(pdf)
    # embedded subsets of the fallbacks (Debian fonts-wqy-zenhei, fonts-symbola)
    assert "WenQuanYiZenHei" in fonts and "Symbola" in fonts, fonts
    for line in fonts.splitlines()[2:]:
        if "WenQuanYi" in line or "Symbola" in line:
            assert line.split()[-5] == "yes", line  # emb: embedded


def test_without_the_fallback_fonts_a_visible_stand_in(
    sample_run: Path,
    sample_sites: gpd.GeoDataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tuple(
        pdf_fonts.FallbackFont(f"{font.name}Missing", font.package, (str(tmp_path / "none.ttf"),))
        for font in pdf_fonts.FALLBACK_FONTS
    )
    monkeypatch.setattr(pdf_fonts, "FALLBACK_FONTS", missing)
    flat = _pdf(sample_run, sample_sites, tmp_path / "standin.pdf")
    shown = "".join(pdf_fonts.stand_in(c) if c != " " else c for c in f"{CJK} {EMOJI}")
    assert shown.startswith("[U+5317][U+4EAC]")
    for part in shown.split():
        assert flat.count(part) >= 2, (part, flat[:3000])  # a table cell may wrap it
    assert flat.count(f"Plan {shown}") >= 2, flat[:3000]


def test_markup_escapes_text_in_the_body_font_and_switches_font_only_where_needed() -> None:
    hostile = '<b onmouseover="x">Delft & Den Haag</b> <font face="Courier">'
    assert pdf_fonts.pdf_markup(hostile) == (
        '&lt;b onmouseover="x"&gt;Delft &amp; Den Haag&lt;/b&gt; &lt;font face="Courier"&gt;'
    )
    mixed = pdf_fonts.pdf_markup(f"<{CJK}> & b")
    # the escaped angle brackets and ampersand stay in the body font, the CJK in a fallback
    assert mixed.startswith("&lt;<font face=") and mixed.endswith("</font>&gt; &amp; b"), mixed
    assert CJK in mixed
