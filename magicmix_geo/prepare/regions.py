"""Regions of the OSM store: groups of neighbouring municipalities cut from the source first.

A large shared OSM file (a national or province file) is cut into a few regions (one
``osmium extract`` pass, an outline per region), and each region's file is parsed once,
in parallel processes, for its members' slices. With the ``smart`` strategy a region's file
holds every object a member's extract would hold, each as in the source, in the source's
order (see :func:`region_outline` for why), so a member's slice is the same from its region
as from the whole file. Regions bound the memory of one parse (:data:`SLICE_REGION_NODES`).

A region's outline is its members' polygons' union, grown a little and simplified, not their
bounding box: municipalities are irregular, and every region's file is parsed. For the CBS
municipalities' grown polygons in 14 regions of :data:`SLICE_REGION_NODES` the boxes hold
1.57 x the country's area (1.69 x its people), the outlines 1.23 x (1.31 x); in 26 regions of
4 M nodes, the size before, the boxes held 1.87 x (2.02 x) (``bench/region_outlines.py``).

Pure computation: which municipalities share a region, and each region's outline. Cutting
and parsing are :mod:`magicmix_geo.prepare.extracts`. Figures: bench/README.md, "Slices".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

# a region's outline lies at least this far (degrees, ~10 m) outside its members' polygons, so
# that a node osmium finds inside a member's polygon is inside the outline too, whatever the
# rounding (osmium: "nodes directly on the boundary ... might end up in the extract or not")
REGION_MARGIN_DEG = 1e-4
# the outline: the members' union grown by this much (degrees, ~50 m) and simplified within
# half of it (fewer vertices for osmium to test), so it stays REGION_MARGIN_DEG outside
OUTLINE_GROWTH_DEG = 5e-4
# slices (prepare/extracts.slice_areas): a source of at most this many nodes is parsed whole,
# a larger one in regions of about this many nodes each. Parsing holds ~200 MB per million
# nodes (bench/README.md, "Slices") and a region's file ~1.3 x its share (its outline reaches
# into its neighbours'): ~2 GB a program, two at once. Fewer, larger regions overlap less: the
# CBS municipalities' outlines hold 1.34-1.47 x the country in 26 regions (4 M nodes each),
# 1.23-1.31 x in 14 (bench/region_outlines.py)
SLICE_REGION_NODES = 8_000_000


@dataclass(frozen=True)
class Region:
    """A group of neighbouring municipalities: its key, its members' keys, and the outline
    (WGS84) osmium cuts it with, covering every member's extract polygon with a margin."""

    key: str
    members: tuple[str, ...]
    outline: MultiPolygon


def plan_slice_regions(
    polygons: Mapping[str, BaseGeometry],
    source_nodes: int,
    count: int | None = None,
    parallel: int = 1,
) -> list[Region]:
    """The regions whose files are parsed for the slices of ``polygons`` (WGS84 extract
    polygons by key), or none when the source (``source_nodes`` nodes) is parsed whole.

    A source of at most :data:`SLICE_REGION_NODES` nodes is parsed whole; a larger one in
    regions of about that many nodes, their number rounded up to a multiple of ``parallel``
    (the regions parsed at once) and cut down to the number of polygons (one municipality of
    a national file is one region, its box). ``count`` forces that many regions (0: none).
    """
    if not polygons:
        return []
    if count is None and source_nodes <= SLICE_REGION_NODES:
        return []
    if count is None:
        count = -(-source_nodes // SLICE_REGION_NODES)
        count = -(-count // parallel) * parallel
    if count < 1:
        return []
    return grouped(polygons, count)


def grouped(polygons: Mapping[str, BaseGeometry], count: int) -> list[Region]:
    """``polygons`` in ``count`` regions of neighbours (fewer when there are fewer polygons)."""
    keys = sorted(polygons)
    centres = {key: _centre(polygons[key]) for key in keys}
    groups = group_by_position(centres, min(count, len(keys)))
    return [
        Region(f"R{i:03d}", tuple(group), region_outline([polygons[k] for k in group]))
        for i, group in enumerate(groups)
    ]


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


def region_outline(polygons: Sequence[BaseGeometry]) -> MultiPolygon:
    """The outline (WGS84) of a region: its members' polygons' union grown by
    :data:`OUTLINE_GROWTH_DEG`, simplified within half of that, coordinates rounded to OSM's
    1e-7 degrees; checked to cover the union grown by :data:`REGION_MARGIN_DEG` (else, which
    simplification should never cause, the members' bounding box so grown).

    Why a municipality's slice is the same from its region's file as from the source
    (osmium's smart strategy): every node inside its polygon lies inside the outline, so the
    region holds those nodes, every way using one of them with all its nodes, every relation
    with such a member and its parent relations, and every multipolygon relation with such a
    member with all its member ways and their nodes: all the objects the municipality's
    smart extract takes, each as in the source, in the source's order; its slice is cut
    from them.
    """
    union = shapely.union_all(list(polygons))
    grown = shapely.buffer(union, OUTLINE_GROWTH_DEG, quad_segs=2)
    simple = shapely.simplify(grown, OUTLINE_GROWTH_DEG / 2, preserve_topology=True)
    outline = shapely.transform(simple, lambda xy: np.round(xy, 7))
    if not shapely.covers(outline, shapely.buffer(union, REGION_MARGIN_DEG, quad_segs=2)):
        outline = shapely.box(*region_box(polygons))
    return outline if isinstance(outline, MultiPolygon) else MultiPolygon([outline])


def region_box(polygons: Sequence[BaseGeometry]) -> tuple[float, float, float, float]:
    """The box (WGS84) of ``polygons``' bounds grown by :data:`REGION_MARGIN_DEG`, rounded
    outwards to OSM's 1e-7 degrees."""
    bounds = [p.bounds for p in polygons]
    west = min(b[0] for b in bounds) - REGION_MARGIN_DEG
    south = min(b[1] for b in bounds) - REGION_MARGIN_DEG
    east = max(b[2] for b in bounds) + REGION_MARGIN_DEG
    north = max(b[3] for b in bounds) + REGION_MARGIN_DEG
    return (_floor7(west), _floor7(south), _ceil7(east), _ceil7(north))


def osmium_area(outline: MultiPolygon) -> dict[str, list[list[list[list[float]]]]]:
    """``outline`` as an extract's area in ``osmium extract``'s config file: ``multipolygon``,
    a list of polygons, each a list of rings (the outer first), each a list of [lon, lat]."""
    parts: list[Polygon] = list(outline.geoms)
    return {
        "multipolygon": [
            [[[x, y] for x, y in ring.coords] for ring in (part.exterior, *part.interiors)]
            for part in parts
        ]
    }


def _centre(polygon: BaseGeometry) -> tuple[float, float]:
    west, south, east, north = polygon.bounds
    return (west + east) / 2, (south + north) / 2


def _floor7(value: float) -> float:
    return math.floor(value * 1e7) / 1e7


def _ceil7(value: float) -> float:
    return math.ceil(value * 1e7) / 1e7
