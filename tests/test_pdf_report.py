"""The typeset PDF reports of the sample run: pages rendered (pdftoppm), text read (pdftotext).

poppler-utils is a required test dependency (``.ci/run``): without pdftoppm / pdftotext these
tests fail, they never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.publish.run_outputs import write_municipality_pdf
from magicmix_geo.score.method import method_rows

SETTINGS = load_settings()


def poppler_tool(name: str) -> str:
    """A poppler-utils program (installed by tests/setup.sh): missing fails, never skips."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: apt-get install -y poppler-utils (see tests/setup.sh)")
    return path


def delft_pdf(pdf: Path, sites: gpd.GeoDataFrame, manifest: dict[str, Any], **given: Any) -> None:
    """The sample's report PDF (Delft, the default method and settings), without a map
    unless ``given`` names one; ``given`` adds or overrides keyword arguments."""
    arguments: dict[str, Any] = {"map_png": None, "context": {}, **given}
    write_municipality_pdf(
        pdf,
        sites,
        gm_code="GM0503",
        gm_name="Delft",
        manifest=manifest,
        method=method_rows(SETTINGS),
        settings=SETTINGS,
        **arguments,
    )


def pdf_text(pdf: Path) -> str:
    done = subprocess.run(
        [poppler_tool("pdftotext"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def pdf_pages(pdf: Path, folder: Path) -> list[Path]:
    """Every page rendered to PNG at 40 dpi."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [poppler_tool("pdftoppm"), "-r", "40", "-png", str(pdf), str(folder / "page")],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return sorted(folder.glob("page-*.png"))


def _page_count(pdf: Path) -> int:
    done = subprocess.run(
        [poppler_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def _not_blank(png: Path) -> bool:
    from PIL import Image

    with Image.open(png) as image:
        histogram = image.convert("L").histogram()
    return sum(histogram[:200]) > 0  # some ink on the page


def _dutch(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}".replace(",", "\0").replace(".", ",").replace("\0", ".")


def test_municipality_pdf_pages_and_table_rows(
    sample_run: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    pdf = sample_run / "reports" / "GM0503.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pages = pdf_pages(pdf, tmp_path / "pages")
    assert len(pages) == _page_count(pdf) >= 6
    assert all(_not_blank(p) for p in pages)
    text = pdf_text(pdf)
    # Dutch by default: cover, headings, page numbers "pagina i / n"
    for words in (
        "Magic Mix locatierapport",
        "GM0503 Delft",
        "Samenvatting",
        "De beste locaties",
        "De methode in het kort",
        "Gegevensbronnen en licenties",
        f"pagina 1 / {len(pages)}",
        f"pagina {len(pages)} / {len(pages)}",
    ):
        assert words in text, words
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] in text and "singles" in text
    # the table of the best sites: one line per site with rank, id and score (Dutch comma)
    lines = text.splitlines()
    top = sample_sites.loc[sample_sites["rank_gm"].notna()].sort_values("rank_gm").head(10)
    for _, site in top.iterrows():
        rank, site_id = int(site["rank_gm"]), str(site["site_id"])
        score = _dutch(float(site["score_total"]), 3)
        row = [x for x in lines if x.split()[:2] == [str(rank), site_id]]
        assert row and score in row[0], (rank, site_id, score)
        # and a card per site with its Dutch reasons
        assert f"{rank}. {site_id}" in text
    # summary figures: candidates, ranked, excluded
    ranked = int(sample_sites["rank_gm"].notna().sum())
    assert f"gerangschikt {_dutch(ranked, 0)}" in " ".join(text.split())
    # data sources with licences and dates
    for item in manifest["inputs"]:
        assert item["path"] in text and item["version"][:10] in text
    assert "ODbL" in text and "CC-BY 4.0" in text
    # censored distances are named in Dutch in the cards
    assert "buiten het bereik van de data" in " ".join(text.split())


def test_national_pdf_lists_the_municipalities(
    sample_run: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    pdf = sample_run / "national_report.pdf"
    pages = pdf_pages(pdf, tmp_path / "national")
    assert pages and all(_not_blank(p) for p in pages)
    text = pdf_text(pdf)
    assert "Magic Mix locaties: landelijk overzicht" in text
    flat = " ".join(text.split())
    assert "GM0503 Delft" in flat and "pagina 1 /" in flat
    # the municipality's row: counts and its best site with its score
    best = sample_sites.loc[sample_sites["rank_gm"] == 1].iloc[0]
    row = f"{_dutch(len(sample_sites), 0)} {_dutch(int(sample_sites['rank_gm'].notna().sum()), 0)}"
    assert f"GM0503 Delft {row}" in flat
    assert f"{best['site_id']} {_dutch(float(best['score_total']), 3)}" in flat


def _hostile(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    hostile = sites.copy()
    first = hostile["rank_gm"].astype("Float64") == 1
    hostile.loc[first, "site_id"] = "<img src=x onerror=alert(1)>&"
    hostile.loc[first, "bu_name"] = '<script>alert("x")</script>'
    # ReportLab's paragraph markup and an entity: shown as typed, never read as markup
    hostile.loc[first, "reasons_en"] = '<b>bold</b> &amp; <font size="40">big</font>'
    return hostile


def test_english_report_and_escaped_data(
    sample_run: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    context = {n: gpd.read_file(gpkg, layer=n) for n in ("water", "buildings", "streets")}
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    sites = _hostile(sample_sites)
    pdf = tmp_path / "GM0503_en.pdf"
    delft_pdf(pdf, sites, manifest, context=context, lang="en")
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    for words in (
        "Magic Mix site report",
        "Summary",
        "The best sites",
        "Method in brief",
        "Data sources and licences",
        "page 1 /",
        "beyond the data's coverage",
    ):
        assert words in flat, words
    # the hostile values appear as the literal text they are
    assert "<img src=x onerror=alert(1)>&" in flat
    assert '<script>alert("x")</script>' in flat
    assert '<b>bold</b> &amp; <font size="40">big</font>' in flat
    # English criterion labels on the cards' bars
    assert "general practitioner" in flat and "huisarts" not in flat


def _images(pdf: Path, folder: Path) -> list[bytes]:
    """The images embedded in ``pdf``, as stored (JPEG stays JPEG)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [poppler_tool("pdfimages"), "-all", str(pdf), str(folder / "image")],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return [p.read_bytes() for p in sorted(folder.glob("image-*"))]


def test_map_from_pixels_is_the_map_from_the_png(
    sample_run: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    """A report given the static map's pixels (as the run publisher does, not reading the PNG
    back) is the report typeset from the PNG: same text, same embedded images; and a report
    typeset again in the same process (fonts, styles and parsed paragraphs reused) is the
    same too."""
    from PIL import Image

    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    context = {n: gpd.read_file(gpkg, layer=n) for n in ("water", "buildings", "streets")}
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    png = sample_run / "maps" / "GM0503.png"
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))
    pdfs = [tmp_path / f"{name}.pdf" for name in ("png", "pixels", "again")]
    maps = ((png, None), (None, pixels), (None, pixels))  # the PNG, or the pixels alone
    for pdf, (map_png, rgb) in zip(pdfs, maps, strict=True):
        delft_pdf(pdf, sample_sites, manifest, map_png=map_png, context=context, map_rgb=rgb)
    texts = [pdf_text(pdf) for pdf in pdfs]
    assert texts[0] == texts[1] == texts[2]
    images = [_images(pdf, tmp_path / pdf.stem) for pdf in pdfs]
    assert len(images[0]) == 11  # the map and ten cards
    assert images[0] == images[1] == images[2]
