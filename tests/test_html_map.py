"""The interactive map of the sample run, loaded offline in headless Chromium.

Chromium is a required test dependency: CI installs Debian's ``chromium`` (``.ci/run``).
Without it this test fails; it never skips. ``MAGICMIX_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from magicmix_geo.site_types import site_type_label
from tests._chromium import chromium


@pytest.fixture(scope="module")
def html_map(sample_run: Path) -> Path:
    maps = sorted((sample_run / "maps").glob("GM*.html"))
    assert maps, "the sample run wrote no interactive map"
    return maps[0]


def test_html_map_is_self_contained(html_map: Path) -> None:
    text = html_map.read_text(encoding="utf-8")
    # no script or stylesheet from a CDN: the file works without internet
    assert re.findall(r"<script[^>]+src=", text) == []
    assert re.findall(r"<link[^>]+stylesheet", text) == []
    assert "Leaflet 1.9.3" in text and "BSD 2-Clause License" in text


def test_html_map_renders_offline_in_headless_chromium(
    html_map: Path, sample_sites: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    done = chromium(["--dump-dom", html_map.as_uri()], tmp_path / "profile-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # the map container exists and Leaflet ran (it adds its classes and panes at runtime)
    assert re.search(r'class="folium-map leaflet-container[^"]*"', dom)
    assert 'class="leaflet-pane leaflet-overlay-pane"' in dom
    # every site polygon, the boundary and the destinations are SVG paths Leaflet drew
    paths = len(re.findall(r'<path[^>]+class="leaflet-interactive"', dom))
    assert paths >= len(sample_sites) + 1
    # the top 10 badges, the layer control and the legend
    ranked = int(sample_sites["rank_gm"].notna().sum())
    assert len(re.findall(r'class="leaflet-marker-icon', dom)) == min(ranked, 10)
    assert "leaflet-control-layers" in dom
    assert "score_total" in dom and "OpenStreetMap contributors" in dom

    png = tmp_path / "map.png"
    shot = chromium(
        ["--window-size=1200,800", f"--screenshot={png}", html_map.as_uri()],
        tmp_path / "profile-shot",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a drawn map, not a blank page


# -- hostile text (issue #16): site ids, OSM names and reasons are data, never script ---------

PAYLOADS = {
    "img": "<img src=x onerror=\"window.__pwned='site_id img'\">",
    "backtick": "S`1",
    "template": "${window.__pwned='site_id template'}",
    "script": "</script><script>window.__pwned='site_id script'</script>",
    "quote": "\"'><svg onload=\"window.__pwned='site_id svg'\">",
    "plain": "GM0503-ok",
    # folium compiles each layer's rendered script as a Jinja template: none of this may run
    "jinja": "{{ 'ji' ~ 'nja' ~ 'ran' }}{% for i in range(3) %}Qz{% endfor %}{# c",
}
# a test harness appended to the page: it opens every popup and tooltip (as clicks and
# hovers do), collects what they show, and records whether any payload ran
HARNESS = """<script>
window.addEventListener('load', function () {
  var map = %s, opened = 0, shown = [];
  function record(e) {
    var overlay = e.popup || e.tooltip;
    opened++;
    shown.push(overlay.getElement().textContent);
  }
  function centre(l) { return l.getCenter ? l.getCenter() : l.getLatLng(); }
  map.on('popupopen', record);
  var groups = [];
  map.eachLayer(function (g) { if (g.eachLayer) { g.on('tooltipopen', record); groups.push(g); } });
  groups.forEach(function (group) {
    group.eachLayer(function (l) {
      if (!l.getLatLng && !l.getCenter) { return; }
      l.fire('click', {latlng: centre(l)}, true);
      map.closePopup();
      l.fire('mouseover', {latlng: centre(l)}, true);
      l.fire('mouseout', {latlng: centre(l)}, true);
    });
  });
  setTimeout(function () {
    document.body.setAttribute('data-opened', String(opened));
    document.body.setAttribute('data-pwned', String(window.__pwned || 'none'));
    var pre = document.createElement('pre');
    pre.id = 'shown';
    pre.textContent = shown.join('\\n');
    document.body.appendChild(pre);
  }, 2000);
});
</script>"""


def _hostile_layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    import pandas as pd
    from shapely.geometry import Point, box

    ids = [*PAYLOADS.values(), "GM0503-excluded"]
    n = len(ids)
    excluded = [False] * (n - 1) + [True]
    sites = gpd.GeoDataFrame(
        {
            "site_id": ids,
            "gm_code": "GM0503",
            "score_total": [0.9 - 0.1 * i for i in range(n)],
            "dist_supermarket_m": [300.0] * n,
            "excluded": excluded,
            "exclusion_reason": [None] * (n - 1)
            + ["<img src=y onerror=\"window.__pwned='exclusion_reason'\">"],
            "reasons_en": ["<svg onload=\"window.__pwned='reasons_en'\"></svg>"] * n,
            "rank_gm": pd.array([*range(1, n), pd.NA], dtype="Int64"),
        },
        geometry=[box(85000 + 100 * i, 447000, 85060 + 100 * i, 447060) for i in range(n)],
        crs="EPSG:28992",
    )
    boundary = gpd.GeoDataFrame(geometry=[box(84500, 446500, 86500, 448000)], crs="EPSG:28992")
    amenities = gpd.GeoDataFrame(
        {
            "category": ["supermarket"],
            "name": ["<img src=z onerror=\"window.__pwned='osm name'\">`${1}`"],
        },
        geometry=[Point(85010, 447080)],
        crs="EPSG:28992",
    )
    return sites, boundary, amenities


def test_hostile_text_in_the_map_runs_no_script(tmp_path: Path) -> None:
    from magicmix_geo.publish import write_interactive_map

    sites, boundary, amenities = _hostile_layers()
    page = tmp_path / "GM0503.html"
    write_interactive_map(
        page,
        sites,
        boundary,
        amenities=amenities,
        title="<img src=t onerror=\"window.__pwned='title'\">{{ 'ti' ~ 'tleran' }}",
    )
    text = page.read_text(encoding="utf-8")
    # the Jinja syntax from data stays text: not evaluated, not a template error
    assert not {"jinjaran", "QzQz", "titleran"} & set(re.findall(r"jinjaran|QzQz|titleran", text))
    name = re.search(r"var (map_[0-9a-f]+) = L\.map", text)
    assert name, "no Leaflet map in the page"
    probed = tmp_path / "probed.html"
    probed.write_text(
        text.replace("</html>", HARNESS % name.group(1) + "</html>"), encoding="utf-8"
    )
    done = chromium(["--dump-dom", probed.as_uri()], tmp_path / "profile-xss")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:2000]
    # the harness ran to the end (a broken page script would not stop it), nothing else did
    assert 'data-pwned="none"' in body.group(0), body.group(0)
    # the map still renders: every site and the boundary drawn, the top 10 badges placed
    assert len(re.findall(r'<path[^>]+class="leaflet-interactive"', dom)) >= len(sites) + 1
    ranked = int(sites["rank_gm"].notna().sum())
    assert len(re.findall(r'class="leaflet-marker-icon', dom)) >= ranked
    # every popup and tooltip opened, and showed the payloads as text
    opened = re.search(r'data-opened="(\d+)"', body.group(0))
    # a popup for every site, a tooltip for every ranked one, each destination and badge
    assert opened and int(opened.group(1)) == len(sites) + 2 * ranked + len(amenities)
    shown = re.search(r'<pre id="shown">(.*?)</pre>', dom, re.S)
    assert shown
    texts = [
        *PAYLOADS.values(),
        *sites["reasons_en"],
        sites["exclusion_reason"].iloc[-1],
        *amenities["name"],
    ]
    for payload in texts:
        assert html.escape(payload, quote=False) in shown.group(1), payload
    assert "&gt;{{ 'ti' ~ 'tleran' }}</div>" in dom  # the title, as text


# -- site types (issue #14): every candidate shows its site_type, as text and as outline ----

HOSTILE_TYPE = "<img src=q onerror=\"window.__pwned='site_type'\">"
HOSTILE_NAME = "<svg onload=\"window.__pwned='plan name'\"></svg>`${1}`"


def _typed_sites() -> gpd.GeoDataFrame:
    """Two sites of each site type and one of an unknown, hostile type; plans named."""
    import pandas as pd

    from magicmix_geo.site_types import SITE_TYPES

    types = [t for t in SITE_TYPES for _ in range(2)] + [HOSTILE_TYPE]
    n = len(types)
    return gpd.GeoDataFrame(
        {
            "site_id": [f"GM0503-{i}" for i in range(n)],
            "site_type": types,
            "name": [HOSTILE_NAME if t == "plan" else None for t in types],
            "gm_code": "GM0503",
            "score_total": [0.95 - 0.06 * i for i in range(n)],
            "homes_planned": [40.0] * n,
            "homes_reserved": [4.0] * n,
            "excluded": [False] * n,
            "rank_gm": pd.array(range(1, n + 1), dtype="Int64"),
        },
        geometry=[box(85000 + 80 * i, 447000, 85060 + 80 * i, 447060) for i in range(n)],
        crs="EPSG:28992",
    )


def test_palette_styles_every_site_type_distinctly() -> None:
    from magicmix_geo.publish._common import LEAFLET_DASHES, MPL_DASHES, SITE_TYPE_STYLES
    from magicmix_geo.site_types import SITE_TYPES

    assert list(SITE_TYPE_STYLES) == list(SITE_TYPES)
    looks = set(SITE_TYPE_STYLES.values())
    assert len(looks) == len(SITE_TYPES)
    assert {dash for _c, dash in SITE_TYPE_STYLES.values()} <= set(MPL_DASHES)
    assert set(MPL_DASHES) == set(LEAFLET_DASHES)

    # the packaged QGIS style (made by styles/make_styles.py) has the same outlines
    import xml.etree.ElementTree as ET
    from importlib import resources

    qml = resources.files("magicmix_geo.publish").joinpath("styles").joinpath("site_types.qml")
    renderer = ET.fromstring(qml.read_text(encoding="utf-8")).find("renderer-v2")
    assert renderer is not None and renderer.get("attr") == "site_type"
    symbols = {s.get("name"): s for s in renderer.iter("symbol")}

    def outline(symbol: ET.Element) -> tuple[str, str]:
        options = {o.get("name"): o.get("value", "") for o in symbol.iter("Option")}
        r, g, b = (int(v) for v in options["outline_color"].split(",")[:3])
        return f"#{r:02x}{g:02x}{b:02x}", options["outline_style"]

    qgis = {c.get("value"): outline(symbols[c.get("symbol")]) for c in renderer.iter("category")}
    assert qgis == SITE_TYPE_STYLES


def test_html_map_shows_site_type_in_popups_outlines_and_legend(tmp_path: Path) -> None:
    from magicmix_geo.publish import write_interactive_map
    from magicmix_geo.publish._common import LEAFLET_DASHES, SITE_TYPE_STYLES

    sites = _typed_sites()
    boundary = gpd.GeoDataFrame(geometry=[box(84500, 446500, 86500, 448000)], crs=sites.crs)
    page = tmp_path / "GM0503.html"
    write_interactive_map(page, sites, boundary, amenities=None, title="typed")
    text = page.read_text(encoding="utf-8")
    name = re.search(r"var (map_[0-9a-f]+) = L\.map", text)
    assert name
    probed = tmp_path / "probed.html"
    probed.write_text(
        text.replace("</html>", HARNESS % name.group(1) + "</html>"), encoding="utf-8"
    )
    done = chromium(["--dump-dom", probed.as_uri()], tmp_path / "profile-types")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body and 'data-pwned="none"' in body.group(0), body
    # each site is drawn with its type's outline colour and dash, over its score colour
    paths = re.findall(r"<path[^>]+>", dom)
    for site_type, (colour, dash) in SITE_TYPE_STYLES.items():
        label = site_type_label(site_type, "en")
        mine = [p for p in paths if f'stroke="{colour}"' in p]
        assert len(mine) == 2, site_type
        pattern = LEAFLET_DASHES[dash]
        dashed = [p for p in mine if f'stroke-dasharray="{pattern}"' in p]
        assert len(dashed) == (2 if pattern else 0), site_type
        # the legend has one outline sample per type, in the same colour and dash
        row = re.search(rf'<div class="site-type" data-site-type="{site_type}">(.*?)</div>', dom)
        assert row, site_type
        assert f'stroke="{colour}"' in row.group(1)
        assert html.escape(label, quote=False) in row.group(1)
    # the unknown type is listed as text, never as markup
    assert html.escape(HOSTILE_TYPE, quote=False) in dom
    # every popup and tooltip names the site type; the plan name shows as text
    shown = re.search(r'<pre id="shown">(.*?)</pre>', dom, re.S)
    assert shown
    assert shown.group(1).count("site type (site_type)") == len(sites)
    for site_type in sites["site_type"]:
        # a popup and a tooltip per site
        assert shown.group(1).count(html.escape(site_type, quote=False)) >= 2, site_type
    assert html.escape(HOSTILE_NAME, quote=False) in shown.group(1)


def test_sample_html_map_carries_every_site_type(
    html_map: Path, sample_sites: gpd.GeoDataFrame
) -> None:
    text = html_map.read_text(encoding="utf-8")
    counts = sample_sites["site_type"].value_counts()
    assert len(counts) >= 1
    for site_type, n in counts.items():
        # one GeoJSON feature per site (ranked or excluded) carries its type, with its label
        # in the run's language (the sample run is Dutch)
        shown = html.escape(f"{site_type}: {site_type_label(str(site_type), 'nl')}")
        assert text.count(f'"site_type": "{shown}"') == n, site_type
    ranked_types = set(sample_sites.loc[~sample_sites["excluded"].astype(bool), "site_type"])
    for site_type in ranked_types:
        assert f'data-site-type="{site_type}"' in text, site_type


def test_png_map_outlines_each_site_type_with_a_legend_entry() -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_hex

    from magicmix_geo.publish._common import MPL_DASHES, SITE_TYPE_STYLES
    from magicmix_geo.publish.maps import render_static_map

    sites = _typed_sites()
    boundary = gpd.GeoDataFrame(geometry=[box(84500, 446500, 86500, 448000)], crs=sites.crs)
    figure = render_static_map(sites, boundary, title="typed", context={})
    ax = figure.axes[0]
    drawn = ax.get_legend()
    assert drawn is not None
    legend = [t.get_text() for t in drawn.get_texts()]
    outlines = [
        c for c in ax.collections if isinstance(c, PathCollection) and not len(c.get_facecolor())
    ]
    for site_type, (colour, dash) in SITE_TYPE_STYLES.items():
        assert f"{site_type}: {site_type_label(site_type, 'nl')}" in legend
        mine = [c for c in outlines if to_hex(tuple(np.asarray(c.get_edgecolor())[0])) == colour]
        assert len(mine) == 1 and len(mine[0].get_paths()) == 2, site_type
        styles: Any = mine[0].get_linestyle()  # [(offset, dash pattern or None)]
        _offset, pattern = styles[0]
        assert (pattern is None) == (MPL_DASHES[dash] == "-"), site_type
    # the unknown type is in the legend as plain text ($ would start mathtext)
    assert any(HOSTILE_TYPE in t for t in legend)
