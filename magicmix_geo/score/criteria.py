"""Criterion scores: one indicator mapped onto [0, 1] by a linear decay between two thresholds.

For a distance (``lower_is_better``) the score is 1 up to ``best`` metres, falls linearly to 0
at ``worst`` metres and stays 0 beyond: a plateau for "within easy walking distance" and a
linear distance decay to the largest walk the booklet's "op loopafstand" allows. For a
quantity (``higher_is_better``) the same, mirrored. docs/methodology.md gives the thresholds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from magicmix_geo.config import Criterion
from magicmix_geo.measure.coverage import EDGE_COLUMN, censored_name

# the score source of a distance beyond the data's coverage (measure/coverage.py)
CENSORED = "censored"
# a censored distance scores this share of the score at the edge of the data (an upper bound)
CENSORED_SHARE = 0.5


def linear_score(
    values: pd.Series | np.ndarray, direction: str, best: float, worst: float
) -> np.ndarray:
    """Score in [0, 1] of ``values``: 1 at or beyond ``best``, 0 at or beyond ``worst``.

    NaN stays NaN. Monotone: never increasing in the value for ``lower_is_better``, never
    decreasing for ``higher_is_better``.
    """
    x = np.asarray(values, dtype=np.float64)
    if direction == "lower_is_better":
        raw = (worst - x) / (worst - best)
    else:
        raw = (x - worst) / (best - worst)
    return np.clip(raw, 0.0, 1.0)


def criterion_score(
    values: pd.Series | np.ndarray,
    criterion: Criterion,
    fallback_values: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """Score in [0, 1]: 1 at or beyond ``best``, 0 at or beyond ``worst``, linear between.

    Where the indicator is null, the criterion's fallback indicator is scored with its own
    thresholds (when the criterion has one and ``fallback_values`` are given); what is still
    null (an amenity that cannot be reached, an unknown CBS figure) gets ``criterion.missing``.
    """
    x = np.asarray(values, dtype=np.float64)
    score = linear_score(x, criterion.direction, criterion.best, criterion.worst)
    if criterion.fallback is not None and fallback_values is not None:
        fb = criterion.fallback
        alt = linear_score(fallback_values, criterion.direction, fb.best, fb.worst)
        score = np.where(np.isnan(x), alt, score)
    return np.where(np.isnan(score), criterion.missing, score)


def score_source(
    values: pd.Series | np.ndarray,
    criterion: Criterion,
    fallback_values: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """Which value each score came from: the indicator's name, the fallback's, or "missing"."""
    x = np.asarray(values, dtype=np.float64)
    out = np.where(np.isnan(x), "missing", criterion.indicator).astype(object)
    if criterion.fallback is not None and fallback_values is not None:
        alt = np.asarray(fallback_values, dtype=np.float64)
        out[np.isnan(x) & ~np.isnan(alt)] = criterion.fallback.indicator
    return out


def censored_mask(table: pd.DataFrame, indicator: str) -> np.ndarray:
    """Where ``indicator`` (a ``dist_<category>_m``) is beyond the data's coverage.

    Reads ``dist_<category>_censored`` (measure/coverage.py); all False when the indicator is
    no walking distance or the table has no such flag.
    """
    if not (indicator.startswith("dist_") and indicator.endswith("_m")):
        return np.zeros(len(table), dtype=bool)
    flag = censored_name(indicator)
    if flag not in table.columns:
        return np.zeros(len(table), dtype=bool)
    return table[flag].astype("boolean").fillna(False).to_numpy(dtype=bool)


def edge_distance(table: pd.DataFrame) -> np.ndarray:
    """The straight distance from each site to the edge of the data (NaN when unknown)."""
    if EDGE_COLUMN not in table.columns:
        return np.full(len(table), np.nan)
    return table[EDGE_COLUMN].to_numpy(dtype=float)
