"""The national overview: the municipalities of a run at a glance.

One row per municipality (:func:`overview_table`): candidates, ranked and excluded sites, homes
reserved against the task, the best site. Drawn as a static PNG (matplotlib) and an offline
HTML map (the vendored Leaflet inlined, no tile server): each municipality coloured by the
share of its task its reserved homes cover, or by its ranked candidates where no task is given,
with its best site marked.

Data reach the HTML page only as JSON in a non-executed script element (``<`` ``>`` ``&``
escaped) and are put on the page with ``textContent``, never as markup.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from magicmix_geo.publish._common import (
    BOUNDARY_COLOUR,
    MAP_ATTRIBUTION,
    format_number,
    output_path,
    require_rd,
)
from magicmix_geo.publish.maps import LEAFLET_VERSION, leaflet_assets

# classes of the overview's colours, light to dark
CLASS_COLOURS = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")
NO_VALUE_COLOUR = "#dddddd"
COVERAGE_BREAKS = (0.0, 0.25, 0.5, 0.75, 1.0)
BEST_SITE_COLOUR = "#d7191c"
# the figures of a municipality's popup on the overview map
POPUP_FIGURES = ("ranked", "excluded", "homes_reserved", "taakstelling")
# a link in the overview or index page: a relative path of the run folder
SAFE_LINK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class MunicipalityEntry:
    """What the overview needs of one published municipality."""

    gm_code: str
    gm_name: str
    boundary: gpd.GeoDataFrame  # EPSG:28992
    sites: gpd.GeoDataFrame  # EPSG:28992, with rank_gm, score_total, excluded
    files: Sequence[str]  # its files, relative to the run folder (the GeoPackage first)


def overview_table(
    entries: Sequence[MunicipalityEntry], summary: pd.DataFrame | None
) -> gpd.GeoDataFrame:
    """One row per municipality, with its area as geometry (EPSG:28992).

    Columns: ``gm_code``, ``gm_name``, ``candidates``, ``ranked``, ``excluded``,
    ``homes_reserved``, ``taakstelling``, ``coverage`` (homes reserved / task, null without a
    task), ``best_site_id``, ``best_score``, ``best_x``, ``best_y`` (the best site's
    representative point), ``files``.

    Parameters
    ----------
    entries
        The municipalities of the run.
    summary
        ``national_summary.csv``'s frame (``score.capacity.municipality_summary``), or None.
    """
    rows: list[dict[str, Any]] = []
    geoms = []
    for entry in entries:
        require_rd(entry.boundary, f"{entry.gm_code} boundary")
        sites = entry.sites
        excluded = sites["excluded"].astype("boolean").fillna(False).astype(bool)
        ranks = pd.to_numeric(sites["rank_gm"], errors="coerce")
        best = sites.loc[ranks == ranks.min()] if ranks.notna().any() else sites.iloc[0:0]
        point = best.geometry.iloc[0].representative_point() if len(best) else None
        own = _summary_row(summary, entry.gm_code)
        task = pd.to_numeric(own.get("taakstelling"), errors="coerce")
        homes = pd.to_numeric(own.get("homes_reserved"), errors="coerce")
        rows.append(
            {
                "gm_code": entry.gm_code,
                "gm_name": entry.gm_name,
                "candidates": len(sites),
                "ranked": int((~excluded).sum()),
                "excluded": int(excluded.sum()),
                "homes_reserved": None if pd.isna(homes) else int(homes),
                "taakstelling": None if pd.isna(task) else float(task),
                "coverage": float(homes / task)
                if task and task > 0 and not pd.isna(homes)
                else None,
                "best_site_id": str(best["site_id"].iloc[0]) if len(best) else None,
                "best_score": float(best["score_total"].iloc[0]) if len(best) else None,
                "best_x": point.x if point is not None else None,
                "best_y": point.y if point is not None else None,
                "files": list(entry.files),
            }
        )
        geoms.append(shapely.union_all(entry.boundary.geometry.to_numpy()))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:28992")


def _summary_row(summary: pd.DataFrame | None, gm_code: str) -> dict[str, Any]:
    if summary is None or "gm_code" not in summary.columns:
        return {}
    own = summary.loc[summary["gm_code"] == gm_code]
    return own.iloc[0].to_dict() if len(own) else {}


def colour_classes(table: pd.DataFrame, lang: str = "nl") -> tuple[str, list[str], list[str]]:
    """What colours the overview: (measure, colour per row, legend labels per class, their
    numbers as ``lang`` writes them).

    The share of the task covered by the homes reserved when any municipality has a task,
    else the number of ranked candidates (five equal classes up to the largest).
    """
    if table["coverage"].notna().any():
        values = table["coverage"].to_numpy(dtype=float)
        breaks: tuple[float, ...] = COVERAGE_BREAKS
        labels = ["< 25 %", "25-50 %", "50-75 %", "75-100 %", ">= 100 %"]
        measure = "coverage"
    else:
        values = table["ranked"].to_numpy(dtype=float)
        top = max(float(np.nanmax(values)) if len(values) else 0.0, 1.0)
        breaks = tuple(float(b) for b in np.linspace(0.0, top, 6)[:-1])
        edges = [*breaks, top]
        labels = [
            f"{format_number(edges[i], 0, lang)}-{format_number(edges[i + 1], 0, lang)}"
            for i in range(5)
        ]
        measure = "ranked"
    colours = []
    for value in values:
        if np.isnan(value):
            colours.append(NO_VALUE_COLOUR)
            continue
        k = int(np.searchsorted(np.asarray(breaks[1:]), value, side="right"))
        colours.append(CLASS_COLOURS[min(k, len(CLASS_COLOURS) - 1)])
    return measure, colours, labels


_TITLES = {
    ("coverage", "nl"): "Gereserveerde woningen als deel van de taakstelling",
    ("coverage", "en"): "Homes reserved as a share of the task",
    ("ranked", "nl"): "Gerangschikte kandidaatlocaties (geen taakstelling opgegeven)",
    ("ranked", "en"): "Ranked candidate sites (no task given)",
}
_BEST = {"nl": "beste locatie", "en": "best site"}


def write_overview_png(path: Path, table: gpd.GeoDataFrame, *, lang: str = "nl") -> None:
    """The overview map as a PNG (matplotlib, no tile server); replaced atomically.

    Parameters
    ----------
    path
        The target ``.png``.
    table
        :func:`overview_table`.
    lang
        ``nl`` or ``en`` for the title and legend.
    """
    measure, colours, labels = colour_classes(table, lang)
    figure = Figure(figsize=(8.0, 8.0))
    ax = figure.add_axes((0.03, 0.08, 0.94, 0.84))
    table.plot(ax=ax, color=colours, edgecolor=BOUNDARY_COLOUR, linewidth=0.6)
    best = table.dropna(subset=["best_x", "best_y"])
    ax.scatter(
        best["best_x"],
        best["best_y"],
        marker="*",
        s=140,
        color=BEST_SITE_COLOUR,
        edgecolor="black",
        linewidth=0.5,
        zorder=5,
    )
    for _, row in table.iterrows():
        anchor = row.geometry.representative_point()
        ax.annotate(
            mpl_text(str(row["gm_name"])),
            (anchor.x, anchor.y),
            fontsize=7,
            ha="center",
            va="top",
            xytext=(0, -4),
            textcoords="offset points",
        )
    handles = [
        Patch(facecolor=c, edgecolor=BOUNDARY_COLOUR, label=t)
        for c, t in zip(CLASS_COLOURS, labels, strict=True)
    ]
    handles.append(Patch(facecolor=BEST_SITE_COLOUR, label=_BEST[lang]))
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=len(handles),
        fontsize=7,
        bbox_to_anchor=(0.5, 0.035),
        frameon=False,
    )
    ax.set_title(_TITLES[(measure, lang)], fontsize=11)
    ax.set_aspect("equal")
    ax.set_axis_off()
    figure.text(0.03, 0.02, MAP_ATTRIBUTION, fontsize=6, color="#555555")
    with output_path(Path(path)) as tmp:
        figure.savefig(tmp, format="png", dpi=120)


def mpl_text(text: str) -> str:
    """Data text shown literally by matplotlib (a ``$`` would start math mode)."""
    return text.replace("$", r"\$")


def overview_geojson(table: gpd.GeoDataFrame, lang: str = "nl") -> dict[str, Any]:
    """The overview as GeoJSON in EPSG:4326 (areas simplified to 20 m), with each area's
    colour, figures (and, in ``shown``, the popup's figures as ``lang`` writes them) and
    links; the best sites as points."""
    measure, colours, labels = colour_classes(table, lang)
    areas = gpd.GeoDataFrame(
        table.drop(columns=["files", "best_x", "best_y"]),
        geometry=table.geometry.simplify(20.0, preserve_topology=True),
        crs=table.crs,
    ).to_crs("EPSG:4326")
    areas["colour"] = colours
    areas["links"] = [file_links(files) for files in table["files"]]
    areas["shown"] = [
        {c: format_number(row[c], 0, lang) or None for c in POPUP_FIGURES if c in row.index}
        for _, row in table.iterrows()
    ]
    best = table.dropna(subset=["best_x", "best_y"])
    points = gpd.GeoDataFrame(
        best[["gm_code", "gm_name", "best_site_id", "best_score"]],
        geometry=gpd.points_from_xy(best["best_x"], best["best_y"]),
        crs=table.crs,
    ).to_crs("EPSG:4326")
    return {
        "measure": measure,
        "legend": [[c, t] for c, t in zip(CLASS_COLOURS, labels, strict=True)],
        "areas": json.loads(areas.to_json(na="null")),
        "best": json.loads(points.to_json(na="null")),
    }


def file_links(files: Sequence[str]) -> dict[str, str]:
    """A municipality's files by kind (``map_html``, ``map_png``, ``report_pdf``,
    ``report_html``, ``gpkg``); only safe relative paths of the run folder."""
    out: dict[str, str] = {}
    for name in files:
        if not SAFE_LINK.match(name) or ".." in name:
            continue
        if name.startswith("maps/") and name.endswith(".html"):
            out["map_html"] = name
        elif name.startswith("maps/") and name.endswith(".png"):
            out["map_png"] = name
        elif name.startswith("reports/") and name.endswith(".pdf"):
            out["report_pdf"] = name
        elif name.startswith("reports/") and name.endswith(".html"):
            out["report_html"] = name
        elif name.endswith(".gpkg") and "/" not in name:
            out["gpkg"] = name
    return out


def json_for_script(data: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


_PAGE_JS = """
var data = JSON.parse(document.getElementById('overview-data').textContent);
var map = L.map('map', {preferCanvas: false});
var words = JSON.parse(document.getElementById('overview-words').textContent);
function popup(p) {
  var box = document.createElement('div');
  var head = document.createElement('b');
  head.textContent = p.gm_code + ' ' + p.gm_name; box.appendChild(head);
  var shown = p.shown || {};
  var rows = [[words.ranked, shown.ranked], [words.excluded, shown.excluded],
              [words.homes, shown.homes_reserved], [words.task, shown.taakstelling],
              [words.best, p.best_site_id]];
  rows.forEach(function (r) {
    if (r[1] === null || r[1] === undefined) { return; }
    var line = document.createElement('div');
    line.textContent = r[0] + ': ' + r[1]; box.appendChild(line);
  });
  Object.keys(p.links || {}).forEach(function (kind) {
    var a = document.createElement('a');
    a.setAttribute('href', p.links[kind]); a.textContent = words[kind] || kind;
    a.className = 'link'; box.appendChild(a); box.appendChild(document.createTextNode(' '));
  });
  return box;
}
var areas = L.geoJSON(data.areas, {
  style: function (f) { return {color: '#222', weight: 1, fillColor: f.properties.colour,
                                fillOpacity: 0.8}; },
  onEachFeature: function (f, layer) { layer.bindPopup(popup(f.properties)); }
}).addTo(map);
L.geoJSON(data.best, {
  pointToLayer: function (f, ll) {
    return L.circleMarker(ll, {radius: 6, color: '#000', weight: 1,
                               fillColor: '#d7191c', fillOpacity: 1});
  },
  onEachFeature: function (f, layer) {
    var t = document.createElement('span');
    t.textContent = words.best + ': ' + f.properties.best_site_id + ' (' +
      f.properties.gm_name + ')';
    layer.bindTooltip(t);
  }
}).addTo(map);
if (areas.getLayers().length) { map.fitBounds(areas.getBounds(), {padding: [20, 20]}); }
else { map.setView([52.1, 5.3], 7); }
var legend = L.control({position: 'bottomright'});
legend.onAdd = function () {
  var box = L.DomUtil.create('div', 'legend');
  var title = document.createElement('b'); title.textContent = words.title;
  box.appendChild(title);
  data.legend.forEach(function (c) {
    var row = document.createElement('div'); var sw = document.createElement('span');
    sw.className = 'swatch'; sw.style.background = c[0]; row.appendChild(sw);
    row.appendChild(document.createTextNode(c[1])); box.appendChild(row);
  });
  return box;
};
legend.addTo(map);
map.attributionControl.addAttribution(words.attribution);
"""

_WORDS = {
    "nl": {
        "ranked": "gerangschikt",
        "excluded": "uitgesloten",
        "homes": "gereserveerde woningen",
        "task": "taakstelling",
        "best": "beste locatie",
        "map_html": "kaart",
        "report_pdf": "rapport (pdf)",
        "report_html": "rapport (html)",
        "gpkg": "GeoPackage",
        "map_png": "kaart (png)",
        "page": "Magic Mix: landelijk overzicht",
    },
    "en": {
        "ranked": "ranked",
        "excluded": "excluded",
        "homes": "homes reserved",
        "task": "task",
        "best": "best site",
        "map_html": "map",
        "report_pdf": "report (pdf)",
        "report_html": "report (html)",
        "gpkg": "GeoPackage",
        "map_png": "map (png)",
        "page": "Magic Mix: national overview",
    },
}


def write_overview_html(path: Path, table: gpd.GeoDataFrame, *, lang: str = "nl") -> None:
    """The overview map as one offline HTML page (Leaflet inlined); replaced atomically.

    Parameters
    ----------
    path
        The target ``.html`` in the run folder (its links are relative to it).
    table
        :func:`overview_table`.
    lang
        ``nl`` or ``en``.
    """
    data = overview_geojson(table, lang)
    words = {
        **_WORDS[lang],
        "title": _TITLES[(data["measure"], lang)],
        "attribution": MAP_ATTRIBUTION,
    }
    js, css, licence = leaflet_assets()
    page = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(words['page'])}</title>"
        f"<!--\nLeaflet {LEAFLET_VERSION}\n{html.escape(licence)}-->"
        f"<style>{css}</style><style>html,body,#map{{height:100%;margin:0}}"
        ".legend{background:#fff;padding:6px 8px;font:12px sans-serif;border-radius:4px}"
        ".swatch{display:inline-block;width:12px;height:12px;margin-right:4px;"
        "border:1px solid #555}</style>"
        f'<script>{js}</script></head><body><div id="map"></div>'
        '<script type="application/json" id="overview-data">'
        f"{json_for_script(data)}</script>"
        '<script type="application/json" id="overview-words">'
        f"{json_for_script(words)}</script>"
        f"<script>{_PAGE_JS}</script></body></html>"
    )
    with output_path(Path(path)) as tmp:
        tmp.write_text(page, encoding="utf-8")
