"""Explanations: what each criterion adds to ``score_total`` and the top reasons, in Dutch and
English, so that every rank can be explained to a ministry.

- ``contrib_<criterion>`` = normalised weight x criterion score; the contributions of a site
  add up to its ``score_total``.
- Reasons *for* are the criteria with the largest contributions; reasons *against* those with
  the most points lost, weight x (1 - score). Each names the measured value ("supermarket
  350 m walking"), so the reader sees the fact behind the score.
- An excluded site's reasons are its exclusion reasons.
- A distance beyond the data's coverage (``dist_<category>_censored``, measure/coverage.py) is
  said so, with what is known: "at least <edge> m, beyond the data's coverage".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from magicmix_geo.config import Criterion
from magicmix_geo.language import check_lang, format_number, format_numbers
from magicmix_geo.score.criteria import CENSORED
from magicmix_geo.site_types import SITE_TYPE_LABELS, site_type_label

# a criterion that lost or gave less than this is not worth a reason
_MIN_POINTS = 0.005
# what a censored distance is called (measure/coverage.py)
BEYOND_COVERAGE = {"en": "beyond the data's coverage", "nl": "buiten het bereik van de data"}
# units of counts by indicator prefix: (English, Dutch)
_COUNT_UNITS = {
    "pop_": ("residents", "inwoners"),
    "dwellings_": ("dwellings", "woningen"),
    "n_residential_buildings_": ("residential buildings", "woongebouwen"),
}
# indicators that are a rating from 0 to 1 (no unit): shown with two digits after a word
_RATINGS = {"site_preference": ("rating", "waardering")}


def contributions(
    scores: pd.DataFrame, weights: Mapping[str, float], names: list[str]
) -> pd.DataFrame:
    """``contrib_<name>`` = weight x ``score_<name>`` for every criterion."""
    return pd.DataFrame(
        {
            f"contrib_{n}": weights.get(n, 0.0) * scores[f"score_{n}"].to_numpy(dtype=float)
            for n in names
        },
        index=scores.index,
    )


def value_text(indicator: str, value: float, lang: str) -> str:
    """A measured value in words with its unit, e.g. ``"350 m walking"``, ``"12 %"``, its
    number as a reader of ``lang`` writes it (``1.250 m lopen``, ``1,250 m walking``)."""
    return value_texts(indicator, value)[lang]


def value_texts(indicator: str, value: float) -> dict[str, str]:
    """:func:`value_text` in every output language (``nl``, ``en``), the number rounded once."""
    if value is None or not np.isfinite(value):
        if indicator.startswith("dist_") or indicator.startswith("transit_"):
            return {"nl": "niet bereikbaar in de data", "en": "none reachable in the data"}
        return {"nl": "onbekend", "en": "unknown"}
    if indicator in _RATINGS:
        words = dict(zip(("en", "nl"), _RATINGS[indicator], strict=True))
        return {
            lang: f"{words[lang]} {number}" for lang, number in format_numbers(value, 2).items()
        }
    percent = indicator.startswith("building_cover_") or indicator.startswith("share_")
    shown = format_numbers(100 * value if percent else value, 0)
    return {lang: _with_unit(indicator, number, lang) for lang, number in shown.items()}


def _with_unit(indicator: str, number: str, lang: str) -> str:
    """A value's number (as ``lang`` writes it) with the unit its indicator has."""
    nl = lang == "nl"
    if indicator.endswith("_min"):
        return f"{number} min"
    if indicator.startswith("dist_") and indicator.endswith("_m"):
        walking = indicator != "dist_industrial_m"
        suffix = (" lopen" if nl else " walking") if walking else ""
        return f"{number} m{suffix}"
    if indicator.startswith("building_cover_"):
        return f"{number} % " + ("bebouwd" if nl else "built-up")
    if indicator.startswith("share_") or "pct" in indicator:
        return f"{number} %"
    for prefix, (en, dutch) in _COUNT_UNITS.items():
        if indicator.startswith(prefix):
            return f"{number} {dutch if nl else en}"
    return number


def exclusion_reason_column(sites: pd.DataFrame, lang: str) -> str:
    """The column of the sites' exclusion reasons in ``lang``: ``exclusion_reason_nl`` in
    Dutch where the model wrote it (score/model.py), else ``exclusion_reason`` (English)."""
    check_lang(lang)
    dutch = "exclusion_reason_nl"
    return dutch if lang == "nl" and dutch in sites.columns else "exclusion_reason"


def censored_text(edge_m: float, lang: str) -> str:
    """A distance beyond the data's coverage in words: what is known of it, if anything."""
    nl = lang == "nl"
    beyond = BEYOND_COVERAGE["nl" if nl else "en"]
    if edge_m is None or not np.isfinite(edge_m):
        return beyond
    number = format_number(edge_m, 0, lang)
    return f"{'minstens' if nl else 'at least'} {number} m, {beyond}"


def reasons(
    table: pd.DataFrame,
    criteria: Mapping[str, Criterion],
    weights: Mapping[str, float],
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    top: int,
) -> tuple[pd.Series, pd.Series]:
    """``reasons_nl`` and ``reasons_en`` per site.

    Parameters
    ----------
    table
        Sites with ``score_<criterion>``, ``excluded`` and ``exclusion_reason(_nl)``.
    values
        Per criterion: the value each score was computed from and that value's indicator
        name (the criterion's own, its fallback's, or "missing").
    top
        How many reasons for and against.
    """
    names = [n for n in criteria if weights.get(n, 0.0) > 0]
    n_sites = len(table)
    if not names:
        empty = pd.Series([""] * n_sites, index=table.index, dtype=object)
        return empty, empty
    w = np.array([weights[n] for n in names])
    s = np.column_stack([table[f"score_{n}"].to_numpy(dtype=float) for n in names])
    gained = w * s
    lost = w * (1.0 - s)
    excluded = table["excluded"].to_numpy(dtype=bool)
    ex_en = table["exclusion_reason"].to_numpy(dtype=object)
    ex_nl = table[exclusion_reason_column(table, "nl")].to_numpy(dtype=object)
    out_en: list[str] = []
    out_nl: list[str] = []
    for i in range(n_sites):
        if excluded[i]:
            out_en.append(f"Excluded: {ex_en[i]}.")
            out_nl.append(f"Uitgesloten: {ex_nl[i]}.")
            continue
        order = np.argsort(-gained[i], kind="stable")[:top]
        pro = [j for j in order if gained[i, j] >= _MIN_POINTS]
        con = [j for j in np.argsort(-lost[i], kind="stable")[:top] if lost[i, j] >= _MIN_POINTS]
        # each criterion's text in both languages once (one may be a reason for and against)
        items = {j: _item(names[j], criteria, values, i, s[i, j]) for j in {*pro, *con}}
        for lang, out in (("en", out_en), ("nl", out_nl)):
            pro_text = "; ".join(items[j][lang] for j in pro)
            con_text = "; ".join(items[j][lang] for j in con)
            head_for, head_against = ("Voor", "Tegen") if lang == "nl" else ("For", "Against")
            out.append(f"{head_for}: {pro_text or '-'}. {head_against}: {con_text or '-'}.")
    return (
        pd.Series(out_nl, index=table.index, dtype=object),
        pd.Series(out_en, index=table.index, dtype=object),
    )


def _item(
    name: str,
    criteria: Mapping[str, Criterion],
    values: Mapping[str, tuple[np.ndarray, np.ndarray]],
    i: int,
    score: float,
) -> dict[str, str]:
    """A criterion's reason for site ``i`` in both languages: label, value, (score)."""
    crit = criteria[name]
    vals, sources = values[name]
    source = str(sources[i])
    if source == CENSORED:
        texts = {lang: censored_text(float(vals[i]), lang) for lang in ("nl", "en")}
    elif source == "missing":
        texts = value_texts(crit.indicator, float("nan"))
    else:
        texts = value_texts(source, float(vals[i]))
    shown = format_numbers(score, 2)
    labels = {"nl": crit.label_nl, "en": crit.label_en}
    return {lang: f"{labels[lang]} {texts[lang]} ({shown[lang]})" for lang in ("nl", "en")}


# the columns :func:`site_type_texts` reads
KIND_COLUMNS = (
    "site_type",
    "name",
    "plan_homes",
    "plan_status",
    "plan_type",
    "evidence",
    "bag_units",
    "gebruiksdoel",
    "floor_area_m2",
)


def site_type_texts(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """What kind of candidate each site is, in Dutch and English, with the facts from its
    source (plan name and homes, BAG units, floor area): plain text, the publisher escapes it.
    """
    # the rows of the columns read (the whole table's records cost ~0.2 ms a site)
    rows = table[[c for c in KIND_COLUMNS if c in table.columns]].to_dict("records")
    nl = [_kind_text(row, "nl") for row in rows]
    en = [_kind_text(row, "en") for row in rows]
    return (
        pd.Series(nl, index=table.index, dtype=object),
        pd.Series(en, index=table.index, dtype=object),
    )


def _known(value: object) -> bool:
    return (
        value is not None
        and value is not pd.NA
        and not (isinstance(value, float) and not np.isfinite(value))
        and str(value).strip() != ""
    )


def _count(value: object, lang: str) -> str:
    return format_number(value, 0, lang)


def _kind_text(row: dict[str, object], lang: str) -> str:
    nl = lang == "nl"
    kind = str(row.get("site_type"))
    # an unknown kind reads as a proxy, as before (the label table: magicmix_geo/site_types.py)
    head = site_type_label(kind if kind in SITE_TYPE_LABELS else "proxy", lang)
    facts: list[str] = []
    if kind == "plan":
        if _known(row.get("name")):
            head += f" '{row['name']}'"
        if _known(row.get("plan_homes")):
            facts.append(f"{_count(row['plan_homes'], lang)} " + ("woningen" if nl else "homes"))
        if _known(row.get("plan_status")):
            facts.append(f"status {row['plan_status']}")
        if _known(row.get("plan_type")):
            facts.append(f"type {row['plan_type']}")
        if _known(row.get("evidence")):
            facts.append(f"BAG: {row['evidence']}")
    elif kind == "new_build":
        if _known(row.get("bag_units")):
            facts.append(
                f"{_count(row['bag_units'], lang)} " + ("verblijfsobjecten" if nl else "units")
            )
    elif kind == "transformation":
        if _known(row.get("gebruiksdoel")):
            facts.append(str(row["gebruiksdoel"]))
        if _known(row.get("floor_area_m2")):
            facts.append(f"{_count(row['floor_area_m2'], lang)} m²")
    label = "Soort" if nl else "Kind"
    detail = f" ({', '.join(facts)})" if facts else ""
    return f"{label}: {head}{detail}."
