"""One municipality end to end: read (prepare) -> measure -> score. Publishing is
:func:`magicmix_geo.publish.run.publish_run`; many municipalities are :mod:`magicmix_geo.national`.

Each step below is one call into a stage package; this module holds no reader, indicator or
writer of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import geopandas as gpd
import pandas as pd
import shapely

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.contract import MunicipalityResult, RankInputs, validate_inputs
from magicmix_geo.formats import cbs
from magicmix_geo.formats.bag import flag_panden
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.measure.coverage import censoring, data_coverage
from magicmix_geo.measure.indicators import (
    Context,
    context_indicators,
    network_indicators,
    site_points,
)
from magicmix_geo.measure.model_inputs import grid_indicators, model_indicators, site_urbanity
from magicmix_geo.measure.transit import gtfs_within
from magicmix_geo.prepare.area import data_extent, osm_extent
from magicmix_geo.prepare.bag import read_bag_panden
from magicmix_geo.prepare.checks import check_in_netherlands
from magicmix_geo.prepare.clip import clip_to_area
from magicmix_geo.prepare.destinations import select_destinations
from magicmix_geo.prepare.grid import grid_reach, read_grid
from magicmix_geo.prepare.gtfs import read_gtfs_stops
from magicmix_geo.prepare.layers import (
    buildings_layer,
    features_matching,
    streets_layer,
    water_layer,
)
from magicmix_geo.prepare.network import area_components, build_network
from magicmix_geo.prepare.osm import read_osm_for
from magicmix_geo.prepare.site_sources import DROPPED_ATTR, OUTSIDE_ATTR, candidate_sites
from magicmix_geo.provenance import describe_inputs
from magicmix_geo.score.model import score_sites

# the CBS buurt figures joined to every site
BUURT_COLUMNS = [
    "bu_code",
    "bu_name",
    "wk_code",
    "urbanity",
    "population",
    "density_per_km2",
    "pct_origin_outside_europe",
    "pct_non_western",
    "pct_corporation_rental",
]


def rank_municipality(inputs: RankInputs, settings: Settings) -> MunicipalityResult:
    """Prepare, measure and score the candidate sites of one municipality."""
    validate_inputs(inputs, settings)
    timings: dict[str, float] = {}

    with _timed(timings, "read_osm_s"):
        osm = read_osm_for(inputs.osm, settings)
        check_in_netherlands(inputs.osm, osm.walk.lon, osm.walk.lat)
    with _timed(timings, "build_network_s"):
        # every component for now: the component rule is the area's (below, after the clip)
        net = build_network(osm.walk, largest_component_only=False)
    panden = flag_panden(read_bag_panden(inputs.bag)) if inputs.bag is not None else None
    buildings = buildings_layer(osm, settings, panden)
    area = (
        read_boundary(inputs.boundary)
        if inputs.boundary
        else osm_extent(buildings.geometry, (net.x, net.y))
    )
    # what the data covers (the file's extent; with a boundary, the area + clip buffer within
    # the extent of the data there): a longer walk than the way to its edge is a lower bound
    coverage = data_coverage(
        data_extent(buildings, net, area, settings.walk.clip_buffer_m if inputs.boundary else None),
        area if inputs.boundary else None,
        settings.walk.clip_buffer_m,
    )
    municipality, buurten = cbs.read_cbs_files(inputs.cbs, inputs.gm_code)
    gm_name = cbs.municipality_name(municipality, inputs.gm_code)

    with _timed(timings, "candidates_s"):
        # typed: plan, new_build, transformation, file, vacant_land, proxy (prepare/sites.py)
        sites, candidate_source = candidate_sites(
            area,
            settings,
            osm_lines=osm.lines,
            buildings=buildings,
            panden=panden,
            candidates=inputs.candidates,
            candidate_source=inputs.candidate_source,
            plans=inputs.plans,
        )
        if sites.empty:
            raise InputError(
                f"{inputs.candidates or inputs.osm}: no candidate site lies inside the area"
            )
        dropped_rows = sites.attrs.get(DROPPED_ATTR)

    with _timed(timings, "measure_s"):
        destinations = select_destinations(osm.features, settings.categories)
        if inputs.boundary:  # a municipality: network and amenities within the buffer (clip.py)
            net, destinations = clip_to_area(net, destinations, area, settings.walk.clip_buffer_m)
        net = area_components(
            net,
            shapely.contains_xy(area, net.x, net.y),
            min_nodes=settings.walk.min_component_nodes,
            largest_only=settings.walk.largest_component_only,
        )
        if net.n_segments == 0:
            raise InputError(f"{inputs.osm}: no walkable street in or near the area")
        context = Context(
            residential_buildings=buildings.loc[buildings["residential"]].geometry,
            industrial=features_matching(osm, settings.context.industrial_tags),
            residential_landuse=features_matching(osm, settings.context.residential_landuse_tags),
        )
        network = network_indicators(sites, destinations, net, settings)
        indicators = [
            network,
            censoring(site_points(sites), network, coverage, settings.categories),
            context_indicators(sites, context, settings),
        ]
        grid = read_grid(inputs.grid, area, grid_reach(settings)) if inputs.grid else None
        if grid is not None:
            indicators.append(grid_indicators(grid, sites))
        table = pd.concat([sites, *indicators], axis=1)
        table.insert(1, "gm_code", inputs.gm_code)
        table["area_m2"] = table.geometry.area
        if buurten is not None:
            points = gpd.GeoDataFrame(geometry=site_points(sites), crs=sites.crs)
            joined = cbs.join_buurt(points, buurten, BUURT_COLUMNS)
            table = pd.concat([table, joined.set_index(table.index)], axis=1)
        table["urbanity"] = site_urbanity(table, municipality)

    with _timed(timings, "model_indicators_s"):
        gtfs = read_gtfs_stops(inputs.gtfs) if inputs.gtfs is not None else None
        if gtfs is not None:  # the national table: this area's stops (+ buffer), as amenities
            gtfs = gtfs_within(gtfs, area, settings.walk.clip_buffer_m)
        model = model_indicators(
            settings, osm, net, sites, destinations, buildings, area, table, grid, gtfs
        )
        table = pd.concat([table, model.columns.set_index(table.index)], axis=1)

    with _timed(timings, "score_s"):
        scored = gpd.GeoDataFrame(score_sites(table, settings, inputs.profile), crs=sites.crs)
        scored["profile"] = inputs.profile

    layers = {
        "sites": scored.sort_values(["rank_gm", "site_id"], na_position="last").reset_index(
            drop=True
        ),
        "stops": destinations.loc[
            destinations["category"].isin(["pt_stop", "train_station"])
        ].reset_index(drop=True),
        "amenities": destinations.reset_index(drop=True),
        "boundary": gpd.GeoDataFrame(
            {"gm_code": [inputs.gm_code], "gm_name": [gm_name]}, geometry=[area], crs=sites.crs
        ),
        "buildings": buildings[["osm_id", "building", "residential", "geometry"]].reset_index(
            drop=True
        ),
        "streets": streets_layer(osm),
        "water": water_layer(osm, settings),
        "transit_stops": model.transit_stops,
        # plans and BAG projects outside the area: reported, not ranked
        "candidates_outside": sites.attrs.get(OUTSIDE_ATTR, sites.iloc[:0]),
    }
    return MunicipalityResult(
        gm_code=inputs.gm_code,
        gm_name=gm_name,
        layers=layers,
        network={
            "nodes": net.n_nodes,
            "segments": net.n_segments,
            "edges_simplified": net.n_edges_simplified(),
        },
        inputs=describe_inputs(inputs, settings, dropped_rows),
        candidate_source=candidate_source,
        timings=timings,
        rasters=model.rasters,
    )


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    clock = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - clock
