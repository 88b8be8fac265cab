"""The ranking model: hard exclusions, criterion scores, weighted total, rank per municipality.

Pure computation on a table of indicators; see docs/methodology.md for the reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from magicmix_geo._errors import ConfigError
from magicmix_geo.config import Exclusions, Settings
from magicmix_geo.score.criteria import criterion_score


def exclusion_reasons(sites: pd.DataFrame, rules: Exclusions, neighbour_column: str) -> pd.Series:
    """The hard-exclusion reasons of each site joined by '; ', or None when it passes."""
    reasons: list[list[str]] = [[] for _ in range(len(sites))]

    def flag(mask: np.ndarray, text: pd.Series | str) -> None:
        texts = text if isinstance(text, pd.Series) else pd.Series(text, index=sites.index)
        for i in np.flatnonzero(mask):
            reasons[i].append(str(texts.iloc[i]))

    industrial = sites["dist_industrial_m"].to_numpy(dtype=float)
    flag(
        industrial < rules.industrial_within_m,
        "industrial land within "
        + sites["dist_industrial_m"].round(0).astype("Int64").astype(str)
        + f" m (limit {rules.industrial_within_m:.0f} m)",
    )
    neighbours = sites[neighbour_column].to_numpy(dtype=float)
    flag(
        neighbours < rules.min_neighbour_buildings,
        f"no direct neighbours (fewer than {rules.min_neighbour_buildings} residential "
        f"buildings, {neighbour_column})",
    )
    transit = sites["dist_pt_stop_m"].to_numpy(dtype=float)
    flag(
        ~(transit <= rules.max_walk_to_pt_stop_m),
        f"no public transport stop within {rules.max_walk_to_pt_stop_m:.0f} m walking",
    )
    area = sites["area_m2"].to_numpy(dtype=float)
    flag(
        (area < rules.min_area_m2) | (area > rules.max_area_m2),
        "area "
        + sites["area_m2"].round(0).astype("Int64").astype(str)
        + f" m² outside {rules.min_area_m2:.0f}-{rules.max_area_m2:.0f} m²",
    )
    if rules.exclude_temporary and "temporary" in sites.columns:
        flag(sites["temporary"].fillna(False).astype(bool).to_numpy(), "temporary site")
    return pd.Series(
        ["; ".join(r) if r else None for r in reasons], index=sites.index, dtype=object
    )


def score_sites(sites: pd.DataFrame, settings: Settings, profile: str) -> pd.DataFrame:
    """Add ``score_<criterion>``, ``score_total``, ``excluded``, ``exclusion_reason``, ``rank_gm``.

    ``rank_gm`` is 1 for the best non-excluded site (highest ``score_total``; ties by
    ``site_id``) and null for excluded sites. The input needs every indicator the criteria name.
    """
    weights = settings.weights(profile)
    out = sites.copy()
    total = np.zeros(len(out))
    for name, criterion in settings.criteria.items():
        if criterion.indicator not in out.columns:
            raise ConfigError(
                f"criteria.{name}.indicator: unknown indicator {criterion.indicator!r}"
            )
        score = criterion_score(out[criterion.indicator], criterion)
        out[f"score_{name}"] = score
        total += weights.get(name, 0.0) * score
    out["score_total"] = np.round(total, 12)
    radius = settings.context.neighbour_radius_m
    reasons = exclusion_reasons(out, settings.exclusions, f"n_residential_buildings_{radius:.0f}m")
    out["excluded"] = reasons.notna().to_numpy()
    out["exclusion_reason"] = reasons
    out["rank_gm"] = rank_within(out)
    return out


def rank_within(sites: pd.DataFrame) -> pd.Series:
    """1..n over the non-excluded sites by descending ``score_total``, ties by ``site_id``."""
    ranked = sites.loc[~sites["excluded"], ["score_total", "site_id"]]
    order = ranked.sort_values(["score_total", "site_id"], ascending=[False, True]).index
    rank = pd.Series(pd.NA, index=sites.index, dtype="Int64")
    rank.loc[order] = np.arange(1, len(order) + 1)
    return rank
