"""Destinations per category: OSM features matched against the configured tag sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from magicmix_geo.config import Category
from magicmix_geo.tags import TagRule


def rule_mask(features: pd.DataFrame, rules: Iterable[TagRule]) -> np.ndarray:
    """Rows of ``features`` (one column per tag key) matching any of ``rules``."""
    mask = np.zeros(len(features), dtype=bool)
    for rule in rules:
        if rule.key not in features.columns:
            continue
        column = features[rule.key]
        if rule.values:
            mask |= column.isin(list(rule.values)).to_numpy()
        else:
            mask |= column.notna().to_numpy()
    return mask


def select_destinations(
    features: gpd.GeoDataFrame, categories: Mapping[str, Category]
) -> gpd.GeoDataFrame:
    """One point per (feature, category) it belongs to, EPSG:28992.

    Nodes keep their location; areas are represented by a point inside them
    (``representative_point``). Columns: ``category``, ``osm_type``, ``osm_id``, ``name``.
    """
    if features.crs is None or features.crs.to_epsg() != 28992:
        raise ValueError("features must be in EPSG:28992")
    parts = []
    for name, category in categories.items():
        mask = rule_mask(features, category.match) & ~rule_mask(features, category.exclude)
        chosen = features.loc[mask, ["osm_type", "osm_id", "name", "geometry"]].copy()
        chosen.insert(0, "category", name)
        parts.append(chosen)
    frame = pd.concat(parts, ignore_index=True) if parts else features.iloc[0:0]
    dests = gpd.GeoDataFrame(frame, geometry="geometry", crs=features.crs)
    dests["geometry"] = dests.geometry.representative_point()
    dests = dests.sort_values(["category", "osm_type", "osm_id"], kind="stable")
    return dests.reset_index(drop=True)
