"""Slice files: one municipality's parsed OSM data (:mod:`~magicmix_geo.prepare.osm_slice`)
written once by the OSM store and read by the municipality's worker instead of an extract.

A slice file (``<name>.osmslice.npz``) is a NumPy ``.npz`` archive of plain arrays, each
entry deflated at zlib level 1 (0.3 of the size; for the Delft sample's 3.9 MB of arrays
~50 ms of CPU to write, ~15 ms to read), never pickles: the walk arrays; the features' type
codes, ids, tag columns and WKB geometries (EPSG:28992, projected once per region); the
lines' ids, tags and WKB; the feature column names; a format version; and the
:class:`~magicmix_geo.prepare.osm.ReaderKeys` it was cut for (canonical JSON). Strings and
WKB are stored as concatenated bytes with int64 offsets (Arrow's layout); a tag column as
the rows that hold a value and those values. The bytes are a function of the data: entries
are written in a fixed order with a fixed timestamp, so an unchanged slice is
byte-identical (the result cache keys on the file's sha256). Files appear atomically.

:func:`read_slice` trusts nothing in the file: every array's name, dtype, shape, offsets,
codes, UTF-8 and WKB are checked, and any problem is an InputError naming the file.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import numpy as np
import pyarrow as pa
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
SLICE_FORMAT = 2
# entries are deflated at this zlib level (1: the cheapest; the arrays shrink to ~0.3)
ZIP_LEVEL = 1
# a slice holds at most this many bytes of arrays per byte of file (level 1 reaches ~3.4 on
# real slices, more on tag columns that are mostly empty): a file claiming more is refused
# before anything is inflated (no decompression bomb)
MAX_INFLATION = 64
# osm_type as a small code, in this order
OSM_TYPES = ("node", "way", "relation")
# a fixed timestamp (the earliest a zip file holds): the same arrays give the same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SHAPELY_POINT, _SHAPELY_LINESTRING, _SHAPELY_MULTIPOLYGON = 0, 1, 6
_INT, _FLOAT, _BYTE, _BOOL = np.dtype("<i8"), np.dtype("<f8"), np.dtype("u1"), np.dtype("?")
_TYPE_CODE = np.dtype("i1")


def write_slice(data: OsmData, keys: ReaderKeys, path: Path) -> None:
    """Write ``data`` (frames in EPSG:28992, as :func:`~magicmix_geo.prepare.osm_slice.slice_osm`
    gives them from a projected region) to ``path`` atomically; ``keys``: the reader keys
    ``data`` was read with."""
    require_crs(data, RD_NEW, "write_slice")
    arrays: dict[str, np.ndarray] = {
        "format": np.array([SLICE_FORMAT], dtype=_INT),
        "keys": _text(keys.canonical_json()),
        "walk_way_ids": data.walk.way_ids,
        "walk_offsets": data.walk.offsets,
        "walk_node_ids": data.walk.node_ids,
        "walk_lon": data.walk.lon,
        "walk_lat": data.walk.lat,
    }
    features, lines = data.features, data.lines
    columns = _tag_columns(features)
    arrays["feature_columns"] = _text(json.dumps(columns))
    codes = {name: code for code, name in enumerate(OSM_TYPES)}
    arrays["feature_type"] = features["osm_type"].map(codes).to_numpy(dtype=_TYPE_CODE)
    arrays["feature_id"] = features["osm_id"].to_numpy(dtype=_INT)
    arrays |= _binaries("feature_wkb", shapely.to_wkb(features.geometry.to_numpy()))
    for number, column in enumerate(columns):
        arrays |= _strings(f"feature_tag{number}", features[column])
    arrays["line_id"] = lines["osm_id"].to_numpy(dtype=_INT)
    arrays |= _binaries("line_wkb", shapely.to_wkb(lines.geometry.to_numpy()))
    for key in LINE_KEYS:
        arrays |= _strings(f"line_{key}", lines[key])
    with atomic_path(Path(path)) as tmp:
        _write_npz(tmp, arrays)


def read_slice(path: Path, keys: ReaderKeys) -> OsmData:
    """The slice in ``path`` as :func:`~magicmix_geo.prepare.osm.read_osm` returns data
    (frames in EPSG:28992), ``path`` as its ``path``.

    Raises
    ------
    InputError
        ``path`` is not a slice file (missing, truncated, not an npz, an object array), was
        written by another format version or for other reader ``keys``, or holds arrays of
        the wrong dtype or length, offsets out of bounds, invalid UTF-8 or WKB.
    """
    path = Path(path)
    arrays = _Arrays(path, _load(path))
    if arrays.get("format", _INT, (1,))[0] != SLICE_FORMAT:
        raise InputError(f"{path}: slice format not {SLICE_FORMAT}; cut the slice again")
    if arrays.text("keys") != keys.canonical_json():
        raise InputError(f"{path}: slice written for other OSM reader keys")
    walk = _read_walk(arrays)
    features = _read_features(arrays, keys)
    lines = _read_lines(arrays)
    return OsmData(path=path, walk=walk, features=features, lines=lines)


def _write_npz(target: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(
                buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            zf.writestr(
                info,
                buffer.getbuffer(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=ZIP_LEVEL,
            )


def _text(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=_BYTE)


def _tag_columns(features: gpd.GeoDataFrame) -> list[str]:
    return [c for c in features.columns if c not in ("osm_type", "osm_id", "geometry")]


def _binaries(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    array = pa.array(values, type=pa.large_binary())
    return _buffers(name, array)


def _strings(name: str, values: Sequence[object]) -> dict[str, np.ndarray]:
    """A tag column as the rows that hold a value and those values (most are empty)."""
    array = pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)
    rows = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False)).astype(_INT)
    result = _buffers(name, array.take(pa.array(rows)))
    result[f"{name}_rows"] = rows
    return result


def _buffers(name: str, array: pa.Array) -> dict[str, np.ndarray]:
    """Offsets (int64, n + 1, from 0) and the concatenated bytes of a large string or binary
    array built here (offset 0; nulls take no bytes)."""
    _, offsets, data = array.buffers()
    starts = np.zeros(len(array) + 1, dtype=_INT)
    if offsets is not None:
        starts = np.frombuffer(offsets, dtype=_INT, count=len(array) + 1).copy()
    size = int(starts[-1])
    body = np.zeros(0, dtype=_BYTE)
    if size:
        body = np.frombuffer(data, dtype=_BYTE, count=size).copy()
    return {f"{name}_offsets": starts, f"{name}_data": body}


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
    """The arrays of one slice file, each fetched with its dtype and shape checked."""

    def __init__(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        self.path = path
        self.arrays = arrays

    def fail(self, problem: str) -> InputError:
        return InputError(f"{self.path}: broken slice file ({problem})")

    def get(self, name: str, dtype: np.dtype, shape: tuple[int, ...] | None = None) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None:
            raise self.fail(f"no array {name!r}")
        if array.dtype != dtype or array.ndim != 1:
            raise self.fail(f"{name!r} is {array.dtype} of {array.ndim} dimensions")
        if shape is not None and array.shape != shape:
            raise self.fail(f"{name!r} holds {array.shape[0]} values, not {shape[0]}")
        return array

    def text(self, name: str) -> str:
        try:
            return self.get(name, _BYTE).tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{name!r} is not UTF-8") from exc

    def offsets(self, name: str, count: int, size: int) -> np.ndarray:
        """``name`` as ``count + 1`` offsets from 0 to ``size``, never decreasing."""
        offsets = self.get(name, _INT, (count + 1,))
        if offsets[0] != 0 or offsets[-1] != size or np.any(np.diff(offsets) < 0):
            raise self.fail(f"{name!r} are not offsets from 0 to {size}, in order")
        return offsets

    def tags(self, name: str, count: int) -> np.ndarray:
        """``count`` tag values: the strings at the rows the file lists, None elsewhere."""
        rows = self.get(f"{name}_rows", _INT)
        if rows.size and (rows[0] < 0 or rows[-1] >= count or np.any(np.diff(rows) <= 0)):
            raise self.fail(f"'{name}_rows' are not rows below {count}, in order")
        values = np.full(count, None, dtype=object)
        values[rows] = self.strings(name, rows.size)
        return values

    def strings(self, name: str, count: int, binary: bool = False) -> np.ndarray:
        """``count`` strings (or bytes)."""
        data = self.get(f"{name}_data", _BYTE)
        offsets = self.offsets(f"{name}_offsets", count, data.size)
        kind = pa.large_binary() if binary else pa.large_string()
        array = pa.Array.from_buffers(
            kind, count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
        try:
            array.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise self.fail(f"{name!r}: {exc}") from exc
        return array.to_numpy(zero_copy_only=False)

    def geometry(self, name: str, count: int, types: np.ndarray) -> np.ndarray:
        """``count`` WKB geometries, each of the shapely type id in ``types``."""
        wkb = self.strings(name, count, binary=True)
        try:
            geometry = shapely.from_wkb(wkb, on_invalid="raise")
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            raise self.fail(f"{name!r}: {exc}") from exc
        if np.any(shapely.get_type_id(geometry) != types):
            raise self.fail(f"{name!r}: a geometry of the wrong type")
        return geometry


def _read_walk(arrays: _Arrays) -> WalkWays:
    way_ids = arrays.get("walk_way_ids", _INT)
    node_ids = arrays.get("walk_node_ids", _INT)
    count = (node_ids.size,)
    return WalkWays(
        way_ids=way_ids,
        offsets=arrays.offsets("walk_offsets", way_ids.size, node_ids.size),
        node_ids=node_ids,
        lon=arrays.get("walk_lon", _FLOAT, count),
        lat=arrays.get("walk_lat", _FLOAT, count),
    )


def _read_features(arrays: _Arrays, keys: ReaderKeys) -> gpd.GeoDataFrame:
    columns = _column_names(arrays, keys)
    ids = arrays.get("feature_id", _INT)
    count = ids.size
    codes = arrays.get("feature_type", _TYPE_CODE, (count,))
    if codes.size and (codes.min() < 0 or codes.max() >= len(OSM_TYPES)):
        raise arrays.fail("'feature_type' holds an unknown code")
    types = np.where(codes == 0, _SHAPELY_POINT, _SHAPELY_MULTIPOLYGON)
    geometry = arrays.geometry("feature_wkb", count, types)
    frame: dict[str, object] = {
        "osm_type": np.asarray(OSM_TYPES, dtype=object)[codes].tolist(),
        "osm_id": ids,
    }
    for number, column in enumerate(columns):
        frame[column] = arrays.tags(f"feature_tag{number}", count).tolist()
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
    types = np.full(count, _SHAPELY_LINESTRING)
    geometry = arrays.geometry("line_wkb", count, types)
    frame: dict[str, object] = {"osm_id": ids}
    for key in LINE_KEYS:
        frame[key] = arrays.tags(f"line_{key}", count).tolist()
    return osm_frame(frame, geometry, RD_NEW)
