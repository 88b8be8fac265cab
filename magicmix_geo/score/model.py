"""The ranking model: hard exclusions, criterion scores, weighted total, rank per municipality,
contributions and reasons, rank intervals.

Pure computation on a table of indicators; docs/methodology.md gives the booklet's words and
the reason behind every rule and threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from magicmix_geo._errors import ConfigError
from magicmix_geo.config import Exclusions, Settings
from magicmix_geo.language import format_number
from magicmix_geo.score.criteria import (
    CENSORED,
    CENSORED_SHARE,
    censored_mask,
    criterion_score,
    edge_distance,
    score_source,
)
from magicmix_geo.score.explain import (
    censored_text,
    contributions,
    reasons,
    site_type_texts,
)
from magicmix_geo.score.stability import rank_intervals
from magicmix_geo.site_types import LAND_TYPES

# the booklet's project sizes, for the area exclusion's text
_HOMES = "35-160"


def _num(value: object, lang: str) -> str:
    """A whole number in a reason, as a reader of ``lang`` writes it (``12.345`` /
    ``12,345``)."""
    return format_number(value, 0, lang)


def exclusions(
    sites: pd.DataFrame, rules: Exclusions, neighbour_column: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Hard exclusions of each site: (codes, English reasons, Dutch reasons).

    Each is the site's reasons joined by ``"; "``, or None when the site passes. Codes:
    ``industry``, ``no_neighbours``, ``no_transit``, ``area``, ``temporary``, ``water``,
    ``infrastructure``. A rule whose indicator column is absent is not applied.

    A censored ``dist_pt_stop_m`` (``dist_pt_stop_censored``, measure/coverage.py) says only
    that the nearest stop is at least ``coverage_edge_m`` away, as in the transit score: such a
    site is excluded for ``no_transit`` only when that edge lies beyond the walk, i.e. when no
    stop can be within it; nearer the data's edge it is unknown, not far, and not excluded.
    """
    n = len(sites)
    found: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]

    def col(name: str) -> np.ndarray | None:
        return sites[name].to_numpy(dtype=float) if name in sites.columns else None

    def flag(mask: np.ndarray, code: str, en: object, nl: object) -> None:
        for i in np.flatnonzero(mask):
            text_en = en(i) if callable(en) else en
            text_nl = nl(i) if callable(nl) else nl
            found[i].append((code, str(text_en), str(text_nl)))

    industrial = col("dist_industrial_m")
    if industrial is not None:
        limit = rules.industrial_within_m
        # the rules' numbers written once, not once per site
        limit_en, limit_nl = _num(limit, "en"), _num(limit, "nl")
        flag(
            industrial < limit,
            "industry",
            lambda i: f"industrial land within {_num(industrial[i], 'en')} m (limit {limit_en} m)",
            lambda i: f"industrieterrein op {_num(industrial[i], 'nl')} m (grens {limit_nl} m)",
        )
    neighbours = col(neighbour_column)
    if neighbours is not None:
        need = rules.min_neighbour_buildings
        flag(
            neighbours < need,
            "no_neighbours",
            f"no direct neighbours (fewer than {need} residential buildings, {neighbour_column})",
            f"geen directe buren (minder dan {need} woongebouwen, {neighbour_column})",
        )
    transit = col("dist_pt_stop_m")
    if transit is not None:
        walk = rules.max_walk_to_pt_stop_m
        censored = censored_mask(sites, "dist_pt_stop_m")
        edge = edge_distance(sites)
        far = ~(transit <= walk) & (~censored | (edge > walk))

        def nearest(i: int, lang: str) -> str:
            if censored[i]:
                return f" ({censored_text(float(edge[i]), lang)})"
            if not np.isfinite(transit[i]):
                return ""
            nearest_word = "dichtstbijzijnde" if lang == "nl" else "nearest"
            return f" ({nearest_word} {_num(transit[i], lang)} m)"

        walk_en, walk_nl = _num(walk, "en"), _num(walk, "nl")
        flag(
            far,
            "no_transit",
            lambda i: f"no public transport stop within {walk_en} m walking{nearest(i, 'en')}",
            lambda i: f"geen ov-halte binnen {walk_nl} m lopen{nearest(i, 'nl')}",
        )
    area = col("area_m2")
    if area is not None:
        lo, hi = rules.min_area_m2, rules.max_area_m2
        # a plan, new build or building to repurpose is a project of its own size: a 4-home
        # transformation is a real cluster; only land is judged by the size it could hold
        land = (
            sites["site_type"].isin(LAND_TYPES).to_numpy()
            if "site_type" in sites.columns
            else np.ones(n, dtype=bool)
        )
        range_en = f"{_num(lo, 'en')}-{_num(hi, 'en')}"
        range_nl = f"{_num(lo, 'nl')}-{_num(hi, 'nl')}"
        flag(
            land & ((area < lo) | (area > hi)),
            "area",
            lambda i: (
                f"area {_num(area[i], 'en')} m² outside {range_en} m² (a project of {_HOMES} homes)"
            ),
            lambda i: (
                f"oppervlak {_num(area[i], 'nl')} m² buiten {range_nl} m² "
                f"(een project van {_HOMES} woningen)"
            ),
        )
    if rules.exclude_temporary and "temporary" in sites.columns:
        temporary = sites["temporary"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        flag(temporary, "temporary", "temporary site", "tijdelijke locatie")
    water = col("share_site_water")
    if water is not None:
        flag(
            water >= rules.max_share_water,
            "water",
            lambda i: f"site is {_num(100 * water[i], 'en')} % water",
            lambda i: f"locatie is voor {_num(100 * water[i], 'nl')} % water",
        )
    infra = col("share_site_infrastructure")
    if infra is not None:
        flag(
            infra >= rules.max_share_infrastructure,
            "infrastructure",
            lambda i: f"site is {_num(100 * infra[i], 'en')} % road or railway",
            lambda i: f"locatie is voor {_num(100 * infra[i], 'nl')} % weg of spoor",
        )

    def joined(k: int) -> pd.Series:
        return pd.Series(
            ["; ".join(r[k] for r in reasons) if reasons else None for reasons in found],
            index=sites.index,
            dtype=object,
        )

    return joined(0), joined(1), joined(2)


def exclusion_reasons(sites: pd.DataFrame, rules: Exclusions, neighbour_column: str) -> pd.Series:
    """The hard-exclusion reasons (English) of each site joined by '; ', or None when it passes."""
    return exclusions(sites, rules, neighbour_column)[1]


def score_sites(
    sites: pd.DataFrame, settings: Settings, profile: str, *, stability: bool = True
) -> pd.DataFrame:
    """Add scores, exclusions, ranks, contributions, reasons and rank intervals.

    Adds ``score_<criterion>``, ``score_total``, ``contrib_<criterion>``, ``excluded``,
    ``exclusion_reason`` (English), ``exclusion_reason_nl``, ``exclusion_codes``,
    ``rank_gm`` (1 for the best non-excluded site: highest ``score_total``, ties by
    ``site_id``; null for excluded sites), ``reasons_nl``, ``reasons_en`` and, with
    ``stability``, ``rank_p10``, ``rank_p90``, ``rank_stable`` (null for excluded sites).
    The input needs every indicator the criteria name (a fallback indicator may be absent).
    """
    weights = settings.weights(profile)
    out = sites.copy()
    if "site_preference" not in out.columns:
        out["site_preference"] = site_preference(out, settings.site_preference)
    names = list(settings.criteria)
    total = np.zeros(len(out))
    used: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, criterion in settings.criteria.items():
        if criterion.indicator not in out.columns:
            raise ConfigError(
                f"criteria.{name}.indicator: unknown indicator {criterion.indicator!r}"
            )
        # a distance beyond the data's coverage is unknown, not far (measure/coverage.py)
        censored = censored_mask(out, criterion.indicator)
        primary = np.where(censored, np.nan, out[criterion.indicator].to_numpy(dtype=float))
        fallback = None
        if criterion.fallback is not None and criterion.fallback.indicator in out.columns:
            fallback = out[criterion.fallback.indicator].to_numpy(dtype=float)
        score = criterion_score(primary, criterion, fallback)
        source = score_source(primary, criterion, fallback)
        value = primary if fallback is None else np.where(np.isnan(primary), fallback, primary)
        # the reasons say "beyond the data's coverage (at least <edge> m)"
        unknown = censored & (source == "missing")
        source[unknown] = CENSORED
        value = np.where(unknown, edge_distance(out), value)
        # unknown, not far: the true distance is at least the way to the data's edge, so the
        # score is at most the score there; half of it stands for "somewhere below that"
        at_edge = criterion_score(edge_distance(out), criterion, None)
        score = np.where(unknown, CENSORED_SHARE * at_edge, score)
        out[f"score_{name}"] = score
        used[name] = (value, source)
        total += weights.get(name, 0.0) * score
    out["score_total"] = np.round(total, 12)
    out = pd.concat([out, contributions(out, weights, names)], axis=1)
    radius = settings.context.neighbour_radius_m
    codes, reasons_en, reasons_nl = exclusions(
        out, settings.exclusions, f"n_residential_buildings_{radius:.0f}m"
    )
    out["excluded"] = reasons_en.notna().to_numpy()
    out["exclusion_reason"] = reasons_en
    out["exclusion_reason_nl"] = reasons_nl
    out["exclusion_codes"] = codes
    out["rank_gm"] = rank_within(out)
    out["reasons_nl"], out["reasons_en"] = reasons(
        out, settings.criteria, weights, used, settings.model.top_reasons
    )
    if "site_type" in out.columns:
        kind_nl, kind_en = site_type_texts(out)
        out["reasons_nl"] = kind_nl + " " + out["reasons_nl"]
        out["reasons_en"] = kind_en + " " + out["reasons_en"]
    if stability:
        out = pd.concat([out, _rank_intervals(out, settings, weights, names)], axis=1)
    return out


def site_preference(sites: pd.DataFrame, preference: dict[str, float]) -> np.ndarray:
    """The booklet's preference for each candidate's kind (config ``[site_preference]``):
    a plan that repurposes buildings (``repurpose``) rates as ``plan_repurpose``, one at the
    edge of town (``edge``) as ``plan_edge``; NaN without ``site_type`` (scored as missing)."""
    n = len(sites)
    if "site_type" not in sites.columns or not preference:
        return np.full(n, np.nan)
    kind = sites["site_type"].astype(str).to_numpy(dtype=object)

    def flag(name: str) -> np.ndarray:
        if name not in sites.columns:
            return np.zeros(n, dtype=bool)
        return sites[name].astype("boolean").fillna(False).to_numpy(dtype=bool)

    is_plan = kind == "plan"
    kind = np.where(is_plan & flag("edge"), "plan_edge", kind)
    kind = np.where(is_plan & flag("repurpose"), "plan_repurpose", kind)
    return np.array([preference.get(str(k), np.nan) for k in kind], dtype=float)


def rank_within(sites: pd.DataFrame) -> pd.Series:
    """1..n over the non-excluded sites by descending ``score_total``, ties by ``site_id``."""
    ranked = sites.loc[~sites["excluded"], ["score_total", "site_id"]]
    order = ranked.sort_values(["score_total", "site_id"], ascending=[False, True]).index
    rank = pd.Series(pd.NA, index=sites.index, dtype="Int64")
    rank.loc[order] = np.arange(1, len(order) + 1)
    return rank


def _rank_intervals(
    out: pd.DataFrame, settings: Settings, weights: dict[str, float], names: list[str]
) -> pd.DataFrame:
    ranked = ~out["excluded"].to_numpy(dtype=bool)
    scores = out.loc[ranked, [f"score_{n}" for n in names]].to_numpy(dtype=float)
    w = np.array([weights.get(n, 0.0) for n in names])
    intervals = rank_intervals(
        scores, w, out.loc[ranked, "site_id"].astype(str).to_numpy(), settings.model.stability
    )
    result = pd.DataFrame(
        {
            "rank_p10": pd.Series(pd.NA, index=out.index, dtype="Int64"),
            "rank_p90": pd.Series(pd.NA, index=out.index, dtype="Int64"),
            "rank_stable": pd.Series(pd.NA, index=out.index, dtype="boolean"),
        }
    )
    idx = out.index[ranked]
    result.loc[idx, "rank_p10"] = intervals["rank_p10"].to_numpy()
    result.loc[idx, "rank_p90"] = intervals["rank_p90"].to_numpy()
    result.loc[idx, "rank_stable"] = intervals["rank_stable"].to_numpy()
    return result
