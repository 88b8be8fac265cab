"""The typeset PDF reports: one per municipality and a national summary, Dutch or English.

Each report is an HTML document laid out for A4 print (CSS paged media: page numbers, page
breaks) and typeset by WeasyPrint. Every text that comes from the data (site ids, buurt names,
reasons, file names, manifest values) is HTML-escaped; images are embedded as data URIs, so
nothing outside the document is fetched.

Contents of a municipality's report: cover (municipality, date, run id, profile), summary
figures, the map, a table of the best sites, one card per best site (a small map, criterion
bars, reasons), the method in brief, data sources with dates and licences.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from PIL import Image

from magicmix_geo.publish._common import (
    MAP_ATTRIBUTION,
    excluded_mask,
    output_path,
    require_rd,
    score_colour,
)
from magicmix_geo.publish._palette import BUILDING_COLOUR, STREET_COLOUR, WATER_COLOUR
from magicmix_geo.publish.maps import add_polygons, draw_layer, figure_rgb
from magicmix_geo.publish.report import top_sites

LANGS = ("nl", "en")
TOP_SITES = 10
CARD_MAP_RADIUS_M = 250.0
CARD_MAP_DPI = 150
# the report's images are JPEG (a PDF embeds JPEG as it is); 90 keeps lines and labels crisp
JPEG_QUALITY = 90
_CARD_STYLES: dict[str, dict[str, Any]] = {
    "water": {"facecolor": WATER_COLOUR, "edgecolor": "none", "linewidth": 0.0},
    "buildings": {"facecolor": BUILDING_COLOUR, "edgecolor": "none", "linewidth": 0.0},
    "streets": {"color": STREET_COLOUR, "linewidth": 0.6},
}
# exclusion codes of score/model.py in words
_EXCLUSIONS = {
    "industry": ("industrial land nearby", "industrieterrein in de buurt"),
    "no_neighbours": ("no direct neighbours", "geen directe buren"),
    "no_transit": (
        "no public transport stop within walking distance",
        "geen ov-halte op loopafstand",
    ),
    "area": ("area outside the project sizes", "oppervlak buiten de projectgrootte"),
    "temporary": ("temporary site", "tijdelijke locatie"),
    "water": ("mostly water", "grotendeels water"),
    "infrastructure": ("mostly road or railway", "grotendeels weg of spoor"),
}
_SOURCES = {
    "osm_proxy": ("OSM parcel proxies (street blocks)", "OSM-perceelbenaderingen (bouwblokken)"),
    "brk": ("BRK cadastral parcels", "BRK kadastrale percelen"),
    "file": ("candidate file", "kandidatenbestand"),
}
_WORDS: dict[str, tuple[str, str]] = {
    "title": ("Magic Mix site report", "Magic Mix locatierapport"),
    "national_title": (
        "Magic Mix sites: national summary",
        "Magic Mix locaties: landelijk overzicht",
    ),
    "date": ("date", "datum"),
    "run": ("run", "run"),
    "profile": ("profile", "profiel"),
    "software": ("software", "software"),
    "summary": ("Summary", "Samenvatting"),
    "candidates": ("candidate sites", "kandidaatlocaties"),
    "by_type": ("candidates by type", "kandidaten naar soort"),
    "ranked": ("ranked", "gerangschikt"),
    "excluded": ("excluded", "uitgesloten"),
    "excluded_by": ("excluded, by reason", "uitgesloten, naar reden"),
    "homes": ("homes reserved", "gereserveerde woningen"),
    "task": ("task (taakstelling)", "taakstelling"),
    "no_task": ("no task given", "geen taakstelling opgegeven"),
    "share": ("reserve share", "reserveringsaandeel"),
    "coverage": ("of the task", "van de taakstelling"),
    "map": ("Map", "Kaart"),
    "best": ("The best sites", "De beste locaties"),
    "rank": ("rank", "rang"),
    "site": ("site", "locatie"),
    "buurt": ("neighbourhood", "buurt"),
    "score": ("score", "score"),
    "area": ("area (m²)", "oppervlak (m²)"),
    "homes_est": ("homes (est.)", "woningen (schatting)"),
    "interval": ("rank interval", "rangbereik"),
    "cards": ("The best sites one by one", "De beste locaties één voor één"),
    "criteria": (
        "criterion scores (0-1) and points added to the total",
        "criteriumscores (0-1) en bijdrage aan het totaal",
    ),
    "reasons": ("Reasons", "Redenen"),
    "method": ("Method in brief", "De methode in het kort"),
    "rules": ("Rules as configured", "Regels zoals ingesteld"),
    "sources": ("Data sources and licences", "Gegevensbronnen en licenties"),
    "source": ("source", "bron"),
    "file": ("file", "bestand"),
    "version": ("date / version", "datum / versie"),
    "licence": ("licence", "licentie"),
    "attribution": ("attribution", "naamsvermelding"),
    "municipalities": ("Municipalities", "Gemeenten"),
    "municipality": ("municipality", "gemeente"),
    "n_candidates": ("candidates", "kandidaten"),
    "n_homes": ("homes reserved", "woningen"),
    "n_task": ("task", "taak"),
    "n_coverage": ("coverage", "dekking"),
    "best_site": ("best site", "beste locatie"),
    "overview": ("Overview map", "Overzichtskaart"),
    "page": ("page", "pagina"),
    "none": ("none", "geen"),
    "censored_note": (
        "A walking distance longer than the straight way to the edge of the data is shown as "
        "'beyond the data's coverage' and scored as unknown.",
        "Een looproute die langer is dan de rechte weg naar de rand van de data heet 'buiten het "
        "bereik van de data' en telt als onbekend.",
    ),
}
_METHOD = {
    "en": (
        "Candidate sites are scored on the criteria of the Magic Mix booklet: walking distance "
        "over the OpenStreetMap walking network to public transport and everyday amenities, "
        "direct neighbours, no industry nearby, density and a healthy mix of residents. Each "
        "criterion maps its measured value to a score between 0 and 1; the weighted sum is the "
        "site's score_total. Sites failing a basic principle (industrial land nearby, no "
        "neighbours, no stop within walking distance, wrong size, temporary, water or road) are "
        "excluded with their reason. The rank interval shows how the rank moves when the "
        "weights vary."
    ),
    "nl": (
        "Kandidaatlocaties krijgen een score op de criteria uit het Magic Mix-boekje: de "
        "loopafstand over het OpenStreetMap-voetpadennetwerk naar openbaar vervoer en dagelijkse "
        "voorzieningen, directe buren, geen industrie in de buurt, dichtheid en een gezonde mix "
        "van bewoners. Elk criterium zet de gemeten waarde om in een score tussen 0 en 1; de "
        "gewogen som is de score_total van de locatie. Locaties die niet aan een basisprincipe "
        "voldoen (industrie dichtbij, geen buren, geen halte op loopafstand, verkeerde omvang, "
        "tijdelijk, water of weg) worden met hun reden uitgesloten. Het rangbereik laat zien "
        "hoe de rang verschuift als de gewichten variëren."
    ),
}

_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
  @bottom-right { content: "%(page)s " counter(page) " / " counter(pages);
                  font: 8pt sans-serif; color: #666 }
  @bottom-left { content: "%(footer)s"; font: 8pt sans-serif; color: #666 } }
@page :first { @bottom-left { content: none } }
body { font: 9.5pt/1.4 "DejaVu Sans", sans-serif; color: #222 }
h1 { font-size: 24pt; margin: 50mm 0 4mm } h2 { font-size: 14pt; border-bottom: 1px solid #bbb;
  margin-top: 8mm } h3 { font-size: 11pt; margin: 0 0 2mm }
.cover { page-break-after: always } .cover .sub { font-size: 15pt; color: #444 }
.cover table { margin-top: 20mm; font-size: 10pt }
.cover td { border: none; padding: 1mm 4mm 1mm 0 }
.break { page-break-before: always }
table { border-collapse: collapse; width: 100%%; margin: 2mm 0 }
th, td { border: 0.5pt solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
  font-size: 8.5pt } th { background: #eee } td.num { text-align: right; white-space: nowrap }
td.id { white-space: nowrap }
.figures td.num { font-size: 11pt; font-weight: bold }
table.national th, table.national td { font-size: 7.5pt }
img.map { width: 100%%; border: 0.5pt solid #bbb }
.card { page-break-inside: avoid; border: 0.5pt solid #bbb; border-left: 4pt solid #888;
  padding: 3mm; margin: 0 0 4mm }
table.grid { margin: 0 } table.grid > tbody > tr > td { border: none; padding: 0 }
td.mini { width: 50mm } td.mini img { width: 48mm; border: 0.5pt solid #ccc }
table.bars { margin: 0 } td.label { width: 48mm } table.bars td { border: none; padding: 0.2mm 1mm;
  font-size: 7.5pt } td.track { width: 38mm } .track div { height: 3mm; background: #eee }
.track div div { height: 3mm }
.reasons { font-size: 8.5pt; margin-top: 2mm } .note { color: #555; font-size: 8pt }
.swatch { display: inline-block; width: 3mm; height: 3mm; border: 0.5pt solid #555 }
"""


def _t(key: str, lang: str) -> str:
    en, nl = _WORDS[key]
    return nl if lang == "nl" else en


def check_lang(lang: str) -> str:
    """``lang`` if it is a report language (``nl``, ``en``), else ValueError."""
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def _num(value: Any, lang: str, digits: int = 0) -> str:
    number = pd.to_numeric(value, errors="coerce")
    if pd.isna(number):
        return ""
    text = f"{float(number):,.{digits}f}"
    if lang == "nl":  # 1,234.5 -> 1.234,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _inputs(manifest: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    inputs = manifest.get("inputs")
    if isinstance(inputs, list):
        for entry in inputs:
            if isinstance(entry, dict):
                yield entry


def _run_rows(manifest: Mapping[str, Any], lang: str) -> list[tuple[str, str]]:
    software = manifest.get("software")
    version = software.get("version", "") if isinstance(software, dict) else ""
    started = str(manifest.get("started_at") or "")
    return [
        (_t("date", lang), started[:10]),
        (_t("run", lang), str(manifest.get("run_id") or "")),
        (_t("profile", lang), str(manifest.get("profile") or "")),
        (_t("software", lang), f"magicmix-geo {version}"),
    ]


def _css(lang: str, footer: str) -> str:
    # the footer is data (a municipality name): keep it a CSS string that cannot break out
    safe = footer.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return _CSS % {"page": _t("page", lang), "footer": safe}


def _sources_html(manifest: Mapping[str, Any], lang: str) -> str:
    e = html.escape
    head = "".join(
        f"<th>{e(_t(k, lang))}</th>"
        for k in ("source", "file", "version", "licence", "attribution")
    )
    rows = [
        f"<h2>{e(_t('sources', lang))}</h2>",
        f"<p>{e(MAP_ATTRIBUTION)}</p>",
        f"<table><tr>{head}</tr>",
    ]
    for item in _inputs(manifest):
        cells = "".join(
            f"<td>{e(str(item.get(k) or ''))}</td>"
            for k in ("source", "path", "version", "licence", "attribution")
        )
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _method_html(method: Sequence[tuple[str, str]], lang: str) -> str:
    e = html.escape
    parts = [
        f'<h2 class="break">{e(_t("method", lang))}</h2>',
        f"<p>{e(_METHOD[lang])}</p>",
        f'<p class="note">{e(_t("censored_note", lang))}</p>',
    ]
    if method:
        parts.append(f"<h3>{e(_t('rules', lang))}</h3><table>")
        parts += [f"<tr><td>{e(n)}</td><td>{e(t)}</td></tr>" for n, t in method]
        parts.append("</table>")
    return "\n".join(parts)


def _render_pdf(document: str, path: Path) -> None:
    from weasyprint import HTML  # heavy import, only when a PDF is written

    with output_path(Path(path)) as tmp:
        HTML(string=document, base_url=None).write_pdf(tmp)


# --- one municipality ------------------------------------------------------------------------


def summary_figures(
    sites: gpd.GeoDataFrame, candidate_source: str, lang: str
) -> dict[str, list[tuple[str, int]]]:
    """The report's summary counts: candidates by type, and excluded sites by reason.

    Parameters
    ----------
    sites
        Candidate sites with ``excluded`` and ``exclusion_codes`` (``;``-separated).
    candidate_source
        Where the candidates came from (``osm_proxy``, ``brk``, ``file``), used as the type
        when the sites have no ``site_type`` column.
    lang
        ``nl`` or ``en``.
    """
    if "site_type" in sites.columns:
        types = sites["site_type"].fillna("?").astype(str).value_counts()
        by_type = [(str(k), int(v)) for k, v in types.items()]
    else:
        en, nl = _SOURCES.get(candidate_source, (candidate_source, candidate_source))
        by_type = [(nl if lang == "nl" else en, len(sites))]
    codes: list[str] = []
    if "exclusion_codes" in sites.columns:
        for text in sites.loc[excluded_mask(sites), "exclusion_codes"].dropna():
            codes += [c.strip() for c in str(text).split(";") if c.strip()]
    counts = pd.Series(codes, dtype="object").value_counts()
    by_reason = []
    for code, count in counts.items():
        en, nl = _EXCLUSIONS.get(str(code), (str(code), str(code)))
        by_reason.append((nl if lang == "nl" else en, int(count)))
    return {"by_type": by_type, "by_reason": by_reason}


def site_map_jpeg(
    site: Any,
    sites: gpd.GeoDataFrame,
    context: Mapping[str, gpd.GeoDataFrame],
    radius_m: float = CARD_MAP_RADIUS_M,
) -> bytes:
    """A small map (JPEG) of one site and its surroundings within ``radius_m`` (EPSG:28992).

    The layers are drawn as one collection each (as the static map), not one patch per
    feature; JPEG, because a PDF embeds it as it is (a PNG is decoded and compressed again).
    """
    centre = shapely.centroid(site.geometry)
    window = shapely.box(
        centre.x - radius_m, centre.y - radius_m, centre.x + radius_m, centre.y + radius_m
    )
    figure = Figure(figsize=(2.0, 2.0))
    ax = figure.add_axes((0, 0, 1, 1))
    for name, style in _CARD_STYLES.items():
        layer = context.get(name)
        if layer is not None and len(layer):
            draw_layer(ax, layer.iloc[layer.sindex.query(window, predicate="intersects")], style)
    others = sites.iloc[sites.sindex.query(window, predicate="intersects")]
    draw_layer(ax, others, {"facecolor": "none", "edgecolor": "#777777", "linewidth": 0.4})
    add_polygons(
        ax,
        np.array([site.geometry], dtype=object),
        facecolor=score_colour(site.get("score_total")),
        edgecolor="#000000",
        linewidth=1.0,
        alpha=0.85,
    )
    ax.set_xlim(window.bounds[0], window.bounds[2])
    ax.set_ylim(window.bounds[1], window.bounds[3])
    ax.set_aspect("equal")
    ax.set_axis_off()
    return _jpeg(figure_rgb(figure, CARD_MAP_DPI))


def map_jpeg(png: Path) -> bytes:
    """The static map ``png`` as JPEG, for the PDF (embedded as it is, see
    :func:`site_map_jpeg`)."""
    with Image.open(png) as image:
        return _jpeg(np.asarray(image.convert("RGB")))


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _bars_html(site: Any, labels: Mapping[str, str], lang: str) -> str:
    e = html.escape
    rows = []
    for name, label in labels.items():
        score = pd.to_numeric(site.get(f"score_{name}"), errors="coerce")
        if pd.isna(score):
            continue
        contrib = pd.to_numeric(site.get(f"contrib_{name}"), errors="coerce")
        colour = score_colour(float(score))
        points = "" if pd.isna(contrib) else f" (+{_num(contrib, lang, 3)})"
        rows.append(
            f'<tr><td class="label">{e(label)}</td><td class="track"><div><div style="width:'
            f'{100 * float(score):.0f}%;background:{colour}"></div></div></td>'
            f'<td class="num">{_num(score, lang, 2)}{e(points)}</td></tr>'
        )
    return '<table class="bars">' + "".join(rows) + "</table>"


def _card_html(
    site: Any,
    sites: gpd.GeoDataFrame,
    context: Mapping[str, gpd.GeoDataFrame],
    labels: Mapping[str, str],
    lang: str,
) -> str:
    e = html.escape
    colour = score_colour(site.get("score_total"))
    buurt = site.get("bu_name")
    where = f" &middot; {e(str(buurt))}" if isinstance(buurt, str) and buurt else ""
    reasons = site.get("reasons_nl" if lang == "nl" else "reasons_en")
    reasons_text = e(str(reasons)) if isinstance(reasons, str) else ""
    return (
        f'<div class="card" style="border-left-color:{colour}">'
        f"<h3>{int(site['rank_gm'])}. {e(str(site['site_id']))}{where} &middot; "
        f"{e(_t('score', lang))} {_num(site.get('score_total'), lang, 3)}</h3>"
        f'<table class="grid"><tr><td class="mini"><img alt="" '
        f'src="{_data_uri(site_map_jpeg(site, sites, context))}"></td>'
        f'<td><div class="note">{e(_t("criteria", lang))}</div>'
        f"{_bars_html(site, labels, lang)}</td></tr></table>"
        f'<div class="reasons"><b>{e(_t("reasons", lang))}:</b> {reasons_text}</div></div>'
    )


def _best_table_html(top: gpd.GeoDataFrame, lang: str) -> str:
    e = html.escape
    columns = [
        ("rank", None),
        ("site", None),
        ("buurt", "bu_name"),
        ("score", None),
        ("area", "area_m2"),
        ("homes_est", "homes_est"),
        ("interval", "rank_p10"),
    ]
    shown = [(k, c) for k, c in columns if c is None or c in top.columns]
    head = "".join(f"<th>{e(_t(k, lang))}</th>" for k, _ in shown)
    rows = [f"<table><tr>{head}</tr>"]
    for _, site in top.iterrows():
        cells = []
        for key, _column in shown:
            if key == "rank":
                cells.append(f'<td class="num">{int(site["rank_gm"])}</td>')
            elif key == "site":
                cells.append(f'<td class="id">{e(str(site["site_id"]))}</td>')
            elif key == "buurt":
                name = site.get("bu_name")
                cells.append(f"<td>{e(name) if isinstance(name, str) else ''}</td>")
            elif key == "score":
                cells.append(
                    f'<td class="num"><span class="swatch" style="background:'
                    f'{score_colour(site["score_total"])}"></span> '
                    f"{_num(site['score_total'], lang, 3)}</td>"
                )
            elif key == "interval":
                lo, hi = site.get("rank_p10"), site.get("rank_p90")
                text = "" if pd.isna(lo) or pd.isna(hi) else f"{int(lo)}-{int(hi)}"
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f'<td class="num">{_num(site.get(_column), lang)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    return "".join(rows)


def _figures_html(
    sites: gpd.GeoDataFrame, manifest: Mapping[str, Any], candidate_source: str, lang: str
) -> str:
    e = html.escape
    excluded = excluded_mask(sites)
    figures = summary_figures(sites, candidate_source, lang)
    rows = [(_t("candidates", lang), _num(len(sites), lang))]
    rows += [(f"{_t('by_type', lang)}: {k}", _num(v, lang)) for k, v in figures["by_type"]]
    rows += [
        (_t("ranked", lang), _num(int((~excluded).sum()), lang)),
        (_t("excluded", lang), _num(int(excluded.sum()), lang)),
    ]
    rows += [(f"{_t('excluded_by', lang)}: {k}", _num(v, lang)) for k, v in figures["by_reason"]]
    capacity = manifest.get("capacity")
    if isinstance(capacity, dict):
        homes = capacity.get("homes_reserved")
        task = pd.to_numeric(capacity.get("taakstelling"), errors="coerce")
        share = pd.to_numeric(capacity.get("reserve_share"), errors="coerce")
        rows.append((_t("homes", lang), _num(homes, lang)))
        if pd.isna(task):
            rows.append((_t("task", lang), _t("no_task", lang)))
        else:
            rows.append((_t("task", lang), _num(task, lang)))
            if task > 0 and homes is not None:
                rows.append((_t("coverage", lang), f"{_num(100 * float(homes) / task, lang)} %"))
        if not pd.isna(share):
            rows.append((_t("share", lang), f"{_num(100 * share, lang, 1)} %"))
    body = "".join(f'<tr><td>{e(k)}</td><td class="num">{e(v)}</td></tr>' for k, v in rows)
    return f'<h2>{e(_t("summary", lang))}</h2><table class="figures">{body}</table>'


def municipality_report_html(
    sites: gpd.GeoDataFrame,
    *,
    gm_code: str,
    gm_name: str,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    labels: Mapping[str, str],
    map_png: Path | None,
    context: Mapping[str, gpd.GeoDataFrame],
    lang: str = "nl",
    top: int = TOP_SITES,
) -> str:
    """The municipality's report as print HTML (what :func:`write_pdf_report` typesets).

    Parameters
    ----------
    sites
        Candidate sites, EPSG:28992, as in the ``sites`` layer.
    gm_code, gm_name
        The municipality.
    manifest
        The municipality's manifest (run facts, its ``municipalities`` entry, ``inputs``,
        ``capacity`` with ``homes_reserved`` and optionally ``taakstelling``).
    method
        (criterion, rule) rows.
    labels
        Criterion name -> its label in ``lang`` (``config/criteria.toml`` label_nl/label_en).
    map_png
        The static map to show, or None.
    context
        Background layers for the small maps (``water``, ``buildings``, ``streets``).
    lang
        ``nl`` (default) or ``en``.
    top
        How many best sites get a row and a card.
    """
    check_lang(lang)
    require_rd(sites, "sites")
    e = html.escape
    best = top_sites(sites, top)
    entries = manifest.get("municipalities")
    entry = entries[0] if isinstance(entries, list) and entries else {}
    candidate_source = str(entry.get("candidate_source", "")) if isinstance(entry, dict) else ""
    municipality = f"{gm_code} {gm_name}"
    cover = "".join(
        f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in _run_rows(manifest, lang)
    )
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(_t('title', lang))}: {e(municipality)}</title>"
        f"<style>{_css(lang, municipality)}</style></head><body>",
        f'<section class="cover"><h1>{e(_t("title", lang))}</h1>'
        f'<div class="sub">{e(municipality)}</div><table>{cover}</table></section>',
        _figures_html(sites, manifest, candidate_source, lang),
    ]
    if map_png is not None and Path(map_png).is_file():
        parts.append(
            f"<h2>{e(_t('map', lang))}</h2>"
            f'<img class="map" alt="" src="{_data_uri(map_jpeg(Path(map_png)))}">'
        )
    parts.append(f'<h2 class="break">{e(_t("best", lang))}</h2>')
    parts.append(_best_table_html(best, lang) if len(best) else f"<p>{e(_t('none', lang))}</p>")
    if len(best):
        parts.append(f'<h2 class="break">{e(_t("cards", lang))}</h2>')
        parts += [_card_html(site, sites, context, labels, lang) for _, site in best.iterrows()]
    parts.append(_method_html(method, lang))
    parts.append(_sources_html(manifest, lang))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_pdf_report(path: Path, document: str) -> None:
    """Typeset print HTML (:func:`municipality_report_html`, :func:`national_report_html`)
    into the PDF ``path``; replaced atomically."""
    _render_pdf(document, path)


# --- national summary -----------------------------------------------------------------------


def national_report_html(
    table: pd.DataFrame,
    *,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    overview_png: Path | None,
    lang: str = "nl",
) -> str:
    """The national summary as print HTML: run facts, the overview map, one row per
    municipality, the method and the sources.

    Parameters
    ----------
    table
        :func:`magicmix_geo.publish.overview.overview_table`: one row per municipality.
    manifest
        The run manifest.
    method
        (criterion, rule) rows.
    overview_png
        The overview map, or None.
    lang
        ``nl`` (default) or ``en``.
    """
    check_lang(lang)
    e = html.escape
    cover = "".join(
        f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in _run_rows(manifest, lang)
    )
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(_t('national_title', lang))}</title>"
        f"<style>{_css(lang, _t('national_title', lang))}</style></head><body>",
        f'<section class="cover"><h1>{e(_t("national_title", lang))}</h1>'
        f"<table>{cover}</table></section>",
    ]
    if overview_png is not None and Path(overview_png).is_file():
        parts.append(
            f"<h2>{e(_t('overview', lang))}</h2>"
            f'<img class="map" alt="" src="{_data_uri(map_jpeg(Path(overview_png)))}">'
        )
    keys = [
        ("municipality", None),
        ("n_candidates", "candidates"),
        ("ranked", "ranked"),
        ("excluded", "excluded"),
        ("n_homes", "homes_reserved"),
        ("n_task", "taakstelling"),
        ("n_coverage", "coverage"),
        ("best_site", "best_site_id"),
        ("score", "best_score"),
    ]
    head = "".join(f"<th>{e(_t(k, lang))}</th>" for k, _ in keys)
    rows = [
        f'<h2 class="break">{e(_t("municipalities", lang))}</h2>'
        f'<table class="national"><tr>{head}</tr>'
    ]
    for _, row in table.iterrows():
        cells = [f"<td>{e(str(row['gm_code']))} {e(str(row['gm_name']))}</td>"]
        for _key, column in keys[1:]:
            value = row.get(column)
            if column == "best_site_id":
                cells.append(f"<td>{e(str(value)) if isinstance(value, str) else ''}</td>")
            elif column == "coverage":
                cells.append(
                    f'<td class="num">{"" if pd.isna(value) else _num(100 * value, lang) + " %"}'
                    "</td>"
                )
            else:
                digits = 3 if column == "best_score" else 0
                cells.append(f'<td class="num">{_num(value, lang, digits)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    parts.append("".join(rows))
    parts.append(_method_html(method, lang))
    parts.append(_sources_html(manifest, lang))
    parts.append("</body></html>")
    return "\n".join(parts)
