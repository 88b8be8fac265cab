"""Context layers of one area from its OSM data: buildings (flagged residential by their OSM
tags or a BAG woonfunctie), features matching tag rules, water and streets. Pure: frames in,
frames out, EPSG:28992.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd

from magicmix_geo.config import Settings
from magicmix_geo.prepare.destinations import rule_mask
from magicmix_geo.prepare.osm import OsmData
from magicmix_geo.tags import TagRule


def buildings_layer(
    osm: OsmData, settings: Settings, bag_panden: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """OSM building footprints, flagged residential by their tags or by a BAG woonfunctie
    (a pand with ``gebruiksdoel`` containing "woonfunctie" under the footprint's anchor)."""
    feats = osm.features
    is_building = feats["building"].notna() & (feats["building"] != "no")
    is_building &= feats["osm_type"] != "node"
    buildings = feats.loc[is_building, ["osm_id", "building", "geometry"]].copy()
    residential = rule_mask(feats.loc[is_building], settings.context.residential_building_tags)
    buildings["residential"] = residential
    if bag_panden is not None:
        woon = bag_panden.loc[bag_panden["gebruiksdoel"].fillna("").str.contains("woonfunctie")]
        anchors = buildings.geometry.representative_point()
        hit = gpd.sjoin(
            gpd.GeoDataFrame(geometry=anchors, crs=buildings.crs),
            woon[["geometry"]],
            predicate="within",
        )
        buildings.loc[buildings.index.isin(hit.index), "residential"] = True
    return buildings.reset_index(drop=True)


def features_matching(osm: OsmData, rules: Iterable[TagRule]) -> gpd.GeoSeries:
    """The area and line features (no nodes) whose tags match any of ``rules``."""
    feats = osm.features
    mask = rule_mask(feats, rules) & (feats["osm_type"] != "node").to_numpy()
    return feats.loc[mask].geometry


def water_layer(osm: OsmData, settings: Settings) -> gpd.GeoDataFrame:
    """Water areas (``context.water_tags``) as a context layer for the maps."""
    water = features_matching(osm, settings.context.water_tags)
    water = water[water.geom_type.isin(["Polygon", "MultiPolygon"])]
    return gpd.GeoDataFrame(geometry=water.reset_index(drop=True), crs=osm.features.crs)


def streets_layer(osm: OsmData) -> gpd.GeoDataFrame:
    """The OSM highway lines as a context layer."""
    lines = osm.lines
    return lines.loc[lines["highway"].notna(), ["osm_id", "highway", "geometry"]].reset_index(
        drop=True
    )


def barrier_lines(osm: OsmData) -> gpd.GeoSeries:
    """Railways and waterways: lines a parcel proxy does not cross."""
    lines = osm.lines
    return lines.loc[lines["railway"].notna() | lines["waterway"].notna()].geometry


def infrastructure_features(osm: OsmData, settings: Settings) -> gpd.GeoSeries:
    """Road and rail land (``context.infrastructure_tags``)."""
    return features_matching(osm, settings.context.infrastructure_tags)
