"""The typeset PDF reports: one per municipality and a national summary, Dutch or English.

Each report is typeset by ReportLab on A4 pages (page numbers "pagina i / n", page breaks
between the sections). Every text that comes from the data (site ids, buurt names, reasons,
file names, manifest values) is either drawn as a plain string or escaped before ReportLab's
paragraph markup reads it, so it is shown as the text it is; images are embedded from memory
(JPEG, which a PDF holds as it is), so nothing outside the document is read. Fonts and
paragraph styles are set up once per process and reused for every report.

Contents of a municipality's report: cover (municipality, date, run id, profile), summary
figures, the map, a table of the best sites, one card per best site (a small map, criterion
bars, reasons), the method in brief, data sources with dates and licences.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterator, Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from PIL import Image
from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    HRFlowable,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus import Image as RLImage

from magicmix_geo.publish._common import (
    LANGS,
    MAP_ATTRIBUTION,
    excluded_mask,
    format_number,
    output_path,
    require_rd,
    score_colour,
)
from magicmix_geo.publish._palette import BUILDING_COLOUR, STREET_COLOUR, WATER_COLOUR
from magicmix_geo.publish.maps import add_polygons, draw_geometries, figure_rgb
from magicmix_geo.publish.pdf_fonts import BOLD, FONT, pdf_markup, pdf_plain, register_fonts
from magicmix_geo.publish.report import top_sites
from magicmix_geo.site_types import site_type_label

TOP_SITES = 10
CARD_MAP_RADIUS_M = 250.0
CARD_MAP_DPI = 150
# the report's images are JPEG (a PDF embeds JPEG as it is); 90 keeps lines and labels crisp
JPEG_QUALITY = 90
_CARD_STYLES: dict[str, dict[str, Any]] = {
    "water": {"facecolor": WATER_COLOUR, "edgecolor": "none", "linewidth": 0.0},
    "buildings": {"facecolor": BUILDING_COLOUR, "edgecolor": "none", "linewidth": 0.0},
    # above the sites, as before (a LineCollection's default zorder)
    "streets": {"color": STREET_COLOUR, "linewidth": 0.6, "zorder": 2},
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
    return "" if pd.isna(number) else format_number(number, digits, lang)


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


# --- typesetting (ReportLab) -----------------------------------------------------------------

_PAGE_MARGINS_MM = (18.0, 16.0, 20.0, 16.0)  # top, right, bottom, left
_FRAME_W = A4[0] - (_PAGE_MARGINS_MM[1] + _PAGE_MARGINS_MM[3]) * mm
_FRAME_H = A4[1] - (_PAGE_MARGINS_MM[0] + _PAGE_MARGINS_MM[2]) * mm
_FONT, _BOLD = FONT, BOLD
# binary streams: ReportLab's ASCII85 encoding of images (pure Python without its C
# accelerator) took longer than the rest of a report, and made the file a quarter larger
rl_config.useA85 = 0


@cache
def _rgb(hex_colour: str) -> Color:
    """A ReportLab colour, parsed once (ReportLab parses a colour string at every use)."""
    return HexColor(hex_colour)


_GRID, _HEAD_BG, _INK = _rgb("#bbbbbb"), _rgb("#eeeeee"), _rgb("#222222")


def _fonts() -> tuple[str, str]:
    """The body and bold fonts (:mod:`magicmix_geo.publish.pdf_fonts`), registered once."""
    return register_fonts()


@cache
def _styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles, built once per process."""
    font, bold = _fonts()
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13.3, textColor=_INK)

    def style(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=body, **kw)

    return {
        "body": body,
        "h1": style("h1", fontName=bold, fontSize=24, leading=29, spaceBefore=50 * mm),
        "sub": style("sub", fontSize=15, leading=19, textColor=_rgb("#444444"), spaceBefore=4 * mm),
        "h2": style("h2", fontName=bold, fontSize=14, leading=18, keepWithNext=1),
        "h3": style("h3", fontName=bold, fontSize=11, leading=14, spaceAfter=2 * mm),
        "cell": style("cell", fontSize=8.5, leading=10.5),
        "small": style("small", fontSize=7.5, leading=9.0),
        "note": style("note", fontSize=8, leading=10.5, textColor=_rgb("#555555")),
        "reasons": style("reasons", fontSize=8.5, leading=11.5, spaceBefore=2 * mm),
    }


class _Paragraph(Paragraph):
    """A paragraph that breaks its lines once per width: a table asks each cell for its size
    again and again (a card's cells sit three tables deep), and line breaking, the same for
    the same width, took half the typesetting time."""

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if availWidth == self.__dict__.get("_wrapped_width") and "blPara" in self.__dict__:
            return self.width, self.height
        size: tuple[float, float] = super().wrap(availWidth, availHeight)
        # an unbroken paragraph (no room at all) keeps no width: nothing to reuse then
        self._wrapped_width = availWidth if self.width == availWidth else None
        return size


def _para(text: str, style: str = "cell") -> Paragraph:
    """A paragraph of data text: escaped, so it is shown as the text it is, never markup;
    characters DejaVu lacks (CJK, emoji) in a fallback font or as a visible stand-in."""
    parsed, frags = _parsed(pdf_markup(text), style)
    return _Paragraph(parsed.text, parsed.style, frags=list(frags))


@lru_cache(maxsize=4096)
def _parsed(markup: str, style: str) -> tuple[Paragraph, tuple[Any, ...]]:
    """A paragraph's markup parsed once per process: the method's rules, the criteria's
    labels and the headings recur in every report, and ReportLab's markup parser (an
    ``HTMLParser`` per paragraph) took a fifth of the typesetting time. The fragments are
    shared (line breaking and drawing read them); each paragraph gets its own list."""
    parsed = Paragraph(markup, _styles()[style])
    return parsed, tuple(parsed.frags)


def _h2(text: str, *, new_page: bool = False) -> list[Flowable]:
    """A section heading underlined like the print CSS had it; optionally on a new page."""
    head: list[Flowable] = [PageBreak()] if new_page else [Spacer(1, 8 * mm)]
    rule = HRFlowable(width="100%", thickness=1, color=_GRID, spaceBefore=1, spaceAfter=2 * mm)
    rule.keepWithNext = 1
    return [*head, _para(text, "h2"), rule]


def _grid(
    rows: list[list[Any]],
    widths: Sequence[float],
    *,
    header: bool = True,
    font_size: float = 8.5,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A table with thin grey rules, a shaded header row and the reports' cell padding."""
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0)
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, _GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 0), (-1, -1), _FONT, font_size, font_size * 1.25),
        ("LEFTPADDING", (0, 0), (-1, -1), 1.5 * mm),
        ("RIGHTPADDING", (0, 0), (-1, -1), 1.5 * mm),
        ("TOPPADDING", (0, 0), (-1, -1), 1 * mm),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1 * mm),
        ("TEXTCOLOR", (0, 0), (-1, -1), _INK),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), _HEAD_BG))
    table.setStyle(TableStyle([*commands, *extra]))
    return table


def _scaled(weights: Sequence[float], total: float = _FRAME_W) -> list[float]:
    return [total * w / sum(weights) for w in weights]


def _fitted(
    texts: Sequence[Sequence[str]], weights: Sequence[float], font_size: float = 8.5
) -> list[float]:
    """Column widths, as a browser's table layout: each column at least as wide as its
    longest word (a file name is never broken), the rest of the frame shared by weight."""
    bold = _fonts()[1]  # the widest face: a bold header fits too
    words = [
        max((stringWidth(w, bold, font_size) for row in texts for w in row[i].split()), default=0)
        + 3 * mm
        + 1
        for i in range(len(weights))
    ]
    spare = _FRAME_W - sum(words)
    if spare <= 0:
        return _scaled(words)
    return [w + share for w, share in zip(words, _scaled(weights, spare), strict=True)]


class _Swatch(Flowable):
    """A small square in a score colour (outlined, so the pale class shows) and a number."""

    def __init__(self, colour: str, text: str, size: float = 8.5) -> None:
        super().__init__()
        self.colour, self.text, self.size = colour, text, size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        return avail_width, self.size * 1.25

    def draw(self) -> None:
        side = 3 * mm
        canvas = self.canv
        canvas.setStrokeColor(_rgb("#555555"))
        canvas.setLineWidth(0.5)
        canvas.setFillColor(_rgb(self.colour))
        canvas.rect(0, 0.5, side, side, stroke=1, fill=1)
        canvas.setFillColor(_INK)
        canvas.setFont(_FONT, self.size)
        canvas.drawRightString(self.width, 1.5, self.text)


class _Bar(Flowable):
    """A criterion bar: a grey track filled to ``fraction`` in the score colour."""

    def __init__(self, fraction: float, colour: str, width: float, height: float = 3 * mm):
        super().__init__()
        self.fraction, self.colour = min(max(fraction, 0.0), 1.0), colour
        self.width, self.height = width, height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        canvas.setFillColor(_rgb("#eeeeee"))
        canvas.rect(0, 0, self.width, self.height, stroke=0, fill=1)
        if self.fraction > 0:
            canvas.setFillColor(_rgb(self.colour))
            canvas.rect(0, 0, self.width * self.fraction, self.height, stroke=0, fill=1)


class _JpegReader(ImageReader):
    """JPEG bytes for ReportLab, which embeds a JPEG as it is but names each image by a
    digest of its ``getRGBData``: here the JPEG itself, so the pixels are not decoded (and
    hashed) only to name the image."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__(io.BytesIO(jpeg))
        self._jpeg = jpeg

    def getRGBData(self) -> bytes:  # noqa: N802 - ReportLab's name
        self._dataA = None  # no alpha channel: drawImage reads it after the data
        return self._jpeg


class _Jpeg(RLImage):
    """A JPEG as a flowable of ``width`` x ``height`` points (see :class:`_JpegReader`)."""

    def __init__(self, jpeg: bytes, width: float, height: float) -> None:
        self._img = _JpegReader(jpeg)  # before RLImage reads the size from it
        super().__init__(io.BytesIO(jpeg), width=width, height=height)


def _image(jpeg: bytes, max_width: float, max_height: float) -> RLImage:
    """A JPEG as a flowable at most ``max_width`` x ``max_height`` points, aspect kept."""
    with Image.open(io.BytesIO(jpeg)) as image:
        width, height = image.size
    scale = min(max_width / width, max_height / height)
    return _Jpeg(jpeg, width * scale, height * scale)


def _canvas_maker(page_word: str, footer: str) -> type[Canvas]:
    """A canvas that writes "<page> i / n" and ``footer`` (not on the cover) at the foot of
    every page once the number of pages is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - ReportLab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._foot(total)
                super().showPage()
            super().save()

        def _foot(self, total: int) -> None:
            y = _PAGE_MARGINS_MM[2] * mm / 2
            self.setFont(_FONT, 8)
            self.setFillColor(_rgb("#666666"))
            number = self.getPageNumber()
            self.drawRightString(
                A4[0] - _PAGE_MARGINS_MM[1] * mm, y, f"{page_word} {number} / {total}"
            )
            if number > 1:
                self.drawString(_PAGE_MARGINS_MM[3] * mm, y, pdf_plain(footer))

    return NumberedCanvas


def _build(path: Path, story: list[Flowable], *, title: str, footer: str, lang: str) -> None:
    """Typeset ``story`` on A4 pages into ``path``; replaced atomically."""
    with output_path(Path(path)) as tmp:
        document = BaseDocTemplate(
            str(tmp),
            pagesize=A4,
            title=title,
            author="magicmix-geo",
            creator="magicmix-geo",
            lang=lang,
            topMargin=_PAGE_MARGINS_MM[0] * mm,
            rightMargin=_PAGE_MARGINS_MM[1] * mm,
            bottomMargin=_PAGE_MARGINS_MM[2] * mm,
            leftMargin=_PAGE_MARGINS_MM[3] * mm,
        )
        frame = Frame(
            document.leftMargin,
            document.bottomMargin,
            _FRAME_W,
            _FRAME_H,
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
        )
        document.addPageTemplates([PageTemplate("page", frames=[frame])])
        document.build(story, canvasmaker=_canvas_maker(_t("page", lang), footer))


def _cover(title: str, subtitle: str, manifest: Mapping[str, Any], lang: str) -> list[Flowable]:
    parts: list[Flowable] = [_para(title, "h1")]
    if subtitle:
        parts.append(_para(subtitle, "sub"))
    rows = [[_para(k, "body"), _para(v, "body")] for k, v in _run_rows(manifest, lang)]
    table = Table(rows, colWidths=_scaled([1, 3]), hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 1 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1 * mm),
            ]
        )
    )
    return [*parts, Spacer(1, 20 * mm), table, PageBreak()]


def _method(method: Sequence[tuple[str, str]], lang: str) -> list[Flowable]:
    parts: list[Flowable] = [
        *_h2(_t("method", lang), new_page=True),
        _para(_METHOD[lang], "body"),
        Spacer(1, 2 * mm),
        _para(_t("censored_note", lang), "note"),
    ]
    if method:
        parts += [Spacer(1, 4 * mm), _para(_t("rules", lang), "h3")]
        rows = [[_para(n), _para(t)] for n, t in method]
        parts.append(_grid(rows, _fitted(method, [0.2, 3]), header=False))
    return parts


def _sources(manifest: Mapping[str, Any], lang: str) -> list[Flowable]:
    keys = ("source", "path", "version", "licence", "attribution")
    texts = [[_t(k, lang) for k in ("source", "file", "version", "licence", "attribution")]]
    texts += [[str(item.get(k) or "") for k in keys] for item in _inputs(manifest)]
    return [
        *_h2(_t("sources", lang)),
        _para(MAP_ATTRIBUTION, "body"),
        Spacer(1, 2 * mm),
        _grid(
            [[_para(text) for text in row] for row in texts],
            _fitted(texts, [1.0, 1.0, 1.0, 1.0, 2.0]),
        ),
    ]


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
        by_type = [(site_type_label(k, lang), int(v)) for k, v in types.items()]
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


def site_maps_jpeg(
    best: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    context: Mapping[str, gpd.GeoDataFrame],
    radius_m: float = CARD_MAP_RADIUS_M,
) -> list[bytes]:
    """A small map (JPEG) of each site of ``best`` and its surroundings within ``radius_m``
    (EPSG:28992), in the order of ``best``.

    One figure (made once per process) draws them all, one after the other; the layers are
    drawn as one collection each (as the static map), not one patch per feature; JPEG,
    because a PDF embeds it as it is (a PNG is decoded and compressed again).
    """
    figure, ax = _card_figure()
    # geometry arrays and their spatial indexes, once for all cards (no frame per card)
    layers = [
        (layer.geometry.to_numpy(), layer.sindex, style)
        for name, style in _CARD_STYLES.items()
        if (layer := context.get(name)) is not None and len(layer)
    ]
    layers.append((sites.geometry.to_numpy(), sites.sindex, _CARD_SITES_STYLE))
    try:
        return [
            _card_map(figure, ax, layers, geometry, score, radius_m)
            for geometry, score in zip(best.geometry, best["score_total"], strict=True)
        ]
    finally:  # the figure is reused by the next report: leave it empty
        _clear(ax)


@cache
def _card_figure() -> tuple[Figure, Any]:
    """The figure (and its axes, filling it) the card maps are drawn on, made once per
    process: setting up an axes cost as much as drawing two cards."""
    figure = Figure(figsize=(2.0, 2.0))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    return figure, ax


def _card_map(
    figure: Figure,
    ax: Any,
    layers: Sequence[tuple[np.ndarray, Any, Mapping[str, Any]]],
    geometry: Any,
    score: Any,
    radius_m: float,
) -> bytes:
    """One card's map on the (empty) card figure, as JPEG; the figure is left empty."""
    centre = shapely.centroid(geometry)
    window = shapely.box(
        centre.x - radius_m, centre.y - radius_m, centre.x + radius_m, centre.y + radius_m
    )
    for geoms, index, style in layers:
        near = geoms[np.sort(index.query(window, predicate="intersects"))]
        if len(near):
            draw_geometries(ax, near, style)
    add_polygons(
        ax,
        np.array([geometry], dtype=object),
        facecolor=score_colour(score),
        edgecolor="#000000",
        linewidth=1.0,
        alpha=0.85,
    )
    ax.set_xlim(window.bounds[0], window.bounds[2])
    ax.set_ylim(window.bounds[1], window.bounds[3])
    ax.set_aspect("equal")
    jpeg = _jpeg(figure_rgb(figure, CARD_MAP_DPI))
    _clear(ax)
    return jpeg


def _clear(ax: Any) -> None:
    """Remove what a card drew (its collections, patches and lines) from the axes."""
    for artist in [*ax.collections, *ax.patches, *ax.lines]:
        artist.remove()


# the other sites on a card: outlines only
_CARD_SITES_STYLE = {"facecolor": "none", "edgecolor": "#777777", "linewidth": 0.4}


def map_jpeg(png: Path) -> bytes:
    """The static map ``png`` as JPEG, for the PDF (embedded as it is, see
    :func:`site_map_jpeg`)."""
    with Image.open(png) as image:
        return _jpeg(np.asarray(image.convert("RGB")))


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _figures(
    sites: gpd.GeoDataFrame, manifest: Mapping[str, Any], candidate_source: str, lang: str
) -> list[Flowable]:
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
    table = _grid(
        [[_para(k), v] for k, v in rows],
        _scaled([2.6, 1]),
        header=False,
        extra=[
            ("FONT", (1, 0), (1, -1), _BOLD, 11, 13),
            ("ALIGN", (1, 0), (1, -1), "RIGHT"),
        ],
    )
    return [*_h2(_t("summary", lang)), table]


_BEST_COLUMNS = (  # (word, column the cell needs, relative width)
    ("rank", None, 0.6),
    ("site", None, 1.2),
    ("buurt", "bu_name", 2.2),
    ("score", None, 1.1),
    ("area", "area_m2", 1.1),
    ("homes_est", "homes_est", 1.1),
    ("interval", "rank_p10", 1.0),
)


def _best_cell(key: str, column: str | None, site: Any, lang: str) -> Any:
    if key == "rank":
        return _num(int(site["rank_gm"]), lang)
    if key == "site":
        return _para(str(site["site_id"]))  # escaped; CJK and emoji shown (pdf_fonts)
    if key == "buurt":
        name = site.get("bu_name")
        return _para(name) if isinstance(name, str) else ""
    if key == "score":
        return _Swatch(score_colour(site["score_total"]), _num(site["score_total"], lang, 3))
    if key == "interval":
        lo, hi = site.get("rank_p10"), site.get("rank_p90")
        return "" if pd.isna(lo) or pd.isna(hi) else f"{_num(lo, lang)}-{_num(hi, lang)}"
    return _num(site.get(column), lang)


def _best_table(top: gpd.GeoDataFrame, lang: str) -> Table:
    shown = [(k, c, w) for k, c, w in _BEST_COLUMNS if c is None or c in top.columns]
    rows: list[list[Any]] = [[_para(_t(k, lang)) for k, _, _ in shown]]
    for _, site in top.iterrows():
        rows.append([_best_cell(k, c, site, lang) for k, c, _ in shown])
    numeric = [i for i, (k, _, _) in enumerate(shown) if k not in ("site", "buurt")]
    return _grid(
        rows,
        _scaled([w for _, _, w in shown]),
        extra=[("ALIGN", (i, 1), (i, -1), "RIGHT") for i in numeric],
    )


_CARD_PAD = 3 * mm
_CARD_MINI = 48 * mm
_CARD_GAP = 2 * mm


def _bars(site: Any, labels: Mapping[str, str], lang: str, width: float) -> Table | None:
    rows = []
    label_w, track_w = 48 * mm, 38 * mm
    for name, label in labels.items():
        score = pd.to_numeric(site.get(f"score_{name}"), errors="coerce")
        if pd.isna(score):
            continue
        contrib = pd.to_numeric(site.get(f"contrib_{name}"), errors="coerce")
        points = "" if pd.isna(contrib) else f" (+{_num(contrib, lang, 3)})"
        bar = _Bar(float(score), score_colour(float(score)), track_w)
        rows.append([_para(label, "small"), bar, f"{_num(score, lang, 2)}{points}"])
    if not rows:
        return None
    table = Table(rows, colWidths=[label_w, track_w + 2 * mm, width - label_w - track_w - 2 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (2, 0), (2, -1), _FONT, 7.5, 9),
                ("TEXTCOLOR", (0, 0), (-1, -1), _INK),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 1),
                ("RIGHTPADDING", (0, 0), (-1, -1), 1),
                ("TOPPADDING", (0, 0), (-1, -1), 0.6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0.6),
            ]
        )
    )
    return table


def _card(site: Any, mini_map: bytes, labels: Mapping[str, str], lang: str) -> list[Flowable]:
    colour = score_colour(site.get("score_total"))
    buurt = site.get("bu_name")
    where = f" · {buurt}" if isinstance(buurt, str) and buurt else ""
    title = (
        f"{int(site['rank_gm'])}. {site['site_id']}{where} · "
        f"{_t('score', lang)} {_num(site.get('score_total'), lang, 3)}"
    )
    inner_w = _FRAME_W - 2 * _CARD_PAD - 4
    mini = _Jpeg(mini_map, 48 * mm, 48 * mm)
    right: list[Flowable] = [_para(_t("criteria", lang), "note")]
    bars = _bars(site, labels, lang, inner_w - _CARD_MINI - _CARD_GAP)
    if bars is not None:
        right.append(bars)
    grid = Table([[mini, right]], colWidths=[_CARD_MINI, inner_w - _CARD_MINI])
    grid.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (0, 0), 0.5, _rgb("#cccccc")),
                *[(p, (0, 0), (-1, -1), 0) for p in _PADDINGS],
                ("LEFTPADDING", (1, 0), (1, 0), _CARD_GAP),
            ]
        )
    )
    reasons = site.get("reasons_nl" if lang == "nl" else "reasons_en")
    text = pdf_markup(reasons) if isinstance(reasons, str) else ""
    note = _Paragraph(f"<b>{html.escape(_t('reasons', lang))}:</b> {text}", _styles()["reasons"])
    card = Table([[[_para(title, "h3"), grid, note]]], colWidths=[_FRAME_W])
    card.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, _GRID),
                ("LINEBEFORE", (0, 0), (0, -1), 4, _rgb(colour)),
                *[(p, (0, 0), (-1, -1), _CARD_PAD) for p in _PADDINGS],
            ]
        )
    )
    return [card, Spacer(1, 4 * mm)]


_PADDINGS = ("LEFTPADDING", "RIGHTPADDING", "TOPPADDING", "BOTTOMPADDING")


def write_municipality_report_pdf(
    path: Path,
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
    map_rgb: np.ndarray | None = None,
) -> None:
    """Typeset the municipality's report into the PDF ``path`` (replaced atomically).

    Parameters
    ----------
    path
        The target ``.pdf``.
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
    map_rgb
        The static map's RGB pixels when the caller holds them (as
        :func:`~magicmix_geo.publish.maps.write_static_map` returns them): shown instead of
        reading ``map_png`` back.
    """
    check_lang(lang)
    require_rd(sites, "sites")
    best = top_sites(sites, top)
    entries = manifest.get("municipalities")
    entry = entries[0] if isinstance(entries, list) and entries else {}
    candidate_source = str(entry.get("candidate_source", "")) if isinstance(entry, dict) else ""
    municipality = f"{gm_code} {gm_name}"
    story = _cover(_t("title", lang), municipality, manifest, lang)
    story += _figures(sites, manifest, candidate_source, lang)
    if map_rgb is not None:
        story += [*_h2(_t("map", lang)), _image(_jpeg(map_rgb), _FRAME_W, _MAP_MAX_H)]
    elif map_png is not None and Path(map_png).is_file():
        story += [*_h2(_t("map", lang)), _image(map_jpeg(Path(map_png)), _FRAME_W, _MAP_MAX_H)]
    story += _h2(_t("best", lang), new_page=True)
    story.append(_best_table(best, lang) if len(best) else _para(_t("none", lang), "body"))
    if len(best):
        story += _h2(_t("cards", lang), new_page=True)
        mini_maps = site_maps_jpeg(best, sites, context)
        for (_, site), mini_map in zip(best.iterrows(), mini_maps, strict=True):
            story += _card(site, mini_map, labels, lang)
    story += _method(method, lang)
    story += _sources(manifest, lang)
    title = f"{_t('title', lang)}: {municipality}"
    _build(path, story, title=title, footer=municipality, lang=lang)


# the map below the summary: at most this high, so that it always fits a page with its heading
_MAP_MAX_H = _FRAME_H - 30 * mm


# --- national summary -----------------------------------------------------------------------

_NATIONAL_COLUMNS = (  # (word, overview_table column, relative width)
    ("municipality", None, 2.4),
    ("n_candidates", "candidates", 1.0),
    ("ranked", "ranked", 1.0),
    ("excluded", "excluded", 1.0),
    ("n_homes", "homes_reserved", 1.0),
    ("n_task", "taakstelling", 0.8),
    ("n_coverage", "coverage", 0.8),
    ("best_site", "best_site_id", 1.3),
    ("score", "best_score", 0.8),
)


def _national_cell(column: str | None, row: Any, lang: str) -> Any:
    if column is None:
        return _para(f"{row['gm_code']} {row['gm_name']}", "small")
    value = row.get(column)
    if column == "best_site_id":
        return _para(value, "small") if isinstance(value, str) else ""
    if column == "coverage":
        return "" if pd.isna(value) else _num(100 * value, lang) + " %"
    return _num(value, lang, 3 if column == "best_score" else 0)


def write_national_report_pdf(
    path: Path,
    table: pd.DataFrame,
    *,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    overview_png: Path | None,
    lang: str = "nl",
) -> None:
    """Typeset the national summary into the PDF ``path`` (replaced atomically): run facts,
    the overview map, one row per municipality, the method and the sources.

    Parameters
    ----------
    path
        The target ``.pdf``.
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
    title = _t("national_title", lang)
    story = _cover(title, "", manifest, lang)
    if overview_png is not None and Path(overview_png).is_file():
        story += [
            *_h2(_t("overview", lang)),
            _image(map_jpeg(Path(overview_png)), _FRAME_W, _MAP_MAX_H),
        ]
    story += _h2(_t("municipalities", lang), new_page=True)
    texts = [[_t(k, lang) for k, _, _ in _NATIONAL_COLUMNS]]
    rows: list[list[Any]] = [[_para(text, "small") for text in texts[0]]]
    for _, row in table.iterrows():
        cells = [_national_cell(c, row, lang) for _, c, _ in _NATIONAL_COLUMNS]
        rows.append(cells)
        texts.append([c if isinstance(c, str) else html.unescape(c.text) for c in cells])
    numeric = [
        i for i, (_, c, _) in enumerate(_NATIONAL_COLUMNS) if c not in (None, "best_site_id")
    ]
    story.append(
        _grid(
            rows,
            _fitted(texts, [w for _, _, w in _NATIONAL_COLUMNS], font_size=7.5),
            font_size=7.5,
            extra=[("ALIGN", (i, 1), (i, -1), "RIGHT") for i in numeric],
        )
    )
    story += _method(method, lang)
    story += _sources(manifest, lang)
    _build(path, story, title=title, footer=title, lang=lang)
