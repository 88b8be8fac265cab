"""Transit quality on the real sample: stop modes, GTFS matching, minutes to board."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings
from magicmix_geo.measure.distances import SegmentIndex, nearest_distance
from magicmix_geo.measure.model_inputs import osm_transit_stops
from magicmix_geo.measure.transit import (
    access_minutes,
    gtfs_within,
    match_gtfs,
    stop_modes,
    stop_waits,
    transit_stops,
)
from magicmix_geo.prepare.destinations import select_destinations
from magicmix_geo.prepare.gtfs import read_gtfs_stops
from magicmix_geo.prepare.network import build_network
from magicmix_geo.prepare.osm import read_osm_for

SETTINGS = load_settings()
TRANSIT = SETTINGS.model.transit
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def sample_network():  # type: ignore[no-untyped-def]
    osm = read_osm_for(SAMPLE / "tudelft.osm.pbf", SETTINGS)
    net = build_network(osm.walk, largest_component_only=True)
    dests = select_destinations(osm.features, SETTINGS.categories)
    return osm, net, dests


def test_modes_from_real_osm_tags(sample_network) -> None:  # type: ignore[no-untyped-def]
    osm, _, dests = sample_network
    stops = osm_transit_stops(osm, dests, None, SETTINGS).frame
    counts = stops["mode"].value_counts()
    assert counts["tram"] == 40  # railway=tram_stop in the extract
    assert counts["bus"] >= 250
    assert (stops["wait_source"] == "mode").all()
    synthetic = pd.DataFrame(
        {
            "railway": ["station", "station", "tram_stop", None, "subway_entrance", None],
            "station": [None, "subway", None, None, None, None],
            "highway": [None, None, None, "bus_stop", None, None],
        }
    )
    assert stop_modes(synthetic).tolist() == ["train", "metro", "tram", "bus", "metro", "other"]
    waits, _ = stop_waits(np.array(["train", "metro", "tram", "bus"]), np.full(4, np.nan), TRANSIT)
    assert waits[0] <= waits[1] <= waits[2] <= waits[3]  # train > metro/tram > bus


def _gtfs_from_osm(stops: gpd.GeoDataFrame, shift_m: float, dph: np.ndarray) -> pd.DataFrame:
    lon, lat = TO_WGS.transform(stops.geometry.x.to_numpy() + shift_m, stops.geometry.y.to_numpy())
    return pd.DataFrame(
        {
            "stop_id": [f"NL:S:{i}" for i in range(len(stops))],
            "stop_name": "x",
            "lat": lat,
            "lon": lon,
            "departures_per_hour": dph,
        }
    )


def test_gtfs_stops_match_the_nearest_osm_stop_within_the_radius(sample_network) -> None:  # type: ignore[no-untyped-def]
    osm, _, dests = sample_network
    osm_stops = osm_transit_stops(osm, dests, None, SETTINGS).frame
    some = osm_stops.iloc[::7].reset_index(drop=True)
    gtfs = _gtfs_from_osm(some, 20.0, np.arange(len(some)) % 9 + 1.0)
    gtfs.loc[len(gtfs)] = ["far", "far away", 0.0, 0.0, 4.0]  # a GTFS parent area at 0, 0
    matched = match_gtfs(some.geometry, _points(gtfs), TRANSIT.gtfs_match_radius_m)
    # every one of them finds a GTFS stop within ~20 m (its own, or one nearer still)
    assert matched["gtfs_match_m"].le(20.0 + 1e-3).all()
    assert matched["gtfs_match_m"].notna().all()
    own = matched["gtfs_stop_id"] == gtfs["stop_id"].iloc[: len(some)].to_numpy()
    assert own.mean() > 0.9
    # 200 m away is out of reach
    far = match_gtfs(some.geometry, _points(_gtfs_from_osm(some, 200.0, np.ones(len(some)))), 50.0)
    assert far["gtfs_stop_id"].isna().all()


def _points(gtfs: pd.DataFrame) -> gpd.GeoDataFrame:
    from magicmix_geo.measure.transit import gtfs_points

    return gtfs_points(gtfs)


def test_access_time_is_the_best_stop_walk_plus_wait(sample_network) -> None:  # type: ignore[no-untyped-def]
    osm, net, dests = sample_network
    frame = osm_transit_stops(osm, dests, None, SETTINGS).frame
    rng = np.random.default_rng(5)
    sample = frame.iloc[rng.choice(len(frame), 40, replace=False)].reset_index(drop=True)
    dph = rng.choice([1.0, 2.0, 4.0, 6.0, 12.0], size=len(sample))
    gtfs = _gtfs_from_osm(sample, 5.0, dph)
    stops = transit_stops(sample, gtfs, TRANSIT)
    assert (stops.frame["wait_source"] == "gtfs").all()
    assert np.allclose(stops.frame["wait_min"], np.minimum(30.0 / dph, TRANSIT.max_wait_min))
    index = SegmentIndex(net)
    # sites: buildings' points of the sample
    pts = osm.features.loc[osm.features["building"].notna()].geometry.representative_point()
    pts = pts.iloc[:: max(1, len(pts) // 150)]
    site_snap = index.snap(pts.x.to_numpy(), pts.y.to_numpy())
    got = access_minutes(net, index, site_snap, stops, TRANSIT)
    # brute force: the walk to every stop on its own, plus its wait
    per_stop = []
    geom = stops.frame.geometry
    for i in range(len(stops.frame)):
        one = index.snap(geom.x.to_numpy()[i : i + 1], geom.y.to_numpy()[i : i + 1])
        walk = nearest_distance(net, site_snap, one)
        per_stop.append(walk / TRANSIT.walk_speed_m_per_min + stops.frame["wait_min"].iloc[i])
    expected = np.nanmin(np.column_stack(per_stop), axis=1)
    assert np.allclose(got, expected, atol=1e-9, equal_nan=True)
    # more departures never make boarding slower
    busier = transit_stops(sample, gtfs.assign(departures_per_hour=dph * 2), TRANSIT)
    assert (access_minutes(net, index, site_snap, busier, TRANSIT) <= got + 1e-9).all()


def test_unmatched_gtfs_stops_are_added(sample_network) -> None:  # type: ignore[no-untyped-def]
    osm, _, dests = sample_network
    frame = osm_transit_stops(osm, dests, None, SETTINGS).frame
    one = frame.iloc[:1]
    gtfs = _gtfs_from_osm(one, 500.0, np.array([6.0]))
    stops = transit_stops(one, gtfs, replace(TRANSIT, gtfs_match_radius_m=50.0)).frame
    assert len(stops) == 2
    assert stops["wait_source"].tolist() == ["mode", "gtfs"]
    assert stops["wait_min"].iloc[1] == pytest.approx(5.0)


def test_sample_sites_have_transit_access(sample_sites: gpd.GeoDataFrame) -> None:
    sites = sample_sites
    ranked = sites.loc[~sites["excluded"].astype(bool)]
    # boarding takes at least the walk to the nearest stop plus the shortest wait
    floor = ranked["dist_pt_stop_m"] / TRANSIT.walk_speed_m_per_min + min(
        TRANSIT.mode_wait_min.values()
    )
    assert (ranked["transit_access_min"] >= floor - 1e-9).all()
    assert ranked["transit_access_min"].notna().all()
    assert sites["score_transit"].between(0, 1).all()


def test_pipeline_weighs_stops_by_a_gtfs_table(
    sample_network,
    sample_sites: gpd.GeoDataFrame,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from magicmix_geo.pipeline import rank_municipality
    from magicmix_geo.sample import sample_config, sample_inputs

    osm, _, dests = sample_network
    stops = osm_transit_stops(osm, dests, None, SETTINGS).frame
    # every tram stop served 12 times an hour (a 2.5 min wait instead of the assumed 6)
    trams = stops.loc[stops["mode"] == "tram"].reset_index(drop=True)
    table = _gtfs_from_osm(trams, 3.0, np.full(len(trams), 12.0))
    path = tmp_path / "departures_per_hour.csv"
    table.to_csv(path, index=False)
    inputs = replace(
        sample_inputs(),
        gtfs=path,
        grid=Path(__file__).resolve().parent / "data" / "cbs_vk100_ermelo_centre.gpkg",
    )
    # the sample's own settings map its example plans file's columns (issue 14)
    result = rank_municipality(inputs, load_settings(sample_config()))
    layer = result.layers["transit_stops"]
    served = layer.loc[layer["wait_source"] == "gtfs"]
    assert np.allclose(served["wait_min"], 2.5)
    # every tram stop of the run is matched (the nearest GTFS stop within 50 m; a bus stop by
    # a tram stop takes the tram's departures too, and GTFS stops of trams beyond the clipped
    # area join as stops of their own)
    assert (layer.loc[layer["mode"] == "tram", "wait_source"] == "gtfs").all()
    assert (layer["mode"] == "tram").sum() >= 10
    assert (served["gtfs_match_m"] <= SETTINGS.model.transit.gtfs_match_radius_m).all()
    sites = result.sites.set_index("site_id")
    before = sample_sites.set_index("site_id").loc[sites.index, "transit_access_min"]
    after = sites["transit_access_min"]
    assert (after <= before + 1e-9).all()
    assert (after < before - 1.0).sum() > 100  # sites whose best stop is a tram stop gain
    # the Ermelo grid lies far from Delft: density falls back on building cover
    assert sites["pop_400m"].isna().all()
    assert sites["score_density"].between(0, 1).all()


def test_a_national_gtfs_table_is_cut_to_the_area_and_its_buffer() -> None:
    # the acquired table is national (sources/gtfs.py): a municipality keeps the stops within
    # its clip buffer, as its amenities, not the rest of the country's (each of which was
    # snapped to this area's network by a ring search out to it: minutes per municipality)
    area = box(84_000.0, 445_000.0, 86_000.0, 447_000.0)  # Delft, EPSG:28992
    rd = {
        "inside": (85_000.0, 446_000.0),
        "in_buffer": (86_000.0 + 1_500.0, 446_000.0),
        "past_buffer": (86_000.0 + 2_500.0, 446_000.0),
        "groningen": (233_000.0, 582_000.0),
    }
    lon, lat = TO_WGS.transform([p[0] for p in rd.values()], [p[1] for p in rd.values()])
    table = pd.DataFrame(
        {
            "stop_id": [*rd, "parent_area", "no_lat"],
            "stop_name": [*rd, "parent area", "no latitude"],
            "lat": [*(str(v) for v in lat), "0", ""],
            "lon": [*(str(v) for v in lon), "0", str(lon[0])],
            "departures_per_hour": [4.0] * (len(rd) + 2),
        }
    )
    kept = gtfs_within(table, area, 2_000.0)
    assert kept["stop_id"].tolist() == ["inside", "in_buffer"]
    assert gtfs_within(table, area, 3_000.0)["stop_id"].tolist() == [
        "inside",
        "in_buffer",
        "past_buffer",
    ]
    with pytest.raises(ValueError, match="departures_per_hour"):
        gtfs_within(table.drop(columns="departures_per_hour"), area, 2_000.0)


def test_the_gtfs_table_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    # read once per process for every municipality of a run: never stale, never shared
    path = tmp_path / "departures_per_hour.csv"
    header = "stop_id,stop_name,lat,lon,departures_per_hour\n"
    path.write_text(header + "a,Delft,52.0,4.36,4.0\n")
    stat = path.stat()
    first = read_gtfs_stops(path)
    assert first["stop_name"].tolist() == ["Delft"]
    first.loc[0, "stop_name"] = "changed by a caller"
    assert read_gtfs_stops(path)["stop_name"].tolist() == ["Delft"]
    path.write_text(header + "b,Delfz,53.3,6.92,2.0\n")  # same size, mtime put back
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert read_gtfs_stops(path)["stop_name"].tolist() == ["Delfz"]
    path.write_text("stop_id,lat\n")
    with pytest.raises(InputError, match="departures_per_hour"):
        read_gtfs_stops(path)
    path.unlink()
    with pytest.raises(InputError, match=r"departures_per_hour\.csv"):
        read_gtfs_stops(path)
