"""Slice files: one municipality's parsed OSM data (:mod:`~magicmix_geo.prepare.osm_slice`)
written once by the OSM store and read by the municipality's worker instead of an extract.

A slice file (``<name>.osmslice.npz``) is a NumPy ``.npz`` archive of plain 1-D arrays, never
pickles: the walk arrays; the features' type codes and ids; their geometry (EPSG:28992,
projected once per region) as coordinates and offsets (Arrow's and GeoArrow's layout: node
points, then the areas' multipolygons as offsets of parts, rings and coordinates); the
lines' ids and coordinates with offsets; each frame's tag columns as the rows that hold a
value, those values (concatenated UTF-8 with int64 offsets) and a count per column; the
feature column names; a format version; and the
:class:`~magicmix_geo.prepare.osm.ReaderKeys` it was cut for (canonical JSON).

Floats (coordinates, walk locations) are stored as little-endian uint16 words: the top
word of each (sign, exponent, 4 bits of mantissa; ``<name>_top``) deflates to ~0.01, the
three low words (``<name>_low``) are near noise and stored as they are (deflating them takes
over 30 times the CPU of the top words and saves a fifth of their size). Every other entry
(ids, offsets, strings: ~0.2) is deflated at zlib level 1. On a city's slices: 0.58 of the
arrays on disk (format 2, WKB deflated whole: 0.52), for 0.4 of format 2's CPU to write and
0.5 to read (bench/README.md, "Session 10"). The bytes are a function of the data: entries
are written in a fixed order with a fixed timestamp, so an unchanged slice is
byte-identical (the result cache keys on the file's sha256); a slice of another format is
refused and cut again. Files appear atomically.

:func:`read_slice` trusts nothing in the file: every array's name, dtype, length, offsets,
rows, codes, UTF-8 and geometry (closed rings of at least four coordinates, lines of at
least two) is checked, and any problem is an InputError naming the file. Frames come back
equal, dtypes included, to what :func:`~magicmix_geo.prepare.osm.read_osm` builds.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import InputError
from magicmix_geo.prepare.osm import (
    LINE_KEYS,
    RD_NEW,
    OsmData,
    ReaderKeys,
    WalkWays,
    osm_frame,
    require_crs,
)

SLICE_SUFFIX = ".osmslice.npz"
SLICE_FORMAT = 3
# entries are deflated at this zlib level (1: the cheapest), but for the low 48 bits of
# floats (LOW_SUFFIX), which are stored: deflating them takes over 30 times the CPU of
# deflating the top 16 (TOP_SUFFIX, which shrink to ~0.01) and saves a fifth of them
ZIP_LEVEL = 1
TOP_SUFFIX, LOW_SUFFIX = "_top", "_low"
# a float64 as 4 little-endian uint16: the top one (sign, exponent, 4 bits of mantissa)
# and the low three
_WORDS = 4
_LOW_WORDS = _WORDS - 1
# a slice holds at most this many bytes of arrays per byte of file (level 1 reaches ~5 on
# ids and offsets, more on tag columns that are mostly empty): a file claiming more is
# refused before anything is inflated (no decompression bomb)
MAX_INFLATION = 64
# osm_type as a small code, in this order
OSM_TYPES = ("node", "way", "relation")
# a fixed timestamp (the earliest a zip file holds): the same arrays give the same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_INT, _FLOAT, _BYTE = np.dtype("<i8"), np.dtype("<f8"), np.dtype("u1")
_WORD = np.dtype("<u2")
_TYPE_CODE = np.dtype("i1")
_SHAPELY_POINT, _SHAPELY_LINESTRING, _SHAPELY_MULTIPOLYGON = 0, 1, 6
# the dtype pandas infers for a list of strings and None, as read_osm's columns are built
_STRINGS = pd.Series(["", None]).dtype


@dataclass(frozen=True)
class TagArrays:
    """Tag columns as a slice file holds them: per column the rows that hold a value
    (``counts`` per column, ``rows`` one column after the other), and those values as
    concatenated UTF-8 (``offsets``, n + 1 from 0, into ``data``)."""

    counts: np.ndarray
    rows: np.ndarray
    offsets: np.ndarray
    data: np.ndarray


@dataclass(frozen=True)
class SliceParts:
    """A slice as the arrays of its file: the walk arrays; the features' type codes
    (:data:`OSM_TYPES`), ids, node points' coordinates, areas' multipolygons (offsets of
    parts per area, rings per part, coordinates per ring, and the coordinates), tag columns
    (``feature_columns``, in that order); the lines' ids, coordinates with offsets and
    :data:`~magicmix_geo.prepare.osm.LINE_KEYS` tags. Coordinates in EPSG:28992, (n, 2)."""

    walk: WalkWays
    feature_columns: list[str]
    feature_type: np.ndarray
    feature_id: np.ndarray
    point_xy: np.ndarray
    area_parts: np.ndarray
    area_rings: np.ndarray
    area_coords: np.ndarray
    area_xy: np.ndarray
    feature_tags: TagArrays
    line_id: np.ndarray
    line_coords: np.ndarray
    line_xy: np.ndarray
    line_tags: TagArrays


def write_slice(data: OsmData, keys: ReaderKeys, path: Path) -> None:
    """Write ``data`` (frames in EPSG:28992, as :func:`~magicmix_geo.prepare.osm_slice.slice_osm`
    gives them from a projected region) to ``path`` atomically; ``keys``: the reader keys
    ``data`` was read with.

    Raises
    ------
    ValueError
        The frames are not in EPSG:28992, or hold an unknown ``osm_type`` or a geometry
        ``read_osm`` does not give (a feature neither a node's point nor a multipolygon, a
        line not a line string, Z coordinates).
    """
    write_parts(slice_parts(data), keys, path)


def write_parts(parts: SliceParts, keys: ReaderKeys, path: Path) -> None:
    """Write the slice ``parts`` (cut for the reader ``keys``) to ``path`` atomically: the
    bytes :func:`write_slice` writes for the frames they come from."""
    walk = parts.walk
    arrays: dict[str, np.ndarray] = {
        "format": np.array([SLICE_FORMAT], dtype=_INT),
        "keys": _text(keys.canonical_json()),
        "feature_columns": _text(json.dumps(parts.feature_columns)),
        "walk_way_ids": walk.way_ids,
        "walk_offsets": walk.offsets,
        "walk_node_ids": walk.node_ids,
        **_split_floats("walk_lon", walk.lon),
        **_split_floats("walk_lat", walk.lat),
        "feature_type": parts.feature_type.astype(_TYPE_CODE, copy=False),
        "feature_id": parts.feature_id.astype(_INT, copy=False),
        **_split_floats("feature_point_xy", parts.point_xy),
        "feature_area_parts": parts.area_parts,
        "feature_area_rings": parts.area_rings,
        "feature_area_coords": parts.area_coords,
        **_split_floats("feature_area_xy", parts.area_xy),
        **_tag_entries("feature_tag", parts.feature_tags),
        "line_id": parts.line_id.astype(_INT, copy=False),
        "line_coords": parts.line_coords,
        **_split_floats("line_xy", parts.line_xy),
        **_tag_entries("line_tag", parts.line_tags),
    }
    with atomic_path(Path(path)) as tmp:
        _write_npz(tmp, arrays)


def slice_parts(data: OsmData) -> SliceParts:
    """``data``'s frames (EPSG:28992) as the arrays of a slice file (:func:`write_slice`
    raises what this does)."""
    require_crs(data, RD_NEW, "write_slice")
    features, lines = data.features, data.lines
    columns = _tag_columns(features)
    codes = type_codes(features["osm_type"])
    point_xy, area_parts, area_rings, area_coords, area_xy = _feature_geometry(
        features.geometry.to_numpy(), codes == 0
    )
    line_coords, line_xy = _line_geometry(lines.geometry.to_numpy())
    return SliceParts(
        walk=data.walk,
        feature_columns=columns,
        feature_type=codes,
        feature_id=features["osm_id"].to_numpy(dtype=_INT),
        point_xy=point_xy,
        area_parts=area_parts,
        area_rings=area_rings,
        area_coords=area_coords,
        area_xy=area_xy,
        feature_tags=tag_arrays([features[column] for column in columns]),
        line_id=lines["osm_id"].to_numpy(dtype=_INT),
        line_coords=line_coords,
        line_xy=line_xy,
        line_tags=tag_arrays([lines[key] for key in LINE_KEYS]),
    )


def read_slice(path: Path, keys: ReaderKeys) -> OsmData:
    """The slice in ``path`` as :func:`~magicmix_geo.prepare.osm.read_osm` returns data
    (frames in EPSG:28992), ``path`` as its ``path``.

    Raises
    ------
    InputError
        ``path`` is not a slice file (missing, truncated, not an npz, an object array), was
        written by another format version or for other reader ``keys``, or holds arrays of
        the wrong dtype or length, offsets or rows out of bounds or order, invalid UTF-8, or
        geometry that is not a point, line or multipolygon of closed rings.
    """
    path = Path(path)
    arrays = _Arrays(path, _load(path))
    if arrays.get("format", _INT, 1)[0] != SLICE_FORMAT:
        raise InputError(f"{path}: slice format not {SLICE_FORMAT}; cut the slice again")
    if arrays.text("keys") != keys.canonical_json():
        raise InputError(f"{path}: slice written for other OSM reader keys")
    walk = _read_walk(arrays)
    features = _read_features(arrays, keys)
    lines = _read_lines(arrays)
    return OsmData(path=path, walk=walk, features=features, lines=lines)


# --- writing ---------------------------------------------------------------------------------


def _write_npz(target: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(
                buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            stored = name.endswith(LOW_SUFFIX)
            zf.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME),
                buffer.getbuffer(),
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                compresslevel=None if stored else ZIP_LEVEL,
            )


def _text(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=_BYTE)


def _tag_columns(features: gpd.GeoDataFrame) -> list[str]:
    return [c for c in features.columns if c not in ("osm_type", "osm_id", "geometry")]


def type_codes(types: Sequence[object]) -> np.ndarray:
    """``osm_type`` strings as their codes (:data:`OSM_TYPES`); ValueError for another."""
    codes = pc.index_in(_arrow_strings(types), value_set=pa.array(OSM_TYPES))
    if codes.null_count:
        raise ValueError("write_slice: an osm_type not one of " + ", ".join(OSM_TYPES))
    return codes.to_numpy(zero_copy_only=False).astype(_TYPE_CODE)


def _split_floats(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """float64 ``values`` (flattened) as their top 16 bits (``<name>_top``, uint16) and their
    low 48 (``<name>_low``, three uint16 a value, the lowest first)."""
    flat = np.ascontiguousarray(values, dtype=_FLOAT).reshape(-1)
    words = flat.view(_WORD).reshape(-1, _WORDS)
    return {
        name + TOP_SUFFIX: words[:, _LOW_WORDS].copy(),
        name + LOW_SUFFIX: words[:, :_LOW_WORDS].copy().reshape(-1),
    }


def counts_to_offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=_INT)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _index_to_offsets(index: np.ndarray, count: int) -> np.ndarray:
    """Offsets (``count + 1``) of the runs of an ascending ``index`` of ``count`` groups."""
    return counts_to_offsets(np.bincount(index, minlength=count))


def require_types(who: str, geometry: np.ndarray, type_id: int) -> None:
    """ValueError unless every geometry is a 2-D one of ``type_id``."""
    if np.any(shapely.get_type_id(geometry) != type_id) or np.any(shapely.has_z(geometry)):
        kind = shapely.GeometryType(type_id).name.lower()
        raise ValueError(f"write_slice: {who} not all 2-D {kind}s")


def _feature_geometry(geometry: np.ndarray, is_node: np.ndarray) -> tuple[np.ndarray, ...]:
    """Node points' coordinates; areas as multipolygons: offsets of parts per area, rings
    per part and coordinates per ring, and the coordinates."""
    points, areas = geometry[is_node], geometry[~is_node]
    require_types("node features", points, _SHAPELY_POINT)
    require_types("area features", areas, _SHAPELY_MULTIPOLYGON)
    point_xy = shapely.get_coordinates(points)
    if len(point_xy) != len(points):
        raise ValueError("write_slice: an empty point")
    parts, part_of = shapely.get_parts(areas, return_index=True)
    holes = shapely.get_num_interior_rings(parts)
    ring_counts = holes + 1
    # a part without holes is its ring; only parts with holes are split into rings
    coord_counts = np.empty(int(ring_counts.sum()), dtype=_INT)
    in_holed = np.repeat(holes > 0, ring_counts)
    coord_counts[~in_holed] = shapely.get_num_coordinates(parts[holes == 0])
    coord_counts[in_holed] = shapely.get_num_coordinates(shapely.get_rings(parts[holes > 0]))
    require_rings(coord_counts)
    return (
        point_xy,
        _index_to_offsets(part_of, len(areas)),
        counts_to_offsets(ring_counts),
        counts_to_offsets(coord_counts),
        shapely.get_coordinates(areas),
    )


def require_rings(coord_counts: np.ndarray) -> None:
    """Raise ValueError if a ring has fewer than 4 coordinates (none closes a polygon)."""
    if np.any(coord_counts < 4):
        raise ValueError("write_slice: an empty polygon or ring in a multipolygon")


def _line_geometry(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    require_types("lines", geometry, _SHAPELY_LINESTRING)
    xy, line_of = shapely.get_coordinates(geometry, return_index=True)
    return _index_to_offsets(line_of, len(geometry)), xy


def _arrow_strings(values: Sequence[object]) -> pa.LargeStringArray:
    array = pa.array(values, type=pa.large_string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):  # pandas' string arrays (an empty one mixes types)
        array = array.cast(pa.large_string()).combine_chunks()
    return array


def tag_arrays(columns: Sequence[Sequence[object]]) -> TagArrays:
    """Tag columns (strings and nulls) as a slice file holds them (most rows are empty)."""
    rows: list[np.ndarray] = []
    values: list[pa.LargeStringArray] = []
    for column in columns:
        array = _arrow_strings(column)
        rows.append(np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False)))
        values.append(array.drop_null())
    joined = pa.concat_arrays(values) if values else pa.array([], type=pa.large_string())
    offsets, data = _buffers(joined)
    return TagArrays(
        counts=np.array([r.size for r in rows], dtype=_INT),
        rows=np.concatenate(rows or [np.zeros(0)]).astype(_INT),
        offsets=offsets,
        data=data,
    )


def _tag_entries(name: str, tags: TagArrays) -> dict[str, np.ndarray]:
    return {
        f"{name}_counts": tags.counts,
        f"{name}_rows": tags.rows,
        f"{name}_offsets": tags.offsets,
        f"{name}_data": tags.data,
    }


def _buffers(array: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, n + 1, from 0) and the concatenated bytes of a large string array
    without nulls."""
    _, offsets, data = array.buffers()
    starts = np.zeros(len(array) + 1, dtype=_INT)
    if offsets is not None:
        starts = np.frombuffer(offsets, dtype=_INT, count=len(array) + 1, offset=8 * array.offset)
    body = np.zeros(0, dtype=_BYTE)
    if starts[-1] > starts[0]:
        body = np.frombuffer(data, dtype=_BYTE)[starts[0] : starts[-1]]
    return starts - starts[0], body


# --- reading ---------------------------------------------------------------------------------


def _load(path: Path) -> Mapping[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"{path}: slice file not found")
    try:
        # our own handle: numpy leaves its own open when the archive is broken
        with path.open("rb") as fh:
            _require_bounded(path, fh)
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise InputError(f"{path}: not a slice file (not an npz archive)")
            with loaded as npz:
                return {name: npz[name] for name in npz.files}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(f"{path}: not a readable slice file ({exc})") from exc


def _require_bounded(path: Path, fh: BinaryIO) -> None:
    """Refuse entries neither stored nor deflated, and archives whose entries claim more than
    :data:`MAX_INFLATION` times the file's size: zipfile inflates an entry no further than its
    stated size, so what is loaded stays within that bound (no decompression bomb)."""
    size = fh.seek(0, 2)
    fh.seek(0)
    with zipfile.ZipFile(fh) as zf:
        entries = zf.infolist()
        methods = {info.compress_type for info in entries}
        if not methods <= {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}:
            raise InputError(f"{path}: not a slice file (entries compressed another way)")
        if sum(info.file_size for info in entries) > MAX_INFLATION * size:
            raise InputError(f"{path}: not a slice file (entries claim too many bytes)")
    fh.seek(0)


class _Arrays:
    """The arrays of one slice file, each fetched with its dtype and length checked."""

    def __init__(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        self.path = path
        self.arrays = arrays

    def fail(self, problem: str) -> InputError:
        return InputError(f"{self.path}: broken slice file ({problem})")

    def get(self, name: str, dtype: np.dtype, size: int | None = None) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None:
            raise self.fail(f"no array {name!r}")
        if array.dtype != dtype or array.ndim != 1:
            raise self.fail(f"{name!r} is {array.dtype} of {array.ndim} dimensions")
        if size is not None and array.size != size:
            raise self.fail(f"{name!r} holds {array.size} values, not {size}")
        return array

    def text(self, name: str) -> str:
        try:
            return self.get(name, _BYTE).tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{name!r} is not UTF-8") from exc

    def offsets(self, name: str, count: int, size: int, least: int = 0) -> np.ndarray:
        """``name`` as ``count + 1`` offsets from 0 to ``size``, each at least ``least``
        after the one before."""
        offsets = self.get(name, _INT, count + 1)
        if offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < least):
            raise self.fail(f"{name!r} are not offsets from 0 to {size} ({least}+ apart)")
        return offsets

    def floats(self, name: str, size: int | None = None) -> np.ndarray:
        """The float64 values stored as ``<name>_top`` and ``<name>_low``."""
        top = self.get(name + TOP_SUFFIX, _WORD, size)
        low = self.get(name + LOW_SUFFIX, _WORD, _LOW_WORDS * top.size)
        words = np.empty((top.size, _WORDS), dtype=_WORD)
        words[:, :_LOW_WORDS] = low.reshape(-1, _LOW_WORDS)
        words[:, _LOW_WORDS] = top
        return words.view(_FLOAT).reshape(-1)

    def xy(self, name: str, count: int | None = None) -> np.ndarray:
        """``count`` (x, y) pairs."""
        values = self.floats(name, None if count is None else 2 * count)
        if values.size % 2:
            raise self.fail(f"{name!r} holds an odd number of coordinates")
        return values.reshape(-1, 2)

    def strings(self, name: str, count: int) -> pa.LargeStringArray:
        """``count`` UTF-8 strings."""
        data = self.get(f"{name}_data", _BYTE)
        offsets = self.offsets(f"{name}_offsets", count, data.size)
        array = pa.Array.from_buffers(
            pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
        try:
            array.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise self.fail(f"{name!r}: {exc}") from exc
        return array

    def tags(self, name: str, columns: int, count: int) -> list[object]:
        """``columns`` columns of ``count`` tag values: the strings at the rows the file
        lists, nulls elsewhere, each as :func:`_column` builds it."""
        counts = self.get(f"{name}_counts", _INT, columns)
        if np.any(counts < 0) or np.any(counts > count):
            raise self.fail(f"'{name}_counts' are not counts of at most {count} rows")
        rows = self.get(f"{name}_rows", _INT, int(counts.sum()))
        values = self.strings(name, rows.size)
        starts = counts_to_offsets(counts)
        result = []
        for start, end in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
            held = rows[start:end]
            if held.size and (held[0] < 0 or held[-1] >= count or np.any(np.diff(held) <= 0)):
                raise self.fail(f"'{name}_rows' are not rows below {count}, in order")
            result.append(_column(_scatter(values.slice(start, end - start), held, count)))
        return result

    def multipolygons(self, name: str, count: int) -> np.ndarray:
        """``count`` multipolygons: ``<name>_parts``, ``_rings`` and ``_coords`` offsets and
        ``<name>_xy`` coordinates, every ring closed and of 4 or more coordinates."""
        parts = self.get(f"{name}_parts", _INT, count + 1)
        rings = self.get(f"{name}_rings", _INT)
        coords = self.get(f"{name}_coords", _INT)
        xy = self.xy(f"{name}_xy")
        self.offsets(f"{name}_parts", count, rings.size - 1)
        self.offsets(f"{name}_rings", rings.size - 1, coords.size - 1, least=1)
        self.offsets(f"{name}_coords", coords.size - 1, len(xy), least=4)
        bits = xy.view(np.uint64)
        if np.any(bits[coords[:-1]] != bits[coords[1:] - 1]):
            raise self.fail(f"'{name}_xy': a ring that is not closed")
        return self.shapes(name, shapely.GeometryType.MULTIPOLYGON, xy, (coords, rings, parts))

    def lines(self, name: str, count: int) -> np.ndarray:
        """``count`` line strings: ``<name>_coords`` offsets (2 or more apart) into
        ``<name>_xy``."""
        xy = self.xy(f"{name}_xy")
        offsets = self.offsets(f"{name}_coords", count, len(xy), least=2)
        return self.shapes(name, shapely.GeometryType.LINESTRING, xy, (offsets,))

    def shapes(
        self,
        name: str,
        kind: shapely.GeometryType,
        xy: np.ndarray,
        offsets: tuple[np.ndarray, ...],
    ) -> np.ndarray:
        try:
            geometry: np.ndarray = shapely.from_ragged_array(kind, xy, offsets)
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            raise self.fail(f"{name!r}: {exc}") from exc
        return geometry


def _scatter(values: pa.LargeStringArray, rows: np.ndarray, count: int) -> pa.LargeStringArray:
    """``count`` strings: ``values`` (validated, no nulls) at ``rows`` (ascending, below
    ``count``), nulls elsewhere; over ``values``' bytes, not a copy."""
    _, value_offsets, data = values.buffers()
    starts = np.frombuffer(
        value_offsets, dtype=_INT, count=len(values) + 1, offset=_INT.itemsize * values.offset
    )
    lengths = np.zeros(count, dtype=_INT)
    lengths[rows] = np.diff(starts)
    offsets = np.empty(count + 1, dtype=_INT)
    offsets[0] = starts[0]
    np.cumsum(lengths, out=offsets[1:])
    offsets[1:] += starts[0]
    valid = np.zeros(count, dtype=bool)
    valid[rows] = True
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.large_string(),
        count,
        [bitmap, pa.py_buffer(offsets), data],
        null_count=count - rows.size,
    )


def _column(values: pa.LargeStringArray) -> object:
    """A column of strings and nulls as ``read_osm`` has it: a list when it holds no string
    (pandas infers object, or float when empty) or when pandas infers object for strings,
    else pandas' string array (``str``) over ``values``."""
    if values.null_count == len(values) or not isinstance(_STRINGS, pd.StringDtype):
        return values.to_pylist()
    return pd.array(values, dtype=_STRINGS)


def _read_walk(arrays: _Arrays) -> WalkWays:
    way_ids = arrays.get("walk_way_ids", _INT)
    node_ids = arrays.get("walk_node_ids", _INT)
    return WalkWays(
        way_ids=way_ids,
        offsets=arrays.offsets("walk_offsets", way_ids.size, node_ids.size),
        node_ids=node_ids,
        lon=arrays.floats("walk_lon", node_ids.size),
        lat=arrays.floats("walk_lat", node_ids.size),
    )


def _read_features(arrays: _Arrays, keys: ReaderKeys) -> gpd.GeoDataFrame:
    columns = _column_names(arrays, keys)
    ids = arrays.get("feature_id", _INT)
    count = ids.size
    codes = arrays.get("feature_type", _TYPE_CODE, count)
    if codes.size and (codes.min() < 0 or codes.max() >= len(OSM_TYPES)):
        raise arrays.fail("'feature_type' holds an unknown code")
    is_node = codes == 0
    nodes = int(np.count_nonzero(is_node))
    geometry = np.empty(count, dtype=object)
    geometry[is_node] = shapely.points(arrays.xy("feature_point_xy", nodes))
    geometry[~is_node] = arrays.multipolygons("feature_area", count - nodes)
    types = pa.array(OSM_TYPES, type=pa.large_string()).take(pa.array(codes))
    frame: dict[str, object] = {"osm_type": _column(types), "osm_id": ids}
    tags = arrays.tags("feature_tag", len(columns), count)
    frame |= dict(zip(columns, tags, strict=True))
    return osm_frame(frame, geometry, RD_NEW)


def _column_names(arrays: _Arrays, keys: ReaderKeys) -> list[str]:
    """The tag columns the file says it holds, which must be those ``keys`` give."""
    try:
        columns = json.loads(arrays.text("feature_columns"))
    except json.JSONDecodeError as exc:
        raise arrays.fail(f"'feature_columns' is not JSON ({exc.msg})") from exc
    if columns != sorted(set(keys.tag_columns) | {"name"}):
        raise arrays.fail("'feature_columns' are not the reader keys' tag columns")
    return list(columns)


def _read_lines(arrays: _Arrays) -> gpd.GeoDataFrame:
    ids = arrays.get("line_id", _INT)
    count = ids.size
    geometry = arrays.lines("line", count)
    frame: dict[str, object] = {"osm_id": ids}
    tags = arrays.tags("line_tag", len(LINE_KEYS), count)
    frame |= dict(zip(LINE_KEYS, tags, strict=True))
    return osm_frame(frame, geometry, RD_NEW)
