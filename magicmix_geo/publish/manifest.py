"""The run manifest written as JSON (the input descriptions come from magicmix_geo.provenance)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from magicmix_geo.publish._common import output_path


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
    return (
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
        + "\n"
    )


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
