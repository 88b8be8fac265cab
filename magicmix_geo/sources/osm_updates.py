"""Bring the cached OSM file up to date with Geofabrik's daily replication diffs.

:func:`refresh_osm` is the OSM step of acquisition: when the cache holds the national file
and its PBF header carries a replication sequence number (Geofabrik writes
``osmosis_replication_base_url``, ``..._sequence_number`` and ``..._timestamp``), the diffs
after that sequence are fetched from ``[osm] updates_url`` (or ``MAGICMIX_OSM_UPDATES_URL``)
and applied with osmium-tool's ``osmium apply-changes``; otherwise, and whenever the diffs do
not connect (a diff gone from the server, a 404, a corrupt ``.osc.gz``, a state file that does
not fit), the whole file is downloaded as before (:func:`~magicmix_geo.sources.osm.acquire_osm`).

An update is all or nothing: diffs are fetched and the new file is written in a hidden work
folder beside the cached file, verified (it parses, is sorted, and its header names the new
sequence and timestamp), and only then moved over the old file with ``os.replace``.

The manifest's ``changes`` (see :mod:`magicmix_geo.sources.osm_changes`) records which parts of
the map the refresh changed, so that a nightly run re-ranks only the municipalities touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import osmium
import requests

from magicmix_geo.config import Settings
from magicmix_geo.sources import osm as osm_source
from magicmix_geo.sources._http import (
    RetryPolicy,
    SourceError,
    download,
    get_text,
)
from magicmix_geo.sources.cache import DataCache, now_iso, source_option
from magicmix_geo.sources.osm_changes import (
    KIND_FULL,
    KIND_NONE,
    ReplicationState,
    append_log,
    diffs_record,
    parse_state,
    parse_timestamp,
    sequence_path,
    union_counts,
)

SOURCE = osm_source.SOURCE
UPDATES_URL_ENV = "MAGICMIX_OSM_UPDATES_URL"
HEADER_BASE_URL = "osmosis_replication_base_url"
HEADER_SEQUENCE = "osmosis_replication_sequence_number"
HEADER_TIMESTAMP = "osmosis_replication_timestamp"
WORK_PREFIX = ".osm-updates-"
# work folders of a killed update older than this are removed (seconds)
STALE_WORK_S = 6 * 3600
DIGEST_CHUNK = 1 << 20
# more diffs than this are not fetched (Geofabrik keeps about three months of daily diffs)
MAX_DIFFS = 120
# the relation types whose members ``osmium extract --strategy smart`` adds to an extract:
# its default ``types`` (multipolygon) and boundary, which the OSM store adds with ``-S
# types=...`` (prepare/extracts.py: libosmium assembles areas from both); osmium-extract
# manual, "Strategy smart"
COMPLETED_RELATION_TYPES = frozenset({"multipolygon", "boundary"})
# libosmium's node location store for the changed area: a sorted array, 16 bytes a node
LOCATION_TABLE = "sparse_mem_array"

Log = Callable[[str], None]


class UpdateError(SourceError):
    """The cached file cannot be brought up to date with the diffs (falls back to a download)."""

    def __init__(self, message: str) -> None:
        super().__init__(SOURCE, message)


@dataclass(frozen=True)
class ReplicationHeader:
    """What a PBF header says about its replication state (None where it says nothing)."""

    base_url: str | None
    state: ReplicationState | None


@dataclass
class DiffContent:
    """What one or more ``.osc.gz`` diffs touch: ids to look up and locations they give."""

    lons: list[float] = field(default_factory=list)
    lats: list[float] = field(default_factory=list)
    # ids to look up in the old file, per type (relations with their relation members)
    nodes: set[int] = field(default_factory=set)
    ways: set[int] = field(default_factory=set)
    relations: set[int] = field(default_factory=set)
    # ids the diffs change, whose parent ways and completed relations are looked up too
    changed_nodes: set[int] = field(default_factory=set)
    changed_ways: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {"nodes": 0, "ways": 0, "relations": 0})


@dataclass
class Referrers:
    """What one pass over the old file's ways and relations adds to the ids to look up."""

    nodes: set[int] = field(default_factory=set)
    ways: set[int] = field(default_factory=set)
    # ways whose node lists were read in that pass (not looked up again)
    read_ways: set[int] = field(default_factory=set)
    # relation members found after their parent: looked up in another relation pass
    late_relations: set[int] = field(default_factory=set)


class Stopwatch:
    """Seconds per step of an update (``lap`` closes a step)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


@dataclass(frozen=True)
class UpdateResult:
    """An applied update: the states before and after, and its changes record."""

    before: ReplicationState
    after: ReplicationState
    base_url: str
    changes: dict[str, Any]
    seconds: float


def updates_url(settings: Settings) -> str:
    """``MAGICMIX_OSM_UPDATES_URL`` if set, else ``[osm] updates_url`` ("" = no updates)."""
    env = os.environ.get(UPDATES_URL_ENV)
    if env:
        return env
    return str(source_option(settings, SOURCE, "updates_url", "") or "")


def read_replication_header(path: Path) -> ReplicationHeader:
    """The replication fields of a PBF header (``SourceError`` when the file cannot be read)."""
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    except RuntimeError as exc:
        raise SourceError(SOURCE, f"{path}: not a readable OSM file ({exc})") from exc
    try:
        header = reader.header()
        base_url = header.get(HEADER_BASE_URL) or None
        sequence = header.get(HEADER_SEQUENCE) or ""
        timestamp = header.get(HEADER_TIMESTAMP) or ""
    finally:
        reader.close()
    state = None
    if sequence.isdigit() and timestamp:
        state = ReplicationState(int(sequence), parse_timestamp(timestamp, f"{path} header"))
    return ReplicationHeader(base_url, state)


def refresh_osm(
    cache: DataCache,
    settings: Settings,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Log | None = None,
    fallback: bool = True,
) -> dict[str, Any]:
    """Update the cached national OSM file with replication diffs, else download it.

    Returns and writes the OSM source manifest, with ``changes`` (what this refresh changed)
    and ``replication`` (the file's sequence number and timestamp).

    Parameters
    ----------
    fallback
        When the diffs cannot be applied, download the whole file (True) or raise
        :class:`UpdateError` leaving the cache as it was (False).

    Raises
    ------
    SourceError
        The download failed too (or, without ``fallback``, the update was not possible).
    """
    manifest = cache.read_manifest(SOURCE)
    reason = _no_update_reason(cache, settings, manifest)
    if reason is None:
        assert manifest is not None
        name = osm_source.file_name(osm_source.osm_urls(settings)[0])
        target = cache.source_dir(SOURCE) / name  # where acquire_osm puts it, not the manifest's
        try:
            result = update_pbf(
                target, updates_url(settings), session=session, policy=policy, log=log
            )
        except UpdateError as exc:
            if not fallback:
                raise
            reason = str(exc)
        else:
            return _record_update(cache, manifest, name, target, result)
    if log:
        log(f"{SOURCE}: full download ({reason})")
    return _full_download(
        cache, settings, manifest, reason, session=session, policy=policy, log=log
    )


def update_pbf(
    pbf: Path,
    base_url: str,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Log | None = None,
) -> UpdateResult | None:
    """Apply the diffs after ``pbf``'s header sequence up to the server's newest, in place.

    Returns None when the file is already up to date.

    Raises
    ------
    UpdateError
        No replication header, a header from another region, the server's state behind the
        file, a diff missing (HTTP 404: Geofabrik keeps about three months) or not
        downloadable, a corrupt diff, or a result that fails verification. ``pbf`` is
        untouched in every case.
    """
    watch = Stopwatch()
    header = read_replication_header(pbf)
    before = header.state
    if before is None:
        raise UpdateError(f"{pbf.name} has no replication sequence number in its header")
    base = base_url.rstrip("/")
    if header.base_url and _region(header.base_url) != _region(base):
        raise UpdateError(
            f"{pbf.name} follows {header.base_url}, not the configured updates {base}"
        )
    latest = _fetch_state(f"{base}/state.txt", session=session, policy=policy)
    if latest.sequence == before.sequence:
        if log:
            log(f"{SOURCE}: {pbf.name} up to date (sequence {before.sequence})")
        return None
    if latest.sequence < before.sequence or latest.timestamp <= before.timestamp:
        raise UpdateError(
            f"the updates at {base} (sequence {latest.sequence}, {latest.iso}) are behind "
            f"{pbf.name} (sequence {before.sequence}, {before.iso})"
        )
    if latest.sequence - before.sequence > MAX_DIFFS:
        raise UpdateError(
            f"{latest.sequence - before.sequence} diffs behind (more than {MAX_DIFFS}): "
            "downloading the file is cheaper"
        )
    sequences = list(range(before.sequence + 1, latest.sequence + 1))
    _remove_stale_work(pbf.parent)
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=pbf.parent) as tmp:
        work = Path(tmp)
        diffs = [_fetch_diff(base, seq, work, session=session, policy=policy) for seq in sequences]
        watch.lap("fetch")
        content = DiffContent()
        for seq, path in zip(sequences, diffs, strict=True):
            read_diff(path, content, where=f"diff {seq} ({base}/{sequence_path(seq, 'osc.gz')})")
        watch.lap("read_diffs")
        out = work / pbf.name
        apply_changes(pbf, diffs, out, base, latest)
        watch.lap("apply")
        verify_pbf(out, latest)
        watch.lap("verify")
        lons, lats = changed_locations(pbf, content)
        changes = diffs_record(before, latest, lons, lats, union_counts([content.counts]))
        watch.lap("changed_area")
        os.replace(out, pbf)
    changes["steps_s"] = watch.steps
    seconds = watch.total()
    if log:
        log(
            f"{SOURCE}: {pbf.name} updated with {len(sequences)} diff(s) "
            f"{sequences[0]}..{sequences[-1]} to {latest.iso} in {seconds:.1f} s"
        )
    return UpdateResult(before, latest, base, changes, seconds)


def read_diff(path: Path, content: DiffContent, *, where: str) -> None:
    """Add what an ``.osc.gz`` diff changes to ``content`` (``UpdateError`` if corrupt).

    Changed nodes give their new locations and are looked up in the old file for their old
    ones; changed ways give their node ids (new node list) and are looked up whole (old
    node list); changed relations give their members (new member list) and are looked up
    whole (old member list), relation members too. Changed nodes and ways are also recorded
    as changed, so that :func:`changed_locations` finds the ways and relations that refer to
    them.
    """
    try:
        for obj in osmium.FileProcessor(str(path)):
            if isinstance(obj, osmium.osm.Node):
                content.counts["nodes"] += 1
                content.nodes.add(obj.id)
                content.changed_nodes.add(obj.id)
                if not obj.deleted and obj.location.valid():
                    content.lons.append(obj.location.lon)
                    content.lats.append(obj.location.lat)
            elif isinstance(obj, osmium.osm.Way):
                content.counts["ways"] += 1
                content.ways.add(obj.id)
                content.changed_ways.add(obj.id)
                content.nodes.update(ref.ref for ref in obj.nodes)
            elif isinstance(obj, osmium.osm.Relation):
                content.counts["relations"] += 1
                content.relations.add(obj.id)
                _add_members(obj, content)
    except RuntimeError as exc:  # libosmium: gzip or XML errors
        raise UpdateError(f"{where} is corrupt: {_short(exc)}") from exc


def apply_changes(
    pbf: Path, diffs: Sequence[Path], out: Path, base_url: str, state: ReplicationState
) -> None:
    """``osmium apply-changes`` the diffs (oldest first) to ``pbf``, writing ``out``.

    The new header names the replication base URL, sequence number and timestamp.
    """
    headers = {
        HEADER_BASE_URL: base_url,
        HEADER_SEQUENCE: str(state.sequence),
        HEADER_TIMESTAMP: state.iso,
    }
    command = [
        _osmium(),
        "apply-changes",
        "--no-progress",
        str(pbf),
        *map(str, diffs),
        "-o",
        str(out),
        "-f",
        "pbf",
        "--overwrite",
    ]
    for key, value in headers.items():
        command += ["--output-header", f"{key}={value}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        raise UpdateError(
            f"osmium apply-changes failed on {pbf.name}: {_short(done.stderr) or done.returncode}"
        )


def verify_pbf(path: Path, state: ReplicationState) -> dict[str, Any]:
    """Check that ``path`` parses whole, is sorted and names ``state`` in its header.

    Returns ``osmium fileinfo -e -j``'s report.
    """
    done = subprocess.run(
        [_osmium(), "fileinfo", "-e", "-j", "--no-progress", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        info = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise UpdateError(f"the updated {path.name} does not parse: {_short(done.stderr)}")
    options = info.get("header", {}).get("option", {})
    data = info.get("data", {})
    problems = []
    if options.get(HEADER_SEQUENCE) != str(state.sequence):
        problems.append(f"header sequence {options.get(HEADER_SEQUENCE)!r}")
    if options.get(HEADER_TIMESTAMP) != state.iso:
        problems.append(f"header timestamp {options.get(HEADER_TIMESTAMP)!r}")
    if data.get("objects_ordered") is not True:
        problems.append("objects not sorted by type and id")
    if data.get("multiple_versions") is not False:
        problems.append("several versions of an object")
    if not data.get("count", {}).get("nodes"):
        problems.append("no nodes")
    if problems:
        raise UpdateError(
            f"the updated {path.name} fails verification: {', '.join(problems)} "
            f"(expected sequence {state.sequence}, {state.iso})"
        )
    return info


def changed_locations(old_pbf: Path, content: DiffContent) -> tuple[np.ndarray, np.ndarray]:
    """Old and new locations (lon, lat) of everything whose change can alter an extract.

    An ``osmium extract --strategy smart`` extract (the OSM store's slices hold some of its
    objects, :mod:`magicmix_geo.prepare.extracts`) holds the nodes in its area, every way
    with a node there and all that way's nodes, every relation with a node or way member
    there (and its parent relations), and every member way and node (with the ways' nodes)
    of such a relation of a type in :data:`COMPLETED_RELATION_TYPES` (a multipolygon, here
    for short). A changed object is therefore in the extract of every area that holds one of
    these locations (old or new state):

    - a node: itself, all nodes of every way that has it, and the members of every
      multipolygon that has it or one of those ways;
    - a way: its nodes, and the members of every multipolygon that has it;
    - a relation: its node members and the nodes of its way members, and the same of every
      relation below it (member relations, recursively: it is a parent of theirs).

    New locations and new node and member lists come from the diffs. The old ones come from
    the old file (sorted: nodes, ways, relations, as :func:`verify_pbf` checks) in libosmium
    passes where only matching objects reach Python: the ways that have a changed node and
    the relations (:func:`referrers`, one pass), the relations below a changed relation that
    pass missed (rarely), the other ways by id, the nodes by id (:func:`node_locations`).
    """
    lons = list(content.lons)
    lats = list(content.lats)
    try:
        found = referrers(old_pbf, content)
        nodes = content.nodes | found.nodes
        ways = (content.ways | found.ways) - found.read_ways
        for way in _matching(old_pbf, osmium.osm.WAY, ways):
            if isinstance(way, osmium.osm.Way):
                nodes.update(ref.ref for ref in way.nodes)
        table = node_locations(old_pbf, nodes)
        for node_id in nodes:
            try:
                location = table.get(node_id)
            except KeyError:  # not in the old file: created by the diffs
                continue
            if location.valid():
                lons.append(location.lon)
                lats.append(location.lat)
    except RuntimeError as exc:
        raise UpdateError(f"cannot read {old_pbf.name}: {_short(exc)}") from exc
    return np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64)


def referrers(old_pbf: Path, content: DiffContent) -> Referrers:
    """The members and nodes to look up for ``content``, from one pass over ``old_pbf``'s ways
    and relations (and another relation pass per level of relations found after their parent).

    Ways with a changed node reach Python through an ``IdTracker`` filter in libosmium; each
    gives its nodes and joins the tracked ways. Relations reach Python through the same
    filter (those with a tracked node or way member), or all of them when there are
    relations to look up (changed ones and those below them): these give their members, and
    a relation of a type :data:`COMPLETED_RELATION_TYPES` that has a changed node or way, or
    a way with a changed node, gives its node and way members.
    """
    found = Referrers()
    wanted = set(content.relations)
    if not (content.changed_nodes or content.changed_ways or wanted):
        return found
    tracker = osmium.IdTracker()
    for node_id in content.changed_nodes:
        tracker.add_node(node_id)
    for way_id in content.changed_ways:
        tracker.add_way(way_id)
    kinds = osmium.osm.RELATION
    if content.changed_nodes:
        kinds = kinds | osmium.osm.WAY
    referring = tracker.contains_filter()
    # without relations to look up, only relations referring to a tracked node or way matter
    referring.enable_for(osmium.osm.WAY if wanted else osmium.osm.WAY | osmium.osm.RELATION)
    for obj in osmium.FileProcessor(str(old_pbf), kinds).with_filter(referring):
        if isinstance(obj, osmium.osm.Way):
            found.nodes.update(ref.ref for ref in obj.nodes)
            found.read_ways.add(obj.id)
            tracker.add_way(obj.id)
        elif isinstance(obj, osmium.osm.Relation):
            if obj.id in wanted:
                _take_members(obj, found, wanted)
            elif obj.tags.get("type") in COMPLETED_RELATION_TYPES and (
                tracker.contains_any_references(obj)
            ):
                _take_members(obj, found, None)
    while found.late_relations:
        late, found.late_relations = found.late_relations, set()
        for rel in _matching(old_pbf, osmium.osm.RELATION, late):
            if isinstance(rel, osmium.osm.Relation):
                _take_members(rel, found, wanted, late=True)
    return found


def _take_members(
    rel: Any, found: Referrers, wanted: set[int] | None, *, late: bool = False
) -> None:
    """Add a relation's node and way members to ``found``; with ``wanted``, its relation
    members join ``wanted``, and those the pass has already gone by (smaller ids, or any in
    a ``late`` pass) ``found.late_relations``."""
    for member in rel.members:
        if member.type == "n":
            found.nodes.add(member.ref)
        elif member.type == "w":
            found.ways.add(member.ref)
        elif member.type == "r" and wanted is not None and member.ref not in wanted:
            wanted.add(member.ref)
            if late or member.ref < rel.id:
                found.late_relations.add(member.ref)


def node_locations(path: Path, ids: set[int]) -> osmium.index.LocationTable:
    """The locations of the nodes ``ids`` in ``path``, stored by libosmium in one pass over the
    nodes (id-filtered, no node reaches Python: several times faster than iterating them)."""
    table = osmium.index.create_map(LOCATION_TABLE)
    if not ids:
        return table
    reader = osmium.io.Reader(str(path), osmium.osm.NODE)
    try:
        osmium.apply(reader, osmium.filter.IdFilter(ids), osmium.NodeLocationsForWays(table))
    finally:
        reader.close()
    return table


def _matching(path: Path, kind: Any, ids: set[int]) -> Iterator[Any]:
    """The objects of type ``kind`` in ``path`` whose id is in ``ids`` (filtered in C++)."""
    if not ids:
        return iter(())
    return iter(osmium.FileProcessor(str(path), kind).with_filter(osmium.filter.IdFilter(ids)))


def _add_members(rel: Any, content: DiffContent) -> None:
    content.nodes.update(m.ref for m in rel.members if m.type == "n")
    content.ways.update(m.ref for m in rel.members if m.type == "w")
    content.relations.update(m.ref for m in rel.members if m.type == "r")


# --------------------------------------------------------------------------------------------


def _no_update_reason(
    cache: DataCache, settings: Settings, manifest: dict[str, Any] | None
) -> str | None:
    """Why the cached file cannot be updated with diffs (None: it can be tried)."""
    if not updates_url(settings):
        return "no updates_url configured"
    urls = osm_source.osm_urls(settings)
    if len(urls) > 1:
        return "province files are configured; they are refreshed by download"
    name = osm_source.file_name(urls[0])
    entry = (manifest or {}).get("files", {}).get(name)
    target = cache.source_dir(SOURCE) / name
    if not isinstance(entry, dict) or not target.is_file():
        return "no cached OSM file"
    if entry.get("url") != urls[0]:
        return f"the cached file came from another URL, not {urls[0]}"
    try:
        header = read_replication_header(target)
    except SourceError as exc:
        return str(exc)
    if header.state is None:
        return f"{name} has no replication sequence number in its header"
    return None


def _record_update(
    cache: DataCache,
    manifest: dict[str, Any],
    name: str,
    target: Path,
    result: UpdateResult | None,
) -> dict[str, Any]:
    now = now_iso()
    entry = dict(manifest["files"][name])
    entry["checked_at"] = now
    header = read_replication_header(target)
    replication = _replication(header)
    if result is not None:
        changes: dict[str, Any] = {**result.changes, "at": now, "seconds": round(result.seconds, 2)}
    elif replication != entry.get("replication"):
        # the file moved on without its manifest (a run killed between the two writes): what
        # changed is unknown, so everything counts as changed
        changes = {
            "kind": KIND_FULL,
            "to": replication,
            "reason": "the cached file changed after its manifest",
            "at": now,
        }
    else:
        changes = {"kind": KIND_NONE, "at": now}
    if changes["kind"] != KIND_NONE:
        sha256, md5 = file_digests(target)
        entry.update(
            {
                "sha256": sha256,
                "md5": md5,
                "size_bytes": target.stat().st_size,
                "version": header.state.iso if header.state else entry.get("version"),
                "retrieved_at": now,
                # etag / last_modified stay those of the download the diffs were applied to
                "updated_from": header.base_url,
            }
        )
    entry["replication"] = replication
    files = {**manifest["files"], name: entry}
    updated = {
        **manifest,
        "files": files,
        "checked_at": now,
        "retrieved_at": entry["retrieved_at"],
        "version": entry["version"],
        "sha256": entry["sha256"],
        "replication": replication,
        "changes": changes,
        "changes_log": append_log(manifest.get("changes_log"), changes),
    }
    cache.write_manifest(SOURCE, updated)
    return updated


def _full_download(
    cache: DataCache,
    settings: Settings,
    previous: dict[str, Any] | None,
    reason: str,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Log | None,
) -> dict[str, Any]:
    manifest = osm_source.acquire_osm(cache, settings, session=session, policy=policy, log=log)
    unchanged = previous is not None and previous.get("sha256") == manifest.get("sha256")
    main = cache.root / manifest["path"]
    try:
        replication = _replication(read_replication_header(main))
    except SourceError:
        replication = None
    changes = {
        "kind": KIND_NONE if unchanged else KIND_FULL,
        "reason": reason,
        "to": replication,
        "at": now_iso(),
    }
    name = osm_source.file_name(manifest["url"])
    files = {**manifest["files"], name: {**manifest["files"][name], "replication": replication}}
    manifest = {
        **manifest,
        "files": files,
        "replication": replication,
        "changes": changes,
        "changes_log": append_log((previous or {}).get("changes_log"), changes),
    }
    cache.write_manifest(SOURCE, manifest)
    return manifest


def file_digests(path: Path) -> tuple[str, str]:
    """SHA-256 and MD5 (hex) of a file in one read."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(DIGEST_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def _replication(header: ReplicationHeader) -> dict[str, Any] | None:
    if header.state is None:
        return None
    return {"base_url": header.base_url, **header.state.as_dict()}


def _fetch_state(url: str, *, session: requests.Session, policy: RetryPolicy) -> ReplicationState:
    try:
        text = get_text(url, source=SOURCE, session=session, policy=policy)
    except SourceError as exc:
        raise UpdateError(f"no replication state: {exc}") from exc
    try:
        return parse_state(text, url)
    except SourceError as exc:
        raise UpdateError(str(exc)) from exc


def _fetch_diff(
    base: str, sequence: int, work: Path, *, session: requests.Session, policy: RetryPolicy
) -> Path:
    url = f"{base}/{sequence_path(sequence, 'osc.gz')}"
    target = work / f"{sequence:09d}.osc.gz"
    try:
        download(url, target, source=SOURCE, session=session, policy=policy)
    except SourceError as exc:
        raise UpdateError(f"diff {sequence} not available: {exc}") from exc
    return target


def _remove_stale_work(folder: Path) -> None:
    cutoff = time.time() - STALE_WORK_S
    for path in folder.glob(f"{WORK_PREFIX}*"):
        with contextlib.suppress(OSError):
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)


def _region(url: str) -> str:
    """``https://download.geofabrik.de/europe/netherlands-updates/`` -> ``netherlands-updates``."""
    return PurePosixPath(urlsplit(url).path.rstrip("/")).name


def _osmium() -> str:
    found = shutil.which("osmium")
    if found is None:
        raise UpdateError(
            "osmium-tool is not installed (Debian/Ubuntu package osmium-tool); "
            "it applies the replication diffs"
        )
    return found


def _short(text: object) -> str:
    return " ".join(str(text).split())[:300]
