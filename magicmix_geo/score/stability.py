"""Rank stability: how far a site's rank moves when the weights are uncertain.

Weights are judgements, not measurements. Each Monte Carlo draw multiplies every weight of the
profile by an independent factor, uniform in [1 - spread, 1 + spread] (seeded numpy
``default_rng``), renormalises them to sum 1, recomputes every ranked site's total from its
criterion scores and ranks again (ties by ``site_id``, as ``rank_gm``). Per site:

- ``rank_p10``, ``rank_p90``: the 10th and 90th percentile of its rank over the draws (ranks
  the site reaches in 80 % of plausible weightings);
- ``rank_stable``: ``rank_p90 - rank_p10 <= max(1, stable_max_width * n_ranked)``.

The same seed, draws and inputs give the same intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from magicmix_geo.config import StabilitySettings


def weight_draws(weights: np.ndarray, settings: StabilitySettings) -> np.ndarray:
    """``draws`` x criteria matrix of perturbed, renormalised weights."""
    w = np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(settings.seed)
    spread = settings.spread
    factors = rng.uniform(1.0 - spread, 1.0 + spread, size=(settings.draws, w.size))
    drawn = factors * w[None, :]
    return drawn / drawn.sum(axis=1, keepdims=True)


def ranks_of(totals: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """Ranks (1 = best) of each row of ``totals`` (draws x sites), ties by ``tie_order``."""
    draws, n = totals.shape
    ranks = np.empty((draws, n), dtype=np.int32)
    positions = np.arange(1, n + 1)
    for d in range(draws):
        order = np.lexsort((tie_order, -np.round(totals[d], 12)))
        ranks[d, order] = positions
    return ranks


def rank_intervals(
    scores: np.ndarray,
    weights: np.ndarray,
    site_ids: np.ndarray,
    settings: StabilitySettings,
) -> pd.DataFrame:
    """``rank_p10``, ``rank_p90``, ``rank_stable`` of ranked sites.

    Parameters
    ----------
    scores
        Sites x criteria matrix of criterion scores in [0, 1] (ranked sites only).
    weights
        The profile's weights of those criteria.
    site_ids
        The sites' ids (ties are broken by them, as in ``rank_gm``).
    """
    n = scores.shape[0]
    if n == 0:
        return pd.DataFrame({"rank_p10": [], "rank_p90": [], "rank_stable": []})
    tie_order = np.argsort(np.argsort(np.asarray(site_ids, dtype=str), kind="stable"))
    totals = weight_draws(weights, settings) @ np.asarray(scores, dtype=np.float64).T
    ranks = ranks_of(totals, tie_order)
    p10 = np.quantile(ranks, 0.1, axis=0, method="inverted_cdf").astype(np.int64)
    p90 = np.quantile(ranks, 0.9, axis=0, method="inverted_cdf").astype(np.int64)
    width = max(1, math.floor(settings.stable_max_width * n))
    return pd.DataFrame({"rank_p10": p10, "rank_p90": p90, "rank_stable": (p90 - p10) <= width})
