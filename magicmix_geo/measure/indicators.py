"""All indicators of the candidate sites of one area; pure computation, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from magicmix_geo.config import Settings
from magicmix_geo.measure.context import distance_to_nearest, share_covered
from magicmix_geo.measure.distances import SegmentIndex, counts_within, nearest_distance
from magicmix_geo.prepare.network import WalkNetwork
from magicmix_geo.prepare.proximity import dwithin_pairs, inner_points


@dataclass(frozen=True)
class Context:
    """Context geometries of an area, EPSG:28992."""

    residential_buildings: gpd.GeoSeries
    industrial: gpd.GeoSeries
    residential_landuse: gpd.GeoSeries


def site_points(sites: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """The representative point of each site (a point inside the polygon)."""
    return sites.geometry.representative_point()


def network_indicators(
    sites: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    net: WalkNetwork,
    settings: Settings,
) -> pd.DataFrame:
    """``dist_<category>_m`` for every category and ``n_<category>_<D>m`` counts."""
    index = SegmentIndex(net)
    points = site_points(sites)
    site_snap = index.snap(points.x.to_numpy(), points.y.to_numpy())
    columns: dict[str, np.ndarray] = {}
    for category in settings.categories:
        dests = destinations[destinations["category"] == category]
        dest_snap = index.snap(dests.geometry.x.to_numpy(), dests.geometry.y.to_numpy())
        columns[f"dist_{category}_m"] = nearest_distance(net, site_snap, dest_snap)
        radii = settings.counts.get(category, ())
        if radii:
            counts = counts_within(net, site_snap, dest_snap, radii)
            for radius in radii:
                columns[f"n_{category}_{radius}m"] = counts[float(radius)]
    columns["snap_distance_m"] = site_snap.connector
    # a site with no kept street within reach (on an island whose streets are not in the
    # network) is not joined across the water: its walking distances are unknown
    stranded = site_snap.connector > settings.walk.max_snap_m
    if stranded.any():
        for name, values in columns.items():
            if name.startswith("dist_"):
                values[stranded] = np.nan
            elif name.startswith("n_"):
                values[stranded] = 0
    return pd.DataFrame(columns, index=sites.index)


def neighbour_count(
    sites: gpd.GeoDataFrame, buildings: gpd.GeoSeries, radius_m: float
) -> np.ndarray:
    """Residential buildings within ``radius_m`` of a site, not counting those on the site."""
    if len(buildings) == 0 or len(sites) == 0:
        return np.zeros(len(sites), dtype=np.int64)
    geoms, blds = sites.geometry.to_numpy(), buildings.to_numpy()
    anchors = shapely.point_on_surface(blds)
    # the pairs of STRtree(blds).query(geoms, predicate="dwithin"), most decided by bounds
    site_idx, bld_idx = dwithin_pairs(
        geoms, blds, radius_m, target_points=inner_points(blds, anchors)
    )
    # a building is on the site when its anchor is: never outside the site's bounding box
    box = shapely.bounds(geoms)[site_idx]
    ax, ay = shapely.get_x(anchors)[bld_idx], shapely.get_y(anchors)[bld_idx]
    on_site = (ax >= box[:, 0]) & (ax <= box[:, 2]) & (ay >= box[:, 1]) & (ay <= box[:, 3])
    maybe = np.flatnonzero(on_site)
    on_site[maybe] = shapely.contains(geoms[site_idx[maybe]], anchors[bld_idx[maybe]])
    return np.bincount(site_idx[~on_site], minlength=len(sites)).astype(np.int64)


def context_indicators(
    sites: gpd.GeoDataFrame, context: Context, settings: Settings
) -> pd.DataFrame:
    """Neighbours, distance to industrial land and residential land-use share."""
    radius = settings.context.neighbour_radius_m
    share_radius = settings.context.residential_share_radius_m
    points = site_points(sites)
    return pd.DataFrame(
        {
            f"n_residential_buildings_{radius:.0f}m": neighbour_count(
                sites, context.residential_buildings, radius
            ),
            "dist_industrial_m": distance_to_nearest(sites.geometry, context.industrial),
            f"share_residential_{share_radius:.0f}m": share_covered(
                points, context.residential_landuse, share_radius
            ),
        },
        index=sites.index,
    )
