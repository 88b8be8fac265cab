"""The QGIS styles a run writes, in the run's language.

The packaged QML styles (``styles/*.qml``, made by ``styles/make_styles.py``) are English;
:func:`run_style` gives one of them as a run writes it into a GeoPackage's ``layer_styles``
(and the QGIS project takes it from there): its map tip, its label rule's description and its
legend labels (:func:`legend_labels`) in ``nl`` or ``en``. Field names stay as they are: they
are the contract (docs/interfaces.md).

QGIS renders a map tip as HTML and inserts the value of each ``[% expression %]`` into it as
it is. Every value from data (site ids, OSM and plan names, types, reasons) therefore goes
through :func:`html_text`, a QGIS expression that escapes ``&``, ``<`` and ``>``; the words
of our own tables are escaped here and quoted as QGIS string literals (:func:`qgis_string`).

Pure text functions: the only file read is the package's own QML.
"""

from __future__ import annotations

import html
import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from magicmix_geo.language import check_lang, format_number, words_in
from magicmix_geo.publish._common import SCORE_BREAKS
from magicmix_geo.publish._palette import EXCLUDED_CLASS, MODE_STYLES, NO_SCORE_CLASS
from magicmix_geo.publish.maps import map_words
from magicmix_geo.site_types import SITE_TYPES, site_type_label

# the legends' own words (English, Dutch): the destinations and stops of no configured
# category ("" in the styles), the transit modes (styles/transit_stops.qml, _palette.MODE_STYLES)
_LEGEND_WORDS: dict[str, tuple[str, str]] = {
    "other": ("other", "overig"),
    "mode_train": ("train", "trein"),
    "mode_metro": ("metro", "metro"),
    "mode_tram": ("tram", "tram"),
    "mode_bus": ("bus", "bus"),
}
# the words of the map tips and label rules (English, Dutch); the English rule descriptions
# are the packaged styles' own (make_styles.py)
_STYLE_WORDS: dict[str, tuple[str, str]] = {
    "rule_rank_gm": ("top 10 of the municipality", "top 10 van de gemeente"),
    "rule_rank_nl": ("top 10 of the country", "top 10 van het land"),
    "tip_rank": ("rank", "rang"),
    "tip_site_type": ("site_type", "soort locatie"),
    "tip_transit": (
        "{name} ({mode}): {departures} departures per hour, average wait {wait} min",
        "{name} ({mode}): {departures} vertrekken per uur, gemiddeld {wait} min wachten",
    ),
}
# the styles with a map tip or a label rule, by their file's stem, and the rank they show
_RANKED_STYLES = {"sites": "rank_gm", "national_ranking": "rank_nl"}
# the XML declaration QGIS writes before a QML's root (ElementTree does not keep it)
_DOCTYPE = re.compile(r"^\s*<!DOCTYPE[^>]*>\s*")


def html_text(expression: str) -> str:
    """A QGIS expression giving ``expression``'s value as HTML text: ``&``, ``<`` and ``>``
    escaped (``&`` first), NULL as NULL (QGIS shows it as nothing)."""
    escaped = f"to_string({expression})"
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        escaped = f"replace({escaped}, {qgis_string(char)}, {qgis_string(entity)})"
    return escaped


def qgis_string(text: str) -> str:
    """``text`` as a QGIS expression string literal (single quotes, a quote doubled, a
    backslash escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def decimal_text(expression: str, lang: str) -> str:
    """A QGIS expression writing the number ``expression`` with ``lang``'s decimal separator
    (QGIS's own ``to_string`` writes a point whatever the language)."""
    if check_lang(lang) == "en":
        return expression
    return f"replace(to_string({expression}), '.', ',')"


def labelled_value(field: str, labels: Mapping[str, str]) -> str:
    """A QGIS expression giving the label of ``field``'s value (``labels``, our own words or
    the configuration's, HTML-escaped here, ``%`` as an entity so that no ``%]`` ends the
    expression early), or the value itself as HTML text when it has none."""
    column = _field(field)
    cases = " ".join(
        f"WHEN {column} = {qgis_string(value)} THEN {qgis_string(_html_label(label))}"
        for value, label in labels.items()
        if value
    )
    if not cases:
        return html_text(column)
    return f"CASE {cases} ELSE {html_text(column)} END"


def map_tip(style: str, lang: str, category_labels: Mapping[str, str] | None = None) -> str:
    """The map tip of the packaged style ``style`` (the stem of its file) in ``lang``; "" for
    a style without one. Values from data are escaped (:func:`html_text`).

    ``category_labels``: destination category -> its label in ``lang``, for the amenities
    and the stops (their category's label in Dutch; English keeps the category's key, as the
    amenities' style did)."""
    words = words_in(_STYLE_WORDS, lang)
    nl = lang == "nl"
    site_type = (
        labelled_value("site_type", {t: site_type_label(t, lang) for t in SITE_TYPES})
        if nl
        else html_text(_field("site_type"))
    )
    site = f"<b>[% {html_text(_field('site_id'))} %]</b>"
    if style in _RANKED_STYLES:
        reason = "exclusion_reason_nl" if nl else "exclusion_reason"
        score = decimal_text('round("score_total", 3)', lang)
        return (
            f"{site} {words['tip_rank']} [% {_field(_RANKED_STYLES[style])} %]<br>"
            f"{words['tip_site_type']} [% {site_type} %] [% {html_text(_field('name'))} %]<br>"
            f"score_total [% {score} %]<br>[% {html_text(_field(reason))} %]"
        )
    if style == "site_types":
        return f"{site} {words['tip_site_type']} [% {site_type} %]"
    if style == "transit_stops":
        modes = words_in(_LEGEND_WORDS, lang)
        mode = (
            labelled_value("mode", {m: modes[f"mode_{m}"] for m in MODE_STYLES})
            if nl
            else html_text(_field("mode"))
        )
        departures = decimal_text('round("departures_per_hour", 1)', lang)
        wait = decimal_text('round("wait_min", 1)', lang)
        return words["tip_transit"].format(
            name=f"[% {html_text(_field('name'))} %]",
            mode=f"[% {mode} %]",
            departures=f"[% {departures} %]",
            wait=f"[% {wait} %]",
        )
    if style in ("amenities", "stops"):
        category = (
            labelled_value("category", category_labels or {})
            if nl
            else html_text(_field("category"))
        )
        return f"[% {category} %]: [% {html_text(_field('name'))} %]"
    return ""


def rule_description(style: str, lang: str) -> str | None:
    """The description of the label rule of ``style`` (the top 10) in ``lang``; None for a
    style without one."""
    rank = _RANKED_STYLES.get(style)
    return None if rank is None else words_in(_STYLE_WORDS, lang)[f"rule_{rank}"]


def legend_labels(
    lang: str, category_labels: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The legend labels in ``lang`` over the styles' English ones: ``categories`` by the
    categorised field and value (the site types as "type: label", as the maps' legends; the
    destination categories of the amenities and stops as ``category_labels`` name them, ""
    the other ones; the transit stops' modes), ``ranges`` of a graduated legend by their lower
    bound (:func:`range_key`: the score classes, excluded and no score)."""
    words = map_words(lang)
    own = words_in(_LEGEND_WORDS, lang)
    ranges = {
        range_key(NO_SCORE_CLASS[0]): words["no_score"],
        range_key(EXCLUDED_CLASS[0]): words["legend_excluded"],
    }
    for lower, upper in itertools.pairwise(SCORE_BREAKS):
        shown = f"{format_number(lower, 1, lang)} - {format_number(upper, 1, lang)}"
        ranges[range_key(lower)] = shown
    site_types = {t: f"{t}: {site_type_label(t, lang)}" for t in SITE_TYPES}
    categories = {**dict(category_labels or {}), "": own["other"]}
    modes = {**{mode: own[f"mode_{mode}"] for mode in MODE_STYLES}, "": own["other"]}
    return {
        "categories": {"site_type": site_types, "category": categories, "mode": modes},
        "ranges": ranges,
    }


def range_key(lower: float) -> str:
    """A graduated class's key in :func:`legend_labels`: its lower bound to 3 decimals
    (``qgis_script.py`` writes it the same way)."""
    return f"{lower:.3f}"


def run_style(
    style: str, lang: str, category_labels: Mapping[str, str] | None = None
) -> str | None:
    """The packaged style ``styles/{style}.qml`` as a run in ``lang`` writes it: map tip,
    label rule and legend labels in ``lang`` (``category_labels`` as for :func:`map_tip`);
    None when the package has no such style."""
    check_lang(lang)
    labels = tuple(sorted((category_labels or {}).items()))
    return _run_style(style, lang, labels)


@cache
def _run_style(style: str, lang: str, category_labels: tuple[tuple[str, str], ...]) -> str | None:
    packaged = packaged_style(style)
    if packaged is None:
        return None
    doctype = _DOCTYPE.match(packaged)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(packaged, parser=parser)
    labels = dict(category_labels)
    tip = root.find("mapTip")
    if tip is not None:
        tip.text = map_tip(style, lang, labels)
    description = rule_description(style, lang)
    if description is not None:
        for rule in root.iterfind("labeling/rules/rule"):
            rule.set("description", description)
    _relabel(root, legend_labels(lang, labels))
    text = ET.tostring(root, encoding="unicode")
    return (doctype.group(0) if doctype else "") + text + "\n"


@cache
def packaged_style(style: str) -> str | None:
    """The text of ``styles/{style}.qml`` shipped in the package; None if there is none."""
    resource = resources.files("magicmix_geo.publish").joinpath("styles").joinpath(f"{style}.qml")
    if not resource.is_file():
        return None
    return resource.read_text(encoding="utf-8")


def _relabel(root: ET.Element, labels: dict[str, dict[str, Any]]) -> None:
    """Set the legend labels ``labels`` names on the QML's renderer (as ``qgis_script.py``
    does on a layer's): a category by its field and value, a range by its lower bound."""
    renderer = root.find("renderer-v2")
    if renderer is None:
        return
    mine = labels["categories"].get(renderer.get("attr", ""), {})
    for category in renderer.iterfind("categories/category"):
        label = mine.get(category.get("value", ""))
        if label is not None:
            category.set("label", label)
    for class_range in renderer.iterfind("ranges/range"):
        label = labels["ranges"].get(range_key(float(class_range.get("lower", "nan"))))
        if label is not None:
            class_range.set("label", label)


def _html_label(label: str) -> str:
    """``label`` as HTML text that holds no ``%`` (QGIS's ``[% ... %]`` brackets)."""
    return html.escape(label, quote=False).replace("%", "&#37;")


def _field(name: str) -> str:
    """A field in a QGIS expression (double quotes)."""
    return '"' + name.replace('"', '""') + '"'
