"""Clip the walking network and the destinations to a municipality plus a buffer.

A site near a municipal border must reach amenities across it, so the network and the
destinations are kept within ``buffer_m`` of the area (``[walk] clip_buffer_m``, at least
2 km). The network keeps every segment that comes within ``buffer_m + margin_m`` of the area
(the margin covers the connectors of destinations near the outer edge).

Guarantee: for a site inside the area, every walking distance of at most ``buffer_m`` equals
the distance over the unclipped network (a shortest path of length d from a site stays within
d of it, so every segment on it is kept, and every destination on it is kept and joins the same
segment when its connector is at most ``margin_m``). Longer distances are measured over the
clipped network and may be longer than over the whole country, or missing.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.prepare.network import WalkNetwork, subset_network

CLIP_MARGIN_M = 500.0


def buffered(area: BaseGeometry, buffer_m: float) -> BaseGeometry:
    """``area`` (EPSG:28992) grown by ``buffer_m`` metres, prepared for fast predicates."""
    grown = shapely.buffer(area, buffer_m, quad_segs=4)
    shapely.prepare(grown)
    return grown


def clip_network(
    net: WalkNetwork, area: BaseGeometry, buffer_m: float, margin_m: float = CLIP_MARGIN_M
) -> WalkNetwork:
    """The segments of ``net`` that come within ``buffer_m + margin_m`` of ``area``.

    Node and segment order are kept; components are not filtered here (the component rule,
    :func:`~magicmix_geo.prepare.network.area_components`, runs after the clip).
    """
    zone = buffered(area, buffer_m + margin_m)
    inside = shapely.contains_xy(zone, net.x, net.y)
    keep = inside[net.seg_u] | inside[net.seg_v]
    # a long segment may cross the zone with both ends outside it
    x0, y0, x1, y1 = zone.bounds
    sx0 = np.minimum(net.x[net.seg_u], net.x[net.seg_v])
    sx1 = np.maximum(net.x[net.seg_u], net.x[net.seg_v])
    sy0 = np.minimum(net.y[net.seg_u], net.y[net.seg_v])
    sy1 = np.maximum(net.y[net.seg_u], net.y[net.seg_v])
    maybe = ~keep & (sx1 >= x0) & (sx0 <= x1) & (sy1 >= y0) & (sy0 <= y1)
    if maybe.any():
        idx = np.flatnonzero(maybe)
        lines = shapely.linestrings(
            np.stack(
                [
                    np.column_stack([net.x[net.seg_u[idx]], net.y[net.seg_u[idx]]]),
                    np.column_stack([net.x[net.seg_v[idx]], net.y[net.seg_v[idx]]]),
                ],
                axis=1,
            )
        )
        keep[idx[shapely.intersects(zone, lines)]] = True
    return subset_network(net, keep)


def within_buffer(x: np.ndarray, y: np.ndarray, area: BaseGeometry, buffer_m: float) -> np.ndarray:
    """Mask of the points (EPSG:28992) within ``buffer_m`` of ``area``."""
    return shapely.contains_xy(buffered(area, buffer_m), np.asarray(x), np.asarray(y))


def clip_to_area(
    net: WalkNetwork, destinations: gpd.GeoDataFrame, area: BaseGeometry, buffer_m: float
) -> tuple[WalkNetwork, gpd.GeoDataFrame]:
    """The network and the destination points (EPSG:28992) of one municipality plus buffer."""
    points = destinations.geometry
    keep = within_buffer(points.x.to_numpy(), points.y.to_numpy(), area, buffer_m)
    return clip_network(net, area, buffer_m), destinations.loc[keep].reset_index(drop=True)
