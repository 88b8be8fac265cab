"""Where the inputs of a run come from: file checksums, versions, licences and attribution,
for the manifest and the result cache key. Reads files, writes nothing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from pathlib import Path
from typing import Any

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.contract import RankInputs

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


FileIdentity = tuple[str, int, int, int, int]


def file_identity(path: Path) -> FileIdentity:
    """What tells one file from another at ``path`` within a process: its resolved path,
    inode, size, modification and status-change times (a rewrite changes the status-change
    time, which no one can set back). Raises OSError when it cannot be read."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return (str(resolved), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def known_sha256(path: Path) -> str:
    """:func:`file_sha256`, remembered per process while the file is the same file
    (:func:`file_identity`). A national file that every municipality of a run names (an
    areas file's default CBS file) is hashed once per worker, not once each.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cannot checksum {path}: not a file")
    return _known_sha256(*file_identity(path))


@functools.lru_cache(maxsize=1024)
def _known_sha256(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    return file_sha256(Path(path))


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
    sha256 = known_sha256(path)
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


def describe_inputs(
    inputs: RankInputs, settings: Settings, candidate_rows: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every input file of one municipality run, with checksum, licence and attribution."""
    osm_src = settings.sources["osm"]
    cbs_src = settings.sources["cbs"]
    bag_src = settings.sources["bag"]
    described = [
        describe_input(
            inputs.osm,
            source="osm",
            licence=osm_src.licence,
            attribution=osm_src.attribution,
            version=None,
        )
    ]
    for path in inputs.cbs:
        described.append(
            describe_input(
                path,
                source="cbs",
                licence=cbs_src.licence,
                attribution=cbs_src.attribution,
                version=None,
            )
        )
    if inputs.bag:
        described.append(
            describe_input(
                inputs.bag,
                source="bag",
                licence=bag_src.licence,
                attribution=bag_src.attribution,
                version=None,
            )
        )
    if inputs.plans:  # the plans file's terms are its publisher's, not CBS's
        described.append(
            describe_input(
                inputs.plans,
                source="plans",
                licence="as published by the plans' owner",
                attribution="plans file given with --plans",
                version=None,
            )
        )
    # a user's own boundary or candidates file is "user-supplied", not CBS or Kadaster data
    if inputs.boundary and inputs.boundary_source == "cbs":
        described.append(
            describe_input(
                inputs.boundary,
                source="boundary",
                licence=cbs_src.licence,
                attribution=cbs_src.attribution,
                version=None,
            )
        )
    elif inputs.boundary:
        described.append(describe_user_input(inputs.boundary, source="boundary"))
    rows = {"rows": candidate_rows} if candidate_rows else {}
    if inputs.candidates and inputs.candidate_source == "brk":
        brk_src = settings.sources["brk"]
        described.append(
            describe_input(
                inputs.candidates,
                source="brk",
                licence=brk_src.licence,
                attribution=brk_src.attribution,
                version=None,
            )
            | rows
        )
    elif inputs.candidates:
        described.append(describe_user_input(inputs.candidates, source="candidates", extra=rows))
    return described
