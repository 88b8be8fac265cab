"""Criterion scores: one indicator mapped linearly onto [0, 1] between `worst` and `best`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from magicmix_geo.config import Criterion


def criterion_score(values: pd.Series | np.ndarray, criterion: Criterion) -> np.ndarray:
    """Score in [0, 1]: 1 at or beyond ``best``, 0 at or beyond ``worst``, linear between.

    Null indicators (an amenity that cannot be reached) get ``criterion.missing``.
    """
    x = np.asarray(values, dtype=np.float64)
    if criterion.direction == "lower_is_better":
        raw = (criterion.worst - x) / (criterion.worst - criterion.best)
    else:
        raw = (x - criterion.worst) / (criterion.best - criterion.worst)
    score = np.clip(raw, 0.0, 1.0)
    return np.where(np.isnan(x), criterion.missing, score)
