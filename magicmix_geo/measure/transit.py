"""Transit quality: the minutes it takes to board public transport from a site.

The booklet asks for public transport "op loopafstand" (within walking distance) because
statushouders depend on it. A stop is worth more when it is served more often, so each site
gets

    transit_access_min = min over stops s of ( walk(site, s) / walking speed + wait(s) )

with ``wait(s)`` the average wait, half the headway: ``30 / departures_per_hour`` minutes from
GTFS where a GTFS stop lies within ``gtfs_match_radius_m`` of the OSM stop (capped at
``max_wait_min``), else an assumed wait by mode (train < metro < tram < bus; config
``[transit.mode_wait_min]``). This is the "total access time" of London's PTAL method with
one stop-level frequency instead of per-route ones.

The minimum over stops is exact: the wait is added, as metres of walking, to the connector of
every stop, and one multi-source Dijkstra (:func:`measure.distances.nearest_distance`) gives
the smallest sum. Pure computation, no I/O; EPSG:28992 metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from magicmix_geo.config import TransitSettings
from magicmix_geo.contract import GTFS_COLUMNS
from magicmix_geo.measure.distances import SegmentIndex, Snap, nearest_distance
from magicmix_geo.prepare.clip import within_buffer
from magicmix_geo.prepare.network import WalkNetwork

_TO_RD = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)


def stop_modes(stops: pd.DataFrame) -> np.ndarray:
    """The mode of each OSM stop from its tags: train, metro, tram, bus or other.

    Reads the columns ``railway``, ``station``, ``highway``, ``amenity``, ``public_transport``,
    where present (OSM tagging: ``railway=station|halt`` with no ``station=subway|light_rail``
    is a train station; ``station=subway`` or ``railway=subway_entrance`` a metro station;
    ``railway=tram_stop`` or ``station=light_rail|tram`` a tram stop; ``highway=bus_stop`` or
    ``amenity=bus_station`` a bus stop). The best mode wins where several apply.
    """

    def col(name: str) -> pd.Series:
        if name in stops.columns:
            return stops[name].astype(object)
        return pd.Series(None, index=stops.index, dtype=object)

    railway, station = col("railway"), col("station")
    train = railway.isin(["station", "halt"]) & ~station.isin(
        ["subway", "light_rail", "tram", "monorail", "funicular", "miniature"]
    )
    metro = station.eq("subway") | railway.eq("subway_entrance")
    tram = railway.eq("tram_stop") | station.isin(["light_rail", "tram"])
    bus = col("highway").eq("bus_stop") | col("amenity").eq("bus_station")
    return np.select(
        [train.to_numpy(), metro.to_numpy(), tram.to_numpy(), bus.to_numpy()],
        ["train", "metro", "tram", "bus"],
        default="other",
    ).astype(object)


def gtfs_within(gtfs: pd.DataFrame, area: BaseGeometry, buffer_m: float) -> pd.DataFrame:
    """The rows of a GTFS stop table whose stop lies within ``buffer_m`` of ``area``
    (EPSG:28992): a municipality's own stops, as its amenities (prepare/clip.py).

    The table is the national one (sources/gtfs.py); the stops of the rest of the country
    would each be snapped to this area's network (a ring search out to them) and listed as
    stops OSM lacks. Rows without usable coordinates are dropped as :func:`gtfs_points` does.
    """
    missing = [c for c in GTFS_COLUMNS if c not in gtfs.columns]
    if missing:
        raise ValueError(f"GTFS stop table lacks the column(s) {', '.join(missing)}")
    lat = pd.to_numeric(gtfs["lat"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(gtfs["lon"], errors="coerce").to_numpy(dtype=np.float64)
    usable = np.isfinite(lat) & np.isfinite(lon)
    x, y = _TO_RD.transform(lon[usable], lat[usable])
    keep = np.zeros(len(gtfs), dtype=bool)
    keep[usable] = within_buffer(np.asarray(x), np.asarray(y), area, buffer_m)
    return gtfs.loc[keep]


def gtfs_points(gtfs: pd.DataFrame) -> gpd.GeoDataFrame:
    """A GTFS stop table (``stop_id, stop_name, lat, lon, departures_per_hour``) as points in
    EPSG:28992; rows without usable coordinates (GTFS parent areas at 0, 0) are dropped."""
    missing = [c for c in GTFS_COLUMNS if c not in gtfs.columns]
    if missing:
        raise ValueError(f"GTFS stop table lacks the column(s) {', '.join(missing)}")
    lat = pd.to_numeric(gtfs["lat"], errors="coerce")
    lon = pd.to_numeric(gtfs["lon"], errors="coerce")
    dph = pd.to_numeric(gtfs["departures_per_hour"], errors="coerce")
    ok = lat.between(50.0, 54.0) & lon.between(3.0, 8.0) & dph.notna() & (dph >= 0)
    table = gtfs.loc[ok, list(GTFS_COLUMNS)].copy()
    x, y = _TO_RD.transform(lon[ok].to_numpy(), lat[ok].to_numpy())
    table["departures_per_hour"] = dph[ok].astype(float)
    return gpd.GeoDataFrame(
        table.reset_index(drop=True), geometry=gpd.points_from_xy(x, y), crs="EPSG:28992"
    )


def match_gtfs(stops: gpd.GeoSeries, gtfs: gpd.GeoDataFrame, radius_m: float) -> pd.DataFrame:
    """The nearest GTFS stop within ``radius_m`` of each OSM stop (EPSG:28992).

    Returns ``gtfs_stop_id``, ``departures_per_hour`` and ``gtfs_match_m``, null where no
    GTFS stop lies within the radius, indexed like ``stops``.
    """
    out = pd.DataFrame(
        {
            "gtfs_stop_id": pd.Series(None, index=stops.index, dtype=object),
            "departures_per_hour": np.nan,
            "gtfs_match_m": np.nan,
        },
        index=stops.index,
    )
    if len(stops) == 0 or len(gtfs) == 0:
        return out
    tree = shapely.STRtree(gtfs.geometry.to_numpy())
    (stop_i, gtfs_i), dist = tree.query_nearest(
        stops.to_numpy(), max_distance=radius_m, return_distance=True, all_matches=False
    )
    out.iloc[stop_i, 0] = gtfs["stop_id"].astype(str).to_numpy()[gtfs_i]
    out.iloc[stop_i, 1] = gtfs["departures_per_hour"].to_numpy()[gtfs_i]
    out.iloc[stop_i, 2] = dist
    return out


def unmatched_gtfs(
    stops: gpd.GeoSeries, gtfs: gpd.GeoDataFrame, radius_m: float
) -> gpd.GeoDataFrame:
    """GTFS stops with no OSM stop within ``radius_m``: served stops OSM lacks."""
    if len(gtfs) == 0 or len(stops) == 0:
        return gtfs
    tree = shapely.STRtree(stops.to_numpy())
    near = tree.query(gtfs.geometry.to_numpy(), predicate="dwithin", distance=radius_m)[0]
    keep = np.ones(len(gtfs), dtype=bool)
    keep[near] = False
    return gtfs.loc[keep]


def stop_waits(
    modes: np.ndarray, departures_per_hour: np.ndarray, settings: TransitSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Average wait (minutes) at each stop and where it came from ("gtfs" or "mode").

    With a GTFS figure: half the headway, ``30 / departures_per_hour``, at most
    ``max_wait_min`` (a stop with no departure waits ``max_wait_min``). Without: the
    configured wait of the stop's mode.
    """
    dph = np.asarray(departures_per_hour, dtype=np.float64)
    by_mode = np.array(
        [settings.mode_wait_min.get(str(m), settings.mode_wait_min["other"]) for m in modes],
        dtype=np.float64,
    )
    with np.errstate(divide="ignore"):
        gtfs_wait = np.minimum(30.0 / dph, settings.max_wait_min)
    has = ~np.isnan(dph)
    wait = np.where(has, gtfs_wait, by_mode)
    return wait, np.where(has, "gtfs", "mode").astype(object)


@dataclass(frozen=True)
class TransitStops:
    """The stops used for transit quality: points (EPSG:28992), mode, wait, wait source."""

    frame: gpd.GeoDataFrame


def transit_stops(
    stops: gpd.GeoDataFrame, gtfs: pd.DataFrame | None, settings: TransitSettings
) -> TransitStops:
    """OSM stops with mode and wait; matched to GTFS and joined by GTFS-only stops if given.

    ``stops`` are OSM public transport stops (points, EPSG:28992) with their tag columns.
    """
    frame = gpd.GeoDataFrame(
        {
            "name": stops["name"] if "name" in stops.columns else None,
            "mode": stop_modes(stops),
        },
        geometry=stops.geometry.to_numpy(),
        crs=stops.crs,
    ).reset_index(drop=True)
    if gtfs is not None:
        points = gtfs_points(gtfs)
        matched = match_gtfs(frame.geometry, points, settings.gtfs_match_radius_m)
        frame = pd.concat([frame, matched.set_index(frame.index)], axis=1)
        extra = unmatched_gtfs(frame.geometry, points, settings.gtfs_match_radius_m)
        if len(extra):
            add = gpd.GeoDataFrame(
                {
                    "name": extra["stop_name"].to_numpy(),
                    "mode": "other",
                    "gtfs_stop_id": extra["stop_id"].astype(str).to_numpy(),
                    "departures_per_hour": extra["departures_per_hour"].to_numpy(),
                    "gtfs_match_m": 0.0,
                },
                geometry=extra.geometry.to_numpy(),
                crs=frame.crs,
            )
            frame = pd.concat([frame, add], ignore_index=True)
    else:
        frame["gtfs_stop_id"] = None
        frame["departures_per_hour"] = np.nan
        frame["gtfs_match_m"] = np.nan
    wait, source = stop_waits(
        frame["mode"].to_numpy(), frame["departures_per_hour"].to_numpy(dtype=float), settings
    )
    frame["wait_min"] = wait
    frame["wait_source"] = source
    return TransitStops(gpd.GeoDataFrame(frame, geometry="geometry", crs=stops.crs))


def access_minutes(
    net: WalkNetwork,
    index: SegmentIndex,
    sites: Snap,
    stops: TransitStops,
    settings: TransitSettings,
) -> np.ndarray:
    """Minutes from each site to boarding: walk to a stop plus its average wait, the best
    stop's; NaN where no stop is reachable."""
    frame = stops.frame
    if len(frame) == 0 or len(sites) == 0:
        return np.full(len(sites), np.nan)
    snap = index.snap(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    speed = settings.walk_speed_m_per_min
    # the wait as metres of walking, added to every stop's connector (see module docstring)
    waited = Snap(snap.segment, snap.along, snap.connector + frame["wait_min"].to_numpy() * speed)
    return nearest_distance(net, sites, waited) / speed
