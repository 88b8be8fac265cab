"""libosmium's WKB to coordinates and offsets, read straight from the bytes (pure computation).

The OSM store lays out every area and line of a region as coordinates with offsets
(GeoArrow's layout, what ``shapely.to_ragged_array`` gives): half a million multipolygons and
a quarter of a million line strings per region. Making a shapely geometry of each WKB and
taking it apart again took ~2 s of a region's program. Here the WKB of all rows is one byte
array: the headers are found with numpy, a level at a time for all rows together (the first
part of every multipolygon, then its first ring, ...), and what is not a header is the
coordinates, in order: the same doubles, as WKB holds them.

Read: 2-D ISO WKB in little-endian byte order (``osmium.geom.WKBFactory``'s output), line
strings (type 2) and multipolygons of polygons (types 6 and 3). Anything else (big-endian,
another type, Z or M, a count running past the geometry's bytes, bytes left over) is refused,
naming a row that holds it (the first such row at the level being read).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from magicmix_geo.prepare.osm_slice import ranges
from magicmix_geo.prepare.osm_slice_file import counts_to_offsets

_LITTLE_ENDIAN = 1
_LINESTRING = 2
_POLYGON = 3
_MULTIPOLYGON = 6
_HEADER = 9  # byte order (1) and type (4), then a count (4)
_COUNT = 4  # a ring's count of coordinates
_COORDINATE = 16  # x and y, two doubles


class WkbError(ValueError):
    """A WKB that is not what :mod:`wkb_ragged` reads; ``row`` is its position."""

    def __init__(self, who: str, row: int) -> None:
        super().__init__(f"{who}: row {row} is not a 2-D little-endian WKB of the expected type")
        self.row = row


def line_strings(wkb: Sequence[bytes], who: str) -> tuple[np.ndarray, np.ndarray]:
    """The coordinates (n, 2) of line strings ``wkb`` and their offsets (line ``i``:
    ``xy[offsets[i]:offsets[i + 1]]``). Raises :class:`WkbError` naming ``who``."""
    buffer, starts = _joined(wkb)
    rows = np.arange(len(starts) - 1)
    firsts, ends = starts[:-1], starts[1:]
    counts = _headers(buffer, firsts, ends, rows, _LINESTRING, who)
    _require(ends - firsts == _HEADER + _COORDINATE * counts, rows, who)
    return _coordinates(buffer, firsts, _HEADER), counts_to_offsets(counts)


def multipolygons(wkb: Sequence[bytes], who: str) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The coordinates (n, 2) of multipolygons ``wkb`` and their offsets, outermost first:
    parts per multipolygon, rings per part, coordinates per ring. Raises :class:`WkbError`
    naming ``who``."""
    buffer, starts = _joined(wkb)
    ends = starts[1:]
    rows = np.arange(len(ends))
    part_counts = _headers(buffer, starts[:-1], ends, rows, _MULTIPOLYGON, who)
    cursor = starts[:-1] + _HEADER
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # (where, rings), a level at a time
    rings: list[tuple[np.ndarray, np.ndarray]] = []  # (where, coordinates)
    row = rows  # the rows with another part, shrinking part after part
    for part in range(int(part_counts.max(initial=0))):
        row = row[part_counts[row] > part]
        ring_counts = _headers(buffer, cursor[row], ends[row], row, _POLYGON, who)
        parts.append((cursor[row], ring_counts))
        cursor[row] += _HEADER
        at, left = row, ring_counts  # the rows whose current part has another ring
        for ring in range(int(ring_counts.max(initial=0))):
            more = left > ring
            at, left = at[more], left[more]
            _require(cursor[at] + _COUNT <= ends[at], at, who)
            coordinates = _u32(buffer, cursor[at])
            rings.append((cursor[at], coordinates))
            cursor[at] += _COUNT + _COORDINATE * coordinates
            _require(cursor[at] <= ends[at], at, who)
    _require(cursor == ends, rows, who)
    part_at, per_part = _in_file_order(parts)
    ring_at, per_ring = _in_file_order(rings)
    headers = (starts[:-1], _HEADER), (part_at, _HEADER), (ring_at, _COUNT)
    xy = _coordinates(buffer, *_header_runs(headers))
    return xy, tuple(counts_to_offsets(c) for c in (part_counts, per_part, per_ring))


def _joined(wkb: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """All of ``wkb`` in one byte array, and where each starts (one more: the end)."""
    lengths = np.fromiter(map(len, wkb), dtype=np.int64, count=len(wkb))
    return np.frombuffer(b"".join(wkb), dtype=np.uint8), counts_to_offsets(lengths)


def _u32(buffer: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The little-endian unsigned 32-bit integers at byte positions ``at``."""
    return buffer[at[:, None] + np.arange(4)].view("<u4").ravel().astype(np.int64)


def _headers(
    buffer: np.ndarray, at: np.ndarray, ends: np.ndarray, rows: np.ndarray, kind: int, who: str
) -> np.ndarray:
    """The counts after the headers at ``at`` (of ``rows``, ending at ``ends``), which must
    be little-endian headers of ``kind``."""
    _require(at + _HEADER <= ends, rows, who)
    _require(buffer[at] == _LITTLE_ENDIAN, rows, who)
    _require(_u32(buffer, at + 1) == kind, rows, who)
    return _u32(buffer, at + 5)


def _require(ok: np.ndarray, rows: np.ndarray, who: str) -> None:
    if not ok.all():
        raise WkbError(who, int(rows[~ok].min()))


def _in_file_order(levels: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The (where, count) pairs found a level at a time, ordered by where they are."""
    if not levels:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    where = np.concatenate([w for w, _ in levels])
    counts = np.concatenate([c for _, c in levels])
    order = np.argsort(where, kind="stable")
    return where[order], counts[order]


def _header_runs(headers: tuple[tuple[np.ndarray, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """The headers' first bytes and lengths (each a group of positions with one length)."""
    firsts = np.concatenate([at for at, _ in headers])
    lengths = np.concatenate([np.full(len(at), size, dtype=np.int64) for at, size in headers])
    return firsts, lengths


def _coordinates(buffer: np.ndarray, firsts: np.ndarray, lengths: np.ndarray | int) -> np.ndarray:
    """The (n, 2) doubles of ``buffer`` outside the headers (first bytes ``firsts``, each
    ``lengths`` long), in this machine's byte order."""
    header = np.zeros(len(buffer), dtype=bool)
    header[ranges(firsts, np.broadcast_to(lengths, firsts.shape))] = True
    return buffer[~header].view("<f8").astype(np.float64, copy=False).reshape(-1, 2)
