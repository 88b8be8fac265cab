"""OSM replication: state files, diff paths, and which parts of the map a set of diffs changed.

Pure computation, no I/O. The replication layout is Osmosis's, as Geofabrik publishes it
(docs/sources.md, "OSM replication"): ``<base>/state.txt`` holds the newest ``sequenceNumber``
and its ``timestamp`` (colons escaped as ``\\:``); sequence ``N`` lives at
``<base>/AAA/BBB/CCC.osc.gz`` with ``AAA BBB CCC`` the nine digits of ``N`` in groups of three.

A *changes record* (written into the OSM source manifest under ``changes``) says what the last
refresh of the OSM file changed:

- ``{"kind": "none"}``: nothing (the file was already up to date);
- ``{"kind": "diffs", "reach": "smart-extracts", "boxes": [[min_lon, min_lat, max_lon,
  max_lat], ...], ...}``: replication diffs were applied; the boxes hold every location (old
  and new state, EPSG:4326 lon/lat) from which an ``osmium extract --strategy smart`` extract
  holds a changed object (an OSM store slice, :mod:`magicmix_geo.prepare.osm_slice`, holds
  some of that extract's objects): for a changed node itself, all nodes of every way that has
  it and the members of every multipolygon that has it or such a way; for a changed way its
  nodes and the members of its multipolygons; for a changed relation its members and those of
  every relation below it (ways with their nodes). So an extract, and a slice, whose area
  meets no box is byte for byte the same after the diffs. A ``diffs`` record without
  ``reach`` (written before the boxes followed ways and relations, when a node moved outside
  an area on a way into it was missed) counts as touching everything;
- ``{"kind": "full"}``: the file was downloaded whole, so everything may have changed.

:func:`touched` maps such a record onto the keys of the extents it intersects. The manifest's
``changes_log`` keeps the last :data:`LOG_LENGTH` records that changed something, so that a
consumer that missed a night asks :func:`touched_since` with the sequence it last ranked at.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.sources._http import SourceError

SOURCE = "osm"
# changed locations are reported as the cells of this grid (degrees; ~1.1 km north-south)
CELL_DEG = 0.01
# cells are widened by this much (degrees, OSM's coordinate precision) so that a location on
# a cell edge lies inside its box despite floating-point rounding
CELL_PAD_DEG = 1e-7
# cells are keyed as row * CELL_KEY + column + CELL_KEY // 2 (any column of any grid fits)
CELL_KEY = 1 << 32
STATE_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
KIND_NONE = "none"
KIND_DIFFS = "diffs"
KIND_FULL = "full"
# a diffs record's boxes reach every extract (osmium extract --strategy smart) that holds a
# changed object, not only the changed objects' own locations
REACH = "smart-extracts"
RD_NEW = 28992
# refreshes kept in the manifest's changes_log (a consumer further behind re-ranks everything)
LOG_LENGTH = 14
WGS84 = 4326

Key = TypeVar("Key", bound=Hashable)
# shapely ships no type hints, so BaseGeometry is Any to mypy
Extent: TypeAlias = "BaseGeometry | tuple[float, float, float, float]"


@dataclass(frozen=True)
class ReplicationState:
    """One replication state: the diff ``sequence`` and the time its data reach (UTC)."""

    sequence: int
    timestamp: datetime

    @property
    def iso(self) -> str:
        return self.timestamp.strftime(STATE_TIMESTAMP_FORMAT)

    def as_dict(self) -> dict[str, Any]:
        return {"sequence_number": self.sequence, "timestamp": self.iso}


def parse_state(text: str, where: str) -> ReplicationState:
    """The ``sequenceNumber`` and ``timestamp`` of an Osmosis ``state.txt``.

    Lines starting with ``#`` are comments; other keys (``txnMaxQueried``...) are ignored.

    Raises
    ------
    SourceError
        ``where`` (the URL) does not hold a state file: a key missing, a sequence number that
        is not a non-negative integer, a timestamp not like ``2026-10-08T20\\:21\\:06Z``.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    missing = [k for k in ("sequenceNumber", "timestamp") if k not in values]
    if missing:
        raise SourceError(SOURCE, f"{where}: not a replication state file ({missing[0]} missing)")
    sequence = values["sequenceNumber"]
    if not sequence.isdigit():
        raise SourceError(SOURCE, f"{where}: sequenceNumber {sequence[:40]!r} is not a number")
    return ReplicationState(int(sequence), parse_timestamp(values["timestamp"], where))


def parse_timestamp(text: str, where: str) -> datetime:
    """``2026-10-08T20:21:06Z`` (or with ``\\:`` as in state files) as an aware UTC datetime."""
    try:
        value = datetime.strptime(text.replace("\\:", ":"), STATE_TIMESTAMP_FORMAT)
    except ValueError as exc:
        raise SourceError(
            SOURCE, f"{where}: timestamp {text[:40]!r} is not like 2026-10-08T20:21:06Z"
        ) from exc
    return value.replace(tzinfo=UTC)


def sequence_path(sequence: int, suffix: str) -> str:
    """``4932, "osc.gz"`` -> ``"000/004/932.osc.gz"`` (Osmosis's replication layout)."""
    if not 0 <= sequence <= 999_999_999:
        raise ValueError(f"replication sequence number out of range: {sequence}")
    digits = f"{sequence:09d}"
    return f"{digits[0:3]}/{digits[3:6]}/{digits[6:9]}.{suffix}"


def cell_boxes(lons: np.ndarray, lats: np.ndarray, cell_deg: float = CELL_DEG) -> list[list[float]]:
    """The grid cells holding the locations, as boxes ``[min_lon, min_lat, max_lon, max_lat]``.

    Neighbouring cells in a row are merged into one box. Every location lies inside (or on
    the edge of) a box. Input and output in EPSG:4326 degrees.
    """
    lons = np.asarray(lons, dtype=np.float64)
    lats = np.asarray(lats, dtype=np.float64)
    ok = np.isfinite(lons) & np.isfinite(lats)
    if not ok.any():
        return []
    rows = np.floor(lats[ok] / cell_deg).astype(np.int64)
    cols = np.floor(lons[ok] / cell_deg).astype(np.int64)
    # one int64 key per cell (row major, columns offset to be non-negative): a 1-d unique is
    # several times faster than unique rows
    keys = np.unique(rows * CELL_KEY + (cols + CELL_KEY // 2))
    cells = np.stack([keys // CELL_KEY, keys % CELL_KEY - CELL_KEY // 2], axis=1)
    # sorted by row (lat), then column (lon)
    boxes: list[list[float]] = []
    start = prev = cells[0]
    for cell in [*cells[1:], None]:
        if cell is not None and cell[0] == prev[0] and cell[1] == prev[1] + 1:
            prev = cell
            continue
        boxes.append(
            [
                round(start[1] * cell_deg - CELL_PAD_DEG, 7),
                round(start[0] * cell_deg - CELL_PAD_DEG, 7),
                round((prev[1] + 1) * cell_deg + CELL_PAD_DEG, 7),
                round((prev[0] + 1) * cell_deg + CELL_PAD_DEG, 7),
            ]
        )
        if cell is not None:
            start = prev = cell
    return boxes


def diffs_record(
    before: ReplicationState,
    after: ReplicationState,
    lons: np.ndarray,
    lats: np.ndarray,
    counts: Mapping[str, int],
    cell_deg: float = CELL_DEG,
) -> dict[str, Any]:
    """The changes record of diffs ``before.sequence + 1 .. after.sequence``."""
    return {
        "kind": KIND_DIFFS,
        "reach": REACH,
        "from": before.as_dict(),
        "to": after.as_dict(),
        "sequences": [before.sequence + 1, after.sequence],
        "objects": dict(counts),
        "locations": int(np.isfinite(np.asarray(lons, dtype=np.float64)).sum()),
        "cell_deg": cell_deg,
        "boxes": cell_boxes(lons, lats, cell_deg),
    }


def touched(changes: Mapping[str, Any] | None, extents: Mapping[Key, Extent]) -> set[Key]:
    """The keys of ``extents`` whose extent a changes record touches.

    Parameters
    ----------
    changes
        The ``changes`` of the OSM source manifest. None (no record), ``kind == "full"`` and
        a ``diffs`` record without ``reach`` (an older record) touch every extent;
        ``kind == "none"`` touches none.
    extents
        Per key (a municipality code, say) its extent in EPSG:4326 (lon/lat): a shapely
        geometry or a box ``(min_lon, min_lat, max_lon, max_lat)``. Give the area the OSM
        extract covers (the boundary grown by the extract buffer), not the bare boundary.
    """
    if changes is None or changes.get("kind") == KIND_FULL:
        return set(extents)
    if changes.get("kind") == KIND_NONE:
        return set()
    if changes.get("kind") != KIND_DIFFS:
        raise ValueError(f"unknown kind of OSM changes record: {changes.get('kind')!r}")
    if changes.get("reach") != REACH:
        return set(extents)  # its boxes may miss ways and relations that reach an extent
    boxes = [shapely.box(*b) for b in changes.get("boxes", [])]
    if not boxes or not extents:
        return set()
    keys = list(extents)
    geoms = [_geometry(extents[k]) for k in keys]
    tree = shapely.STRtree(boxes)
    hit_extents, _ = tree.query(geoms, predicate="intersects")
    return {keys[i] for i in np.unique(hit_extents)}


def append_log(log: Sequence[Mapping[str, Any]] | None, record: Mapping[str, Any]) -> list[Any]:
    """``log`` (oldest first) with ``record`` appended, keeping the last :data:`LOG_LENGTH`.

    Records of kind ``none`` change nothing and are not kept.
    """
    kept = list(log or [])
    if record.get("kind") != KIND_NONE:
        kept.append(dict(record))
    return kept[-LOG_LENGTH:]


def touched_since(
    log: Sequence[Mapping[str, Any]] | None, sequence: int | None, extents: Mapping[Key, Extent]
) -> set[Key]:
    """The keys of ``extents`` touched since the file was at replication ``sequence``.

    ``log`` is the manifest's ``changes_log``. A consumer that ranked at sequence ``s`` (the
    manifest's ``replication.sequence_number`` then) asks what changed since: the union of the
    later diffs records. Everything is touched when ``sequence`` is unknown, a later refresh
    was a full download or a ``diffs`` record without ``reach``, or the log does not reach
    back to ``sequence``.
    """
    if sequence is None:
        return set(extents)
    later = [r for r in log or [] if _after(r, sequence)]
    if not later:
        return set()
    if any(r.get("kind") != KIND_DIFFS or r.get("reach") != REACH for r in later):
        return set(extents)
    if min(int(r["from"]["sequence_number"]) for r in later) > sequence:
        return set(extents)  # the log does not reach back that far
    boxes = [b for r in later for b in r.get("boxes", [])]
    return touched({"kind": KIND_DIFFS, "reach": REACH, "boxes": boxes}, extents)


def _after(record: Mapping[str, Any], sequence: int) -> bool:
    """Whether a record ends after ``sequence`` (a record without an end counts as after)."""
    end = _to_sequence(record)
    return end is None or end > sequence


def _to_sequence(record: Mapping[str, Any]) -> int | None:
    to = record.get("to") or {}
    value = to.get("sequence_number") if isinstance(to, Mapping) else None
    return int(value) if isinstance(value, int) else None


def extents_wgs84(boundaries_rd: Mapping[Key, BaseGeometry], buffer_m: float) -> dict[Key, Any]:
    """Municipal boundaries (EPSG:28992, metres) grown by ``buffer_m``, in EPSG:4326 lon/lat.

    The extent whose OSM objects a municipality's extract holds, for :func:`touched`.
    """
    keys = list(boundaries_rd)
    if not keys:
        return {}
    grown = gpd.GeoSeries([boundaries_rd[k].buffer(buffer_m) for k in keys], crs=RD_NEW)
    return dict(zip(keys, grown.to_crs(WGS84).to_numpy(), strict=True))


def _geometry(extent: Extent) -> BaseGeometry:
    if isinstance(extent, BaseGeometry):
        return extent
    minx, miny, maxx, maxy = (float(v) for v in extent)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ValueError(f"extent {extent!r} is not finite")
    return shapely.box(minx, miny, maxx, maxy)


def union_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum per-diff object counts (``nodes``, ``ways``, ``relations``)."""
    total = {"nodes": 0, "ways": 0, "relations": 0}
    for c in counts:
        for key in total:
            total[key] += int(c.get(key, 0))
    return total
