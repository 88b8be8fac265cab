"""Result cache: a municipality with unchanged inputs, configuration and code is not recomputed.

A cached result is the :class:`~magicmix_geo.contract.MunicipalityResult` of one
``rank_municipality`` call, stored under ``<cache dir>/results/<key[:2]>/<key>.mmr`` in data
formats only (see :mod:`magicmix_geo.result_store`: GeoParquet layers, ``.npy`` rasters, JSON,
one SHA-256 over it all). Nothing in an entry is ever executed. The key is the SHA-256 of

- every field of its :class:`~magicmix_geo.contract.RankInputs`: for a file (OSM, boundary,
  CBS, grid, candidates, BAG) its name and SHA-256, otherwise the value (code, profile...),
- the configuration hash (``Settings.hash``),
- the software version and a fingerprint of the library's source code, so that editing the
  code without bumping the version never serves a stale result.

A changed input therefore recomputes exactly the municipalities that read it. Entries are
written atomically. An entry that fails its checksum, is not a result, or belongs to another
key (a flipped bit, a truncated copy, a planted file) is dropped with a warning and the
municipality is recomputed. The cache is an optimisation: a read-only or full cache folder
is warned about and the run goes on without storing; a cache folder that is a file is an
input error (exit 2).

The cache folder is ``$MAGICMIX_CACHE_DIR``, else the data cache folder of ``sources/``
(``$MAGICMIX_DATA_DIR``, ``$XDG_CACHE_HOME/magicmix-geo`` or ``~/.cache/magicmix-geo``), with
results in its ``results/`` subfolder. Nothing is evicted automatically; delete
``results/`` to reclaim space.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicmix_geo import __version__
from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import InputError
from magicmix_geo.contract import validate_inputs
from magicmix_geo.provenance import known_sha256
from magicmix_geo.result_store import ENTRY_SUFFIX, EntryError, dump_result, load_result

if TYPE_CHECKING:
    from magicmix_geo.config import Settings
    from magicmix_geo.contract import MunicipalityResult, RankInputs

CACHE_FORMAT = 2  # 1 was pickle: such entries are never read
_PACKAGE_DIR = Path(__file__).parent
CACHE_ENV = "MAGICMIX_CACHE_DIR"
# the cache reports through logging: without a logging set-up Python prints the message
# alone on stderr; on a Dask worker it lands in the worker log
LOG = logging.getLogger("magicmix_geo.cache")


def default_cache_dir() -> Path:
    """``$MAGICMIX_CACHE_DIR``, else the data cache folder (``$MAGICMIX_DATA_DIR``, else
    ``$XDG_CACHE_HOME/magicmix-geo`` or ``~/.cache/magicmix-geo``); results go in ``results/``."""
    for env in ("MAGICMIX_CACHE_DIR", "MAGICMIX_DATA_DIR"):
        if os.environ.get(env):
            return Path(os.environ[env]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "magicmix-geo"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the library's Python sources (relative path and bytes, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def input_digests(inputs: RankInputs) -> dict[str, Any]:
    """Every field of ``inputs``: files as ``"<name>:<sha256>"``, other values as they are."""
    described: dict[str, Any] = {}
    for f in dataclasses.fields(inputs):
        value = getattr(inputs, f.name)
        if isinstance(value, Path):
            described[f.name] = f"{value.name}:{known_sha256(value)}"
        elif isinstance(value, tuple) and all(isinstance(v, Path) for v in value):
            described[f.name] = [f"{v.name}:{known_sha256(v)}" for v in value]
        else:
            described[f.name] = value if isinstance(value, int | float | bool) else str(value)
    return described


def result_key(inputs: RankInputs, config_hash: str, digests: dict[str, Any] | None = None) -> str:
    """The cache key of one municipality run (64 hex digits)."""
    material: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "version": __version__,
        "code": code_fingerprint(),
        "config": config_hash,
        "inputs": digests if digests is not None else input_digests(inputs),
    }
    text = json.dumps(material, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ResultCache:
    """Municipality results under ``root/results``, addressed by :func:`result_key`.

    Raises
    ------
    InputError
        When ``root`` (or its ``results`` folder) exists and is not a folder.
    """

    root: Path

    def __post_init__(self) -> None:
        for folder in (Path(self.root), Path(self.root) / "results"):
            if folder.exists() and not folder.is_dir():
                raise InputError(
                    f"{folder}: the result cache folder ({CACHE_ENV}, default the data cache) "
                    "is a file; point it at a folder or run with --no-cache"
                )

    def path_for(self, key: str) -> Path:
        return Path(self.root) / "results" / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def load(self, key: str) -> MunicipalityResult | None:
        """The cached result, or None when absent or bad (a bad entry is dropped, warned)."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            LOG.warning(
                "magicmix-geo: warning: result cache entry %s unreadable (%s); recomputing",
                path,
                exc.strerror or exc,
            )
            return None
        try:
            return load_result(data, key)
        except EntryError as exc:
            LOG.warning(
                "magicmix-geo: warning: result cache entry %s dropped (%s); recomputing", path, exc
            )
            path.unlink(missing_ok=True)
            return None

    def store(self, key: str, result: MunicipalityResult) -> Path | None:
        """Write one result atomically; returns its path, or None (warned) when the cache
        folder cannot take it (read-only, full): the cache is an optimisation."""
        path = self.path_for(key)
        data = dump_result(result, key)
        try:
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        except OSError as exc:
            LOG.warning(
                "magicmix-geo: warning: result not cached, %s: %s; the run goes on",
                exc.filename or path,
                exc.strerror or exc,
            )
            return None
        return path


@dataclass(frozen=True)
class CachedRank:
    """The outcome of :func:`rank_cached`: the result, its key, and whether it came from cache."""

    result: MunicipalityResult
    key: str
    hit: bool
    path: Path | None


def check_inputs(inputs: RankInputs, settings: Settings) -> None:
    """The pipeline's cheap input checks, and the OSM file: a missing file is an input error
    (exit 2, not retried), not a cache miss."""
    validate_inputs(inputs, settings)
    if not Path(inputs.osm).is_file():
        raise InputError(f"{inputs.osm}: file not found")


def rank_cached(inputs: RankInputs, settings: Settings, cache: ResultCache | None) -> CachedRank:
    """``rank_municipality`` through the cache: computed only when no entry matches the inputs."""
    from magicmix_geo.pipeline import rank_municipality

    check_inputs(inputs, settings)
    key = result_key(inputs, settings.hash)
    if cache is not None:
        cached = cache.load(key)
        if cached is not None:
            return CachedRank(cached, key, hit=True, path=cache.path_for(key))
    result = rank_municipality(inputs, settings)
    path = cache.store(key, result) if cache is not None else None
    return CachedRank(result, key, hit=False, path=path)
