"""Areas of overlap without a polygon overlay: convex clips in numba, GEOS for the rest.

The area of ``A ∩ C`` for a convex polygon ``C`` is the signed area of ``A``'s rings clipped
to ``C`` one edge after the other (Sutherland-Hodgman): clipping a closed ring to a half-plane
replaces each excursion outside by a chord along the edge, which leaves the winding number of
every point inside unchanged, so the clipped ring's signed area is the area of the ring's
inside within ``C`` even for a concave ring (the chords that overlap cancel). A valid polygon's
area within ``C`` is then its shell's less its holes' (valid parts of a multipolygon are
disjoint and add up). GEOS' overlay computes the same area to rounding: the two agree to about
1e-12 of the area (the tests hold them to 1e-9).

- :func:`intersection_areas`: ``area(a[i] ∩ b[j])`` for pairs ``(i, j)``, a convex clip where
  one side of a pair is a convex polygon (a raster cell, most building footprints) and the
  other a valid polygon, ``shapely.intersection`` for every other pair.
- :func:`tile_cover` and :func:`cover_areas`: a large union (residential land) cut once into
  square tiles (each ring clipped to each tile it touches); the area of a convex polygon (a
  disc around a site) covered by the union is then the tiles wholly inside it plus the clips
  of the pieces in the tiles on its edge.

Pure computation, EPSG:28992 metres; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import shapely

POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True)
class Rings:
    """The rings of some polygons as flat arrays: ring ``r`` is ``xy[start[r]:end[r]]``
    (closed, the last point the first), ``sign[r]`` +1 for a shell and -1 for a hole; the
    rings of polygon ``g`` are ``first[g]:first[g + 1]``."""

    xy: np.ndarray
    start: np.ndarray
    end: np.ndarray
    sign: np.ndarray
    first: np.ndarray


def rings_of(polygons: np.ndarray) -> Rings:
    """The rings of ``polygons`` (Polygons or MultiPolygons, EPSG:28992), read from their WKB
    in one pass, without making a geometry per part or ring."""
    if not len(polygons):
        empty = np.zeros(0, dtype=np.int64)
        return Rings(np.zeros((0, 2)), empty, empty, np.zeros(0), np.zeros(1, dtype=np.int64))
    wkb = shapely.to_wkb(polygons, output_dimension=2, byte_order=1)
    sizes = np.fromiter((len(w) for w in wkb), dtype=np.int64, count=len(wkb))
    buf = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    # the coordinates' bytes are copied straight into the float array (at most the WKB's size)
    coords = np.empty(len(buf) // 8 + 1)
    points, shell, first, n_bytes = _wkb_rings(
        buf, np.concatenate([[0], np.cumsum(sizes)]), coords.view(np.uint8)
    )
    xy = coords[: n_bytes // 8].reshape(-1, 2)
    end = np.cumsum(points)
    return Rings(xy, end - points, end, np.where(shell, 1.0, -1.0), first)


def convex(geoms: np.ndarray) -> np.ndarray:
    """Which of ``geoms`` are convex polygons (one shell, no holes, positive area, no
    reflex corner, turning once around; a multipolygon of one such part too): those
    clipped to as they are."""
    result = np.zeros(len(geoms), dtype=bool)
    idx = np.flatnonzero(np.isin(shapely.get_type_id(geoms), POLYGON_TYPES))
    if idx.size:
        rings = rings_of(geoms[idx])
        one = np.flatnonzero(np.diff(rings.first) == 1)
        ring = rings.first[one]
        result[idx[one]] = _convex_rings(rings.xy, rings.start[ring], rings.end[ring])
    return result


def fast_subjects(geoms: np.ndarray) -> np.ndarray:
    """Which of ``geoms`` may be clipped (valid, non-empty Polygons and MultiPolygons)."""
    ok = np.isin(shapely.get_type_id(geoms), POLYGON_TYPES) & ~shapely.is_empty(geoms)
    ok[ok] = shapely.is_valid(geoms[ok])
    return ok


@dataclass(frozen=True)
class Pieces:
    """Convex pieces of polygons that partition them: a convex polygon is its own piece, a
    polygon of one shell without holes (up to :data:`MAX_EAR_VERTICES` points) its ear
    clipping's triangles. Polygon ``g``'s pieces are the closed rings ``xy[start[p]:end[p]]``,
    ``p`` in ``first[g]:first[g + 1]``; none (GEOS then) for any other polygon."""

    xy: np.ndarray
    start: np.ndarray
    end: np.ndarray
    first: np.ndarray

    @property
    def count(self) -> np.ndarray:
        return np.diff(self.first)


# ear clipping is quadratic in the points: a larger polygon is left to GEOS
MAX_EAR_VERTICES = 256


def convex_pieces(rings: Rings) -> Pieces:
    """The convex pieces of the polygons of ``rings`` (valid polygons)."""
    n = len(rings.first) - 1
    one = np.flatnonzero(np.diff(rings.first) == 1)
    ring = rings.first[one]
    xy, start, end, ring_first = _ring_pieces(
        rings.xy, rings.start[ring], rings.end[ring], MAX_EAR_VERTICES
    )
    count = np.zeros(n, dtype=np.int64)
    count[one] = np.diff(ring_first)
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=first[1:])
    return Pieces(xy, start, end, first)


@dataclass(frozen=True)
class _Side:
    """The distinct geometries of one side of some pairs (``local``: each pair's), which are
    valid (``ok``), their rings and convex pieces (at ``slot``, the place among the valid)."""

    local: np.ndarray
    ok: np.ndarray
    slot: np.ndarray
    rings: Rings
    pieces: Pieces


def _side(geoms: np.ndarray, used: np.ndarray) -> _Side:
    idx, local = np.unique(used, return_inverse=True)
    distinct = geoms[idx]
    ok = fast_subjects(distinct)
    slot = np.cumsum(ok) - 1
    rings = rings_of(distinct[ok])
    return _Side(local, ok, slot, rings, convex_pieces(rings))


def intersection_areas(
    a: np.ndarray, b: np.ndarray, a_i: np.ndarray, b_i: np.ndarray
) -> np.ndarray:
    """``shapely.area(shapely.intersection(a[a_i], b[b_i]))``, to rounding: where both sides
    of a pair are valid polygons and one has convex pieces (``b``'s if it has), the other is
    clipped to them; :func:`geos_areas` for every other pair."""
    return PairAreas(a, b, a_i, b_i).areas(np.arange(len(a_i)))


class PairAreas:
    """The pairs ``(a[a_i], b[b_i])`` made ready for :func:`intersection_areas` once (rings,
    validity, convex pieces of every polygon they use), for areas of some of them at a time."""

    def __init__(self, a: np.ndarray, b: np.ndarray, a_i: np.ndarray, b_i: np.ndarray) -> None:
        self.a, self.b, self.a_i, self.b_i = a, b, a_i, b_i
        self.cut_a = np.zeros(len(a_i), dtype=bool)
        self.cut_b = np.zeros(len(a_i), dtype=bool)
        if not len(a_i):
            return
        self.sa, self.sb = _side(a, a_i), _side(b, b_i)
        sa, sb = self.sa, self.sb
        both = sa.ok[sa.local] & sb.ok[sb.local]
        # a pair not both valid is overlaid in GEOS: its slots (-1 for an invalid one) unused
        self.a_slot = np.where(both, sa.slot[sa.local], 0)
        self.b_slot = np.where(both, sb.slot[sb.local], 0)
        if both.any():
            a_slot, b_slot = self.a_slot, self.b_slot
            a_work = _points(sa.rings)[a_slot] * _points(sb.pieces)[b_slot]
            b_work = _points(sb.rings)[b_slot] * _points(sa.pieces)[a_slot]
            self.cut_b = both & (sb.pieces.count[b_slot] > 0) & (a_work <= MAX_CLIP_WORK)
            self.cut_a = (
                both & ~self.cut_b & (sa.pieces.count[a_slot] > 0) & (b_work <= MAX_CLIP_WORK)
            )

    def areas(self, which: np.ndarray) -> np.ndarray:
        """Areas of overlap of the pairs ``which`` (positions among the pairs)."""
        out = np.zeros(len(which))
        if not len(which):
            return out
        cut_b, cut_a = self.cut_b[which], self.cut_a[which]
        b_pairs, a_pairs = which[cut_b], which[cut_a]
        out[cut_b] = _cut_areas(
            self.sa.rings, self.a_slot[b_pairs], self.sb.pieces, self.b_slot[b_pairs]
        )
        out[cut_a] = _cut_areas(
            self.sb.rings, self.b_slot[a_pairs], self.sa.pieces, self.a_slot[a_pairs]
        )
        rest = ~(cut_a | cut_b)
        out[rest] = geos_areas(self.a, self.b, self.a_i[which[rest]], self.b_i[which[rest]])
        return out


def intersecting_pairs(
    geoms: np.ndarray, tree: shapely.STRtree, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query(geoms, predicate="intersects")`` (``tree`` built on ``targets``): the same
    pairs in the same order, the pairs whose bounds meet kept where GEOS' ``intersects``
    holds. The query with the predicate prepares every one of ``geoms``, which costs more
    than the few tests it speeds up."""
    geom_i, target_i = tree.query(geoms)
    keep = shapely.intersects(geoms[geom_i], targets[target_i])
    return geom_i[keep], target_i[keep]


def geos_areas(a: np.ndarray, b: np.ndarray, a_i: np.ndarray, b_i: np.ndarray) -> np.ndarray:
    """``area(a[a_i] ∩ b[b_i])`` by GEOS' overlay, for the pairs that intersect (0 for the
    others: pairs whose bounds meet need not, and an invalid polygon is overlaid only where
    an ``intersects`` query would have paired it)."""
    out = np.zeros(len(a_i))
    if len(a_i):
        meet = shapely.intersects(a[a_i], b[b_i])
        out[meet] = shapely.area(shapely.intersection(a[a_i[meet]], b[b_i[meet]]))
    return out


# a clip visits every point of the subject once per edge of the pieces: beyond this many
# visits (a canal's outline against a parcel's triangles) GEOS' indexed overlay is faster
MAX_CLIP_WORK = 200_000


def _points(rings: Rings | Pieces) -> np.ndarray:
    """Points of each polygon's rings (or pieces) together."""
    ring_points = np.concatenate([[0], np.cumsum(rings.end - rings.start)])
    return ring_points[rings.first[1:]] - ring_points[rings.first[:-1]]


def _cut_areas(rings: Rings, subject: np.ndarray, cut: Pieces, clip: np.ndarray) -> np.ndarray:
    """Area of the polygons ``subject`` of ``rings`` within the pieces of ``clip``."""
    if not len(subject):
        return np.zeros(0)
    return _pair_areas(
        rings.xy,
        rings.start,
        rings.end,
        rings.sign,
        rings.first,
        cut.xy,
        cut.start,
        cut.end,
        cut.first,
        subject,
        clip,
    )


@dataclass(frozen=True)
class TiledCover:
    """A union of polygons cut into square tiles of ``size`` m from ``(x0, y0)``: tile
    ``(row, col)`` holds the pieces ``first[t]:first[t + 1]`` (rings clipped to the tile,
    signed: holes count negative) with ``t = row * cols + col``; ``area[t]`` is the union's
    area in the tile."""

    x0: float
    y0: float
    size: float
    rows: int
    cols: int
    xy: np.ndarray
    start: np.ndarray
    end: np.ndarray
    sign: np.ndarray
    first: np.ndarray
    area: np.ndarray


def tile_cover(union: np.ndarray, size: float) -> TiledCover:
    """``union`` (valid Polygons or MultiPolygons whose interiors are disjoint, e.g. the parts
    of one ``union_all``) cut into tiles of ``size`` m."""
    polys = union[np.isin(shapely.get_type_id(union), POLYGON_TYPES) & ~shapely.is_empty(union)]
    if not len(polys):
        empty = np.zeros(0, dtype=np.int64)
        return TiledCover(
            0.0,
            0.0,
            size,
            0,
            0,
            np.zeros((0, 2)),
            empty,
            empty,
            np.zeros(0),
            np.zeros(1, np.int64),
            np.zeros(0),
        )
    rings = rings_of(polys)
    xmin, ymin, xmax, ymax = shapely.total_bounds(polys)
    x0 = math.floor(xmin / size) * size
    y0 = math.floor(ymin / size) * size
    cols = max(1, math.ceil((xmax - x0) / size))
    rows = max(1, math.ceil((ymax - y0) / size))
    xy, start, end, sign, tile = _tile_rings(
        rings.xy, rings.start, rings.end, rings.sign, x0, y0, size, rows, cols
    )
    order = np.argsort(tile, kind="stable")
    start, end, sign, tile = start[order], end[order], sign[order], tile[order]
    first = np.searchsorted(tile, np.arange(rows * cols + 1)).astype(np.int64)
    area = _tile_areas(xy, start, end, sign, first)
    return TiledCover(x0, y0, size, rows, cols, xy, start, end, sign, first, area)


def cover_areas(tiles: TiledCover, clips: np.ndarray) -> np.ndarray:
    """Area of each of ``clips`` (convex polygons, e.g. discs) covered by ``tiles``' union."""
    if not len(clips) or tiles.rows == 0:
        return np.zeros(len(clips))
    c = rings_of(clips)
    return _cover_areas(
        tiles.xy,
        tiles.start,
        tiles.end,
        tiles.sign,
        tiles.first,
        tiles.area,
        tiles.x0,
        tiles.y0,
        tiles.size,
        tiles.rows,
        tiles.cols,
        c.xy,
        c.start,
        c.end,
    )


# --- numba kernels ---


@numba.njit(cache=True)
def _uint32(buf: np.ndarray, at: int) -> int:
    """The little-endian unsigned 32-bit integer at ``buf[at]``."""
    value = 0
    for k in range(3, -1, -1):
        value = (value << 8) | int(buf[at + k])
    return value


@numba.njit(cache=True)
def _wkb_rings(
    buf: np.ndarray, offsets: np.ndarray, coords: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Points per ring, shell or hole, first ring of each geometry of little-endian 2D WKB
    Polygons and MultiPolygons; their coordinates' bytes copied to ``coords`` (bytes, at least
    as many as ``buf``), in order, and how many."""
    cap = len(buf) // 8 + 1
    points = np.empty(cap, dtype=np.int64)
    shell = np.empty(cap, dtype=np.bool_)
    first = np.empty(len(offsets), dtype=np.int64)
    rings, n_bytes = 0, 0
    for g in range(len(offsets) - 1):
        first[g] = rings
        at = offsets[g] + 1
        kind = _uint32(buf, at)
        at += 4
        parts = 1
        if kind == 6:
            parts = _uint32(buf, at)
            at += 4
        for _ in range(parts):
            if kind == 6:
                at += 5  # the part's byte order and type (a polygon)
            n_rings = _uint32(buf, at)
            at += 4
            for r in range(n_rings):
                n = _uint32(buf, at)
                at += 4
                points[rings] = n
                shell[rings] = r == 0
                rings += 1
                for k in range(16 * n):
                    coords[n_bytes + k] = buf[at + k]
                n_bytes += 16 * n
                at += 16 * n
    first[len(offsets) - 1] = rings
    return points[:rings], shell[:rings], first, n_bytes


@numba.njit(cache=True)
def _copy_rows(dst: np.ndarray, at: int, src: np.ndarray, s: int, e: int) -> None:
    """``dst[at : at + e - s] = src[s:e]`` for (n, 2) arrays, element by element (a slice
    assignment makes numba compile its shape-mismatch error text: seconds per kernel)."""
    for i in range(e - s):
        dst[at + i, 0] = src[s + i, 0]
        dst[at + i, 1] = src[s + i, 1]


@numba.njit(cache=True)
def _ring_area(xy: np.ndarray, start: int, end: int) -> float:
    """Signed (shoelace) area of the closed ring ``xy[start:end]``."""
    total = 0.0
    x0, y0 = xy[start, 0], xy[start, 1]
    for k in range(start + 1, end - 1):
        total += (xy[k, 0] - x0) * (xy[k + 1, 1] - y0) - (xy[k + 1, 0] - x0) * (xy[k, 1] - y0)
    return 0.5 * total


@numba.njit(cache=True)
def _convex_rings(xy: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per ring: no turn of the other hand, no reversal, x and y each change direction at
    most twice, and a positive area (a convex polygon, whichever orientation)."""
    out = np.zeros(len(start), dtype=np.bool_)
    for r in range(len(start)):
        s, e = start[r], end[r] - 1  # e: the closing point, the same as s
        n = e - s
        if n < 3 or _ring_area(xy, start[r], end[r]) == 0.0:
            continue
        turn = 0.0
        ok = True
        flips_x, flips_y = 0, 0
        last_dx, last_dy = 0.0, 0.0
        sx, sy = 0.0, 0.0
        edges = 0
        for k in range(n + 1):  # one edge past the last: the closing turn
            i = s + (k % n)
            j = s + ((k + 1) % n)
            dx, dy = xy[j, 0] - xy[i, 0], xy[j, 1] - xy[i, 1]
            if dx == 0.0 and dy == 0.0:
                continue
            if edges > 0:
                cross = last_dx * dy - last_dy * dx
                if cross == 0.0 and last_dx * dx + last_dy * dy < 0.0:
                    ok = False  # a spike back along the same line
                    break
                if cross != 0.0:
                    if turn == 0.0:
                        turn = cross
                    elif (turn > 0.0) != (cross > 0.0):
                        ok = False
                        break
            if k < n:
                if dx != 0.0:
                    if sx != 0.0 and (sx > 0.0) != (dx > 0.0):
                        flips_x += 1
                    sx = dx
                if dy != 0.0:
                    if sy != 0.0 and (sy > 0.0) != (dy > 0.0):
                        flips_y += 1
                    sy = dy
            last_dx, last_dy = dx, dy
            edges += 1
        out[r] = ok and turn != 0.0 and flips_x <= 2 and flips_y <= 2
    return out


@numba.njit(cache=True)
def _clip_half_plane(
    src: np.ndarray, count: int, dst: np.ndarray, px: float, py: float, ex: float, ey: float
) -> int:
    """One Sutherland-Hodgman step: the open ring ``src[:count]`` cut to the left of the
    line through ``(px, py)`` along ``(ex, ey)``, written to ``dst``; its point count."""
    out = 0
    ax, ay = src[count - 1, 0], src[count - 1, 1]
    a_side = ex * (ay - py) - ey * (ax - px)
    for v in range(count):
        bx, by = src[v, 0], src[v, 1]
        b_side = ex * (by - py) - ey * (bx - px)
        if (a_side >= 0.0) != (b_side >= 0.0):
            t = a_side / (a_side - b_side)
            dst[out, 0] = ax + t * (bx - ax)
            dst[out, 1] = ay + t * (by - ay)
            out += 1
        if b_side >= 0.0:
            dst[out, 0] = bx
            dst[out, 1] = by
            out += 1
        ax, ay, a_side = bx, by, b_side
    return out


@numba.njit(cache=True)
def _clip_ring(
    xy: np.ndarray, start: int, end: int, cxy: np.ndarray, cstart: int, cend: int
) -> float:
    """Area of the ring ``xy[start:end]``'s inside within the convex ring
    ``cxy[cstart:cend]`` (both closed; any orientation): Sutherland-Hodgman, then shoelace."""
    n = end - start - 1
    m = cend - cstart - 1
    cap = 2 * (n + m) + 8
    return _clip_ring_with(
        xy,
        start,
        end,
        _ring_bounds(xy, start, end),
        cxy,
        cstart,
        cend,
        _ring_area(cxy, cstart, cend) > 0.0,
        (np.empty(m, dtype=np.int64), np.empty((cap, 2)), np.empty((cap, 2))),
    )


@numba.njit(cache=True)
def _ring_bounds(xy: np.ndarray, start: int, end: int) -> tuple[float, float, float, float]:
    """(lo_x, hi_x, lo_y, hi_y) of the ring ``xy[start:end]``."""
    return (
        xy[start:end, 0].min(),
        xy[start:end, 0].max(),
        xy[start:end, 1].min(),
        xy[start:end, 1].max(),
    )


@numba.njit(cache=True)
def _clip_ring_with(
    xy: np.ndarray,
    start: int,
    end: int,
    bounds: tuple[float, float, float, float],
    cxy: np.ndarray,
    cstart: int,
    cend: int,
    ccw: bool,
    buffers: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> float:
    """:func:`_clip_ring` with the ring's bounds and the clip's orientation known, and work
    arrays given (``cuts`` at least the clip's edges long, ``src`` and ``dst`` at least
    ``2 * (points + edges) + 8`` rows): the same arithmetic in the same order."""
    n = end - start - 1
    m = cend - cstart - 1
    lo_x, hi_x, lo_y, hi_y = bounds
    cuts, src, dst = buffers
    # the clip's edges that cut the ring: an edge with the ring's bounds wholly inside leaves
    # it as it is; wholly outside one edge (bounds, or else every point): nothing
    n_cuts = 0
    for k in range(m):
        px, py = cxy[cstart + k, 0], cxy[cstart + k, 1]
        ex, ey = cxy[cstart + k + 1, 0] - px, cxy[cstart + k + 1, 1] - py
        if not ccw:
            ex, ey = -ex, -ey
        if ex == 0.0 and ey == 0.0:
            continue
        corners_out = 0
        for cx, cy in ((lo_x, lo_y), (hi_x, lo_y), (hi_x, hi_y), (lo_x, hi_y)):
            if ex * (cy - py) - ey * (cx - px) < 0.0:
                corners_out += 1
        if corners_out == 0:
            continue
        if corners_out == 4:
            return 0.0
        outside = 0
        for v in range(n):
            if ex * (xy[start + v, 1] - py) - ey * (xy[start + v, 0] - px) < 0.0:
                outside += 1
        if outside == n:
            return 0.0
        if outside:
            cuts[n_cuts] = k
            n_cuts += 1
    if n_cuts == 0:
        return abs(_ring_area(xy, start, end))
    _copy_rows(src, 0, xy, start, start + n)
    count = n
    for c in range(n_cuts):
        k = cuts[c]
        px, py = cxy[cstart + k, 0], cxy[cstart + k, 1]
        ex, ey = cxy[cstart + k + 1, 0] - px, cxy[cstart + k + 1, 1] - py
        if not ccw:
            ex, ey = -ex, -ey
        if dst.shape[0] < 2 * count + 2:
            dst = np.empty((2 * count + 2, 2))
        out = _clip_half_plane(src, count, dst, px, py, ex, ey)
        src, dst = dst, src
        count = out
        if count < 3:
            return 0.0
    total = 0.0
    x0, y0 = src[0, 0], src[0, 1]
    for v in range(1, count - 1):
        total += (src[v, 0] - x0) * (src[v + 1, 1] - y0) - (src[v + 1, 0] - x0) * (src[v, 1] - y0)
    return abs(0.5 * total)


@numba.njit(cache=True)
def _pair_areas(
    xy: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    sign: np.ndarray,
    first: np.ndarray,
    cxy: np.ndarray,
    cstart: np.ndarray,
    cend: np.ndarray,
    cfirst: np.ndarray,
    subject: np.ndarray,
    clip: np.ndarray,
) -> np.ndarray:
    out = np.zeros(len(subject))
    boxes = _boxes(xy, start, end, first)
    piece_boxes = _boxes(cxy, cstart, cend, np.arange(len(cstart) + 1))
    # per ring and piece once (not per pair): bounds, orientation; work arrays of the largest
    longest_ring, longest_piece = 1, 1
    ring_bounds = np.empty((len(start), 4))
    for r in range(len(start)):
        longest_ring = max(longest_ring, end[r] - start[r])
        lo_x, hi_x, lo_y, hi_y = _ring_bounds(xy, start[r], end[r])
        ring_bounds[r, 0], ring_bounds[r, 1] = lo_x, hi_x
        ring_bounds[r, 2], ring_bounds[r, 3] = lo_y, hi_y
    ccw = np.empty(len(cstart), dtype=np.bool_)
    for p in range(len(cstart)):
        longest_piece = max(longest_piece, cend[p] - cstart[p])
        ccw[p] = _ring_area(cxy, cstart[p], cend[p]) > 0.0
    cap = 2 * (longest_ring + longest_piece) + 8
    buffers = (np.empty(longest_piece, dtype=np.int64), np.empty((cap, 2)), np.empty((cap, 2)))
    for k in range(len(subject)):
        g, c = subject[k], clip[k]
        total = 0.0
        for p in range(cfirst[c], cfirst[c + 1]):
            # a piece whose bounds at most touch the subject's adds nothing
            if (
                piece_boxes[p, 0] >= boxes[g, 2]
                or piece_boxes[p, 2] <= boxes[g, 0]
                or piece_boxes[p, 1] >= boxes[g, 3]
                or piece_boxes[p, 3] <= boxes[g, 1]
            ):
                continue
            for r in range(first[g], first[g + 1]):
                rb = ring_bounds[r]
                bounds = (rb[0], rb[1], rb[2], rb[3])
                total += sign[r] * _clip_ring_with(
                    xy, start[r], end[r], bounds, cxy, cstart[p], cend[p], ccw[p], buffers
                )
        out[k] = max(total, 0.0)
    return out


@numba.njit(cache=True)
def _boxes(xy: np.ndarray, start: np.ndarray, end: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Bounds (xmin, ymin, xmax, ymax) of each group ``first[g]:first[g + 1]`` of rings."""
    out = np.empty((len(first) - 1, 4))
    for g in range(len(first) - 1):
        out[g, 0], out[g, 1], out[g, 2], out[g, 3] = np.inf, np.inf, -np.inf, -np.inf
        for r in range(first[g], first[g + 1]):
            for v in range(start[r], end[r]):
                out[g, 0] = min(out[g, 0], xy[v, 0])
                out[g, 1] = min(out[g, 1], xy[v, 1])
                out[g, 2] = max(out[g, 2], xy[v, 0])
                out[g, 3] = max(out[g, 3], xy[v, 1])
    return out


@numba.njit(cache=True)
def _ring_pieces(
    xy: np.ndarray, start: np.ndarray, end: np.ndarray, max_vertices: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per ring (simple, one shell): itself if convex, else its ear clipping's triangles,
    else (too many points, or the triangles' areas do not add up to the ring's) nothing."""
    convex = _convex_rings(xy, start, end)
    total = 0
    for r in range(len(start)):
        total += 4 * (end[r] - start[r])
    out = np.empty((total, 2))
    p_start = np.empty(total // 4 + 1, dtype=np.int64)
    p_end = np.empty(total // 4 + 1, dtype=np.int64)
    ring_first = np.zeros(len(start) + 1, dtype=np.int64)
    at, pieces = 0, 0
    for r in range(len(start)):
        s, e = start[r], end[r]
        if convex[r]:
            _copy_rows(out, at, xy, s, e)
            p_start[pieces], p_end[pieces] = at, at + e - s
            at += e - s
            pieces += 1
        elif e - s - 1 <= max_vertices:
            made = _ear_clip(xy, s, e, out, at, p_start, p_end, pieces)
            if made > 0:
                at += 4 * made
                pieces += made
        ring_first[r + 1] = pieces
    return out[:at], p_start[:pieces], p_end[:pieces], ring_first


@numba.njit(cache=True)
def _ear_clip(
    xy: np.ndarray,
    s: int,
    e: int,
    out: np.ndarray,
    at: int,
    p_start: np.ndarray,
    p_end: np.ndarray,
    pieces: int,
) -> int:
    """Triangles of the simple ring ``xy[s:e]`` (ear clipping) written as closed rings to
    ``out`` from ``at``; their number, or 0 when it fails or they do not add up."""
    n = e - s - 1
    area = _ring_area(xy, s, e)
    if n < 3 or area == 0.0:
        return 0
    orient = 1.0 if area > 0.0 else -1.0
    nxt = np.empty(n, dtype=np.int64)
    prv = np.empty(n, dtype=np.int64)
    for v in range(n):
        nxt[v] = (v + 1) % n
        prv[v] = (v - 1) % n
    left, made, v, misses = n, 0, 0, 0
    summed = 0.0
    while left > 3:
        a, c = prv[v], nxt[v]
        ax, ay = xy[s + a, 0], xy[s + a, 1]
        bx, by = xy[s + v, 0], xy[s + v, 1]
        cx, cy = xy[s + c, 0], xy[s + c, 1]
        cross = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) * orient
        ear = cross > 0.0
        if ear:
            w = nxt[c]
            while w != a:
                px, py = xy[s + w, 0], xy[s + w, 1]
                corner = (px == ax and py == ay) or (px == bx and py == by)
                if not (corner or (px == cx and py == cy)) and (
                    ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) * orient >= 0.0
                    and ((cx - bx) * (py - by) - (cy - by) * (px - bx)) * orient >= 0.0
                    and ((ax - cx) * (py - cy) - (ay - cy) * (px - cx)) * orient >= 0.0
                ):
                    ear = False
                    break
                w = nxt[w]
        if ear or (cross == 0.0 and misses >= left):
            if ear:
                k = at + 4 * made
                _write_triangle(out, k, ax, ay, bx, by, cx, cy)
                p_start[pieces + made], p_end[pieces + made] = k, k + 4
                summed += 0.5 * cross
                made += 1
            nxt[a], prv[c] = c, a
            left -= 1
            misses = 0
            v = c
        else:
            misses += 1
            if misses > 2 * left:
                return 0
            v = nxt[v]
    a, c = prv[v], nxt[v]
    ax, ay = xy[s + a, 0], xy[s + a, 1]
    bx, by = xy[s + v, 0], xy[s + v, 1]
    cx, cy = xy[s + c, 0], xy[s + c, 1]
    cross = ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) * orient
    if cross < 0.0:
        return 0
    if cross > 0.0:
        k = at + 4 * made
        _write_triangle(out, k, ax, ay, bx, by, cx, cy)
        p_start[pieces + made], p_end[pieces + made] = k, k + 4
        summed += 0.5 * cross
        made += 1
    if abs(summed - abs(area)) > 1e-12 * abs(area) * n:
        return 0
    return made


@numba.njit(cache=True)
def _write_triangle(
    out: np.ndarray, k: int, ax: float, ay: float, bx: float, by: float, cx: float, cy: float
) -> None:
    """The triangle a, b, c as a closed ring in ``out[k : k + 4]``."""
    out[k, 0], out[k, 1] = ax, ay
    out[k + 1, 0], out[k + 1, 1] = bx, by
    out[k + 2, 0], out[k + 2, 1] = cx, cy
    out[k + 3, 0], out[k + 3, 1] = ax, ay


@numba.njit(cache=True)
def _box_ring(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    ring = np.empty((5, 2))
    ring[0, 0], ring[0, 1] = x0, y0
    ring[1, 0], ring[1, 1] = x1, y0
    ring[2, 0], ring[2, 1] = x1, y1
    ring[3, 0], ring[3, 1] = x0, y1
    ring[4, 0], ring[4, 1] = x0, y0
    return ring


@numba.njit(cache=True)
def _clip_to_box(xy: np.ndarray, start: int, end: int, box: np.ndarray) -> np.ndarray:
    """The ring ``xy[start:end]`` clipped to the box ring ``box`` (Sutherland-Hodgman), as a
    closed ring (may hold overlapping chords; its signed area is right)."""
    n = end - start - 1
    src = np.empty((2 * n + 16, 2))
    dst = np.empty((2 * n + 16, 2))
    _copy_rows(src, 0, xy, start, start + n)
    count = n
    for k in range(4):
        px, py = box[k, 0], box[k, 1]
        ex, ey = box[k + 1, 0] - px, box[k + 1, 1] - py
        if dst.shape[0] < 2 * count + 2:
            dst = np.empty((2 * count + 2, 2))
        out = _clip_half_plane(src, count, dst, px, py, ex, ey)
        src, dst = dst, src
        count = out
        if count < 3:
            return np.empty((0, 2))
    ring = np.empty((count + 1, 2))
    _copy_rows(ring, 0, src, 0, count)
    _copy_rows(ring, count, src, 0, 1)
    return ring


@numba.njit(cache=True)
def _tile_rings(
    xy: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    sign: np.ndarray,
    x0: float,
    y0: float,
    size: float,
    rows: int,
    cols: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # growable outputs (numba's typed lists of arrays cost seconds of compiling)
    out_xy = np.empty((max(16, 2 * len(xy)), 2))
    out_start = np.empty(max(16, len(start)), dtype=np.int64)
    out_end = np.empty(len(out_start), dtype=np.int64)
    out_sign = np.empty(len(out_start))
    out_tile = np.empty(len(out_start), dtype=np.int64)
    n_points, n_pieces = 0, 0
    for r in range(len(start)):
        s, e = start[r], end[r]
        lo_x, hi_x = xy[s:e, 0].min(), xy[s:e, 0].max()
        lo_y, hi_y = xy[s:e, 1].min(), xy[s:e, 1].max()
        c0 = max(0, math.floor((lo_x - x0) / size))
        c1 = min(cols - 1, math.floor((hi_x - x0) / size))
        r0 = max(0, math.floor((lo_y - y0) / size))
        r1 = min(rows - 1, math.floor((hi_y - y0) / size))
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                bx, by = x0 + col * size, y0 + row * size
                if c0 == c1 and r0 == r1:
                    piece = np.empty((e - s, 2))
                    _copy_rows(piece, 0, xy, s, e)
                else:
                    piece = _clip_to_box(xy, s, e, _box_ring(bx, by, bx + size, by + size))
                count = piece.shape[0]
                if count < 4:
                    continue
                if n_points + count > out_xy.shape[0]:
                    grown = np.empty((2 * (n_points + count), 2))
                    _copy_rows(grown, 0, out_xy, 0, n_points)
                    out_xy = grown
                if n_pieces == len(out_start):
                    out_start = _grown(out_start)
                    out_end = _grown(out_end)
                    out_sign = _grown(out_sign)
                    out_tile = _grown(out_tile)
                _copy_rows(out_xy, n_points, piece, 0, count)
                out_start[n_pieces], out_end[n_pieces] = n_points, n_points + count
                out_sign[n_pieces], out_tile[n_pieces] = sign[r], row * cols + col
                n_points += count
                n_pieces += 1
    return (
        out_xy[:n_points],
        out_start[:n_pieces],
        out_end[:n_pieces],
        out_sign[:n_pieces],
        out_tile[:n_pieces],
    )


@numba.njit(cache=True)
def _grown(values: np.ndarray) -> np.ndarray:
    """``values`` copied into an array twice as long (the rest uninitialised)."""
    out = np.empty(2 * len(values), dtype=values.dtype)
    for i in range(len(values)):
        out[i] = values[i]
    return out


@numba.njit(cache=True)
def _tile_areas(
    xy: np.ndarray, start: np.ndarray, end: np.ndarray, sign: np.ndarray, first: np.ndarray
) -> np.ndarray:
    out = np.zeros(len(first) - 1)
    for t in range(len(first) - 1):
        total = 0.0
        for p in range(first[t], first[t + 1]):
            total += sign[p] * abs(_ring_area(xy, start[p], end[p]))
        out[t] = total
    return out


@numba.njit(cache=True)
def _circles(cxy: np.ndarray, s: int, e: int) -> tuple[float, float, float, float]:
    """A circle inside the convex ring ``cxy[s:e]`` and one around it, both about the mean
    of its points: (inner radius, outer radius, x, y); the inner one a little smaller for
    the rounding of the distances."""
    n = e - s - 1
    mx, my = 0.0, 0.0
    for v in range(s, e - 1):
        mx += cxy[v, 0]
        my += cxy[v, 1]
    mx, my = mx / n, my / n
    inner, outer = np.inf, 0.0
    for v in range(s, e - 1):
        ex, ey = cxy[v + 1, 0] - cxy[v, 0], cxy[v + 1, 1] - cxy[v, 1]
        length = math.hypot(ex, ey)
        if length > 0.0:
            inner = min(inner, abs(ex * (my - cxy[v, 1]) - ey * (mx - cxy[v, 0])) / length)
        outer = max(outer, math.hypot(cxy[v, 0] - mx, cxy[v, 1] - my))
    return inner * (1.0 - 1e-9), outer * (1.0 + 1e-9), mx, my


@numba.njit(cache=True)
def _cover_areas(
    xy: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    sign: np.ndarray,
    first: np.ndarray,
    tile_area: np.ndarray,
    x0: float,
    y0: float,
    size: float,
    rows: int,
    cols: int,
    cxy: np.ndarray,
    cstart: np.ndarray,
    cend: np.ndarray,
) -> np.ndarray:
    out = np.zeros(len(cstart))
    for c in range(len(cstart)):
        s, e = cstart[c], cend[c]
        inner, outer, mx, my = _circles(cxy, s, e)
        lo_x, hi_x = cxy[s:e, 0].min(), cxy[s:e, 0].max()
        lo_y, hi_y = cxy[s:e, 1].min(), cxy[s:e, 1].max()
        c0 = max(0, math.floor((lo_x - x0) / size))
        c1 = min(cols - 1, math.floor((hi_x - x0) / size))
        r0 = max(0, math.floor((lo_y - y0) / size))
        r1 = min(rows - 1, math.floor((hi_y - y0) / size))
        total = 0.0
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                t = row * cols + col
                if first[t] == first[t + 1]:
                    continue
                bx, by = x0 + col * size, y0 + row * size
                # the tile's nearest and farthest points from the clip's centre
                near_x = max(bx - mx, 0.0, mx - bx - size)
                near_y = max(by - my, 0.0, my - by - size)
                if near_x * near_x + near_y * near_y > outer * outer:
                    continue
                far_x = max(abs(bx - mx), abs(bx + size - mx))
                far_y = max(abs(by - my), abs(by + size - my))
                if far_x * far_x + far_y * far_y < inner * inner:
                    total += tile_area[t]
                    continue
                for p in range(first[t], first[t + 1]):
                    total += sign[p] * _clip_ring(xy, start[p], end[p], cxy, s, e)
        out[c] = max(total, 0.0)
    return out
