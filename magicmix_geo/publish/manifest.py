"""The run manifest: input checksums, versions and licences, written as JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from magicmix_geo._errors import InputError
from magicmix_geo.publish._common import output_path

_CHUNK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex digits.

    Raises
    ------
    InputError
        If ``path`` is not a readable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot checksum {path}: not a file")
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot checksum {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


USER_LICENCE = "user-supplied"
USER_ATTRIBUTION = "supplied by the user of this run"


def describe_user_input(
    path: Path, *, source: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """:func:`describe_input` of a file the user brought (own candidate sites, own area):
    licence ``user-supplied``, never the licence of an open data source; ``extra`` keys
    (e.g. the rows left out of a candidates file) are added."""
    entry = describe_input(
        path, source=source, licence=USER_LICENCE, attribution=USER_ATTRIBUTION, version=None
    )
    entry.update(extra or {})
    return entry


def acquired_boundary(path: Path, gm_code: str) -> bool:
    """True when ``path`` is the municipality boundary that ``acquire`` put in a data cache
    or the bundled sample's area (both CBS data, see ``data/sample/README.md``), False for a
    boundary file of the user's own."""
    from magicmix_geo.sample import SAMPLE_DIR
    from magicmix_geo.sources.cache import DataCache

    path = Path(path).resolve()
    if path.parent == SAMPLE_DIR:
        return True
    if len(path.parents) < 4:
        return False
    cache = DataCache(path.parents[3])
    return cache.cbs_gemeente(gm_code).resolve() == path and cache.manifest_path("cbs").is_file()


def describe_input(
    path: Path, *, source: str, licence: str, attribution: str, version: str | None
) -> dict[str, Any]:
    """Describe one input file for the manifest.

    Parameters
    ----------
    path
        The input file.
    source
        Where it came from (a URL or a short name such as ``"OpenStreetMap (Geofabrik)"``).
    licence
        The licence it is published under, e.g. ``"ODbL 1.0"``.
    attribution
        The attribution text its licence asks for.
    version
        The source's version or date; when None the file's modification time (UTC, ISO 8601)
        stands in.

    Returns
    -------
    dict
        Keys ``source``, ``path`` (file name), ``version``, ``sha256``, ``size_bytes``,
        ``licence``, ``attribution``.
    """
    path = Path(path)
    sha256 = file_sha256(path)
    stat = path.stat()
    if version is None:
        mtime = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)
        version = mtime.isoformat(timespec="seconds")
    return {
        "source": source,
        "path": path.name,
        "version": version,
        "sha256": sha256,
        "size_bytes": stat.st_size,
        "licence": licence,
        "attribution": attribution,
    }


def _json_default(value: Any) -> Any:
    """Turn the non-JSON values a manifest commonly holds into JSON ones."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)  # sorted so that the file is reproducible
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON serialisable")


def manifest_json(manifest: dict[str, Any]) -> str:
    """Serialise a manifest as stable JSON (indent 2, sorted keys, UTF-8 text).

    Parameters
    ----------
    manifest
        The run manifest; paths, datetimes and numpy scalars are converted.

    Returns
    -------
    str
        The JSON text, ending in a newline.
    """
    return json.dumps(
        manifest, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default
    ) + "\n"


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the run manifest as JSON, atomically.

    Parameters
    ----------
    path
        The target file, usually ``<out>/manifest.json``.
    manifest
        The run manifest (run id, times, software version, config hash, inputs...).
    """
    text = manifest_json(manifest)  # serialise first: a bad value must not touch the disk
    with output_path(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")
