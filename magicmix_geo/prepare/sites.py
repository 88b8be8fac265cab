"""Typed candidate sites: what a ministry recognises as a place for a Magic Mix share.

Pure computation on frames (EPSG:28992, metres); the files are read by the caller
(``prepare/site_sources.py``). :func:`typed_candidates` returns one frame with ``site_type``:

- ``plan``: a planned housing project (plans file, ``prepare/plans.py``);
- ``new_build``: a BAG pand with status "Bouwvergunning verleend" or "Bouw gestart" (flag
  ``new_build`` of :func:`magicmix_geo.formats.bag.flag_panden`) holding homes;
- ``transformation``: a BAG pand without woonfunctie that is out of use or whose
  verblijfsobjecten are (flag ``vacant_non_residential``) and whose use is one worth
  repurposing (offices, education, care, public buildings: ``sites.transformation_uses``);
- ``vacant_land``: a Kadaster parcel with (almost) no building in a residential context;
- ``file``: a site from the municipality's own candidates file, as given;
- ``proxy``: an OSM plot standing in for a parcel (no Kadaster data), with the same vacancy
  and context tests as a parcel, flagged ``is_proxy``.

Overlaps are resolved so that one place is one candidate: a BAG pand inside a plan is
evidence of the plan (its units and ids join the plan); land (parcel, plot, file site) whose
representative point lies in a plan, or that holds a BAG candidate, gives way to it.
Candidates whose representative point lies outside the area are returned apart (reported,
not ranked).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from magicmix_geo.config import SiteSettings
from magicmix_geo.prepare.overlap import PairAreas, geos_areas
from magicmix_geo.prepare.proximity import dwithin_pairs
from magicmix_geo.site_types import LAND_TYPES, SITE_TYPES

RD_NEW_EPSG = 28992
BAG_ID_PREFIX = "BAG-"
# BAG pand attributes (PDOK BAG pand: aantal_verblijfsobjecten, oppervlakte_min/max)
UNITS_COLUMN = "aantal_verblijfsobjecten"
OUTPUT_COLUMNS = (
    "site_id",
    "site_type",
    "source",
    "is_proxy",
    "temporary",
    "name",
    "plan_status",
    "plan_period",
    "plan_type",
    "plan_homes",
    "plan_rent",
    "plan_buy",
    "plan_social",
    "bag_units",
    "floor_area_m2",
    "gebruiksdoel",
    "evidence",
    "repurpose",
    "edge",
)


def typed_candidates(
    area: Any,
    settings: SiteSettings,
    *,
    plans: gpd.GeoDataFrame | None = None,
    panden: gpd.GeoDataFrame | None = None,
    land: gpd.GeoDataFrame | None = None,
    land_type: str = "proxy",
    buildings: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Candidates of every type, overlaps resolved, split into inside and outside ``area``.

    Parameters
    ----------
    area
        The study area polygon, EPSG:28992.
    plans
        :func:`magicmix_geo.prepare.plans.read_plans` output.
    panden
        BAG panden with the flags of :func:`magicmix_geo.formats.bag.flag_panden`
        (``new_build``, ``residential``, ``vacant_non_residential``) and, where known,
        ``identificatie``, ``gebruiksdoel``, ``aantal_verblijfsobjecten``,
        ``oppervlakte_min`` / ``oppervlakte_max`` (m2 of the smallest / largest unit).
    land
        Land candidates with ``site_id`` (BRK parcels, a candidates file or OSM plots).
    land_type
        ``vacant_land`` (BRK parcels), ``file`` (kept as given) or ``proxy`` (OSM plots).
        Parcels and plots are kept only where buildings cover less than
        ``max_building_cover`` of them and at least ``min_residential_buildings`` residential
        buildings lie within ``residential_context_m``.
    buildings
        Building footprints with a boolean ``residential`` column, EPSG:28992.

    Returns
    -------
    (inside, outside)
        Two frames with :data:`OUTPUT_COLUMNS` (plus any other columns of ``land``) and
        ``geometry``, EPSG:28992, ordered by :data:`SITE_TYPES` then ``site_id``.
    """
    if land_type not in LAND_TYPES:
        raise ValueError(f"land_type must be one of {sorted(LAND_TYPES)}, got {land_type!r}")
    plan_sites = _plan_sites(plans, settings) if plans is not None and len(plans) else None
    bag_sites = _bag_sites(panden, settings) if panden is not None and len(panden) else None
    if plan_sites is not None and bag_sites is not None:
        plan_sites, bag_sites = _merge_into_plans(plan_sites, bag_sites)
    typed = [f for f in (plan_sites, bag_sites) if f is not None and len(f)]
    land_sites = None
    if land is not None and len(land):
        land_sites = _land_sites(land, land_type, typed, buildings, settings)
    frames = [f for f in (*typed, land_sites) if f is not None and len(f)]
    if not frames:
        empty = _empty()
        return empty, empty.copy()
    sites = gpd.GeoDataFrame(
        pd.concat(frames, ignore_index=True), geometry="geometry", crs=RD_NEW_EPSG
    )
    order = sites["site_type"].map({t: i for i, t in enumerate(SITE_TYPES)})
    sites = sites.assign(_order=order).sort_values(["_order", "site_id"]).drop(columns="_order")
    inside = shapely.contains(area, shapely.point_on_surface(sites.geometry.to_numpy()))
    return (
        sites.loc[inside].reset_index(drop=True),
        sites.loc[~inside].reset_index(drop=True),
    )


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in OUTPUT_COLUMNS}, geometry=[], crs=RD_NEW_EPSG)


def _frame(n: int, site_type: str, geometry: Any, **columns: Any) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {c: [None] * n for c in OUTPUT_COLUMNS}
    data.update(
        site_type=[site_type] * n,
        is_proxy=[site_type == "proxy"] * n,
        temporary=[False] * n,
        repurpose=[site_type == "transformation"] * n,
        edge=[False] * n,
        evidence=[""] * n,
    )
    for key in ("plan_homes", "plan_rent", "plan_buy", "plan_social", "bag_units", "floor_area_m2"):
        data[key] = [np.nan] * n
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=np.asarray(geometry, dtype=object), crs=RD_NEW_EPSG)


def _has_word(values: pd.Series, words: tuple[str, ...]) -> np.ndarray:
    text = values.fillna("").astype(str).str.lower()
    return text.map(lambda t: any(w in t for w in words)).to_numpy(dtype=bool)


def _plan_sites(plans: gpd.GeoDataFrame, settings: SiteSettings) -> gpd.GeoDataFrame:
    n = len(plans)
    return _frame(
        n,
        "plan",
        plans.geometry.to_numpy(),
        site_id=plans["plan_id"].to_numpy(),
        source=["plans"] * n,
        temporary=plans["temporary"].astype(bool).to_numpy(),
        name=plans["name"].to_numpy(),
        plan_status=plans["status"].to_numpy(),
        plan_period=plans["period"].to_numpy(),
        plan_type=plans["type"].to_numpy(),
        plan_homes=plans["homes"].to_numpy(dtype=float),
        plan_rent=plans["rent"].to_numpy(dtype=float),
        plan_buy=plans["buy"].to_numpy(dtype=float),
        plan_social=plans["social"].to_numpy(dtype=float),
        repurpose=_has_word(plans["type"], settings.repurpose_types),
        edge=_has_word(plans["type"], settings.edge_types),
    )


def _bag_sites(panden: gpd.GeoDataFrame, settings: SiteSettings) -> gpd.GeoDataFrame | None:
    """New-build projects and buildings to repurpose among the BAG panden."""
    doel = (
        panden["gebruiksdoel"].fillna("").astype(str)
        if "gebruiksdoel" in panden.columns
        else pd.Series("", index=panden.index)
    )
    # a new-build pand holds homes when it has a woonfunctie or no use registered yet
    new = panden["new_build"].astype(bool).to_numpy() & (
        panden["residential"].astype(bool).to_numpy() | (doel.str.strip() == "").to_numpy()
    )
    repurpose = (
        panden["vacant_non_residential"].astype(bool).to_numpy()
        & ~new
        & _has_word(doel, settings.transformation_uses)
    )
    keep = new | repurpose
    if not keep.any():
        return None
    chosen = panden.loc[keep]
    ids = _bag_ids(chosen)
    units = (
        pd.to_numeric(chosen[UNITS_COLUMN], errors="coerce").to_numpy(dtype=float)
        if UNITS_COLUMN in chosen.columns
        else np.full(len(chosen), np.nan)
    )
    frame = _frame(
        len(chosen),
        "new_build",
        chosen.geometry.to_numpy(),
        site_id=ids,
        source=["bag"] * len(chosen),
        name=[None] * len(chosen),
        gebruiksdoel=doel.loc[chosen.index].to_numpy(),
        bag_units=units,
        floor_area_m2=floor_area(chosen),
        evidence=ids,
    )
    is_new = new[keep]
    frame["site_type"] = np.where(is_new, "new_build", "transformation")
    frame["repurpose"] = ~is_new
    frame.loc[~is_new, "bag_units"] = np.nan  # units of a building to repurpose are not homes
    return frame


def _bag_ids(panden: gpd.GeoDataFrame) -> np.ndarray:
    for column in ("identificatie", "id"):
        if column in panden.columns and panden[column].notna().all():
            ids = panden[column].astype(str)
            if not ids.duplicated().any():
                return (BAG_ID_PREFIX + ids).to_numpy()
    return np.array([f"{BAG_ID_PREFIX}R{i + 1:06d}" for i in range(len(panden))], dtype=object)


def floor_area(panden: gpd.GeoDataFrame) -> np.ndarray:
    """Floor area per pand (m2): ``floor_area_m2`` when given; else the number of units times
    the mean of the smallest and largest unit (BAG ``oppervlakte_min/max``); else the
    footprint (one storey, a lower bound)."""
    footprint = shapely.area(panden.geometry.to_numpy())
    if "floor_area_m2" in panden.columns:
        given = pd.to_numeric(panden["floor_area_m2"], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(given), given, footprint)
    if {"oppervlakte_min", "oppervlakte_max", UNITS_COLUMN} <= set(panden.columns):
        low = pd.to_numeric(panden["oppervlakte_min"], errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(panden["oppervlakte_max"], errors="coerce").to_numpy(dtype=float)
        n = pd.to_numeric(panden[UNITS_COLUMN], errors="coerce").to_numpy(dtype=float)
        estimate = n * (low + high) / 2.0
        return np.where(np.isfinite(estimate) & (estimate > 0), estimate, footprint)
    return np.asarray(footprint, dtype=float)


def _merge_into_plans(
    plans: gpd.GeoDataFrame, bag: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A BAG pand inside a plan is the plan's evidence: its units and id join the plan."""
    points = shapely.point_on_surface(bag.geometry.to_numpy())
    pand_i, plan_i = shapely.STRtree(plans.geometry.to_numpy()).query(points, predicate="within")
    if not len(pand_i):
        return plans, bag
    # a pand inside two overlapping plans counts for the first
    first = pd.Series(plan_i, index=pand_i).groupby(level=0).min()
    plans = plans.copy()
    for j, members in first.groupby(first).groups.items():
        rows = bag.iloc[np.asarray(members, dtype=int)]
        units = rows.loc[rows["site_type"] == "new_build", "bag_units"]
        if units.notna().any():
            plans.loc[plans.index[j], "bag_units"] = float(units.sum())
        area = rows.loc[rows["site_type"] == "transformation", "floor_area_m2"]
        if len(area):
            plans.loc[plans.index[j], "floor_area_m2"] = float(area.sum())
            plans.loc[plans.index[j], "repurpose"] = True
        plans.loc[plans.index[j], "evidence"] = ", ".join(rows["site_id"].astype(str))
    keep = np.ones(len(bag), dtype=bool)
    keep[first.index.to_numpy(dtype=int)] = False
    return plans, bag.loc[keep].reset_index(drop=True)


def _land_sites(
    land: gpd.GeoDataFrame,
    land_type: str,
    typed: list[gpd.GeoDataFrame],
    buildings: gpd.GeoDataFrame | None,
    settings: SiteSettings,
) -> gpd.GeoDataFrame:
    geoms = land.geometry.to_numpy()
    keep = ~_taken(geoms, typed)
    if land_type != "file":
        # each test only on what the ones before left (most plots hold a building)
        keep[keep] = ~covered(geoms[keep], buildings, settings.max_building_cover)
        keep[keep] = (
            residential_neighbours(geoms[keep], buildings, settings.residential_context_m)
            >= settings.min_residential_buildings
        )
    kept = land.loc[keep]
    extra = [c for c in kept.columns if c not in (*OUTPUT_COLUMNS, kept.geometry.name)]
    frame = _frame(
        len(kept),
        land_type,
        kept.geometry.to_numpy(),
        site_id=kept["site_id"].astype(str).to_numpy(),
        source=(kept["source"].to_numpy() if "source" in kept.columns else [land_type] * len(kept)),
        temporary=(
            kept["temporary"].astype(bool).to_numpy()
            if "temporary" in kept.columns
            else [False] * len(kept)
        ),
    )
    for column in extra:
        frame[column] = kept[column].to_numpy()
    return frame


def _taken(geoms: np.ndarray, typed: list[gpd.GeoDataFrame]) -> np.ndarray:
    """Land whose representative point lies in a typed candidate, or that holds one's."""
    taken = np.zeros(len(geoms), dtype=bool)
    if not typed or not len(geoms):
        return taken
    others = np.concatenate([f.geometry.to_numpy() for f in typed])
    # query(input, predicate) pairs (input index, tree index) where input <predicate> tree
    land_in, _ = shapely.STRtree(others).query(shapely.point_on_surface(geoms), predicate="within")
    taken[land_in] = True
    _, land_rows = shapely.STRtree(geoms).query(
        shapely.point_on_surface(others), predicate="within"
    )
    taken[land_rows] = True
    return taken


def building_cover(geoms: np.ndarray, buildings: gpd.GeoDataFrame | None) -> np.ndarray:
    """Share of each polygon covered by building footprints (overlaps counted once per pair)."""
    if buildings is None or not len(buildings) or not len(geoms):
        return np.zeros(len(geoms))
    land_i, bld_i, blds = _cover_pairs(geoms, buildings)
    # GEOS' areas: the definition :func:`covered` decides by
    return _cover_share(geoms, land_i, geos_areas(geoms, blds, land_i, bld_i))


def covered(geoms: np.ndarray, buildings: gpd.GeoDataFrame | None, share: float) -> np.ndarray:
    """``building_cover(geoms, buildings) >= share`` (``share`` at most 1), exactly, with few
    overlays: the areas come from ``prepare.overlap`` (convex clips to a building's or the
    polygon's convex pieces), first each polygon's most overlapping building (by bounding
    boxes; for a plot, mostly its own), which alone often covers ``share``; all pairs only for
    the rest.

    Those areas agree with GEOS' to about 1e-11 of the polygon's area; a share within
    :data:`DECIDED_MARGIN` of ``share`` is summed again from GEOS' areas over the same pairs
    in the same order as :func:`building_cover`, so every decision is its."""
    if buildings is None or not len(buildings) or not len(geoms):
        return building_cover(geoms, buildings) >= share
    land_i, bld_i, blds = _cover_pairs(geoms, buildings)
    shared = np.full(len(land_i), np.nan)
    first = _most_overlapping(geoms, land_i, blds, bld_i)
    pairs = PairAreas(geoms, blds, land_i, bld_i)
    shared[first] = pairs.areas(first)
    area = shapely.area(geoms)
    partial = np.zeros(len(geoms))
    partial[land_i[first]] = shared[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        sure = (area > 0) & (partial / area >= share + DECIDED_MARGIN)
    rest = ~sure[land_i]
    todo = rest & np.isnan(shared)
    shared[todo] = pairs.areas(np.flatnonzero(todo))
    cover = _cover_share(geoms, land_i[rest], shared[rest])
    close = np.zeros(len(geoms), dtype=bool)
    close[land_i[rest]] = np.abs(cover[land_i[rest]] - share) <= DECIDED_MARGIN
    again = close[land_i]
    if again.any():
        shared[again] = geos_areas(geoms, blds, land_i[again], bld_i[again])
        cover[close] = _cover_share(geoms, land_i[again], shared[again])[close]
    result = cover >= share
    result[sure] = True
    return result


# a share this near the limit (as a share of the polygon) is decided on GEOS' areas: far above
# the differences of the clipped areas (1e-11) and of summing in another order
DECIDED_MARGIN = 1e-7


def _cover_pairs(
    geoms: np.ndarray, buildings: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(polygon index, building index, building footprints) of every pair whose bounds meet:
    one that does not intersect adds an area of 0 (clipped, or left out by ``geos_areas``),
    cheaper than asking GEOS' ``intersects`` of every pair."""
    blds = buildings.geometry.to_numpy()
    blds = blds[np.isin(shapely.get_type_id(blds), (3, 6))]
    land_i, bld_i = shapely.STRtree(blds).query(geoms)
    return land_i, bld_i, blds


def _cover_share(geoms: np.ndarray, land_i: np.ndarray, shared: np.ndarray) -> np.ndarray:
    cover = np.zeros(len(geoms))
    np.add.at(cover, land_i, shared)
    area = shapely.area(geoms)
    return np.where(area > 0, np.minimum(cover / np.where(area > 0, area, 1.0), 1.0), 1.0)


def _most_overlapping(
    geoms: np.ndarray, land_i: np.ndarray, others: np.ndarray, other_i: np.ndarray
) -> np.ndarray:
    """Per polygon among the pairs ``(geoms[land_i], others[other_i])``: the pair whose
    bounding boxes overlap most (its position in the pairs)."""
    if not len(land_i):
        return np.empty(0, dtype=np.intp)
    # each geometry's bounds once, not once per pair
    a = shapely.bounds(geoms)[land_i]
    b = shapely.bounds(others)[other_i]
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    overlap = np.clip(width, 0, None) * np.clip(height, 0, None)
    order = np.lexsort((-overlap, land_i))  # NaN (an empty geometry's bounds) last
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = land_i[order][1:] != land_i[order][:-1]
    return order[starts]


def residential_neighbours(
    geoms: np.ndarray, buildings: gpd.GeoDataFrame | None, radius_m: float
) -> np.ndarray:
    """Residential buildings whose representative point lies within ``radius_m`` of each
    polygon's outline (or inside it)."""
    counts = np.zeros(len(geoms), dtype=np.int64)
    if buildings is None or not len(buildings) or not len(geoms):
        return counts
    homes = buildings.loc[buildings["residential"].astype(bool)]
    if not len(homes):
        return counts
    points = shapely.point_on_surface(homes.geometry.to_numpy())
    # the pairs of STRtree(points).query(geoms, predicate="dwithin"), most decided by bounds
    land_i, _ = dwithin_pairs(geoms, points, radius_m, target_points=points)
    return np.bincount(land_i, minlength=len(geoms)).astype(np.int64)
