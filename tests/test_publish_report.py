"""Reports, label placement, offline HTML and the packaged QGIS styles (synthetic frames)."""

from __future__ import annotations

import re
import sqlite3
import tomllib
import xml.etree.ElementTree as ET
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from magicmix_geo.publish import (
    write_interactive_map,
    write_municipality_gpkg,
    write_municipality_report,
    write_static_map,
)
from magicmix_geo.publish._common import (
    CATEGORY_STYLES,
    EXCLUDED_COLOUR,
    SCORE_COLOURS,
    score_colour,
)
from magicmix_geo.publish.maps import map_title, place_badges, render_static_map
from magicmix_geo.publish.report import exclusion_summary
from tests.test_publish import make_sites

RD = "EPSG:28992"
MANIFEST: dict[str, Any] = {
    "run_id": "run-123",
    "started_at": "2024-05-01T02:00:00+00:00",
    "software": {"name": "magicmix-geo", "version": "0.1.0"},
    "config_hash": "c" * 64,
    "profile": "singles",
    "inputs": [
        {
            "source": "osm",
            "path": "zuid-holland.osm.pbf",
            "version": "2024-04-30",
            "sha256": "a" * 64,
            "licence": "ODbL-1.0",
            "attribution": "© OpenStreetMap contributors",
        }
    ],
}
METHOD = [("score_transit", "transit_access_min: 1 at <= 5, 0 at >= 30, linear between")]


@pytest.fixture
def crowded() -> gpd.GeoDataFrame:
    """Twelve small ranked sites packed in 60 m, two excluded: labels must be moved apart."""
    scores = [0.95 - 0.03 * i for i in range(12)]
    sites = make_sites("GM0503", 85000, 447000, scores, [i in (3, 7) for i in range(12)])
    sites.geometry = [box(85000 + 5 * i, 447000, 85004 + 5 * i, 447004) for i in range(12)]
    sites["reasons_nl"] = [f"Voor: supermarkt {i} m lopen" for i in range(12)]
    sites["exclusion_reason"] = [
        "industrial land within 120 m (limit 250 m); area 34 m² outside 500-50000 m²" if e else None
        for e in sites["excluded"]
    ]
    return sites


@pytest.fixture
def boundary() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"gm_code": ["GM0503"]}, geometry=[box(84000, 446000, 86500, 448000)], crs=RD
    )


def test_score_classes_hold_their_upper_bound_like_qgis() -> None:
    assert score_colour(0.0) == SCORE_COLOURS[0]
    assert score_colour(0.2) == SCORE_COLOURS[0]
    assert score_colour(0.2000001) == SCORE_COLOURS[1]
    assert score_colour(1.0) == SCORE_COLOURS[4]
    assert score_colour(float("nan")) == "#ffffff"


def test_place_badges_keeps_round_labels_apart() -> None:
    rng = np.random.default_rng(7)
    anchors = 200 + rng.uniform(0, 15, size=(10, 2))  # ten anchors within 15 pt
    offsets = place_badges(anchors, radius=8.0, bounds=(0, 0, 500, 500))
    # no badge covers another site's anchor either (its leader line would end under it)
    for i, centre in enumerate(anchors + np.array(offsets)):
        others = np.delete(anchors, i, axis=0)
        assert (np.hypot(*(others - centre).T) >= 9.0).all()
    centres = anchors + np.array(offsets)
    for a, b in combinations(range(10), 2):
        assert np.hypot(*(centres[a] - centres[b])) >= 16.0, (a, b)
    assert ((centres >= 8) & (centres <= 492)).all()


def test_place_badges_leaves_lone_sites_alone() -> None:
    offsets = place_badges(np.array([[10.0, 10.0], [300.0, 300.0]]), radius=8.0)
    assert offsets == [(0.0, 0.0), (0.0, 0.0)]


def test_static_map_top_labels_do_not_overlap(
    crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    figure = render_static_map(crowded, boundary, title="crowded", context={})
    figure.canvas.draw()
    ax = figure.axes[0]
    badges = [t for t in ax.texts if t.get_text().isdigit()]
    assert sorted(int(t.get_text()) for t in badges) == list(range(1, 11))
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in badges]
    for a, b in combinations(boxes, 2):
        assert not a.overlaps(b)


def _map_words(figure: Any) -> list[str]:
    """Every text on the static map: title, legend, colour bar label."""
    ax, cax = figure.axes[:2]
    return [
        ax.get_title(loc="left"),
        *[t.get_text() for t in ax.get_legend().get_texts()],
        cax.get_ylabel(),
    ]


def test_static_map_speaks_the_report_language(
    crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    streets = gpd.GeoDataFrame(geometry=[box(84100, 446100, 84110, 447900).boundary], crs=RD)
    context = {"streets": streets}
    title = map_title("GM0503", "Delft", "singles", "nl")
    dutch = _map_words(render_static_map(crowded, boundary, title=title, context=context))
    assert dutch == [
        "GM0503 Delft: Magic Mix-locaties gerangschikt (singles)",
        "uitgesloten locatie",
        "gemeentegrens",
        "rang (top 10)",
        "straten",
        "score_total (hoger is beter)",
    ]
    title = map_title("GM0503", "Delft", "singles", "en")
    english = _map_words(
        render_static_map(crowded, boundary, title=title, context=context, lang="en")
    )
    assert english == [
        "GM0503 Delft: Magic Mix site ranking (singles)",
        "excluded site",
        "municipal boundary",
        "rank (top 10)",
        "streets",
        "score_total (higher is better)",
    ]
    with pytest.raises(ValueError, match="lang"):
        render_static_map(crowded, boundary, title=title, context={}, lang="de")


def test_static_map_draws_only_the_context_in_view(
    crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    """A municipality's context layers hold its 2 km clip buffer: what lies wholly outside
    the drawn area is not drawn, what reaches into it is, and the legend still names a layer
    none of whose features is in view."""
    near = box(84500, 446500, 84520, 446520)
    across = box(86490, 447000, 87500, 447010)  # reaches in from beyond the boundary
    far = box(89000, 446500, 89020, 446520)  # 2.5 km east of the boundary
    buildings = gpd.GeoDataFrame(geometry=[near, across, far], crs=RD)
    water = gpd.GeoDataFrame(geometry=[box(89000, 447000, 89100, 447100)], crs=RD)
    figure = render_static_map(
        crowded,
        boundary,
        title="Delft",
        context={"buildings": buildings, "water": water},
        lang="en",
    )
    ax = figure.axes[0]
    drawn = np.concatenate(
        [path.vertices for c in ax.collections for path in c.get_paths() if len(path.vertices)]
    )
    assert ((drawn[:, 0] == 84500) & (drawn[:, 1] == 446500)).any()  # near
    assert ((drawn[:, 0] == 87500) & (drawn[:, 1] == 447000)).any()  # across
    assert not (drawn[:, 0] >= 89000).any()  # neither the far building nor the water
    assert {"buildings", "water"} <= {t.get_text() for t in ax.get_legend().get_texts()}


def test_static_map_png_is_opaque_rgb(
    tmp_path: Path, crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    from PIL import Image

    target = tmp_path / "m.png"
    write_static_map(target, crowded, boundary, title="Delft", lang="en")
    with Image.open(target) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        pixels = np.asarray(image)
    # drawn: the score classes (colour bar, sites) are on it, not a blank page
    greens = np.all(pixels == np.array([0x1A, 0x96, 0x41]), axis=-1)
    assert greens.sum() > 20


def test_interactive_map_is_self_contained_with_reasons_and_badges(
    tmp_path: Path, crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    target = tmp_path / "GM0503.html"
    write_interactive_map(target, crowded, boundary, amenities=None, title="Delft")
    text = target.read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]+src=", text) == []
    assert re.findall(r"<link[^>]+stylesheet", text) == []
    assert "BSD 2-Clause License" in text and "Vladimir Agafonkin" in text
    assert "data:image/png;base64," in text  # Leaflet's control images, inlined
    # English by default: the English reasons, not the Dutch ones (the Dutch map has those)
    assert "site 0: close to shops" in text and "reasons_en" in text
    assert "Voor: supermarkt 0 m lopen" not in text
    # the top-10 rank badges: ten point features read by one badge builder (issue #16: ids
    # travel as GeoJSON properties, never inside JavaScript source)
    assert len(re.findall(r'"properties": \{"rank_gm": \d+, "site_id": ', text)) == 10
    assert text.count("L.divIcon") == 1
    assert "industrial land within 120 m" in text


def test_report_html(tmp_path: Path, crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> None:
    png = tmp_path / "maps" / "GM0503.png"
    write_static_map(png, crowded, boundary, title="Delft")
    html_path = tmp_path / "reports" / "GM0503.html"
    write_municipality_report(
        html_path,
        crowded,
        title="GM0503 Delft: Magic Mix site ranking (singles)",
        manifest=MANIFEST,
        method=METHOD,
        map_png=png,
    )
    text = html_path.read_text(encoding="utf-8")
    assert "<script" not in text and 'src="http' not in text
    assert "data:image/png;base64," in text  # the map is embedded
    ranked = crowded.dropna(subset=["rank_gm"]).sort_values("rank_gm")
    positions = [text.index(f">{sid}<") for sid in ranked["site_id"].head(10)]
    assert positions == sorted(positions)  # the best sites in rank order
    assert "Reasons:</i> site 0: close to shops" in text
    assert "Redenen:" not in text  # the Dutch reasons are in the Dutch report
    assert "score_transit" in text and "dist_supermarket_m" in text
    assert "industrial land within # m (limit # m)" in text  # exclusion summary
    assert "run-123" in text and "ODbL-1.0" in text and "aaaaaaaaaaaaaaaa" in text
    assert "transit_access_min: 1 at &lt;= 5" in text
    # the report is HTML only (the PDF is pdf_report's)
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["GM0503.html"]

    # without reasons columns (an older model) the section is left out, nothing breaks
    plain = crowded.drop(columns=["reasons_en", "reasons_nl"])
    write_municipality_report(html_path, plain, title="t", manifest={}, method=[], map_png=None)
    text = html_path.read_text(encoding="utf-8")
    assert "Why these sites" not in text and "The 10 best sites" in text


def test_exclusion_summary_counts_kinds_of_reasons(crowded: gpd.GeoDataFrame) -> None:
    summary = exclusion_summary(crowded)
    assert summary["sites"].tolist() == [2, 2]
    assert set(summary["reason"]) == {
        "industrial land within # m (limit # m)",
        "area # m² outside #-# m²",
    }


def _qml(name: str) -> ET.Element:
    folder = resources.files("magicmix_geo.publish").joinpath("styles")
    return ET.fromstring(folder.joinpath(name).read_text(encoding="utf-8"))


def test_packaged_styles_match_the_palette() -> None:
    folder = resources.files("magicmix_geo.publish").joinpath("styles")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".qml"))
    assert {"sites.qml", "amenities.qml", "stops.qml", "water.qml"} <= set(names)
    for name in names:
        root = _qml(name)
        assert root.get("version", "").startswith("3.22"), name
        assert root.findtext("layerGeometryType") in {"0", "1", "2"}, name

    def colour(symbol: ET.Element) -> str:
        option = symbol.find(".//layer/Option/Option[@name='color']")
        assert option is not None
        r, g, b, _a = (int(v) for v in option.get("value", "").split(",")[:4])
        return f"#{r:02x}{g:02x}{b:02x}"

    for name in ("sites.qml", "national_ranking.qml"):
        renderer = _qml(name).find("renderer-v2")
        assert renderer is not None
        symbols = {s.get("name"): s for s in renderer.iter("symbol")}
        by_label = {
            r.get("label"): colour(symbols[r.get("symbol")]) for r in renderer.iter("range")
        }
        assert by_label["excluded"] == EXCLUDED_COLOUR
        assert [v for k, v in by_label.items() if k and k[0].isdigit()] == list(SCORE_COLOURS)

    renderer = _qml("amenities.qml").find("renderer-v2")
    assert renderer is not None
    symbols = {s.get("name"): s for s in renderer.iter("symbol")}
    by_value = {c.get("value"): colour(symbols[c.get("symbol")]) for c in renderer.iter("category")}
    assert {k: v for k, v in by_value.items() if k} == {
        k: style[1] for k, style in CATEGORY_STYLES.items()
    }


def test_gpkg_is_version_1_2_and_layers_describe_the_run(
    tmp_path: Path, crowded: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> None:
    target = tmp_path / "GM0503_Delft.gpkg"
    write_municipality_gpkg(target, {"sites": crowded, "boundary": boundary}, MANIFEST)
    con = sqlite3.connect(target)
    try:
        (version,) = con.execute("PRAGMA user_version").fetchone()
        rows = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
    finally:
        con.close()
    assert version == 10200  # GeoPackage 1.2: read without warnings by GDAL 3.6 / QGIS 3.22
    for layer in ("sites", "boundary"):
        assert "run run-123" in rows[layer] and "magicmix-geo 0.1.0" in rows[layer]
        assert "OpenStreetMap contributors" in rows[layer]
    assert pd.notna(rows["layer_styles"])


def test_every_configured_category_has_a_colour_and_marker() -> None:
    config = Path(__file__).resolve().parents[1] / "config" / "categories.toml"
    categories = set(tomllib.loads(config.read_text(encoding="utf-8")))
    missing = categories - set(CATEGORY_STYLES)
    assert not missing, (
        f"add {sorted(missing)} to publish/_palette.py CATEGORY_STYLES and regenerate the QGIS"
        " styles: QT_QPA_PLATFORM=offscreen /usr/bin/python3"
        " magicmix_geo/publish/styles/make_styles.py"
    )
