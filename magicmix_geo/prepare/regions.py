"""Regions of the OSM store: groups of neighbouring municipalities cut from the source first.

``osmium extract`` tests every object of its input against every extract of a pass, so one
pass of a few hundred extracts costs many times a plain read of the file. The store can
instead cut the source into a few regions (one pass, a bounding box per region), then each
region into its municipalities (a pass over a small file per region). With the ``smart``
strategy a municipality's extract from its region holds the same objects, in the same
order, as from the source (see :func:`region_box` for why), so only the cost differs.

Pure computation: which municipalities share a region, each region's box, and whether the
split pays. Cutting is :mod:`magicmix_geo.prepare.extracts`. Figures: bench/README.md,
"OSM store in regions".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shapely.geometry.base import BaseGeometry

# a region's box reaches this far (degrees, ~10 m) beyond its members' polygons, so that a
# node osmium finds inside a member's polygon is inside the box too, whatever the rounding
REGION_MARGIN_DEG = 1e-4
# the cost model, in one read of the source by a smart extract pass (three reads: objects,
# ways, objects again) per byte; measured on the 355-island country (bench/README.md)
POLYGON_TEST_COST = 0.03  # testing every object against one more polygon extract
BOX_TEST_COST = 0.02  # against one more bounding box
REGION_WRITE_COST = 0.8  # writing the region files (uncompressed PBF)
# the regions' files hold this much of the source together: objects near a region's edge
# are in two regions, and a box holds more than its members' polygons
REGION_OVERLAP = 1.2
# the split is used only when the model says it saves at least this share of the cost
MIN_SAVING = 0.2


@dataclass(frozen=True)
class Region:
    """A group of neighbouring municipalities: its key, its members' keys, and a box
    (west, south, east, north; WGS84 degrees) covering every member's extract polygon."""

    key: str
    members: tuple[str, ...]
    box: tuple[float, float, float, float]


def plan_regions(
    polygons: Mapping[str, BaseGeometry], per_pass: int, count: int | None = None
) -> list[Region]:
    """The regions to cut ``polygons`` (WGS84 extract polygons by key) through, or none when
    one level of passes is cheaper (few municipalities).

    ``per_pass`` is how many extracts one osmium pass may hold (memory); ``count`` forces
    that many regions (0: none) instead of the cheapest count by :func:`split_cost`.
    """
    keys = sorted(polygons)
    if count is None:
        count = best_region_count(len(keys), per_pass)
    if count < 2 or len(keys) < 2:
        return []
    centres = {key: _centre(polygons[key]) for key in keys}
    groups = group_by_position(centres, min(count, len(keys)))
    return [
        Region(f"R{i:03d}", tuple(group), region_box([polygons[k] for k in group]))
        for i, group in enumerate(groups)
    ]


def best_region_count(count: int, per_pass: int) -> int:
    """The number of regions that makes cutting ``count`` extracts cheapest, or 0 when no
    split saves :data:`MIN_SAVING` of one level's cost."""
    if count < 4:
        return 0
    single = single_cost(count, per_pass)
    best, best_cost = 0, single * (1 - MIN_SAVING)
    for regions in range(2, count // 2 + 1):
        cost = split_cost(count, regions, per_pass)
        if cost < best_cost:
            best, best_cost = regions, cost
    return best


def single_cost(count: int, per_pass: int) -> float:
    """The model's cost of cutting ``count`` extracts straight from the source."""
    return math.ceil(count / per_pass) + count * POLYGON_TEST_COST


def split_cost(count: int, regions: int, per_pass: int) -> float:
    """The model's cost of cutting ``count`` extracts through ``regions`` regions of equal
    size: a pass (or more) over the source for the regions, then each region's file, about
    :data:`REGION_OVERLAP` / ``regions`` of the source, cut into its members."""
    first = math.ceil(regions / per_pass) + regions * BOX_TEST_COST + REGION_WRITE_COST
    members = count / regions
    second = REGION_OVERLAP * (math.ceil(members / per_pass) + members * POLYGON_TEST_COST)
    return first + second


def group_by_position(centres: Mapping[str, tuple[float, float]], count: int) -> list[list[str]]:
    """``count`` groups of neighbouring keys, of sizes differing by one at most: recursive
    bisection of the centres (lon, lat) across their wider extent (longitude scaled by the
    cosine of the latitude). Deterministic: ties are broken by key."""
    if count < 1:
        raise ValueError("at least one group")
    keys = sorted(centres)
    mean_lat = sum(centres[k][1] for k in keys) / len(keys) if keys else 0.0
    scale = math.cos(math.radians(mean_lat))
    points = {k: (centres[k][0] * scale, centres[k][1]) for k in keys}
    return _bisect(keys, points, min(count, max(len(keys), 1)))


def _bisect(
    keys: Sequence[str], points: Mapping[str, tuple[float, float]], count: int
) -> list[list[str]]:
    if count == 1:
        return [list(keys)]
    xs = [points[k][0] for k in keys]
    ys = [points[k][1] for k in keys]
    axis = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
    ordered = sorted(keys, key=lambda k: (points[k][axis], k))
    left = count // 2
    cut = round(len(ordered) * left / count)
    return _bisect(ordered[:cut], points, left) + _bisect(ordered[cut:], points, count - left)


def region_box(polygons: Sequence[BaseGeometry]) -> tuple[float, float, float, float]:
    """The box (WGS84) of a region: its members' polygons' bounds grown by
    :data:`REGION_MARGIN_DEG`, rounded outwards to OSM's 1e-7 degrees.

    Why a municipality's extract is the same from its region's file as from the source
    (osmium's smart strategy): every node inside its polygon lies inside the box, so the
    region holds those nodes, every way using one of them with all its nodes, every relation
    with such a member and its parent relations, and every multipolygon relation with such a
    member with all its member ways and their nodes: all the objects the municipality's
    extract takes, each as in the source, in the source's order.
    """
    bounds = [p.bounds for p in polygons]
    west = min(b[0] for b in bounds) - REGION_MARGIN_DEG
    south = min(b[1] for b in bounds) - REGION_MARGIN_DEG
    east = max(b[2] for b in bounds) + REGION_MARGIN_DEG
    north = max(b[3] for b in bounds) + REGION_MARGIN_DEG
    return (_floor7(west), _floor7(south), _ceil7(east), _ceil7(north))


def _centre(polygon: BaseGeometry) -> tuple[float, float]:
    west, south, east, north = polygon.bounds
    return (west + east) / 2, (south + north) / 2


def _floor7(value: float) -> float:
    return math.floor(value * 1e7) / 1e7


def _ceil7(value: float) -> float:
    return math.ceil(value * 1e7) / 1e7
