"""The per-municipality HTML report: the map, the best sites with their criteria and reasons,
sources; a self-contained page (the map embedded, no external resources) in the run's language,
numbers written as its readers write them (:func:`~magicmix_geo.publish._common.format_number`).
The typeset PDF with the same content is ``pdf_report.py``.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from magicmix_geo.publish._common import (
    EXCLUDED_COLOUR,
    MAP_ATTRIBUTION,
    excluded_mask,
    format_number,
    output_path,
    reason_text,
    require_rd,
    score_colour,
    walking_distance_text,
    words_in,
)
from magicmix_geo.publish.lists import type_summary
from magicmix_geo.score.explain import exclusion_reason_column
from magicmix_geo.site_types import site_type_label

TOP_SITES = 10
_REASON_COLUMNS = (("reasons_en", "Reasons"), ("reasons_nl", "Redenen"))
_NUMBER = re.compile(r"\d[\d.,]*")
# the HTML report's words: English, Dutch (site type labels: magicmix_geo/site_types.py)
_WORDS: dict[str, tuple[str, str]] = {
    "intro": (
        "{n} candidate sites: <b>{ranked} ranked</b>, {excluded} excluded. A higher "
        "<code>score_total</code> (0&ndash;1) is a better Magic Mix location; "
        "<code>rank_gm</code> 1 is the best site of the municipality.",
        "{n} kandidaatlocaties: <b>{ranked} gerangschikt</b>, {excluded} uitgesloten. Een "
        "hogere <code>score_total</code> (0&ndash;1) is een betere Magic Mix-locatie; "
        "<code>rank_gm</code> 1 is de beste locatie van de gemeente.",
    ),
    # the run facts (_run_facts)
    "fact run": ("run", "run"),
    "fact started": ("started", "gestart"),
    "fact software": ("software", "software"),
    "fact configuration hash": ("configuration hash", "configuratiehash"),
    "fact profile": ("profile", "profiel"),
    "map_alt": ("map of the ranked sites", "kaart van de gerangschikte locaties"),
    "best": ("The {n} best sites", "De {n} beste locaties"),
    "why": ("Why these sites", "Waarom deze locaties"),
    "criteria": ("Criteria of the best sites", "Criteria van de beste locaties"),
    "criteria_note": (
        "Each criterion score is in [0, 1] (1 best); the cell colour is its score class. "
        "Walking distances are over the OpenStreetMap walking network.",
        "Elke criteriumscore ligt in [0, 1] (1 is het best); de celkleur is de scoreklasse. "
        "Loopafstanden gaan over het OpenStreetMap-voetpadennetwerk.",
    ),
    "excluded": ("Why sites were excluded", "Waarom locaties zijn uitgesloten"),
    "reason": ("reason", "reden"),
    "sites": ("sites", "locaties"),
    "method": ("Method and criteria", "Methode en criteria"),
    "criterion": ("criterion", "criterium"),
    "rule": ("rule", "regel"),
    "by_type": ("Candidates by type", "Kandidaten naar soort"),
    "by_type_note": (
        "homes_planned: from the plan, BAG units, floor area or the density norm "
        "(homes_source); homes_reserved: the reserve share in clusters of at most 8; both "
        "summed over the ranked candidates; homes_reserved_selected: on the sites selected "
        "without concentration.",
        "homes_planned: uit het plan, BAG-verblijfsobjecten, vloeroppervlak of de "
        "dichtheidsnorm (homes_source); homes_reserved: het reserveringsaandeel in clusters "
        "van hoogstens 8; beide opgeteld over de gerangschikte kandidaten; "
        "homes_reserved_selected: op de locaties gekozen zonder concentratie.",
    ),
    "best_of_type": ("Best candidates: {label}", "Beste kandidaten: {label}"),
    "sources": ("Data sources and licences", "Gegevensbronnen en licenties"),
    "odbl": (
        "Outputs derived from OpenStreetMap data are ODbL.",
        "Uitvoer afgeleid van OpenStreetMap-gegevens valt onder de ODbL.",
    ),
    "input": ("input", "invoer"),
    "file": ("file", "bestand"),
    "version": ("version", "versie"),
    "licence": ("licence", "licentie"),
    "attribution": ("attribution", "naamsvermelding"),
    "checksums": (
        "Every input is listed with its full checksum in the run's manifest.json and in the "
        "GeoPackage metadata.",
        "Elke invoer staat met zijn volledige controlegetal in manifest.json van de run en in "
        "de metadata van de GeoPackage.",
    ),
}


def _words(lang: str) -> dict[str, str]:
    """The HTML report's words in ``lang`` (``nl`` or ``en``); ValueError for another."""
    return words_in(_WORDS, lang)


def write_municipality_report(
    html_path: Path,
    sites: gpd.GeoDataFrame,
    *,
    title: str,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    map_png: Path | None = None,
    lang: str = "en",
) -> None:
    """Write the HTML report of one municipality (its PDF: ``pdf_report``).

    Parameters
    ----------
    html_path
        The target ``.html``; self-contained (the map PNG is embedded); replaced atomically.
    sites
        Candidate sites of the municipality, EPSG:28992, with ``score_total``, ``rank_gm``,
        ``excluded``, ``exclusion_reason`` and, when present, ``reasons_en``/``reasons_nl``.
    title
        The report title, e.g. ``"GM0503 Delft: Magic Mix site ranking (singles)"``.
    manifest
        The run manifest (run id, times, software, config hash, inputs with licences).
    method
        (criterion, description) rows, as on the method sheet of the national list.
    map_png
        The static map to embed in the HTML; without it the HTML has no map.
    lang
        ``en`` (default) or ``nl``: the page's words, site type labels and numbers.
    """
    require_rd(sites, "sites")
    top = top_sites(sites, TOP_SITES)
    page = report_html(
        sites, top, title=title, manifest=manifest, method=method, map_png=map_png, lang=lang
    )
    with output_path(Path(html_path)) as tmp:
        tmp.write_text(page, encoding="utf-8")


def top_sites(sites: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """The ``n`` best ranked sites (by ``rank_gm``), best first.

    Parameters
    ----------
    sites
        Candidate sites with ``rank_gm`` (null for excluded ones).
    n
        How many.
    """
    if "rank_gm" not in sites.columns:
        return sites.iloc[0:0]
    ranks = pd.to_numeric(sites["rank_gm"], errors="coerce")
    order = ranks[ranks.notna()].sort_values(kind="stable").index[:n]
    return sites.loc[order]


def candidates_by_type(sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per ``site_type``: candidates, ranked, homes planned and homes reserved (ranked ones).

    Returns
    -------
    pandas.DataFrame
        Columns ``site_type``, ``candidates``, ``ranked``, ``homes_planned``,
        ``homes_reserved``, ``homes_reserved_selected`` (:func:`type_summary` of one
        municipality); empty when the sites carry no ``site_type``.
    """
    if "site_type" not in sites.columns or not len(sites):
        return pd.DataFrame(
            {
                c: []
                for c in ("site_type", "candidates", "ranked", "homes_planned", "homes_reserved")
            }
        )
    table = type_summary(sites.assign(excluded=excluded_mask(sites)))
    return table.drop(columns="gm_code")


def exclusion_summary(sites: gpd.GeoDataFrame, lang: str = "en") -> pd.DataFrame:
    """How often each kind of exclusion reason occurs (numbers replaced by #).

    Parameters
    ----------
    sites
        Candidate sites with ``exclusion_reason`` ("; "-separated reasons) and, for Dutch,
        ``exclusion_reason_nl``.
    lang
        The reasons' language (``nl`` or ``en``).

    Returns
    -------
    pandas.DataFrame
        Columns ``reason`` and ``sites``, most frequent first.
    """
    column = exclusion_reason_column(sites, lang)
    if column not in sites.columns:
        return pd.DataFrame({"reason": [], "sites": []})
    kinds: list[str] = []
    for text in sites.loc[excluded_mask(sites), column].dropna():
        kinds += sorted({_NUMBER.sub("#", part.strip()) for part in str(text).split(";")})
    counts = pd.Series(kinds, dtype="object").value_counts()
    return pd.DataFrame({"reason": counts.index, "sites": counts.to_numpy()})


def _criteria_columns(sites: gpd.GeoDataFrame) -> list[str]:
    return [c for c in sites.columns if c.startswith("score_") and c != "score_total"]


def _distance_columns(sites: gpd.GeoDataFrame) -> list[str]:
    return [c for c in sites.columns if c.startswith("dist_") and c.endswith("_m")]


def _reason_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(reason_text(value))


def _fmt(value: Any, lang: str, digits: int = 2) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return format_number(value, digits, lang)
    return str(value)


def _inputs(manifest: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    inputs = manifest.get("inputs")
    if isinstance(inputs, dict):
        for name, entry in inputs.items():
            if isinstance(entry, dict):
                yield {"name": name, **entry}
    elif isinstance(inputs, list):
        for entry in inputs:
            if isinstance(entry, dict):
                yield {"name": entry.get("source", ""), **entry}


def _run_facts(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    software = manifest.get("software")
    version = software.get("version") if isinstance(software, dict) else None
    return [
        ("run", str(manifest.get("run_id", ""))),
        ("started", str(manifest.get("started_at", ""))),
        ("software", f"magicmix-geo {version or manifest.get('software_version', '')}"),
        ("configuration hash", str(manifest.get("config_hash", ""))),
        ("profile", str(manifest.get("profile", ""))),
    ]


# --- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0;font-size:12.5px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f1f1}td.num{text-align:right;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;border:1px solid #555;margin-right:4px}
.note{color:#555;font-size:12.5px}img.map{max-width:100%;border:1px solid #ccc}
.site{margin:10px 0 14px;padding:6px 10px;border-left:4px solid #1a9641;background:#fafafa}
"""


def report_html(
    sites: gpd.GeoDataFrame,
    top: gpd.GeoDataFrame,
    *,
    title: str,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    map_png: Path | None,
    lang: str = "en",
) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    sites
        All candidate sites of the municipality.
    top
        The best sites, best first (:func:`top_sites`).
    title
        The page title.
    manifest
        The run manifest.
    method
        (criterion, description) rows.
    map_png
        The static map to embed, or None.
    lang
        ``en`` (default) or ``nl``.

    Returns
    -------
    str
        The HTML text.
    """
    e = html.escape
    w = _words(lang)
    excluded = excluded_mask(sites)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        '<p class="note">'
        + " &middot; ".join(
            f"{e(w.get('fact ' + k, k))}: {e(v)}" for k, v in _run_facts(manifest) if v
        )
        + "</p>",
        "<p>"
        + w["intro"].format(
            n=format_number(len(sites), 0, lang),
            ranked=format_number(int((~excluded).sum()), 0, lang),
            excluded=format_number(int(excluded.sum()), 0, lang),
        )
        + "</p>",
    ]
    if map_png is not None and Path(map_png).is_file():
        data = base64.b64encode(Path(map_png).read_bytes()).decode("ascii")
        parts.append(f'<img class="map" alt="{w["map_alt"]}" src="data:image/png;base64,{data}">')
    parts.append(f"<h2>{w['best'].format(n=len(top))}</h2>")
    parts.append(_top_table_html(top, lang))
    parts.append(_by_type_html(sites, lang))
    reason_columns = [
        (c, label) for c, label in _REASON_COLUMNS if c in top.columns and c.endswith(lang)
    ]
    if reason_columns:
        parts.append(f"<h2>{w['why']}</h2>")
        for _, site in top.iterrows():
            parts.append(
                f'<div class="site" style="border-color:{score_colour(site["score_total"])}">'
                f"<b>{int(site['rank_gm'])}. {e(str(site['site_id']))}</b> "
                f"(score_total {_fmt(site['score_total'], lang, 3)})"
            )
            for column, label in reason_columns:
                text = _reason_text(site[column])
                if text:
                    parts.append(f"<div><i>{e(label)}:</i> {e(text)}</div>")
            parts.append("</div>")
    parts.append(f"<h2>{w['criteria']}</h2>")
    parts.append(f'<p class="note">{w["criteria_note"]}</p>')
    parts.append(_criteria_table_html(top, lang))
    summary = exclusion_summary(sites, lang)
    if len(summary):
        parts.append(f"<h2>{w['excluded']}</h2>")
        parts.append(f"<table><tr><th>{w['reason']}</th><th>{w['sites']}</th></tr>")
        for reason, count in summary.head(12).itertuples(index=False):
            parts.append(
                f"<tr><td>{e(str(reason))}</td>"
                f'<td class="num">{format_number(int(count), 0, lang)}</td></tr>'
            )
        parts.append("</table>")
    if method:
        parts.append(
            f"<h2>{w['method']}</h2><table><tr><th>{w['criterion']}</th><th>{w['rule']}</th></tr>"
        )
        for name, text in method:
            parts.append(f"<tr><td>{e(name)}</td><td>{e(text)}</td></tr>")
        parts.append("</table>")
    parts.append(_sources_html(manifest, w))
    parts.append("</body></html>")
    return "\n".join(parts)


def _by_type_html(sites: gpd.GeoDataFrame, lang: str, per_type: int = 5) -> str:
    """Candidates by type (plan, new build, building to repurpose, land) with their homes,
    and the best ranked of each type; the types labelled in ``lang``."""
    table = candidates_by_type(sites)
    if not len(table):
        return ""
    e = html.escape
    w = _words(lang)
    head = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    rows = [
        f"<h2>{w['by_type']}</h2>",
        f'<p class="note">{w["by_type_note"]}</p>',
        f"<table><tr>{head}</tr>",
    ]
    for row in table.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{format_number(int(v), 0, lang)}</td>'
            if isinstance(v, int | np.integer)
            else f"<td>{e(_type_text(v, lang) if i == 0 else str(v))}</td>"
            for i, v in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    for kind in table["site_type"]:
        mine = top_sites(sites.loc[sites["site_type"] == kind], per_type)
        if len(mine):
            label = e(_type_text(kind, lang))
            rows.append(f"<h3>{w['best_of_type'].format(label=label)}</h3>")
            rows.append(_top_table_html(mine, lang))
    return "".join(rows)


def _type_text(site_type: Any, lang: str) -> str:
    """A site type as a reader sees it: the code and its label in ``lang``."""
    return f"{site_type}: {site_type_label(site_type, lang)}"


def _top_table_html(top: gpd.GeoDataFrame, lang: str) -> str:
    e = html.escape
    extra = [
        c
        for c in ("site_type", "name", "homes_planned", "homes_reserved", "bu_name", "area_m2")
        if c in top.columns
    ]
    head = "".join(f"<th>{e(c)}</th>" for c in ["rank_gm", "site_id", "score_total", *extra])
    rows = [f"<table><tr>{head}</tr>"]
    for _, site in top.iterrows():
        colour = score_colour(site["score_total"])
        cells = [
            f'<td class="num">{int(site["rank_gm"])}</td>',
            f"<td>{e(str(site['site_id']))}</td>",
            f'<td class="num"><span class="swatch" style="background:{colour}"></span>'
            f"{_fmt(site['score_total'], lang, 3)}</td>",
        ]
        for column in extra:
            value = site[column]
            numeric = column in ("area_m2", "homes_planned", "homes_reserved")
            if numeric:
                number = pd.to_numeric(value, errors="coerce")
                text = "" if pd.isna(number) else format_number(float(number), 0, lang)
            elif column == "site_type":
                text = _type_text(value, lang)
            else:
                text = _fmt(value, lang) if value is not None and not pd.isna(value) else ""
            cells.append(f'<td class="num">{e(text)}</td>' if numeric else f"<td>{e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    return "".join(rows)


def _criteria_table_html(top: gpd.GeoDataFrame, lang: str) -> str:
    """Criteria (rows) by site (columns): scores with their class colour, then distances;
    numbers as written in ``lang``."""
    e = html.escape
    head = "".join(f"<th>{int(r)}</th>" for r in top["rank_gm"])
    rows = [f"<table><tr><th>rank_gm</th>{head}</tr>"]
    for column in _criteria_columns(top):
        cells = []
        for value in pd.to_numeric(top[column], errors="coerce"):
            colour = score_colour(value) if not pd.isna(value) else EXCLUDED_COLOUR
            cells.append(f'<td class="num" style="background:{colour}">{_fmt(value, lang)}</td>')
        rows.append(f"<tr><th>{e(column)}</th>{''.join(cells)}</tr>")
    for column in _distance_columns(top):
        metres = "".join(
            f'<td class="num">{e(walking_distance_text(v, lang))}</td>' for v in top[column]
        )
        rows.append(f"<tr><th>{e(column)}</th>{metres}</tr>")
    rows.append("</table>")
    return "".join(rows)


def _sources_html(manifest: Mapping[str, Any], w: Mapping[str, str]) -> str:
    e = html.escape
    head = "".join(f"<th>{w[k]}</th>" for k in ("input", "file", "version", "licence"))
    rows = [
        f"<h2>{w['sources']}</h2>",
        f"<p>{e(MAP_ATTRIBUTION)}. {w['odbl']}</p>",
        f"<table><tr>{head}<th>{w['attribution']}</th><th>sha256</th></tr>",
    ]
    for item in _inputs(manifest):
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(item.get(k) or ''))}</td>"
                for k in ("name", "path", "version", "licence", "attribution")
            )
            + f"<td><code>{e(str(item.get('sha256') or '')[:16])}&hellip;</code></td></tr>"
        )
    rows.append("</table>")
    rows.append(f'<p class="note">{w["checksums"]}</p>')
    return "\n".join(rows)
