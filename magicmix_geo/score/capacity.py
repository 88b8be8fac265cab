"""Capacity and policy view: homes per site, homes reserved for statushouders, site selection
per municipality, and the comparison with the municipality's task (taakstelling).

The booklet proposes to reserve at least 5 % of every suitable new-build project for
statushouders ("super socials"), housed in clusters of at most 8 households. Pure computation;
the task table is read by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from magicmix_geo.config import CapacitySettings
from magicmix_geo.contract import MunicipalityResult
from magicmix_geo.site_types import SITE_TYPES

# CBS stedelijkheid from the address density (omgevingsadressendichtheid, addresses per km2)
URBANITY_BREAKS = ((2500, 1), (1500, 2), (1000, 3), (500, 4))


def urbanity_from_address_density(density: pd.Series | np.ndarray) -> np.ndarray:
    """CBS urbanity class 1 (very strongly urban) .. 5 (not urban); NaN stays NaN."""
    d = np.asarray(density, dtype=np.float64)
    classes = np.full(d.shape, 5.0)
    for threshold, cls in reversed(URBANITY_BREAKS):
        classes = np.where(d >= threshold, cls, classes)
    return np.where(np.isnan(d), np.nan, classes)


def estimate_homes(
    area_m2: pd.Series | np.ndarray,
    urbanity: pd.Series | np.ndarray,
    settings: CapacitySettings,
    *,
    known_units: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """Homes a project on each site could hold (``homes_est``).

    Known new-build units (BAG verblijfsobjecten of a project with a permit or under
    construction) are used as they are; otherwise the site's area times the density norm of
    its urbanity class (unknown class: the least urban norm), bounded to the booklet's
    project range ``[min_homes, max_homes]``.
    """
    area_ha = np.asarray(area_m2, dtype=np.float64) / 10_000.0
    cls = np.asarray(urbanity, dtype=np.float64)
    fallback = settings.homes_per_ha[max(settings.homes_per_ha)]
    norm = np.array(
        [settings.homes_per_ha.get(int(c), fallback) if np.isfinite(c) else fallback for c in cls]
    )
    estimate = np.clip(np.floor(area_ha * norm), settings.min_homes, settings.max_homes)
    if known_units is not None:
        known = np.asarray(known_units, dtype=np.float64)
        estimate = np.where(np.isfinite(known) & (known > 0), known, estimate)
    return estimate.astype(np.int64)


def reserved_homes(homes: np.ndarray, share: float, settings: CapacitySettings) -> np.ndarray:
    """``homes_reserved``: the share of a project's homes, rounded up to whole homes, raised to
    one cluster (``cluster_min`` households) where the project holds at least that many homes,
    and never more than the project holds. A project smaller than a cluster reserves its plain
    share: it is not excluded for its size."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"reserve share must be in (0, 1], got {share}")
    total = np.asarray(homes, dtype=np.float64)
    raw = np.ceil(total * share - 1e-9)
    reserved = np.where(total >= settings.cluster_min, np.maximum(raw, settings.cluster_min), raw)
    return np.minimum(reserved, total).astype(np.int64)


def reserve_clusters(reserved: np.ndarray, settings: CapacitySettings) -> np.ndarray:
    """Clusters of ``cluster_min``..``cluster_max`` households the reserved homes make (any
    number from ``cluster_min`` up splits into such clusters); 0 below one cluster."""
    r = np.asarray(reserved, dtype=np.int64)
    return np.where(r >= settings.cluster_min, -(-r // settings.cluster_max), 0).astype(np.int64)


def planned_homes(
    sites: pd.DataFrame, urbanity: pd.Series | np.ndarray, settings: CapacitySettings
) -> tuple[np.ndarray, np.ndarray]:
    """``homes_planned`` and ``homes_source`` of each candidate, from its source first.

    In order: the plan's homes (``plan_homes``, "plan"); BAG residential units of a new-build
    project (``bag_units`` or the older ``new_build_units``, "bag_units"); the floor area of
    a building to repurpose over ``m2_per_home`` (``floor_area_m2``, "floor_area", at least
    one home); else the density norm of the site's area (:func:`estimate_homes`,
    "density_norm").
    """
    n = len(sites)

    def column(name: str) -> np.ndarray:
        if name not in sites.columns:
            return np.full(n, np.nan)
        return pd.to_numeric(sites[name], errors="coerce").to_numpy(dtype=np.float64)

    norm = estimate_homes(sites["area_m2"], urbanity, settings).astype(np.float64)
    homes = norm.copy()
    source = np.full(n, "density_norm", dtype=object)
    floor = column("floor_area_m2")
    repurpose = (
        (sites["site_type"] == "transformation").to_numpy()
        if "site_type" in sites
        else np.zeros(n, dtype=bool)
    )
    by_area = repurpose & np.isfinite(floor) & (floor > 0)
    homes = np.where(by_area, np.maximum(np.floor(floor / settings.m2_per_home), 1), homes)
    source = np.where(by_area, "floor_area", source)
    units = column("bag_units")
    units = np.where(np.isfinite(units), units, column("new_build_units"))
    by_units = np.isfinite(units) & (units > 0)
    homes = np.where(by_units, units, homes)
    source = np.where(by_units, "bag_units", source)
    plan = column("plan_homes")
    by_plan = np.isfinite(plan)
    homes = np.where(by_plan, plan, homes)
    source = np.where(by_plan, "plan", source)
    return homes.astype(np.int64), source


def select_sites(
    sites: pd.DataFrame, points: np.ndarray, task: float | None, settings: CapacitySettings
) -> np.ndarray:
    """Greedy selection by ``rank_gm`` that keeps sites apart.

    A site is taken when its buurt holds fewer than ``max_sites_per_buurt`` selected sites and
    it lies at least ``min_distance_m`` from every selected site (no concentration, as the
    booklet asks); selection stops once the reserved homes meet ``task`` (all eligible sites
    are taken when the task is unknown). ``points`` are the sites' (x, y) in EPSG:28992.
    Returns a boolean mask aligned with ``sites``.
    """
    selected = np.zeros(len(sites), dtype=bool)
    ranked = sites["rank_gm"].notna().to_numpy()
    if not ranked.any():
        return selected
    order = np.flatnonzero(ranked)[np.argsort(sites["rank_gm"].to_numpy()[ranked].astype(int))]
    buurt = (
        sites["bu_code"].fillna("").astype(str).to_numpy()
        if "bu_code" in sites
        else np.full(len(sites), "", dtype=object)
    )
    reserved = sites["homes_reserved"].to_numpy(dtype=np.int64)
    spacing = _Spacing(settings.min_distance_m)
    per_buurt: dict[str, int] = {}
    total = 0
    for i in order:
        if task is not None and total >= task:
            break
        key = buurt[i]
        if key and per_buurt.get(key, 0) >= settings.max_sites_per_buurt:
            continue
        if not spacing.free(points[i, 0], points[i, 1]):
            continue
        selected[i] = True
        spacing.add(points[i, 0], points[i, 1])
        if key:
            per_buurt[key] = per_buurt.get(key, 0) + 1
        total += int(reserved[i])
    return selected


class _Spacing:
    """Selected points on a grid of ``min_distance`` cells: a new point need only be checked
    against the 3 x 3 cells around it, so selection stays linear in the number of sites."""

    def __init__(self, min_distance: float) -> None:
        self.min_distance = float(min_distance)
        self.cells: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        return int(np.floor(x / self.min_distance)), int(np.floor(y / self.min_distance))

    def free(self, x: float, y: float) -> bool:
        if self.min_distance <= 0:
            return True
        cx, cy = self._cell(x, y)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for px, py in self.cells.get((cx + dx, cy + dy), ()):
                    if (px - x) ** 2 + (py - y) ** 2 < self.min_distance**2:
                        return False
        return True

    def add(self, x: float, y: float) -> None:
        if self.min_distance > 0:
            self.cells.setdefault(self._cell(x, y), []).append((x, y))


def site_points(geometry: np.ndarray) -> np.ndarray:
    """(x, y) of a point inside each polygon."""
    return shapely.get_coordinates(shapely.point_on_surface(geometry))


def municipality_summary(
    sites: pd.DataFrame, tasks: pd.DataFrame | None, share: float
) -> pd.DataFrame:
    """Per municipality: sites ranked and selected, homes reserved, task, coverage, shortfall.

    ``tasks`` has ``gm_code``, ``period``, ``taakstelling`` (persons) and, when converted by
    ``prepare.tasks.tasks_in_homes``, ``taakstelling_homes``: coverage and shortfall compare the
    homes reserved with the task in homes then, else with the task as given. Tasks of several
    periods of one municipality are summed (say which periods in ``period``).
    """
    grouped = sites.groupby("gm_code", sort=True)
    summary = pd.DataFrame(
        {
            "sites_ranked": grouped["rank_gm"].count(),
            "sites_selected": grouped["selected"].sum().astype(int),
            "homes_est_selected": grouped.apply(
                lambda g: int(g.loc[g["selected"], "homes_est"].sum()), include_groups=False
            ),
            "homes_reserved": grouped.apply(
                lambda g: int(g.loc[g["selected"], "homes_reserved"].sum()), include_groups=False
            ),
        }
    )
    summary["reserve_share"] = share
    summary = summary.join(_reserved_by_type(sites))
    by_type = [f"homes_reserved_{kind}" for kind in SITE_TYPES]
    if tasks is not None and len(tasks):
        in_homes = "taakstelling_homes" in tasks.columns
        per_gm = tasks.groupby("gm_code").agg(
            taakstelling=("taakstelling", "sum"),
            taakstelling_homes=("taakstelling_homes" if in_homes else "taakstelling", "sum"),
            period=("period", lambda p: ",".join(sorted(map(str, set(p))))),
        )
        summary = summary.join(per_gm, how="outer")
        counts = [
            "sites_ranked",
            "sites_selected",
            "homes_est_selected",
            "homes_reserved",
            *by_type,
        ]
        summary[counts] = summary[counts].fillna(0).astype(int)
        summary["reserve_share"] = share
        task = summary["taakstelling_homes"].astype(float)
        summary["coverage"] = np.where(task > 0, summary["homes_reserved"] / task, np.nan)
        summary["shortfall"] = np.maximum(task - summary["homes_reserved"], 0)
        summary["falls_short"] = summary["homes_reserved"] < task
    else:
        summary["taakstelling"] = np.nan
        summary["taakstelling_homes"] = np.nan
        summary["period"] = None
        summary["coverage"] = np.nan
        summary["shortfall"] = np.nan
        summary["falls_short"] = pd.NA
    summary.index.name = "gm_code"
    summary = summary.reset_index()
    total = {
        "gm_code": "NL",
        "sites_ranked": int(summary["sites_ranked"].sum()),
        "sites_selected": int(summary["sites_selected"].sum()),
        "homes_est_selected": int(summary["homes_est_selected"].sum()),
        "homes_reserved": int(summary["homes_reserved"].sum()),
        **{c: int(summary[c].sum()) for c in by_type},
        "reserve_share": share,
        "taakstelling": summary["taakstelling"].sum(min_count=1),
        "taakstelling_homes": summary["taakstelling_homes"].sum(min_count=1),
        "period": None,
    }
    task_homes = total["taakstelling_homes"]
    if pd.notna(task_homes) and task_homes > 0:
        total["coverage"] = total["homes_reserved"] / task_homes
        total["shortfall"] = float(summary["shortfall"].sum())
        total["falls_short"] = bool(total["homes_reserved"] < task_homes)
    return pd.concat([summary, pd.DataFrame([total])], ignore_index=True)


def _reserved_by_type(sites: pd.DataFrame) -> pd.DataFrame:
    """Homes reserved on the selected sites of each type (``homes_reserved_<type>``)."""
    chosen = sites.loc[sites["selected"].astype(bool)]
    columns = {}
    for kind in SITE_TYPES:
        mine = chosen.loc[chosen["site_type"] == kind] if "site_type" in chosen else chosen.iloc[:0]
        columns[f"homes_reserved_{kind}"] = mine.groupby("gm_code")["homes_reserved"].sum()
    table = pd.DataFrame(columns).reindex(sorted(sites["gm_code"].unique())).fillna(0)
    return table.astype(int)


def apply_capacity(
    sites: pd.DataFrame,
    geometry: np.ndarray,
    settings: CapacitySettings,
    share: float,
    task: float | None,
) -> pd.DataFrame:
    """``homes_planned``, ``homes_source``, ``homes_est`` (= ``homes_planned``),
    ``homes_reserved``, ``reserve_clusters`` and ``selected`` for one municipality's sites.

    ``sites`` needs ``area_m2``, ``rank_gm`` and, when known, ``site_type``, ``plan_homes``,
    ``bag_units`` (or ``new_build_units``), ``floor_area_m2``, ``urbanity`` and ``bu_code``;
    ``geometry`` holds the site polygons (EPSG:28992).
    """
    out = sites.copy()
    urbanity = out["urbanity"] if "urbanity" in out else np.full(len(out), np.nan)
    homes, source = planned_homes(out, urbanity, settings)
    out["homes_planned"] = homes
    out["homes_source"] = source
    # homes_est: the name of the first capacity view (issue #8), kept for readers of it
    out["homes_est"] = homes
    out["homes_reserved"] = reserved_homes(homes, share, settings)
    out["reserve_clusters"] = reserve_clusters(out["homes_reserved"].to_numpy(), settings)
    out["selected"] = select_sites(out, site_points(geometry), task, settings)
    return out


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

    def task_of(self, gm_code: str) -> float | None:
        """The municipality's task (summed over periods), None without one."""
        if self.tasks is None:
            return None
        mine = self.tasks.loc[self.tasks["gm_code"] == gm_code, "taakstelling"]
        return float(mine.sum()) if len(mine) else None


def with_capacity(
    result: MunicipalityResult, settings: CapacitySettings, capacity: CapacityRun
) -> gpd.GeoDataFrame:
    """The sites of ``result`` with ``homes_est``, ``homes_reserved`` and ``selected``."""
    sites = result.sites
    table = apply_capacity(
        pd.DataFrame(sites.drop(columns="geometry")),
        sites.geometry.to_numpy(),
        settings,
        capacity.share,
        capacity.task_of(result.gm_code),
    )
    return gpd.GeoDataFrame(table, geometry=sites.geometry.to_numpy(), crs=sites.crs)
