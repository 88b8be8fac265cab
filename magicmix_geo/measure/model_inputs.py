"""The ranking model's own indicators of the sites of one area (issue #5): transit quality,
density, site cover, social mix, new-build units, and the rasters behind them. Pure
computation on frames already read (prepare/); see docs/methodology.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from magicmix_geo.config import Settings
from magicmix_geo.contract import Raster
from magicmix_geo.formats.cbs import null_suppressed
from magicmix_geo.measure.context import sum_within
from magicmix_geo.measure.density import density_indicators, grid_shares_within
from magicmix_geo.measure.distances import SegmentIndex, Snap
from magicmix_geo.measure.indicators import site_points
from magicmix_geo.measure.site_cover import covered_share, line_strips
from magicmix_geo.measure.social import social_indicators
from magicmix_geo.measure.surfaces import distance_surface
from magicmix_geo.measure.transit import TransitStops, access_minutes, transit_stops
from magicmix_geo.prepare.grid import GRID_SUM_RADIUS_M
from magicmix_geo.prepare.layers import features_matching, infrastructure_features
from magicmix_geo.prepare.network import WalkNetwork
from magicmix_geo.prepare.osm import OsmData

# OSM tags that tell a stop's mode (measure/transit.py reads them)
STOP_TAG_COLUMNS = ("railway", "station", "highway", "amenity", "public_transport")


@dataclass(frozen=True)
class ModelInputs:
    """The model's indicator columns (indexed like the sites), its rasters, the transit stops."""

    columns: pd.DataFrame
    rasters: dict[str, Raster]
    transit_stops: gpd.GeoDataFrame


def model_indicators(
    settings: Settings,
    osm: OsmData,
    net: WalkNetwork,
    sites: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    area: BaseGeometry,
    table: pd.DataFrame,
    grid: gpd.GeoDataFrame | None,
    gtfs: pd.DataFrame | None,
) -> ModelInputs:
    """Transit access, density, site cover and social mix of every site, and the rasters."""
    points = site_points(sites)
    index = SegmentIndex(net)
    model = settings.model
    stops = osm_transit_stops(osm, destinations, gtfs, settings)
    site_snap = index.snap(points.x.to_numpy(), points.y.to_numpy())
    transit = pd.DataFrame(
        {"transit_access_min": access_minutes(net, index, site_snap, stops, model.transit)},
        index=sites.index,
    )
    density = density_indicators(
        points, buildings.geometry, grid, model.density.radii_m, model.density.cell_m
    )
    cover = site_cover_indicators(osm, sites, settings)
    shares = (
        grid_shares_within(points, grid, model.social.radius_m)
        if grid is not None and len(grid)
        else None
    )
    social = social_indicators(table.set_index(sites.index), shares, model.social.min_known_share)
    rasters = dict(density.rasters)
    rasters.update(accessibility_rasters(net, index, area, destinations, stops, settings))
    columns = pd.concat([transit, density.indicators, cover, social], axis=1)
    return ModelInputs(columns, rasters, stops.frame)


def osm_transit_stops(
    osm: OsmData,
    destinations: gpd.GeoDataFrame,
    gtfs: pd.DataFrame | None,
    settings: Settings,
) -> TransitStops:
    """The OSM public transport stops with their tags, matched to a GTFS stop table if given."""
    stops = destinations.loc[destinations["category"] == "pt_stop"]
    tags = [c for c in STOP_TAG_COLUMNS if c in osm.features.columns]
    tagged = stops.merge(
        pd.DataFrame(osm.features[["osm_type", "osm_id", *tags]]).drop_duplicates(
            ["osm_type", "osm_id"]
        ),
        on=["osm_type", "osm_id"],
        how="left",
    )
    return transit_stops(
        gpd.GeoDataFrame(tagged, geometry="geometry", crs=stops.crs), gtfs, settings.model.transit
    )


def grid_indicators(grid: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """Inhabitants and dwellings within 500 m of each site from the CBS 100 m grid."""
    grid = null_suppressed(grid)
    points = site_points(sites)
    return pd.DataFrame(
        {
            "pop_grid_500m": sum_within(
                points, grid.geometry, grid["aantal_inwoners"], GRID_SUM_RADIUS_M
            ),
            "dwellings_grid_500m": sum_within(
                points, grid.geometry, grid["aantal_woningen"], GRID_SUM_RADIUS_M
            ),
        },
        index=sites.index,
    )


def site_cover_indicators(
    osm: OsmData, sites: gpd.GeoDataFrame, settings: Settings
) -> pd.DataFrame:
    """Shares of each site that are water, and road or railway land."""
    water = features_matching(osm, settings.context.water_tags)
    infra = pd.concat(
        [
            infrastructure_features(osm, settings),
            line_strips(osm.lines, settings.context.road_half_width_m),
        ]
    )
    return pd.DataFrame(
        {
            "share_site_water": covered_share(sites.geometry, water),
            "share_site_infrastructure": covered_share(
                sites.geometry, gpd.GeoSeries(infra, crs=sites.crs)
            ),
        },
        index=sites.index,
    )


def accessibility_rasters(
    net: WalkNetwork,
    index: SegmentIndex,
    area: BaseGeometry,
    destinations: gpd.GeoDataFrame,
    stops: TransitStops,
    settings: Settings,
) -> dict[str, Raster]:
    """Walking distance to each configured category and boarding time, at raster cell centres."""
    cfg = settings.model.rasters
    out = {}
    for category in cfg.categories:
        dests = destinations.loc[destinations["category"] == category]
        snap = index.snap(dests.geometry.x.to_numpy(), dests.geometry.y.to_numpy())
        out[f"dist_{category}_m"] = distance_surface(
            net,
            index,
            area,
            snap,
            cfg.cell_m,
            cfg.max_connector_m,
            description=f"walking distance to the nearest {category} (m)",
        )
    frame = stops.frame
    speed = settings.model.transit.walk_speed_m_per_min
    snap = index.snap(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    waited = Snap(snap.segment, snap.along, snap.connector + frame["wait_min"].to_numpy() * speed)
    out["transit_access_min"] = distance_surface(
        net,
        index,
        area,
        waited,
        cfg.cell_m,
        cfg.max_connector_m,
        scale=speed,
        description="minutes to board public transport (walk + average wait)",
        units="min",
    )
    return out


def site_urbanity(table: pd.DataFrame, municipality: gpd.GeoDataFrame | None) -> pd.Series:
    """CBS urbanity class per site: the buurt's, else the municipality's."""
    buurt = table["urbanity"] if "urbanity" in table else pd.Series(np.nan, index=table.index)
    buurt = pd.to_numeric(buurt, errors="coerce")
    if municipality is not None and len(municipality) and "urbanity" in municipality:
        value = pd.to_numeric(municipality["urbanity"], errors="coerce").iloc[0]
        buurt = buurt.fillna(value)
    return buurt
