"""CPU of the four area-of-overlap computations, plain GEOS against ``prepare/overlap.py``.

The land filter's building cover (``prepare.sites.covered``), the residential share of a disc
(``measure.context.share_covered``), the water and road share of a site
(``measure.site_cover.covered_share``) and the footprint area per raster cell
(``measure.density.building_cover``) are timed on the arguments they get in the BRK run of
``bench/kadaster_parcels.py`` (``n`` copies of the Delft sample; built by that bench). The
arguments are captured once from a run of the pipeline (``--capture``, saved next to the
run's files); then each function is timed in turns against the plain GEOS computation it
replaced (kept here as the reference), in this process, on the same data, and the results
compared. Run::

    PYTHONPATH=$PWD .venv/bin/python bench/overlaps.py --copies 16 --capture
    PYTHONPATH=$PWD .venv/bin/python bench/overlaps.py --copies 16 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import magicmix_geo.measure.density as density
import magicmix_geo.measure.indicators as indicators
import magicmix_geo.measure.model_inputs as model_inputs
import magicmix_geo.prepare.sites as sites
from magicmix_geo.measure import context, site_cover

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
MAIN_WORK = Path("/work/main/bench/_work")
ARGS_FILE = "overlap_args.pkl"
# (module whose global the pipeline calls, name) of each timed function
CAPTURED = (
    (sites, "covered"),
    (indicators, "share_covered"),
    (model_inputs, "covered_share"),
    (density, "building_cover"),
)


def capture(work: Path) -> Path:
    """Run the BRK ranking of ``work`` once and save every call's arguments."""
    from kadaster_parcels import work_inputs

    from magicmix_geo.cache import rank_cached
    from magicmix_geo.config import load_settings

    calls: list[tuple[str, tuple[Any, ...]]] = []
    for module, name in CAPTURED:
        inner: Callable[..., Any] = getattr(module, name)

        def wrapper(*args: Any, _inner: Any = inner, _name: str = name) -> Any:
            calls.append((_name, args))
            return _inner(*args)

        setattr(module, name, wrapper)
    rank_cached(work_inputs(work), load_settings(), None)
    target = WORK / work.name / ARGS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
    return target


# the plain GEOS computations the fast ones replaced (the code before issue 12's overlaps)


def geos_building_share(geoms: np.ndarray, buildings: gpd.GeoDataFrame | None) -> np.ndarray:
    if buildings is None or not len(buildings) or not len(geoms):
        return np.zeros(len(geoms))
    blds = buildings.geometry.to_numpy()
    blds = blds[np.isin(shapely.get_type_id(blds), (3, 6))]
    land_i, bld_i = shapely.STRtree(blds).query(geoms, predicate="intersects")
    shared = shapely.area(shapely.intersection(geoms[land_i], blds[bld_i]))
    cover = np.zeros(len(geoms))
    np.add.at(cover, land_i, shared)
    area = shapely.area(geoms)
    return np.where(area > 0, np.minimum(cover / np.where(area > 0, area, 1.0), 1.0), 1.0)


def geos_covered(geoms: np.ndarray, buildings: gpd.GeoDataFrame | None, share: float) -> np.ndarray:
    """``sites.covered`` before: GEOS' areas, first round on the most overlapping building."""
    if buildings is None or not len(buildings) or not len(geoms):
        return geos_building_share(geoms, buildings) >= share
    blds = buildings.geometry.to_numpy()
    blds = blds[np.isin(shapely.get_type_id(blds), (3, 6))]
    land_i, bld_i = shapely.STRtree(blds).query(geoms, predicate="intersects")
    shared = np.full(len(land_i), np.nan)
    first = _most_overlapping(geoms, land_i, blds[bld_i])
    shared[first] = shapely.area(shapely.intersection(geoms[land_i[first]], blds[bld_i[first]]))
    area = shapely.area(geoms)
    partial = np.zeros(len(geoms))
    partial[land_i[first]] = shared[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        sure = (area > 0) & (partial / area >= share * (1.0 + 1e-9))
    rest = ~sure[land_i]
    todo = rest & np.isnan(shared)
    shared[todo] = shapely.area(shapely.intersection(geoms[land_i[todo]], blds[bld_i[todo]]))
    cover = np.zeros(len(geoms))
    np.add.at(cover, land_i[rest], shared[rest])
    result = np.where(area > 0, np.minimum(cover / np.where(area > 0, area, 1.0), 1.0), 1.0)
    decided = result >= share
    decided[sure] = True
    return decided


def _most_overlapping(geoms: np.ndarray, land_i: np.ndarray, others: np.ndarray) -> np.ndarray:
    if not len(land_i):
        return np.empty(0, dtype=np.intp)
    a = shapely.bounds(geoms[land_i])
    b = shapely.bounds(others)
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    overlap = np.clip(width, 0, None) * np.clip(height, 0, None)
    order = np.lexsort((-overlap, land_i))
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = land_i[order][1:] != land_i[order][:-1]
    return order[starts]


def geos_share_covered(points: gpd.GeoSeries, cover: gpd.GeoSeries, radius_m: float) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0)
    if len(cover) == 0:
        return np.zeros(len(points))
    union = shapely.union_all(shapely.make_valid(cover.to_numpy()))
    discs = shapely.buffer(points.to_numpy(), radius_m, quad_segs=16)
    shapely.prepare(union)
    covered = shapely.area(shapely.intersection(discs, union))
    return np.clip(covered / shapely.area(discs), 0.0, 1.0)


def geos_cell_cover(buildings: gpd.GeoSeries, transform: Any, shape: tuple[int, int]) -> Any:
    out = np.zeros(shape, dtype=np.float64)
    geoms = buildings.to_numpy()
    geoms = geoms[~shapely.is_empty(geoms) & ~pd.isna(geoms)]
    rows, cols = shape
    cell = transform.a
    x0, y1 = transform.c, transform.f
    xs = x0 + np.arange(cols) * cell
    ys = y1 - np.arange(rows) * cell
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), (gy - cell).ravel(), (gx + cell).ravel(), gy.ravel())
    bld_idx, cell_idx = shapely.STRtree(boxes).query(geoms, predicate="intersects")
    area = shapely.area(shapely.intersection(geoms[bld_idx], boxes[cell_idx]))
    np.add.at(out.reshape(-1), cell_idx, area)
    return out


def _values(result: Any) -> np.ndarray:
    return np.asarray(getattr(result, "data", getattr(result, "values", result)), dtype=float)


def compare(name: str, new: Any, old: Any) -> str:
    a, b = _values(new), _values(old)
    if a.dtype == bool or name == "covered":
        return f"{int(np.sum(a != b))} of {a.size} decisions differ"
    return f"max abs diff {float(np.max(np.abs(a - b), initial=0.0)):.3g}"


REFERENCES: dict[str, Callable[..., Any]] = {
    "covered": geos_covered,
    "share_covered": geos_share_covered,
    "covered_share": site_cover.covered_share,  # unchanged: GEOS both sides
    "building_cover": geos_cell_cover,
}
NEW: dict[str, Callable[..., Any]] = {
    "covered": sites.covered,
    "share_covered": context.share_covered,
    "covered_share": site_cover.covered_share,
    "building_cover": density.building_cover,
}


def time_calls(calls: list[tuple[str, tuple[Any, ...]]], rounds: int) -> dict[str, Any]:
    """CPU seconds of every captured call, new and old in turns, summed per function."""
    spent: dict[str, dict[str, float]] = {}
    checks: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, args in calls:
            results = {}
            for label, table in (("new", NEW), ("old", REFERENCES)):
                clock = time.process_time()
                results[label] = table[name](*args)
                used = time.process_time() - clock
                slot = spent.setdefault(name, {"new": 0.0, "old": 0.0})
                slot[label] += used / rounds
            if len(checks.get(name, [])) < sum(1 for n, _ in calls if n == name):
                checks.setdefault(name, []).append(compare(name, results["new"], results["old"]))
    return {
        name: {k: round(v, 3) for k, v in slot.items()} | {"check": checks[name]}
        for name, slot in spent.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--capture", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    name = f"big-{args.copies}"
    work = WORK / name if (WORK / name / "percelen.gpkg").is_file() else MAIN_WORK / name
    saved = WORK / name / ARGS_FILE
    if args.capture:
        print(f"captured {capture(work)}")
        return 0
    if not saved.is_file():
        print(f"{saved}: not captured; run with --capture first", file=sys.stderr)
        return 2
    calls = pickle.loads(saved.read_bytes())
    print(json.dumps({"copies": args.copies, "cpu_s": time_calls(calls, args.rounds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
