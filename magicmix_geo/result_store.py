"""One municipality result as bytes in data formats only, with a checksum: no pickle.

A result cache entry (see :mod:`magicmix_geo.cache`) is

    MAGICMIX-RESULT 2\\n  <64 hex digits: SHA-256 of the rest>\\n  <zip archive, stored>

and the archive holds ``meta.json`` (names, numbers, input descriptions, the entry's key),
one GeoParquet file per layer (``layers/<i>.parquet``) and one ``.npy`` array per raster
(``rasters/<i>.npy``, read with ``allow_pickle=False``). Reading verifies the checksum first,
then the key, then every field's type: a flipped bit, a truncated copy, an entry of another
key or anything that is not a result raises :class:`EntryError`. Nothing read is executed.
Pure functions on bytes; the cache does the file I/O.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
from affine import Affine

if TYPE_CHECKING:
    from magicmix_geo.pipeline import MunicipalityResult

ENTRY_SUFFIX = ".mmr"
STORE_FORMAT = 2
MAGIC = f"MAGICMIX-RESULT {STORE_FORMAT}\n".encode()
_DIGEST_HEX = 64
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same result gives the same bytes


class EntryError(ValueError):
    """A cache entry that is damaged, foreign or not a result; the caller drops it."""


# -- writing ---------------------------------------------------------------------------------


def dump_result(result: MunicipalityResult, key: str) -> bytes:
    """``result`` as entry bytes (see the module docstring), bound to ``key``."""
    buffer = io.BytesIO()
    layers: list[dict[str, Any]] = []
    rasters: list[dict[str, Any]] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for i, (name, frame) in enumerate(result.layers.items()):
            member = f"layers/{i}.parquet"
            data = io.BytesIO()
            plain = frame.copy(deep=False)
            plain.attrs = {}  # attrs travel in meta.json (pandas would put them in Parquet)
            plain.to_parquet(data)
            _put(archive, member, data.getvalue())
            # Parquet reads text back as pandas' str dtype; these go back to object + None
            objects = [str(c) for c in frame.columns if frame[c].dtype == object]
            layers.append(
                {
                    "name": name,
                    "file": member,
                    "attrs": _plain(frame.attrs),
                    "object_columns": objects,
                }
            )
        for i, (name, raster) in enumerate(result.rasters.items()):
            member = f"rasters/{i}.npy"
            data = io.BytesIO()
            np.save(data, np.ascontiguousarray(raster.data), allow_pickle=False)
            _put(archive, member, data.getvalue())
            rasters.append(
                {
                    "name": name,
                    "file": member,
                    "transform": [float(v) for v in tuple(raster.transform)[:6]],
                    "description": raster.description,
                    "units": raster.units,
                    "crs": raster.crs,
                }
            )
        meta = {
            "format": STORE_FORMAT,
            "key": key,
            "gm_code": result.gm_code,
            "gm_name": result.gm_name,
            "network": result.network,
            "inputs": result.inputs,
            "candidate_source": result.candidate_source,
            "timings": result.timings,
            "layers": layers,
            "rasters": rasters,
        }
        _put(archive, "meta.json", json.dumps(_plain(meta), sort_keys=True).encode())
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _put(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, tuples as lists, keys as text."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# -- reading ---------------------------------------------------------------------------------


def load_result(data: bytes, key: str) -> MunicipalityResult:
    """The result in entry ``data``, verified; raises :class:`EntryError` if anything is off."""
    payload = _verified_payload(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        meta = json.loads(archive.read("meta.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise EntryError(f"not a result archive: {exc}") from exc
    if not isinstance(meta, dict):
        raise EntryError("meta.json is not an object")
    if meta.get("format") != STORE_FORMAT:
        raise EntryError(f"format {meta.get('format')!r}, expected {STORE_FORMAT}")
    if meta.get("key") != key:
        raise EntryError("the entry belongs to another key")
    try:
        return _result(archive, meta)
    except EntryError:
        raise
    except Exception as exc:  # whatever a damaged member makes a reader raise
        raise EntryError(f"{type(exc).__name__}: {exc}") from exc


def _verified_payload(data: bytes) -> bytes:
    head = len(MAGIC)
    if not data.startswith(MAGIC):
        raise EntryError("not a magicmix-geo result entry (wrong header)")
    digest = data[head : head + _DIGEST_HEX]
    if data[head + _DIGEST_HEX : head + _DIGEST_HEX + 1] != b"\n":
        raise EntryError("damaged header")
    payload = data[head + _DIGEST_HEX + 1 :]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise EntryError("checksum mismatch (damaged or changed on disk)")
    return payload


def _result(archive: zipfile.ZipFile, meta: dict[str, Any]) -> MunicipalityResult:
    from magicmix_geo.pipeline import MunicipalityResult

    layers = {}
    for item in _list_of_dicts(meta, "layers"):
        frame = gpd.read_parquet(io.BytesIO(archive.read(_text(item, "file"))))
        if not isinstance(frame, gpd.GeoDataFrame):
            raise EntryError(f"layer {item.get('name')!r} is not a GeoDataFrame")
        attrs = item.get("attrs", {})
        if not isinstance(attrs, dict):
            raise EntryError(f"layer {item.get('name')!r}: attrs is not an object")
        frame.attrs = attrs
        for column in item.get("object_columns", []):
            if column not in frame.columns:
                raise EntryError(f"layer {item.get('name')!r}: no column {column!r}")
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
        layers[_text(item, "name")] = frame
    if "sites" not in layers:
        raise EntryError("no sites layer")
    return MunicipalityResult(
        gm_code=_text(meta, "gm_code"),
        gm_name=_text(meta, "gm_name"),
        layers=layers,
        network=_numbers(meta, "network", int),
        inputs=_list_of_dicts(meta, "inputs"),
        candidate_source=_text(meta, "candidate_source"),
        timings=_numbers(meta, "timings", float),
        rasters={
            _text(item, "name"): _raster(archive, item) for item in _list_of_dicts(meta, "rasters")
        },
    )


def _raster(archive: zipfile.ZipFile, item: dict[str, Any]) -> Any:
    from magicmix_geo.measure.density import Raster

    data = np.load(io.BytesIO(archive.read(_text(item, "file"))), allow_pickle=False)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind not in "biuf":
        raise EntryError(f"raster {item.get('name')!r} is not a 2-D numeric array")
    transform = item.get("transform")
    if not (
        isinstance(transform, list)
        and len(transform) == 6
        and all(isinstance(v, int | float) and math.isfinite(v) for v in transform)
    ):
        raise EntryError(f"raster {item.get('name')!r}: bad transform")
    return Raster(
        data,
        Affine(*transform),
        description=_text(item, "description"),
        units=_text(item, "units"),
        crs=_text(item, "crs"),
    )


def _text(meta: dict[str, Any], name: str) -> str:
    value = meta.get(name)
    if not isinstance(value, str):
        raise EntryError(f"{name}: expected text, found {type(value).__name__}")
    return value


def _list_of_dicts(meta: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = meta.get(name)
    if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise EntryError(f"{name}: expected a list of objects")
    return value


def _numbers(meta: dict[str, Any], name: str, kind: type) -> dict[str, Any]:
    value = meta.get(name)
    if not (
        isinstance(value, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    ):
        raise EntryError(f"{name}: expected an object of numbers")
    return {str(k): kind(v) for k, v in value.items()}


__all__ = ["ENTRY_SUFFIX", "MAGIC", "EntryError", "dump_result", "load_result"]
