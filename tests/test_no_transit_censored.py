"""The ``no_transit`` exclusion reads a censored stop distance as the transit score does.

A ``dist_pt_stop_m`` beyond the data's coverage (``dist_pt_stop_censored``, measure/coverage.py)
says only that the nearest stop is at least ``coverage_edge_m`` away. The rule "no stop within
800 m walking" then holds for certain only when that edge is beyond 800 m; nearer the edge the
answer is unknown, and an unknown is not a reason to exclude (docs/architecture.md, "Honest
distances").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from magicmix_geo.config import load_settings
from magicmix_geo.score.model import exclusions

RULES = load_settings().exclusions
WALK = RULES.max_walk_to_pt_stop_m
NEIGHBOURS = "n_residential_buildings_100m"


def _table() -> pd.DataFrame:
    # (distance, censored, edge, excluded for no_transit?)
    rows = [
        ("near", 500.0, False, 1500.0, False),
        ("far", 900.0, False, 1500.0, True),
        ("far_in_data_edge_near", 900.0, True, 300.0, False),  # a stop may be just outside
        ("none_in_data_edge_near", np.nan, True, 300.0, False),
        ("none_in_data_edge_far", np.nan, True, 1000.0, True),  # no stop can be within 800 m
        ("far_beyond_edge_far", 1500.0, True, 1000.0, True),
        ("near_beyond_edge", 700.0, True, 300.0, False),  # a real stop within the walk
    ]
    table = pd.DataFrame(
        rows,
        columns=["site_id", "dist_pt_stop_m", "dist_pt_stop_censored", "coverage_edge_m", "want"],
    )
    table[NEIGHBOURS] = 10.0
    return table


def test_a_censored_stop_distance_excludes_only_when_the_edge_lies_beyond_the_walk() -> None:
    table = _table()
    codes, en, nl = exclusions(table.drop(columns="want"), RULES, NEIGHBOURS)
    got = codes.fillna("").str.contains("no_transit")
    assert got.tolist() == table["want"].tolist(), table.assign(got=got)
    # the text says what is known: the measured distance, or the lower bound at the edge
    assert en[1] == f"no public transport stop within {WALK:.0f} m walking (nearest 900 m)"
    assert en[4] == (
        f"no public transport stop within {WALK:.0f} m walking"
        " (at least 1,000 m, beyond the data's coverage)"
    )
    assert nl[4] == (
        f"geen ov-halte binnen {WALK:.0f} m lopen (minstens 1.000 m, buiten het bereik van de data)"
    )


def test_without_censoring_flags_the_measured_distance_decides() -> None:
    table = _table().drop(columns=["dist_pt_stop_censored", "coverage_edge_m"])
    codes, _en, _nl = exclusions(table.drop(columns="want"), RULES, NEIGHBOURS)
    got = codes.fillna("").str.contains("no_transit")
    assert got.tolist() == (~(table["dist_pt_stop_m"] <= WALK)).tolist()
