"""The OSM store: every OSM object of a shared file parsed once for all its municipalities.

A national (or province, or any shared) OSM file is turned into one *slice* per municipality:
what :func:`magicmix_geo.prepare.osm.read_osm` reads of the objects the municipality's
``osmium extract --strategy smart`` extract would hold (its boundary grown by the clip
buffer), cut out of parsed arrays by :mod:`magicmix_geo.prepare.osm_slice` and written by
:mod:`magicmix_geo.prepare.osm_slice_file`. The worker ranking the municipality loads its
slice instead of parsing an extract, so an object inside several municipalities' buffers is
parsed once, not once per municipality.

A small file is parsed whole. A large one is first cut into regions of neighbouring
municipalities (:mod:`magicmix_geo.prepare.regions`: one ``osmium extract`` pass of outlines,
temporary uncompressed files) and each region's file is parsed once, two programs at a time;
a region's file holds everything its members' smart extracts would, so a slice is the same,
byte for byte, from its region as from the whole file.

Memory decides whether the region pass runs on the file as it is: osmium keeps per extract
two node-id and two way-id sets (libosmium ``IdSetDense``: 4 MiB chunks of 2**25 ids, a chunk
allocated for every id range the extract touches). Real OSM ids are sparse (node ids up to
~1.3e10) and any real area has nodes in nearly every range, so an extract of the national
file costs ~3.5 GB and a pass holds two. When that would take more passes than renumbering
saves, the store first renumbers the file's nodes and ways to dense ids (``osmium renumber
-t node -t way --index-directory``, one read; the index kept per source file so that an
object keeps its renumbered id, and its place in the file, across versions), cuts the regions
from the renumbered copy and writes beside each region's file a sidecar by which the parse
maps the ids back to OSM's (:mod:`magicmix_geo.prepare.osm_ids`): slices hold OSM's ids.

Slices are stored as ``<store>/<source sha256 [:16]>/<key>-<hash>.osmslice.npz`` (the hash
of the slice format, the reader's keys and the area) and reused until the source changes.
A slice's bytes depend only on the objects in it, so after a nightly update an unchanged
municipality gets a byte-identical slice and its ranking is served from the result cache
(``magicmix_geo/cache.py`` keys on the slice's sha256).

The source's highest ids come from a few of its blocks when its header declares it sorted
(:mod:`magicmix_geo.prepare.sorted_pbf`), else from one ``osmium fileinfo`` read. Figures:
bench/README.md, "Slices".

Needs the ``osmium`` program (Debian/Ubuntu package ``osmium-tool``) for files large enough
to be cut into regions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.contract import RankInputs
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.prepare.osm import ReaderKeys
from magicmix_geo.prepare.osm_ids import (
    INDEX_DTYPE,
    RENUMBERED_TYPES,
    index_generation,
    index_size,
    sidecar_path,
    sidecar_record,
)
from magicmix_geo.prepare.osm_slice_file import SLICE_FORMAT, SLICE_SUFFIX
from magicmix_geo.prepare.regions import Region, osmium_area, plan_slice_regions
from magicmix_geo.prepare.slice_jobs import SliceJob, run_job, run_jobs
from magicmix_geo.prepare.sorted_pbf import NotSortedPbfError, SortedPbf
from magicmix_geo.provenance import file_sha256
from magicmix_geo.sources.osm_updates import COMPLETED_RELATION_TYPES

OSMIUM = "osmium"
STRATEGY = "smart"
# osmium keeps every output file of a pass open; stay well below the usual 1024 descriptors
MAX_EXTRACTS_PER_PASS = 250
# osmium extract (smart strategy) keeps per extract two node-id and two way-id sets, each a
# libosmium IdSetDense of 4 MiB chunks covering 2**25 ids, a chunk for every id range the
# extract touches (a real area touches nearly all), plus a few chunks more (relations, output
# buffers); measured: 3.3 GB per extract at node ids up to 1.3e10, 28 MB at 2.8 M dense ids
# (bench/README.md, "OSM store and sparse ids"). A pass holds as many as fit in the budget.
EXTRACT_MEMORY_BYTES = 8 * 2**30
ID_CHUNK_IDS = 2**25
ID_CHUNK_BYTES = 4 * 2**20
NODE_ID_SETS = 2
WAY_ID_SETS = 2
OTHER_CHUNKS = 3
# renumbering reads the file once and writes it once: worth it when it saves more passes
RENUMBER_COST_PASSES = 2
# boundaries are simplified to this tolerance (metres) before they become extract polygons:
# the slice only has to cover the area + buffer, and fewer vertices make slicing faster
SIMPLIFY_M = 25.0
# region files are read once and deleted: not compressing them saves more than it costs;
# nothing reads their objects' metadata (version, timestamp, changeset...), which a real
# national file carries and the parse would otherwise decode (the nation bench's file,
# with versions only: a region's file 23 % smaller)
REGION_FORMAT = "pbf,pbf_compression=none,add_metadata=false"
# the renumbered copy (cut into regions, nothing else) likewise: zlib and the metadata made
# renumbering cost 1.1 `osmium cat` passes, without them 0.65 (bench/README.md, "Session
# 12"); it is ~2.4 x the source's size on disk, one copy per source version
RENUMBERED_FORMAT = "pbf,pbf_compression=none,add_metadata=false"
# regions' files are parsed (and their members' slices written) by this many programs at
# once (prepare/slice_jobs.py); each holds one region's parsed data
# (prepare/regions.SLICE_REGION_NODES)
REGION_WORKERS = 2
_FINGERPRINTS = "fingerprints.json"
_FACTS_FORMAT = 2
# per source file, the renumbering index kept across versions (dot folders survive cleanup)
_INDEXES = ".ids"
_RENUMBERED = ".renumbered.osm.pbf"


@dataclass(frozen=True)
class Extent:
    """A municipality to cut: its key (``GM0503``) and its area, EPSG:28992."""

    key: str
    area: BaseGeometry


@dataclass(frozen=True)
class ExtractRun:
    """What :func:`slice_areas` did: the slice of every key, those cut and those reused,
    ``passes`` osmium extract passes over the source (or its renumbered copy) cutting
    ``regions`` regions, and ``parses`` files parsed (the regions' files, or the source)."""

    paths: dict[str, Path]
    cut: tuple[str, ...]
    reused: tuple[str, ...]
    passes: int
    seconds: float
    renumbered: bool = False
    renumber_seconds: float = 0.0
    regions: int = 0
    parses: int = 0


def extract_polygon(area: BaseGeometry, buffer_m: float) -> MultiPolygon:
    """``area`` (EPSG:28992) grown by ``buffer_m`` and simplified, as a WGS84 multipolygon
    with coordinates rounded to OSM's 1e-7 degrees (the polygon osmium would be given)."""
    grown = shapely.buffer(area, buffer_m, quad_segs=4)
    grown = shapely.simplify(grown, SIMPLIFY_M, preserve_topology=True)
    wgs84 = gpd.GeoSeries([grown], crs=28992).to_crs(4326).iloc[0]
    wgs84 = shapely.transform(wgs84, lambda xy: np.round(xy, 7))
    if isinstance(wgs84, Polygon):
        return MultiPolygon([wgs84])
    if isinstance(wgs84, MultiPolygon):
        return wgs84
    raise InputError(f"the area grown by {buffer_m:g} m is not a polygon ({wgs84.geom_type})")


def slice_areas(
    source: Path,
    extents: Sequence[Extent],
    buffer_m: float,
    store: Path,
    keys: ReaderKeys,
    *,
    memory_bytes: int = EXTRACT_MEMORY_BYTES,
    regions: int | None = None,
    log: Callable[[str], None] | None = None,
) -> ExtractRun:
    """The slice of every extent from ``source``: what :func:`~magicmix_geo.prepare.osm.read_osm`
    with ``keys`` reads of the objects the extent's ``osmium extract --strategy smart`` extract
    would hold (:mod:`magicmix_geo.prepare.osm_slice`), each OSM object parsed once.

    A source of at most :data:`~magicmix_geo.prepare.regions.SLICE_REGION_NODES` nodes is
    parsed whole; a larger one is first cut into regions of neighbouring municipalities (one
    ``osmium extract`` pass of outlines, from a renumbered copy when :func:`plan_passes` says so),
    and each region's file is parsed once, :data:`REGION_WORKERS` programs at a time
    (``regions`` forces that many regions, 0 none). Every member's slice is cut from its
    region's parsed data and written to the store; slices already there for this version of
    ``source``, the same area and the same reader keys are reused.

    Raises
    ------
    InputError
        ``source`` is missing or unreadable, osmium is needed and not installed, or osmium
        or the OSM reader fails.
    """
    clock = time.perf_counter()
    source, store = Path(source), Path(store)
    if not source.is_file():
        raise InputError(f"{source}: file not found")
    names = [e.key for e in extents]
    if len(set(names)) != len(names):
        raise InputError(f"{source}: an area is listed twice among the extracts")
    facts = source_facts(source, store)
    folder = store / facts["sha256"][:16]
    polygons = {e.key: extract_polygon(e.area, buffer_m) for e in extents}
    paths = {key: folder / _slice_name(key, poly, keys) for key, poly in polygons.items()}
    todo = [key for key in names if not paths[key].is_file()]
    split = plan_slice_regions(
        {k: polygons[k] for k in todo}, facts["nodes"], regions, _parsers(len(todo))
    )
    folder.mkdir(parents=True, exist_ok=True)
    reused = tuple(k for k in names if k not in todo)
    run = ExtractRun(paths=paths, cut=tuple(todo), reused=reused, passes=0, seconds=0.0)
    if todo and not split:
        if log:
            log(f"osm: reading {source.name} once for {len(todo)} municipalities")
        run_job(SliceJob(source, source, keys, _members(todo, polygons, paths)))
        run = replace(run, parses=1)
    elif todo:
        members = {r.key: _members(r.members, polygons, paths) for r in split}
        run = _slice_through_regions(
            run, source, store, facts, split, members, keys, memory_bytes, log
        )
    _remove_other_versions(store, folder)
    return replace(run, seconds=time.perf_counter() - clock)


def _slice_through_regions(
    run: ExtractRun,
    source: Path,
    store: Path,
    facts: Mapping[str, Any],
    split: Sequence[Region],
    members: Mapping[str, Mapping[str, tuple[MultiPolygon, Path]]],
    keys: ReaderKeys,
    memory_bytes: int,
    log: Callable[[str], None] | None,
) -> ExtractRun:
    """Cut the regions ``split`` from ``source`` (renumbered first when :func:`plan_passes`
    says so) into temporary files in ``store``, and slice each region's file for its
    ``members`` (per region: member key -> polygon and slice path); ``run`` with the passes,
    the renumbering, the regions and the files parsed."""
    folder = store / facts["sha256"][:16]
    plan = plan_passes(facts, len(split), memory_bytes)
    cut_from, per_pass, sidecar, renumber_s = source, plan.per_pass, None, 0.0
    if plan.renumber:
        renumber_clock = time.perf_counter()
        index_dir = store / _INDEXES / _short_hash(str(source.resolve()))
        if log:
            log(f"osm: renumbering {source.name} to dense ids (osmium renumber, one pass)")
        cut_from = _renumbered(source, folder / _RENUMBERED, index_dir)
        per_pass = extracts_per_pass(
            index_size(index_dir, "node"), index_size(index_dir, "way"), memory_bytes
        )
        sidecar = json.dumps(sidecar_record(index_dir), sort_keys=True)
        renumber_s = time.perf_counter() - renumber_clock
    with tempfile.TemporaryDirectory(dir=folder, prefix=".regions.") as tmp:
        files = {r.key: Path(tmp) / f"{r.key}.osm.pbf" for r in split}
        outlines = {r.key: osmium_area(r.outline) for r in split}
        what = f"regions from {source.name}"
        passes = _cut(cut_from, outlines, files, per_pass, source, what, log)
        for path in files.values():
            _write_sidecar(path, sidecar)
        jobs = [SliceJob(files[r.key], source, keys, members[r.key]) for r in split]
        if log:
            log(f"osm: reading {len(split)} regions of {source.name} once each")
        run_jobs(jobs, Path(tmp), _parsers(len(jobs)))
    return replace(
        run,
        passes=passes,
        renumbered=plan.renumber,
        renumber_seconds=renumber_s,
        regions=len(split),
        parses=len(jobs),
    )


def _slice_name(key: str, polygon: MultiPolygon, keys: ReaderKeys) -> str:
    text = json.dumps([SLICE_FORMAT, keys.digest(), _rounded(mapping(polygon))], sort_keys=True)
    return f"{key}-{_short_hash(text)[:12]}{SLICE_SUFFIX}"


def _members(
    keys: Sequence[str], polygons: Mapping[str, MultiPolygon], paths: Mapping[str, Path]
) -> dict[str, tuple[MultiPolygon, Path]]:
    return {k: (polygons[k], paths[k]) for k in keys}


def _parsers(files: int) -> int:
    """How many processes parse ``files`` regions' files at once."""
    return max(1, min(REGION_WORKERS, os.cpu_count() or 1, files))


def _cut(
    cut_from: Path,
    areas: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Path],
    per_pass: int,
    source: Path,
    what: str,
    log: Callable[[str], None] | None,
) -> int:
    """Cut ``targets`` from ``cut_from``, ``per_pass`` in an osmium pass (``areas`` as
    :func:`_osmium_extract` takes them; ``what`` names them and the file in the log); the
    passes."""
    keys = list(targets)
    passes = 0
    for start in range(0, len(keys), per_pass):
        batch = keys[start : start + per_pass]
        if log:
            log(f"osm: cutting {len(batch)} {what} in one osmium pass")
        _osmium_extract(
            cut_from,
            {k: areas[k] for k in batch},
            {k: targets[k] for k in batch},
            source,
        )
        passes += 1
    return passes


@dataclass(frozen=True)
class PassPlan:
    """Whether to renumber the source first, and how many extracts one pass then holds."""

    renumber: bool
    per_pass: int


def plan_passes(facts: Mapping[str, Any], count: int, memory_bytes: int) -> PassPlan:
    """Cut ``count`` extracts from the file described by ``facts`` (:func:`source_facts`) as
    they are, or renumber it first when that saves more than :data:`RENUMBER_COST_PASSES`
    passes (dense ids: the highest renumbered id is about the object count)."""
    as_is = extracts_per_pass(facts["max_node_id"], facts["max_way_id"], memory_bytes)
    dense = extracts_per_pass(facts["nodes"], facts["ways"], memory_bytes)
    passes_as_is, passes_dense = -(-count // as_is), -(-count // dense)
    if passes_as_is > passes_dense + RENUMBER_COST_PASSES:
        return PassPlan(True, dense)
    return PassPlan(False, as_is)


# slices reach this much beyond the clip zone (clip buffer + margin): boundaries are
# simplified, and complete ways need their ends
EXTRACT_SLACK_M = 250.0
# an OSM file of at least this size is sliced even for one municipality
CUT_SINGLE_FILE_BYTES = 50 * 2**20


def share_osm_files(
    inputs: Sequence[RankInputs],
    buffer_m: float,
    store: Path,
    keys: ReaderKeys,
    *,
    log: Callable[[str], None] | None = None,
) -> tuple[list[RankInputs], list[dict[str, Any]], dict[str, InputError]]:
    """The inputs with the OSM file of every municipality that shares it with others (or that
    is large) replaced by its slice (the boundary grown by ``buffer_m``; :func:`slice_areas`
    with the reader's ``keys``), every object of the file parsed once for all of them.

    Returns the new inputs (same order, without the failed ones), a record per file cut, and
    the error of every municipality that could not be cut (no boundary, unreadable boundary,
    osmium or the OSM reader failing).
    """
    groups: dict[Path, list[RankInputs]] = {}
    for item in inputs:
        groups.setdefault(Path(item.osm).resolve(), []).append(item)
    replaced: dict[str, Path] = {}
    records: list[dict[str, Any]] = []
    failed: dict[str, InputError] = {}
    for path, members in groups.items():
        if not path.is_file():
            continue  # reported by the municipality's own checks
        if len(members) < 2 and path.stat().st_size < CUT_SINGLE_FILE_BYTES:
            continue
        extents = []
        for item in members:
            try:
                if item.boundary is None:
                    raise InputError(
                        f"{item.osm}: {item.gm_code} shares this OSM file with "
                        f"{len(members) - 1} other municipalities but has no boundary "
                        "to cut its part by (give `boundary` in the areas file)"
                    )
                extents.append(Extent(item.gm_code, read_boundary(item.boundary)))
            except InputError as exc:
                failed[item.gm_code] = exc
        if not extents:
            continue
        try:
            run = slice_areas(path, extents, buffer_m, store, keys, log=log)
        except InputError as exc:
            failed.update({e.key: exc for e in extents})
            continue
        replaced.update(run.paths)
        records.append(
            {
                "source": str(path),
                "municipalities": len(extents),
                "cut": len(run.cut),
                "reused": len(run.reused),
                "passes": run.passes,
                "regions": run.regions,
                "parses": run.parses,
                "renumbered": run.renumbered,
                "renumber_seconds": round(run.renumber_seconds, 3),
                "seconds": round(run.seconds, 3),
            }
        )
    kept = [
        replace(item, osm=replaced.get(item.gm_code, item.osm))
        for item in inputs
        if item.gm_code not in failed
    ]
    return kept, records, failed


def extract_bytes(max_node_id: int, max_way_id: int) -> int:
    """What osmium extract holds per extract for a file with these highest ids."""

    def chunks(max_id: int) -> int:
        return max(max_id, 0) // ID_CHUNK_IDS + 1

    return ID_CHUNK_BYTES * (
        NODE_ID_SETS * chunks(max_node_id) + WAY_ID_SETS * chunks(max_way_id) + OTHER_CHUNKS
    )


def extracts_per_pass(max_node_id: int, max_way_id: int, memory_bytes: int) -> int:
    """How many extracts one osmium pass may cut within ``memory_bytes``."""
    fit = memory_bytes // extract_bytes(max_node_id, max_way_id)
    return int(min(MAX_EXTRACTS_PER_PASS, max(1, fit)))


def source_facts(source: Path, store: Path) -> dict[str, Any]:
    """The sha256, highest node and way ids and node and way counts of ``source``,
    remembered in the store by size and modification time, so that a 1.4 GB file is read for
    them once per version, not per run."""
    stat = source.stat()
    memo_path = store / _FINGERPRINTS
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if not isinstance(memo, dict):
        memo = {}
    name = str(source.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns]
    entry = memo.get(name)
    if (
        isinstance(entry, dict)
        and entry.get("stamp") == stamp
        and entry.get("format") == _FACTS_FORMAT
    ):
        return entry
    entry = {
        "format": _FACTS_FORMAT,
        "stamp": stamp,
        "sha256": file_sha256(source),
        **_id_facts(source),
    }
    memo[name] = entry
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=store, delete=False, suffix=".tmp") as fh:
        json.dump(memo, fh)
    os.replace(fh.name, memo_path)
    return entry


def _id_facts(source: Path) -> dict[str, int]:
    """The highest node and way ids and the node and way counts of ``source``: from a few
    blocks of a PBF file declared sorted (:mod:`magicmix_geo.prepare.sorted_pbf`), else from
    one full read (``osmium fileinfo --extended``, without its checksum)."""
    try:
        return SortedPbf(source).facts()
    except NotSortedPbfError:
        pass  # any other file: read it whole
    except OSError as exc:
        raise InputError(f"{source}: cannot read OSM data ({exc.strerror})") from exc
    _require_osmium(source)
    done = subprocess.run(
        [OSMIUM, "fileinfo", "--extended", "--no-crc", "--json", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        data = json.loads(done.stdout)["data"]
        return {
            "max_node_id": int(data["maxid"]["nodes"]),
            "max_way_id": int(data["maxid"]["ways"]),
            "nodes": int(data["count"]["nodes"]),
            "ways": int(data["count"]["ways"]),
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{source}: cannot read OSM data ({done.stderr.strip()})") from exc


def _renumbered(source: Path, target: Path, index_dir: Path) -> Path:
    """``source`` with its nodes and ways renumbered consistently with ``index_dir`` (kept
    across versions of the source: known objects keep their ids, new ones get the next free
    ids), written once per source version."""
    if target.is_file() and index_size(index_dir, "node"):
        return target
    _require_osmium(source)
    index_dir.mkdir(parents=True, exist_ok=True)
    index_generation(index_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    # osmium rewrites the index in place: work on a copy, so a killed run leaves it whole
    with tempfile.TemporaryDirectory(dir=index_dir.parent, prefix=".renumber.") as tmp:
        work = Path(tmp) / "index"
        shutil.copytree(index_dir, work)
        output = Path(tmp) / "renumbered.osm.pbf"
        command = [OSMIUM, "renumber", "--index-directory", str(work), "--overwrite"]
        command += [f"--object-type={t}" for t in RENUMBERED_TYPES]
        command += ["--no-progress", "-f", RENUMBERED_FORMAT, "-o", str(output), str(source)]
        _run_osmium(source, "renumber", command)
        _put_in_order(source, output, work, Path(tmp))
        # the index only grows (known ids keep their place): replacing file by file is safe
        for path in sorted(work.iterdir()):
            os.replace(path, index_dir / path.name)
        os.replace(output, target)
    return target


def out_of_order(index: np.ndarray, block: int = 2**24) -> np.ndarray:
    """The renumbered ids (1-based positions) of the index entries whose real id is below an
    earlier entry's: objects the index met only after newer ones (an old object new to the
    file, a node referenced before it appeared), which break the file's id order."""
    found: list[np.ndarray] = []
    highest = 0
    for start in range(0, index.size, block):
        part = np.asarray(index[start : start + block], dtype=np.uint64)
        prefix = np.maximum.accumulate(np.maximum(part, np.uint64(highest)))
        found.append(np.flatnonzero(part < prefix) + start + 1)
        highest = int(prefix[-1]) if part.size else highest
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _put_in_order(source: Path, renumbered: Path, index_dir: Path, tmp: Path) -> None:
    """Sort ``renumbered`` (which follows the source's order) by its new ids, as osmium
    extract requires: the few objects out of order are taken out, sorted and merged back."""
    lines = [
        f"{osm_type[0]}{new_id}\n"
        for osm_type in RENUMBERED_TYPES
        for new_id in out_of_order(
            np.memmap(index_dir / f"{osm_type}.idx", dtype=INDEX_DTYPE, mode="r")
            if index_size(index_dir, osm_type)
            else np.zeros(0, INDEX_DTYPE)
        ).tolist()
    ]
    if not lines:
        return
    ids = tmp / "out-of-order.txt"
    ids.write_text("".join(lines), encoding="ascii")
    moved, ordered, rest = tmp / "moved.osm.pbf", tmp / "moved-sorted.osm.pbf", tmp / "rest.pbf"
    quiet = ["--overwrite", "--no-progress"]
    # getid exits 1 when ids are missing (referenced, not in the file): the count decides
    _run_osmium(
        source,
        "getid",
        [OSMIUM, "getid", *quiet, "-i", str(ids), "-o", str(moved), str(renumbered)],
        ok=(0, 1),
    )
    if _object_count(source, moved) == 0:
        return  # only ids referenced but not in the file
    _run_osmium(source, "sort", [OSMIUM, "sort", "--overwrite", "-o", str(ordered), str(moved)])
    copy = [*quiet, "-f", RENUMBERED_FORMAT]
    _run_osmium(
        source,
        "removeid",
        [OSMIUM, "removeid", *copy, "-I", str(moved), "-o", str(rest), str(renumbered)],
    )
    _run_osmium(
        source, "merge", [OSMIUM, "merge", *copy, "-o", str(renumbered), str(rest), str(ordered)]
    )


def _object_count(source: Path, path: Path) -> int:
    """Objects in ``path`` (a small file: the objects out of order)."""
    try:
        return sum(1 for _ in osmium.FileProcessor(str(path)))
    except RuntimeError as exc:
        raise InputError(f"{source}: cannot read OSM data ({exc})") from exc


def _write_sidecar(extract: Path, record: str | None) -> None:
    """The extract's id map (or none, for an extract with OSM's ids), written before it."""
    path = sidecar_path(extract)
    if record is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        fh.write(record)
    os.replace(fh.name, path)


def _require_osmium(source: Path) -> None:
    if not osmium_available():
        raise InputError(
            f"{source}: cutting a large OSM file into regions needs osmium-tool "
            "(`apt-get install osmium-tool`), which is not installed"
        )


def _run_osmium(
    source: Path, what: str, command: Sequence[str], ok: tuple[int, ...] = (0,)
) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise InputError(
            f"{source}: osmium {what} failed ({message[-1] if message else done.returncode})"
        )


def osmium_available() -> bool:
    return shutil.which(OSMIUM) is not None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rounded(geojson: Mapping[str, Any]) -> Any:
    """GeoJSON coordinates rounded to 1e-7 degrees (OSM's own precision)."""

    def walk(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, float):
            return round(value, 7)
        return value

    return walk(geojson["coordinates"])


def _osmium_extract(
    source: Path,
    areas: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Path],
    reported: Path,
) -> None:
    """One ``osmium extract --config`` pass over ``source`` writing every target (as
    :data:`REGION_FORMAT`) atomically; ``areas`` holds each key's area as osmium's config
    takes it (``bbox`` or ``multipolygon``); errors name ``reported`` (the file the user gave,
    when ``source`` is its renumbered copy)."""
    _require_osmium(reported)
    folder = next(iter(targets.values())).parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract.") as tmp:
        config = {
            "directory": tmp,
            "extracts": [
                {
                    "output": f"{key}.osm.pbf",
                    "output_format": REGION_FORMAT,
                    "description": key,
                    "output_header": {"generator": "magicmix-geo (osmium extract)"},
                    **area,
                }
                for key, area in areas.items()
            ],
        }
        config_path = Path(tmp) / "extracts.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        command = [
            OSMIUM,
            "extract",
            "--config",
            str(config_path),
            "--strategy",
            STRATEGY,
            "--option",
            f"types={','.join(sorted(COMPLETED_RELATION_TYPES))}",
            "--overwrite",
            "--no-progress",
            str(source),
        ]
        _run_osmium(reported, "extract", command)
        for key, target in targets.items():
            os.replace(Path(tmp) / f"{key}.osm.pbf", target)


def _remove_other_versions(store: Path, keep: Path) -> None:
    for folder in store.iterdir():
        if folder.is_dir() and folder != keep and not folder.name.startswith("."):
            shutil.rmtree(folder, ignore_errors=True)
