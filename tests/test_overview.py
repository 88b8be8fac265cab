"""The national overview (PNG, offline HTML) and the run folder's index.html, in headless
Chromium: the index table sorts on a click, every link resolves, nothing comes from a CDN, and
data text is never markup.

Chromium is a required test dependency (``.ci/run``); without it these tests fail.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely import affinity

from magicmix_geo.publish.index_page import write_index
from magicmix_geo.publish.overview import (
    CLASS_COLOURS,
    MunicipalityEntry,
    colour_classes,
    overview_table,
    write_overview_html,
    write_overview_png,
)
from tests._chromium import chromium

HOSTILE = '<img src=x onerror=alert(1)>&"$x^$'


def _dom(page: Path, profile: Path) -> str:
    done = chromium(["--dump-dom", page.as_uri()], profile)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _two_municipalities(sample_run: Path) -> tuple[list[MunicipalityEntry], pd.DataFrame]:
    """The sample and a second, hostile-named municipality 5 km east with its first 40 sites."""
    gpkg = next(sample_run.glob("GM0503_*.gpkg"))
    sites = gpd.read_file(gpkg, layer="sites")
    boundary = gpd.read_file(gpkg, layer="boundary")
    other_sites = sites.head(40).copy()
    other_sites["geometry"] = other_sites.geometry.apply(affinity.translate, xoff=5000)
    other_boundary = boundary.copy()
    other_boundary["geometry"] = other_boundary.geometry.apply(affinity.translate, xoff=5000)
    files = [
        gpkg.name,
        "maps/GM0503.png",
        "maps/GM0503.html",
        "reports/GM0503.html",
        "reports/GM0503.pdf",
    ]
    entries = [
        MunicipalityEntry("GM0503", "Delft", boundary, sites, files),
        MunicipalityEntry("GM9999", HOSTILE, other_boundary, other_sites, files),
    ]
    summary = pd.DataFrame(
        {
            "gm_code": ["GM0503", "GM9999", "NL"],
            "homes_reserved": [30, 90, 120],
            "taakstelling": [100.0, 60.0, 160.0],
        }
    )
    return entries, summary


def test_index_links_resolve_and_are_offline(sample_run: Path, tmp_path: Path) -> None:
    page = sample_run / "index.html"
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]+src=", text) == []
    assert re.findall(r"<link[^>]+stylesheet", text) == []
    dom = _dom(page, tmp_path / "profile")
    hrefs = re.findall(r'<a href="([^"]+)"', dom)
    # the national files and each municipality's map, report and GeoPackage
    for name in (
        "national_ranking.xlsx",
        "national_ranking.csv",
        "national_ranking.gpkg",
        "national_summary.csv",
        "overview.html",
        "overview.png",
        "national_report.pdf",
        "magicmix.qgz",
        "manifest.json",
        "maps/GM0503.html",
        "reports/GM0503.pdf",
        "reports/GM0503.html",
        "maps/GM0503.png",
    ):
        assert name in hrefs, name
    assert any(h.startswith("GM0503_") and h.endswith(".gpkg") for h in hrefs)
    for href in hrefs:
        target = (page.parent / html.unescape(href)).resolve()
        assert target.is_file(), href
        assert page.parent.resolve() in target.parents


def _row_codes(dom: str) -> list[str]:
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr><td data-value="(GM\d{4})"', body)


def test_index_table_sorts_on_click(sample_run: Path, tmp_path: Path) -> None:
    entries, summary = _two_municipalities(sample_run)
    folder = tmp_path / "run"
    folder.mkdir()
    write_index(folder, overview_table(entries, summary), manifest={"run_id": "r1"}, lang="en")
    page = (folder / "index.html").read_text(encoding="utf-8")
    # hostile names are text, escaped in the page and in the DOM
    assert "<img src=x" not in page and html.escape(HOSTILE).split("&amp;")[0] in page
    dom = _dom(folder / "index.html", tmp_path / "p0")
    assert _row_codes(dom) == ["GM0503", "GM9999"]
    assert "<img src=x" not in dom
    # the ranked column (4th): one click ascending (GM9999 has fewer), a second descending
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    ranked = heads.index("ranked")
    for clicks, expected in ((1, ["GM9999", "GM0503"]), (2, ["GM0503", "GM9999"])):
        script = (
            "<script>var th = document.querySelectorAll('#municipalities thead th')"
            f"[{ranked}]; for (var i = 0; i < {clicks}; i++) {{ th.click(); }}</script>"
        )
        clicked = folder / f"clicked{clicks}.html"
        clicked.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
        dom = _dom(clicked, tmp_path / f"p{clicks}")
        assert _row_codes(dom) == expected, clicks
        assert ('aria-sort="ascending"' if clicks == 1 else 'aria-sort="descending"') in dom
    # a text column sorts too: the municipality name ("<img..." sorts before "Delft")
    name_col = heads.index("municipality")
    script = (
        f"<script>document.querySelectorAll('#municipalities thead th')[{name_col}]"
        ".click();</script>"
    )
    clicked = folder / "by_name.html"
    clicked.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    assert _row_codes(_dom(clicked, tmp_path / "pn")) == ["GM9999", "GM0503"]


def test_overview_colours_by_task_coverage(sample_run: Path) -> None:
    entries, summary = _two_municipalities(sample_run)
    table = overview_table(entries, summary)
    assert table["coverage"].tolist() == [0.3, 1.5]
    assert table["ranked"].iloc[0] == int(entries[0].sites["rank_gm"].notna().sum())
    best = entries[0].sites.loc[entries[0].sites["rank_gm"] == 1, "site_id"].iloc[0]
    assert table["best_site_id"].iloc[0] == best
    measure, colours, _labels = colour_classes(table)
    assert measure == "coverage"
    assert colours == [CLASS_COLOURS[1], CLASS_COLOURS[4]]  # 25-50 %, >= 100 %
    # without tasks: ranked candidates
    no_task = overview_table(entries, None)
    assert colour_classes(no_task)[0] == "ranked"


def test_overview_html_and_png_render_offline(sample_run: Path, tmp_path: Path) -> None:
    entries, summary = _two_municipalities(sample_run)
    table = overview_table(entries, summary)
    page, png = tmp_path / "overview.html", tmp_path / "overview.png"
    write_overview_html(page, table, lang="en")
    write_overview_png(png, table, lang="en")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]+src=", text) == []
    assert "Leaflet 1.9.3" in text and "<img src=x" not in text
    dom = _dom(page, tmp_path / "profile")
    assert "leaflet-container" in dom
    # two municipality areas and two best-site markers drawn by Leaflet
    assert len(re.findall(r'<path[^>]+class="leaflet-interactive"', dom)) == 4
    assert "Homes reserved as a share of the task" in dom and "&gt;= 100 %" in dom
    assert "<img src=x" not in dom
    shot = tmp_path / "shot.png"
    done = chromium(
        ["--window-size=1000,700", f"--screenshot={shot}", page.as_uri()], tmp_path / "profile-shot"
    )
    assert done.returncode == 0 and shot.stat().st_size > 10_000


def test_sample_overview_files(sample_run: Path, tmp_path: Path) -> None:
    assert (sample_run / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = _dom(sample_run / "overview.html", tmp_path / "profile")
    # the sample's one area and its best site; no task given, so coloured by ranked sites
    assert len(re.findall(r'<path[^>]+class="leaflet-interactive"', dom)) == 2
    assert "Gerangschikte kandidaatlocaties" in dom
