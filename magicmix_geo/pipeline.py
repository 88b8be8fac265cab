"""One municipality end to end, from local files: prepare -> measure -> score -> publish.

This module wires the stages; each stage lives in its own package. Prefect flows (``flows/``)
and the command line (``cli.py``) call these functions.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from magicmix_geo import __version__
from magicmix_geo._atomic import atomic_directory, check_output_dir
from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.measure.context import sum_within
from magicmix_geo.measure.density import Raster, density_indicators, grid_shares_within
from magicmix_geo.measure.distances import SegmentIndex, Snap
from magicmix_geo.measure.indicators import (
    Context,
    context_indicators,
    network_indicators,
    site_points,
)
from magicmix_geo.measure.site_cover import covered_share, line_strips
from magicmix_geo.measure.surfaces import distance_surface
from magicmix_geo.measure.transit import GTFS_COLUMNS, TransitStops, access_minutes, transit_stops
from magicmix_geo.prepare import candidates as candidate_sources
from magicmix_geo.prepare import cbs
from magicmix_geo.prepare.area import osm_extent, read_boundary
from magicmix_geo.prepare.checks import check_in_netherlands
from magicmix_geo.prepare.clip import clip_to_area
from magicmix_geo.prepare.destinations import rule_mask, select_destinations
from magicmix_geo.prepare.network import WalkNetwork, build_network
from magicmix_geo.prepare.osm import OsmData, read_osm
from magicmix_geo.publish import (
    describe_input,
    describe_user_input,
    write_interactive_map,
    write_manifest,
    write_municipality_gpkg,
    write_municipality_report,
    write_national_ranking,
    write_static_map,
    write_summary_csv,
)
from magicmix_geo.publish.manifest import acquired_boundary
from magicmix_geo.publish.rasters import write_rasters
from magicmix_geo.score.capacity import apply_capacity, municipality_summary
from magicmix_geo.score.model import score_sites
from magicmix_geo.sources.pdok import flag_panden
from magicmix_geo.score.social import social_indicators
from magicmix_geo.tags import rule_keys

GM_CODE = re.compile(r"^GM\d{4}$")
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
GRID_SUM_RADIUS_M = 500.0
WATER_TAGS = ("natural=water", "water", "waterway=riverbank")


@dataclass(frozen=True)
class RankInputs:
    """The local files of one municipality run."""

    osm: Path
    gm_code: str
    boundary: Path | None = None
    cbs: tuple[Path, ...] = ()
    grid: Path | None = None
    candidates: Path | None = None
    bag: Path | None = None
    profile: str = "singles"
    # what a candidates file is, for the manifest: "file", or "brk" for cached Kadaster parcels
    candidate_source: str = "file"
    # a GTFS stop service table (stop_id, stop_name, lat, lon, departures_per_hour), optional
    gtfs: Path | None = None


@dataclass
class MunicipalityResult:
    """What one municipality run produced, ready to publish."""

    gm_code: str
    gm_name: str
    layers: dict[str, gpd.GeoDataFrame]
    network: dict[str, int]
    inputs: list[dict[str, Any]]
    candidate_source: str
    timings: dict[str, float] = field(default_factory=dict)
    # density and accessibility surfaces, written as rasters/<GM>_<name>.tif
    rasters: dict[str, Raster] = field(default_factory=dict)

    @property
    def sites(self) -> gpd.GeoDataFrame:
        return self.layers["sites"]


def validate_inputs(inputs: RankInputs, settings: Settings) -> None:
    """Cheap checks before any work, so bad input fails fast with a clear message."""
    if not GM_CODE.match(inputs.gm_code):
        raise InputError(f"--area: {inputs.gm_code!r} is not a municipality code like GM0503")
    settings.weights(inputs.profile)  # raises ConfigError for an unknown profile
    for path in (inputs.boundary, inputs.grid, inputs.candidates, inputs.bag, inputs.gtfs,
                 *inputs.cbs):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{path}: file not found")


def rank_municipality(inputs: RankInputs, settings: Settings) -> MunicipalityResult:
    """Prepare, measure and score the candidate sites of one municipality."""
    validate_inputs(inputs, settings)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    osm = _read_osm(inputs.osm, settings)
    check_in_netherlands(inputs.osm, osm.walk.lon, osm.walk.lat)
    timings["read_osm_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    net = build_network(osm.walk, largest_component_only=settings.walk.largest_component_only)
    if net.n_segments == 0:
        raise InputError(f"{inputs.osm}: the walking network has no usable segment")
    timings["build_network_s"] = time.perf_counter() - clock

    buildings = _buildings(osm, inputs.bag, settings)
    area = (
        read_boundary(inputs.boundary)
        if inputs.boundary
        else osm_extent(buildings.geometry, (net.x, net.y))
    )
    municipality, buurten = _read_cbs(inputs)
    gm_name = _municipality_name(municipality, inputs.gm_code)

    clock = time.perf_counter()
    sites, candidate_source = _candidates(inputs, osm, buildings, area)
    timings["candidates_s"] = time.perf_counter() - clock
    # issue 16: every row left out of a candidates file is said (stderr) and counted
    candidate_rows = (candidate_sources.report_dropped(sites, inputs.candidates)
                      if inputs.candidates is not None else None)
    if sites.empty:
        raise InputError(
            f"{inputs.candidates or inputs.osm}: no candidate site lies inside the area"
        )

    clock = time.perf_counter()
    destinations = select_destinations(osm.features, settings.categories)
    if inputs.boundary:  # a municipality: network and amenities within the buffer (clip.py)
        net, destinations = clip_to_area(net, destinations, area, settings.walk.clip_buffer_m)
    context = Context(
        residential_buildings=buildings.loc[buildings["residential"]].geometry,
        industrial=_features_matching(osm, settings.context.industrial_tags),
        residential_landuse=_features_matching(osm, settings.context.residential_landuse_tags),
    )
    indicators = pd.concat(
        [
            network_indicators(sites, destinations, net, settings),
            context_indicators(sites, context, settings),
        ],
        axis=1,
    )
    timings["measure_s"] = time.perf_counter() - clock

    # the CBS grid is read once, for the 500 m sums here and the model's density and mix
    grid = _read_grid(inputs.grid, area, _grid_reach(settings)) if inputs.grid else None
    if grid is not None:
        indicators = pd.concat([indicators, _grid_indicators(inputs.grid, grid, sites)], axis=1)
    table = pd.concat([sites, indicators], axis=1)
    table.insert(1, "gm_code", inputs.gm_code)
    table["area_m2"] = table.geometry.area
    if buurten is not None:
        joined = cbs.join_buurt(
            gpd.GeoDataFrame(geometry=site_points(sites), crs=sites.crs), buurten, BUURT_COLUMNS
        )
        table = pd.concat([table, joined.set_index(table.index)], axis=1)
    table["urbanity"] = _urbanity(table, municipality)
    if inputs.bag is not None:
        table["new_build_units"] = _new_build_units(inputs.bag, sites)
    clock = time.perf_counter()
    model_columns, rasters, transit_stops_frame = _model_indicators(
        inputs, settings, osm, net, sites, destinations, buildings, area, table, grid
    )
    table = pd.concat([table, model_columns.set_index(table.index)], axis=1)
    timings["model_indicators_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    scored = gpd.GeoDataFrame(score_sites(table, settings, inputs.profile), crs=sites.crs)
    scored["profile"] = inputs.profile
    timings["score_s"] = time.perf_counter() - clock

    layers = {
        "sites": scored.sort_values(["rank_gm", "site_id"], na_position="last").reset_index(
            drop=True
        ),
        "stops": destinations.loc[destinations["category"].isin(["pt_stop", "train_station"])]
        .reset_index(drop=True),
        "amenities": destinations.reset_index(drop=True),
        "boundary": gpd.GeoDataFrame(
            {"gm_code": [inputs.gm_code], "gm_name": [gm_name]}, geometry=[area], crs=sites.crs
        ),
        "buildings": buildings[["osm_id", "building", "residential", "geometry"]].reset_index(
            drop=True
        ),
        "streets": osm.lines.loc[osm.lines["highway"].notna(), ["osm_id", "highway", "geometry"]]
        .reset_index(drop=True),
        "water": _water(osm, settings),
        "transit_stops": transit_stops_frame,
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
        inputs=_describe_inputs(inputs, settings, candidate_rows),
        candidate_source=candidate_source,
        timings=timings,
        rasters=rasters,
    )


def publish_run(
    results: list[MunicipalityResult],
    out_dir: Path,
    settings: Settings,
    *,
    started: datetime,
    extra: dict[str, Any] | None = None,
    capacity: CapacityRun | None = None,
    reuse: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Write every output of a run into ``out_dir`` atomically: all of it or nothing.

    ``capacity`` (reserve share and the municipalities' tasks) adds ``homes_est``,
    ``homes_reserved`` and ``selected`` to the sites and writes ``national_summary.csv``.

    ``reuse`` maps a municipality code to its files (relative paths) in the run already in
    ``out_dir`` that are still current (same result, code, configuration and capacity; the
    caller decides, see :func:`magicmix_geo.national.reusable_outputs`): those are
    hard-linked (copied across file systems) into the new run folder instead of written
    again, so they keep the manifest of the run that wrote them. The national files and
    ``manifest.json`` are always written.
    """
    out_dir = check_output_dir(out_dir)
    capacity = capacity or CapacityRun(share=settings.capacity.reserve_share, tasks=None)
    for result in results:
        result.layers["sites"] = _with_capacity(result, settings, capacity)
    summary = municipality_summary(
        pd.concat([r.sites for r in results], ignore_index=True), capacity.tasks, capacity.share
    )
    manifest = _manifest(results, settings, started, extra or {})
    manifest["capacity"] = {
        "reserve_share": capacity.share,
        "tasks": capacity.tasks_source,
        "homes_reserved": int(summary["homes_reserved"].iloc[-1]),
    }
    reuse = dict(reuse or {})
    reused: list[str] = []
    timings: dict[str, dict[str, float]] = {}
    with atomic_directory(out_dir) as tmp:
        write_summary_csv(tmp / "national_summary.csv", summary)
        for result in results:
            if result.gm_code in reuse and _link_files(out_dir, tmp, reuse[result.gm_code]):
                reused.append(result.gm_code)
                continue
            metadata = _municipality_metadata(manifest, result, summary)
            timings[result.gm_code] = _publish_municipality(
                tmp, result, metadata, settings, results
            )
        all_sites = pd.concat([r.sites for r in results], ignore_index=True)
        write_national_ranking(
            tmp,
            gpd.GeoDataFrame(all_sites, geometry="geometry", crs=results[0].sites.crs),
            manifest=manifest,
            method=method_rows(settings),
            extra_sheets={"capacity": summary},
        )
        # the time per output (publish_*_s) beside the computation stages; the files of a
        # municipality in ``reused`` were linked from the previous run, not written
        for entry in manifest["municipalities"]:
            written = timings.get(entry["gm_code"], {})
            entry["timings_s"] = {
                **entry["timings_s"], **{f"publish_{k}": round(v, 3) for k, v in written.items()}
            }
        manifest["reused"] = sorted(reused)
        manifest["ended_at"] = _now()
        write_manifest(tmp / "manifest.json", manifest)
    return manifest


def _municipality_metadata(
    manifest: dict[str, Any], result: MunicipalityResult, summary: pd.DataFrame
) -> dict[str, Any]:
    """The manifest stored in one municipality's files: the run's facts with only this
    municipality's entry, inputs and capacity figures (the run-wide summary stays in
    manifest.json), so its files depend on nothing another municipality changes."""
    code = result.gm_code
    metadata = {k: v for k, v in manifest.items() if k != "run_summary"}
    metadata["municipalities"] = [m for m in manifest["municipalities"] if m["gm_code"] == code]
    metadata["inputs"] = list(result.inputs)
    if isinstance(manifest.get("capacity"), dict):
        own = summary.loc[summary["gm_code"] == code, "homes_reserved"]
        metadata["capacity"] = {
            **manifest["capacity"], "homes_reserved": int(own.iloc[0]) if len(own) else 0,
        }
    metadata["gm_code"] = code
    return metadata


def municipality_files(result: MunicipalityResult) -> list[str]:
    """The files :func:`publish_run` writes for one municipality, relative to the run folder."""
    code = result.gm_code
    return [
        f"{code}_{_safe_name(result.gm_name)}.gpkg",
        *(f"rasters/{code}_{name}.tif" for name in sorted(result.rasters)),
        f"maps/{code}.png",
        f"maps/{code}.html",
        f"reports/{code}.html",
        f"reports/{code}.pdf",
    ]


def _link_files(source: Path, target: Path, files: Sequence[str]) -> bool:
    """Hard-link ``files`` from the folder ``source`` into ``target`` (copy when linking is
    impossible, e.g. across file systems); False, with nothing left behind, if any is missing."""
    done: list[Path] = []
    try:
        for name in files:
            src, dst = source / name, target / name
            if not src.is_file() or src.is_symlink():
                raise FileNotFoundError(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            done.append(dst)
    except OSError:
        for path in done:
            path.unlink(missing_ok=True)
        return False
    return True


def _publish_municipality(
    tmp: Path,
    result: MunicipalityResult,
    metadata: dict[str, Any],
    settings: Settings,
    results: list[MunicipalityResult],
) -> dict[str, float]:
    """Write the files of one municipality (:func:`municipality_files`) into ``tmp``; returns
    the seconds per output."""
    timings: dict[str, float] = {}

    def timed(name: str, clock: float) -> float:
        now = time.perf_counter()
        timings[name] = now - clock
        return now

    clock = time.perf_counter()
    gpkg = tmp / f"{result.gm_code}_{_safe_name(result.gm_name)}.gpkg"
    write_municipality_gpkg(gpkg, result.layers, metadata)
    clock = timed("gpkg_s", clock)
    _write_rasters(tmp, result, metadata)
    clock = timed("rasters_s", clock)
    title = f"{result.gm_code} {result.gm_name}: Magic Mix site ranking ({_profiles(results)})"
    context = {
        name: result.layers[name]
        for name in ("water", "buildings", "streets")
        if name in result.layers
    }
    write_static_map(
        tmp / "maps" / f"{result.gm_code}.png",
        result.sites,
        result.layers["boundary"],
        title=title,
        context=context,
    )
    clock = timed("map_png_s", clock)
    write_interactive_map(
        tmp / "maps" / f"{result.gm_code}.html",
        result.sites,
        result.layers["boundary"],
        amenities=result.layers["amenities"],
        title=title,
    )
    clock = timed("map_html_s", clock)
    write_municipality_report(
        tmp / "reports" / f"{result.gm_code}.html",
        tmp / "reports" / f"{result.gm_code}.pdf",
        result.sites,
        result.layers["boundary"],
        title=title,
        manifest=metadata,
        method=method_rows(settings),
        map_png=tmp / "maps" / f"{result.gm_code}.png",
        context=context,
    )
    timed("report_s", clock)
    return timings


@dataclass(frozen=True)
class CapacityRun:
    """The what-if of a run: the share of homes reserved and the tasks to compare with."""

    share: float
    tasks: pd.DataFrame | None = None
    tasks_source: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What decides the capacity outputs (so a changed what-if republishes)."""
        rows = None if self.tasks is None else self.tasks.to_csv(index=False)
        return {"share": self.share, "tasks": rows}


def _with_capacity(
    result: MunicipalityResult, settings: Settings, capacity: CapacityRun
) -> gpd.GeoDataFrame:
    sites = result.sites
    task = None
    if capacity.tasks is not None:
        mine = capacity.tasks.loc[capacity.tasks["gm_code"] == result.gm_code, "taakstelling"]
        task = float(mine.sum()) if len(mine) else None
    table = apply_capacity(
        pd.DataFrame(sites.drop(columns="geometry")), sites.geometry.to_numpy(),
        settings.capacity, capacity.share, task,
    )
    return gpd.GeoDataFrame(table, geometry=sites.geometry.to_numpy(), crs=sites.crs)


def _urbanity(table: pd.DataFrame, municipality: gpd.GeoDataFrame | None) -> pd.Series:
    """CBS urbanity class per site: the buurt's, else the municipality's."""
    buurt = table["urbanity"] if "urbanity" in table else pd.Series(np.nan, index=table.index)
    buurt = pd.to_numeric(buurt, errors="coerce")
    if municipality is not None and len(municipality) and "urbanity" in municipality:
        value = pd.to_numeric(municipality["urbanity"], errors="coerce").iloc[0]
        buurt = buurt.fillna(value)
    return buurt


def _new_build_units(bag: Path, sites: gpd.GeoDataFrame) -> np.ndarray:
    """Homes of BAG new-build projects (permit granted, construction started) on each site."""
    panden = flag_panden(_read_bag(bag))
    if "aantal_verblijfsobjecten" not in panden.columns:
        return np.full(len(sites), np.nan)
    new = panden.loc[panden["new_build"].astype(bool)]
    units = np.zeros(len(sites))
    if len(new):
        anchors = gpd.GeoDataFrame(
            {"units": pd.to_numeric(new["aantal_verblijfsobjecten"], errors="coerce").fillna(0)},
            geometry=new.geometry.representative_point(), crs=new.crs,
        )
        targets = gpd.GeoDataFrame(geometry=sites.geometry.to_numpy(), crs=sites.crs)
        hit = gpd.sjoin(anchors, targets, predicate="within")
        np.add.at(units, hit["index_right"].to_numpy(), hit["units"].to_numpy())
    return np.where(units > 0, units, np.nan)


def method_rows(settings: Settings) -> list[tuple[str, str]]:
    """The method sheet: one row per criterion and exclusion, in words."""
    rows = []
    for name, crit in settings.criteria.items():
        if crit.direction == "lower_is_better":
            text = f"{crit.indicator}: 1 at <= {crit.best:g}, 0 at >= {crit.worst:g}, linear between"
        else:
            text = f"{crit.indicator}: 0 at <= {crit.worst:g}, 1 at >= {crit.best:g}, linear between"
        weights = ", ".join(f"{p} {settings.weights(p).get(name, 0):.3f}" for p in settings.profiles)
        rows.append((f"score_{name}", f"{text}; missing -> {crit.missing:g}; weights: {weights}"))
    ex = settings.exclusions
    rows += [
        ("exclusion", f"industrial land within {ex.industrial_within_m:g} m"),
        ("exclusion", f"fewer than {ex.min_neighbour_buildings} residential buildings within 100 m"),
        ("exclusion", f"no public transport stop within {ex.max_walk_to_pt_stop_m:g} m walking"),
        ("exclusion", f"area outside {ex.min_area_m2:g}-{ex.max_area_m2:g} m2"),
        ("exclusion", "temporary site" if ex.exclude_temporary else "temporary sites allowed"),
        ("exclusion", f"site at least {100 * ex.max_share_water:g} % water"),
        ("exclusion", f"site at least {100 * ex.max_share_infrastructure:g} % road or railway"),
        (
            "rank stability",
            f"rank_p10/rank_p90 over {settings.model.stability.draws} draws, each weight x "
            f"U[1-{settings.model.stability.spread:g}, 1+{settings.model.stability.spread:g}], "
            f"seed {settings.model.stability.seed}; see docs/methodology.md",
        ),
        (
            "distance",
            "walking distance over the OSM walk network (osmnx network_type='walk'), from the "
            "site's representative point and each destination's point joined to the nearest "
            "network edge by a straight segment; exact shortest paths",
        ),
    ]
    return rows


def _read_osm(path: Path, settings: Settings) -> OsmData:
    feature_keys: set[str] = set()
    tag_columns: set[str] = {"building"}
    for category in settings.categories.values():
        feature_keys |= rule_keys(category.match)
        tag_columns |= rule_keys(category.match) | rule_keys(category.exclude)
    for rules in (
        settings.context.industrial_tags,
        settings.context.residential_landuse_tags,
        settings.context.residential_building_tags,
        settings.context.water_tags,
        settings.context.infrastructure_tags,
    ):
        feature_keys |= rule_keys(rules)
        tag_columns |= rule_keys(rules)
    feature_keys |= {"building", "natural", "water"}
    tag_columns |= {"building", "natural", "water", "waterway"}
    return read_osm(path, settings.walk.way_filter, feature_keys, tag_columns)


def _buildings(osm: OsmData, bag: Path | None, settings: Settings) -> gpd.GeoDataFrame:
    """OSM building footprints, flagged residential by their tags or by a BAG woonfunctie."""
    feats = osm.features
    is_building = feats["building"].notna() & (feats["building"] != "no")
    is_building &= feats["osm_type"] != "node"
    buildings = feats.loc[is_building, ["osm_id", "building", "geometry"]].copy()
    residential = rule_mask(feats.loc[is_building], settings.context.residential_building_tags)
    buildings["residential"] = residential
    if bag is not None:
        panden = _read_bag(bag)
        woon = panden.loc[panden["gebruiksdoel"].fillna("").str.contains("woonfunctie")]
        anchors = buildings.geometry.representative_point()
        hit = gpd.sjoin(
            gpd.GeoDataFrame(geometry=anchors, crs=buildings.crs), woon[["geometry"]],
            predicate="within",
        )
        buildings.loc[buildings.index.isin(hit.index), "residential"] = True
    return buildings.reset_index(drop=True)


def _read_bag(path: Path) -> gpd.GeoDataFrame:
    try:
        panden = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read BAG panden ({exc})") from exc
    if panden.crs is None:
        raise InputError(f"{path}: BAG panden have no CRS (EPSG:28992 expected)")
    if "gebruiksdoel" not in panden.columns:
        raise InputError(f"{path}: BAG panden lack the column 'gebruiksdoel'")
    return panden.to_crs("EPSG:28992")


def _grid_reach(settings: Settings) -> float:
    """How far around the area grid cells matter: the model's radii and the 500 m sums."""
    model = settings.model
    radius = max(*model.density.radii_m, model.social.radius_m, GRID_SUM_RADIUS_M)
    return radius + 2 * model.density.cell_m


def _grid_indicators(path: Path, grid: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> pd.DataFrame:
    """Inhabitants and dwellings within 500 m of each site from the CBS 100 m grid."""
    for column in ("aantal_inwoners", "aantal_woningen"):
        if column not in grid.columns:
            raise InputError(f"{path}: CBS grid lacks the column {column!r}")
    grid = cbs.null_suppressed(grid)
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


def _water(osm: OsmData, settings: Settings) -> gpd.GeoDataFrame:
    """Water areas (``context.water_tags``) as a context layer for the maps, EPSG:28992."""
    water = _features_matching(osm, settings.context.water_tags)
    water = water[water.geom_type.isin(["Polygon", "MultiPolygon"])]
    return gpd.GeoDataFrame(geometry=water.reset_index(drop=True), crs=osm.features.crs)


def _features_matching(osm: OsmData, rules: Any) -> gpd.GeoSeries:
    feats = osm.features
    mask = rule_mask(feats, rules) & (feats["osm_type"] != "node").to_numpy()
    return feats.loc[mask].geometry


def _read_cbs(inputs: RankInputs) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    municipality = None
    buurten = None
    for path in inputs.cbs:
        columns = set(pyogrio.read_info(path)["fields"])
        if columns & {"buurtcode", "BU_CODE", "bu_code"}:
            buurten = cbs.read_cbs_buurten(path, inputs.gm_code)
        else:
            municipality = cbs.read_cbs_municipalities(path, inputs.gm_code)
    return municipality, buurten


def _municipality_name(municipality: gpd.GeoDataFrame | None, gm_code: str) -> str:
    if municipality is not None and len(municipality):
        return str(municipality["gm_name"].iloc[0])
    return gm_code


def _candidates(
    inputs: RankInputs, osm: OsmData, buildings: gpd.GeoDataFrame, area: Any
) -> tuple[gpd.GeoDataFrame, str]:
    if inputs.candidates is not None:
        sites = candidate_sources.read_candidates(
            inputs.candidates, progress=candidate_sources.print_progress
        )
        sites = candidate_sources.keep_inside(sites, area, inputs.candidates)
        return sites, inputs.candidate_source
    lines = osm.lines
    streets = lines.loc[lines["highway"].notna()].geometry
    barriers = lines.loc[lines["railway"].notna() | lines["waterway"].notna()].geometry
    sites = candidate_sources.osm_parcel_proxies(
        streets, buildings[["geometry"]], area, barriers=barriers
    )
    return sites, "osm_proxy"


def _describe_inputs(
    inputs: RankInputs, settings: Settings, candidate_rows: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    osm_src = settings.sources["osm"]
    cbs_src = settings.sources["cbs"]
    bag_src = settings.sources["bag"]
    described = [
        describe_input(
            inputs.osm, source="osm", licence=osm_src.licence, attribution=osm_src.attribution,
            version=None,
        )
    ]
    for path in inputs.cbs:
        described.append(
            describe_input(path, source="cbs", licence=cbs_src.licence,
                           attribution=cbs_src.attribution, version=None)
        )
    if inputs.bag:
        described.append(
            describe_input(inputs.bag, source="bag", licence=bag_src.licence,
                           attribution=bag_src.attribution, version=None)
        )
    # issue 16: a user's own boundary or candidates file is "user-supplied", not CBS data
    if inputs.boundary and acquired_boundary(inputs.boundary, inputs.gm_code):
        described.append(describe_input(inputs.boundary, source="boundary",
                                        licence=cbs_src.licence,
                                        attribution=cbs_src.attribution, version=None))
    elif inputs.boundary:
        described.append(describe_user_input(inputs.boundary, source="boundary"))
    rows = {"rows": candidate_rows} if candidate_rows else {}
    if inputs.candidates and inputs.candidate_source == "brk":
        brk_src = settings.sources["brk"]
        described.append(describe_input(inputs.candidates, source="brk", licence=brk_src.licence,
                                        attribution=brk_src.attribution, version=None) | rows)
    elif inputs.candidates:
        described.append(describe_user_input(inputs.candidates, source="candidates", extra=rows))
    return described


def _manifest(
    results: list[MunicipalityResult], settings: Settings, started: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "run_id": uuid.uuid4().hex,
        "started_at": started.isoformat(),
        "ended_at": None,
        "software": {"name": "magicmix-geo", "version": __version__},
        "config_hash": settings.hash,
        "profile": _profiles(results),
        "municipalities": [
            {
                "gm_code": r.gm_code,
                "gm_name": r.gm_name,
                "sites": int(len(r.sites)),
                "ranked": int((~r.sites["excluded"]).sum()),
                "excluded": int(r.sites["excluded"].sum()),
                "candidate_source": r.candidate_source,
                "candidates_are_proxies": r.candidate_source == "osm_proxy",
                "network": r.network,
                "timings_s": {k: round(v, 3) for k, v in r.timings.items()},
                "files": municipality_files(r),
            }
            for r in results
        ],
        "inputs": [item for r in results for item in r.inputs],
        **extra,
    }


def _profiles(results: list[MunicipalityResult]) -> str:
    names = sorted({str(p) for r in results for p in r.sites["profile"].unique()})
    return ",".join(names)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "unnamed"


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------------------------
# the ranking model's own indicators (issue #5): transit quality, density, site cover, social
# mix, and the rasters behind them; see docs/methodology.md
# --------------------------------------------------------------------------------------------


def _model_indicators(
    inputs: RankInputs,
    settings: Settings,
    osm: OsmData,
    net: WalkNetwork,
    sites: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    area: Any,
    table: pd.DataFrame,
    grid: gpd.GeoDataFrame | None,
) -> tuple[pd.DataFrame, dict[str, Raster], gpd.GeoDataFrame]:
    """Model indicators of the sites (indexed like ``sites``), rasters, the transit stops."""
    points = site_points(sites)
    index = SegmentIndex(net)
    model = settings.model
    stops = _transit_stops(osm, destinations, inputs.gtfs, settings)
    site_snap = index.snap(points.x.to_numpy(), points.y.to_numpy())
    transit = pd.DataFrame(
        {
            "transit_access_min": access_minutes(
                net, index, site_snap, stops, settings.model.transit
            )
        },
        index=sites.index,
    )
    density = density_indicators(
        points, buildings.geometry, grid, settings.model.density.radii_m,
        settings.model.density.cell_m,
    )
    cover = _site_cover_indicators(osm, sites, settings)
    shares = (
        grid_shares_within(points, grid, settings.model.social.radius_m)
        if grid is not None and len(grid) else None
    )
    social = social_indicators(
        table.set_index(sites.index), shares, settings.model.social.min_known_share
    )
    rasters = dict(density.rasters)
    rasters.update(_accessibility_rasters(net, index, area, destinations, stops, settings))
    columns = pd.concat([transit, density.indicators, cover, social], axis=1)
    return columns, rasters, stops.frame


def _transit_stops(
    osm: OsmData, destinations: gpd.GeoDataFrame, gtfs: Path | None, settings: Settings
) -> TransitStops:
    """The OSM public transport stops with their tags, matched to a GTFS stop table if given."""
    stops = destinations.loc[destinations["category"] == "pt_stop"]
    tags = [c for c in ("railway", "station", "highway", "amenity", "public_transport")
            if c in osm.features.columns]
    tagged = stops.merge(
        pd.DataFrame(osm.features[["osm_type", "osm_id", *tags]]).drop_duplicates(
            ["osm_type", "osm_id"]
        ),
        on=["osm_type", "osm_id"], how="left",
    )
    table = _read_gtfs_stops(gtfs) if gtfs is not None else None
    return transit_stops(
        gpd.GeoDataFrame(tagged, geometry="geometry", crs=stops.crs), table,
        settings.model.transit,
    )


def _read_gtfs_stops(path: Path) -> pd.DataFrame:
    """A GTFS stop service table (CSV or Parquet: stop_id, stop_name, lat, lon,
    departures_per_hour), as magicmix_geo.sources.gtfs writes it."""
    try:
        table = pd.read_parquet(path) if Path(path).suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read GTFS stop table ({exc})") from exc
    missing = [c for c in GTFS_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: GTFS stop table lacks the column(s) {', '.join(missing)}")
    return table


def _read_grid(path: Path, area: Any, reach_m: float) -> gpd.GeoDataFrame:
    """The CBS 100 m grid cells within ``reach_m`` of the area (EPSG:28992)."""
    try:
        info = pyogrio.read_info(path)
        crs = info["crs"]
        bbox = None
        if crs is not None and "28992" in str(crs):
            xmin, ymin, xmax, ymax = area.bounds
            bbox = (xmin - reach_m, ymin - reach_m, xmax + reach_m, ymax + reach_m)
        grid = gpd.read_file(path, engine="pyogrio", bbox=bbox)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path}: cannot read CBS grid ({exc})") from exc
    if grid.crs is None:
        raise InputError(f"{path}: CBS grid has no CRS (EPSG:28992 expected)")
    return grid.to_crs("EPSG:28992")


def _site_cover_indicators(
    osm: OsmData, sites: gpd.GeoDataFrame, settings: Settings
) -> pd.DataFrame:
    """Shares of each site that are water, and road or railway land."""
    water = _features_matching(osm, settings.context.water_tags)
    infra = pd.concat(
        [
            _features_matching(osm, settings.context.infrastructure_tags),
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


def _accessibility_rasters(
    net: WalkNetwork,
    index: SegmentIndex,
    area: Any,
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
            net, index, area, snap, cfg.cell_m, cfg.max_connector_m,
            description=f"walking distance to the nearest {category} (m)",
        )
    frame = stops.frame
    speed = settings.model.transit.walk_speed_m_per_min
    snap = index.snap(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    waited = Snap(snap.segment, snap.along, snap.connector + frame["wait_min"].to_numpy() * speed)
    out["transit_access_min"] = distance_surface(
        net, index, area, waited, cfg.cell_m, cfg.max_connector_m, scale=speed,
        description="minutes to board public transport (walk + average wait)", units="min",
    )
    return out


def _write_rasters(folder: Path, result: MunicipalityResult, manifest: dict[str, Any]) -> None:
    if result.rasters:
        write_rasters(
            folder / "rasters", result.gm_code, result.rasters,
            tags={"run_id": str(manifest.get("run_id")), "source": "magicmix-geo",
                  "attribution": "© OpenStreetMap contributors (ODbL); Bron: CBS, Kadaster"},
        )
