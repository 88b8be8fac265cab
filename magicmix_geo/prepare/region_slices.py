"""Cutting every member's slice out of a region's parsed OSM data on arrays (pure computation).

:func:`~magicmix_geo.prepare.osm_slice.slice_osm` and
:func:`~magicmix_geo.prepare.osm_slice_file.write_slice` work on frames: shapely geometries,
projected with ``GeoDataFrame.to_crs``, taken apart again into coordinates and offsets for
every member. The OSM store cuts dozens of members from each region, so here the region is
taken apart once, before any frame is made:

- areas and lines become coordinates with offsets (GeoArrow's layout, which is the slice
  file's), their WKB read once;
- every coordinate is projected once, by the transformation ``to_crs`` uses (pyproj's
  ``Transformer.from_crs`` of the same two CRS, ``always_xy``), which works coordinate by
  coordinate: the same input gives the same bits;
- the tag columns are laid out as the slice file holds them;

and each member's :class:`~magicmix_geo.prepare.osm_slice_file.SliceParts` is gathered from
those arrays by the rows :func:`~magicmix_geo.prepare.osm_slice.kept_rows` keeps. Written with
:func:`~magicmix_geo.prepare.osm_slice_file.write_parts`, a member's slice is byte for byte
the file ``write_slice(slice_osm(...))`` writes (``tests/test_region_slices.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from magicmix_geo.prepare.osm import RD_NEW, WGS84, ParsedOsm, WalkWays
from magicmix_geo.prepare.osm_slice import Vertices, kept_rows, ranges, walk_rows
from magicmix_geo.prepare.osm_slice_file import (
    SliceParts,
    TagArrays,
    counts_to_offsets,
    require_rings,
    tag_arrays,
    type_codes,
)
from magicmix_geo.prepare.wkb_ragged import line_strings, multipolygons


@dataclass(frozen=True)
class Ragged:
    """Coordinates (n, 2) grouped by one or more levels of offsets, outermost first: for
    multipolygons the parts of each area, the rings of each part, the coordinates of each
    ring; for lines the coordinates of each line."""

    xy: np.ndarray
    offsets: tuple[np.ndarray, ...]

    def take(self, rows: np.ndarray) -> Ragged:
        """The ``rows`` (indices, in the order given) with all they hold."""
        taken = []
        for offsets in self.offsets:
            rows, new = take_ranges(offsets, rows)
            taken.append(new)
        return Ragged(self.xy[rows], tuple(taken))

    def vertex_counts(self) -> np.ndarray:
        """How many coordinates each outermost row holds."""
        ends = self.offsets[0]
        for offsets in self.offsets[1:]:
            ends = offsets[ends]
        return np.diff(ends)


def take_ranges(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the items of ``rows`` (row ``i`` holds ``offsets[i]:offsets[i + 1]``)
    one row after the other, and the offsets of those rows alone."""
    first = offsets[rows]
    counts = offsets[rows + 1] - first
    return ranges(first, counts), counts_to_offsets(counts)


@dataclass(frozen=True)
class RegionArrays:
    """A region's parsed data as arrays, its coordinates projected (EPSG:28992), and the
    vertices slicing looks at (WGS84)."""

    walk: WalkWays
    columns: tuple[str, ...]
    feature_type: np.ndarray
    feature_ids: np.ndarray
    point_rows: np.ndarray
    area_rows: np.ndarray
    point_xy: np.ndarray
    areas: Ragged
    feature_tags: TagArrays
    lines: Ragged
    line_ids: np.ndarray
    line_tags: TagArrays
    vertices: Vertices

    @classmethod
    def of(cls, parsed: ParsedOsm) -> RegionArrays:
        """Raises ValueError when an area is not a 2-D multipolygon of closed rings of 4 or
        more coordinates, or a line not a 2-D line string (as ``write_slice`` does)."""
        count = len(parsed.feature_ids)
        is_point = np.zeros(count, dtype=bool)
        is_point[parsed.point_rows] = True
        areas = _areas(parsed.area_wkb)
        lines = _lines(parsed.line_wkb)
        feature_xy, feature_row = _feature_vertices(parsed.point_xy, areas, is_point)
        line_row = np.repeat(np.arange(len(parsed.line_ids)), np.diff(lines.offsets[0]))
        vertices = Vertices.of(
            parsed.walk,
            (feature_xy, feature_row, is_point, parsed.feature_ids),
            (lines.xy, line_row, len(parsed.line_ids)),
        )
        point_xy, area_xy, line_xy = _projected(parsed.point_xy, areas, lines.xy)
        return cls(
            walk=parsed.walk,
            columns=parsed.columns,
            feature_type=type_codes(parsed.feature_types),
            feature_ids=parsed.feature_ids,
            point_rows=parsed.point_rows,
            area_rows=np.flatnonzero(~is_point),
            point_xy=point_xy,
            areas=Ragged(area_xy, areas.offsets),
            feature_tags=tag_arrays([parsed.tag_column(i) for i in range(len(parsed.columns))]),
            lines=Ragged(line_xy, lines.offsets),
            line_ids=parsed.line_ids,
            line_tags=tag_arrays(list(parsed.line_tags)),
            vertices=vertices,
        )

    def member(self, polygon: BaseGeometry) -> SliceParts:
        """The slice of ``polygon`` (WGS84): what ``slice_parts(slice_osm(...))`` gives of
        the region's frames, projected."""
        shapely.prepare(polygon)
        kept = kept_rows(self.vertices, polygon)
        features = np.flatnonzero(kept.features)
        areas = self.areas.take(np.flatnonzero(kept.features[self.area_rows]))
        line_rows = np.flatnonzero(kept.lines)
        lines = self.lines.take(line_rows)
        return SliceParts(
            walk=walk_rows(self.walk, self.vertices.way_of, kept.ways),
            feature_columns=list(self.columns),
            feature_type=self.feature_type[features],
            feature_id=self.feature_ids[features],
            point_xy=self.point_xy[kept.features[self.point_rows]],
            area_parts=areas.offsets[0],
            area_rings=areas.offsets[1],
            area_coords=areas.offsets[2],
            area_xy=areas.xy,
            feature_tags=take_tags(self.feature_tags, kept.features),
            line_id=self.line_ids[line_rows],
            line_coords=lines.offsets[0],
            line_xy=lines.xy,
            line_tags=take_tags(self.line_tags, kept.lines),
        )


def take_tags(tags: TagArrays, kept: np.ndarray) -> TagArrays:
    """The tag columns of the ``kept`` rows (a mask over the rows of ``tags``), renumbered."""
    column = np.repeat(np.arange(len(tags.counts)), tags.counts)
    held = kept[tags.rows]
    values, offsets = take_ranges(tags.offsets, np.flatnonzero(held))
    new_row = np.cumsum(kept) - 1
    return TagArrays(
        counts=np.bincount(column[held], minlength=len(tags.counts)).astype(np.int64),
        rows=new_row[tags.rows[held]].astype(np.int64),
        offsets=offsets,
        data=tags.data[values],
    )


def _areas(wkb: list[bytes]) -> Ragged:
    """The areas' multipolygons (libosmium's WKB) as coordinates and offsets; ValueError
    unless each is a 2-D multipolygon of closed rings of 4 or more coordinates."""
    xy, offsets = multipolygons(wkb, "area features")
    ring_offsets = offsets[-1]
    require_rings(np.diff(ring_offsets))
    first, last = xy[ring_offsets[:-1]], xy[ring_offsets[1:] - 1]
    if not np.array_equal(first, last):
        raise ValueError("write_slice: a ring of an area feature is not closed")
    return Ragged(xy, offsets)


def _lines(wkb: list[bytes]) -> Ragged:
    """The lines' line strings (libosmium's WKB) as coordinates and offsets."""
    xy, offsets = line_strings(wkb, "lines")
    return Ragged(xy, (offsets,))


def _feature_vertices(
    point_xy: np.ndarray, areas: Ragged, is_point: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every feature's vertices and their rows, as ``shapely.get_coordinates`` gives them
    for the features' geometry with ``return_index``: row after row, a node's point, an
    area's coordinates part after part, ring after ring."""
    counts = np.ones(len(is_point), dtype=np.int64)
    counts[~is_point] = areas.vertex_counts()
    starts = counts_to_offsets(counts)
    of_point = np.zeros(starts[-1], dtype=bool)
    of_point[starts[:-1][is_point]] = True
    xy = np.empty((starts[-1], 2))
    xy[of_point] = point_xy
    xy[~of_point] = areas.xy
    return xy, np.repeat(np.arange(len(is_point)), counts)


@lru_cache(maxsize=1)
def _to_rd() -> Transformer:
    # what GeoDataFrame.to_crs(RD_NEW) builds for frames in WGS84
    return Transformer.from_crs(
        CRS.from_user_input(WGS84), CRS.from_user_input(RD_NEW), always_xy=True
    )


def _projected(
    point_xy: np.ndarray, areas: Ragged, line_xy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points', areas' and lines' WGS84 coordinates in EPSG:28992, in one transformation.

    A ring's closing coordinate is its first (:func:`_areas` checks it): the first's projection
    is copied to it instead of computed again (a tenth of the areas' coordinates).
    """
    rings = areas.offsets[-1]
    closing = rings[1:] - 1
    computed = np.ones(len(areas.xy), dtype=bool)  # all but the closing coordinates
    computed[closing] = False
    xy = np.concatenate([point_xy, areas.xy[computed], line_xy])
    x, y = _to_rd().transform(xy[:, 0], xy[:, 1])
    projected = np.column_stack([x, y])
    points_end = len(point_xy)
    areas_end = points_end + len(areas.xy) - len(closing)
    area_xy = np.empty_like(areas.xy)
    area_xy[computed] = projected[points_end:areas_end]
    area_xy[closing] = area_xy[rings[:-1]]
    return projected[:points_end], area_xy, projected[areas_end:]
