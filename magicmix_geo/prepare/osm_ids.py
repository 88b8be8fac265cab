"""Real OSM ids for region files cut from a renumbered copy of a shared OSM file.

The OSM store (:mod:`magicmix_geo.prepare.extracts`) may cut a file's regions from a copy
whose node and way ids were renumbered to 1..n by ``osmium renumber --index-directory DIR``
(relation ids are kept). Such a file has a sidecar ``<file>.ids.json`` naming ``DIR``;
:func:`real_ids` reads it and maps renumbered ids back to the real ones, so that every id that
leaves :mod:`magicmix_geo.prepare.osm` (and every published ``osm_id``) is OpenStreetMap's.

Index files (osmium-tool 1.15, found by experiment, see docs/sources.md): ``DIR/node.idx`` and
``DIR/way.idx`` are arrays of little-endian unsigned 64-bit integers, entry ``i`` holding the
real id of renumbered id ``i + 1`` (``DIR/start_ids`` holds ``1,1,1``). Later runs with the same
directory only append: an object keeps its renumbered id, a new one gets the next free id.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magicmix_geo._errors import InputError

SIDECAR_SUFFIX = ".ids.json"
SIDECAR_FORMAT = 1
# the object types renumbered: relation ids stay below 2**25 (one chunk of osmium's id sets)
RENUMBERED_TYPES = ("node", "way")
INDEX_DTYPE = np.dtype("<u8")
# a random token written into a new index directory: a sidecar only trusts the index it was
# cut with (a deleted and rebuilt index numbers differently)
GENERATION_FILE = "generation"


@dataclass(frozen=True)
class RealIds:
    """Renumbered -> real ids, per type (``node``, ``way``): ``real[type][new_id - 1]``."""

    source: Path
    real: dict[str, np.ndarray]

    def of(self, osm_type: str, ids: np.ndarray) -> np.ndarray:
        """The real ids of renumbered ``ids`` of ``osm_type`` (other types are not renumbered)."""
        table = self.real.get(osm_type)
        ids = np.asarray(ids, dtype=np.int64)
        if table is None or ids.size == 0:
            return ids
        if ids.min() < 1 or ids.max() > table.size:
            raise InputError(
                f"{self.source}: {osm_type} ids beyond the renumbering index "
                f"({table.size} entries): the OSM store is damaged, delete it to cut again"
            )
        return table[ids - 1].astype(np.int64)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sidecar_record(index_dir: Path) -> dict[str, object]:
    """The sidecar of a file cut from a file renumbered with ``index_dir``."""
    counts = {t: index_size(index_dir, t) for t in RENUMBERED_TYPES}
    return {
        "format": SIDECAR_FORMAT,
        "index": str(index_dir.resolve()),
        "generation": index_generation(index_dir),
        "entries": counts,
    }


def index_generation(index_dir: Path) -> str:
    """The token of ``index_dir``, written when the directory holds no index yet."""
    path = index_dir / GENERATION_FILE
    if not path.is_file() or not index_size(index_dir, "node"):
        path.write_text(secrets.token_hex(8), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


def index_size(index_dir: Path, osm_type: str) -> int:
    """How many ids of ``osm_type`` the index holds (the highest renumbered id)."""
    path = index_dir / f"{osm_type}.idx"
    return path.stat().st_size // INDEX_DTYPE.itemsize if path.is_file() else 0


def real_ids(path: Path) -> RealIds | None:
    """The id map of ``path`` (a region's file), or None when it carries real ids (no sidecar).

    Raises
    ------
    InputError
        The sidecar or the index it names is unreadable or shorter than when the file
        was cut.
    """
    sidecar = sidecar_path(Path(path))
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        index_dir = Path(record["index"])
        entries = {t: int(record["entries"][t]) for t in RENUMBERED_TYPES}
        if record.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"format {record.get('format')!r}")
        generation = (index_dir / GENERATION_FILE).read_text(encoding="ascii").strip()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{sidecar}: not a readable id map ({exc})") from exc
    if generation != record.get("generation"):
        raise InputError(
            f"{sidecar}: the renumbering index {index_dir} was rebuilt since this file was "
            "cut: delete the OSM store to cut again"
        )
    real: dict[str, np.ndarray] = {}
    for osm_type, needed in entries.items():
        index_file = index_dir / f"{osm_type}.idx"
        if index_size(index_dir, osm_type) < needed:
            raise InputError(
                f"{index_file}: the renumbering index of {path} holds fewer than {needed} "
                "entries: the OSM store is damaged, delete it to cut again"
            )
        real[osm_type] = (
            np.memmap(index_file, dtype=INDEX_DTYPE, mode="r", shape=(needed,))
            if needed
            else np.zeros(0, INDEX_DTYPE)
        )
    return RealIds(Path(path), real)
