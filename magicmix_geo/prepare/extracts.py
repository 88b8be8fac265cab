"""The OSM store: one pass over a large OSM file cuts the extract of every municipality in it.

A national (or province, or any shared) OSM file is read by osmium-tool's ``osmium extract``
with one config listing every municipality's boundary grown by the clip buffer: a bounded
number of passes over the file (``smart`` strategy: three, whatever the number of areas, in
batches of :data:`MAX_EXTRACTS_PER_PASS` output files), where cutting each municipality on its
own would read the whole file once per municipality. Ways are complete, and multipolygon
relations with their member ways, so areas (parks, water, landuse) stay whole.

Extracts are stored as ``<store>/<source sha256 [:16]>/<key>.osm.pbf`` and reused until the
source changes; an extract's name depends only on its area, and osmium writes the same bytes
for the same objects (the output header carries no timestamp of the source), so after a
nightly update an unchanged municipality gets a byte-identical extract and its ranking is
served from the result cache (``magicmix_geo/cache.py`` keys on the extract's sha256).

Needs the ``osmium`` program (Debian/Ubuntu package ``osmium-tool``).
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
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.contract import RankInputs
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.provenance import file_sha256

OSMIUM = "osmium"
STRATEGY = "smart"
# osmium keeps every output file of a pass open; stay well below the usual 1024 descriptors
MAX_EXTRACTS_PER_PASS = 250
# osmium extract needs about (highest node id / 8) bytes per extract for each id set it keeps
# (man osmium-extract, MEMORY USAGE; two sets with the complete_ways strategy, a bit more with
# smart): a pass holds as many extracts as fit in this budget
EXTRACT_MEMORY_BYTES = 8 * 2**30
ID_SETS_PER_EXTRACT = 2.5
# boundaries are simplified to this tolerance (metres) before they become extract polygons:
# the extract only has to cover the area + buffer, and fewer vertices make the pass faster
SIMPLIFY_M = 25.0
EXTRACT_FORMAT = 1
_FINGERPRINTS = "fingerprints.json"


@dataclass(frozen=True)
class Extent:
    """A municipality to cut: its key (``GM0503``) and its area, EPSG:28992."""

    key: str
    area: BaseGeometry


@dataclass(frozen=True)
class ExtractRun:
    """What :func:`extract_areas` did: the extract of every key, and the passes it made."""

    paths: dict[str, Path]
    cut: tuple[str, ...]
    reused: tuple[str, ...]
    passes: int
    seconds: float


def extract_polygon(area: BaseGeometry, buffer_m: float) -> MultiPolygon:
    """``area`` (EPSG:28992) grown by ``buffer_m`` and simplified, as a WGS84 multipolygon."""
    grown = shapely.buffer(area, buffer_m, quad_segs=4)
    grown = shapely.simplify(grown, SIMPLIFY_M, preserve_topology=True)
    wgs84 = gpd.GeoSeries([grown], crs=28992).to_crs(4326).iloc[0]
    if isinstance(wgs84, Polygon):
        return MultiPolygon([wgs84])
    if isinstance(wgs84, MultiPolygon):
        return wgs84
    raise InputError(f"the area grown by {buffer_m:g} m is not a polygon ({wgs84.geom_type})")


def extract_areas(
    source: Path,
    extents: Sequence[Extent],
    buffer_m: float,
    store: Path,
    *,
    memory_bytes: int = EXTRACT_MEMORY_BYTES,
    log: Callable[[str], None] | None = None,
) -> ExtractRun:
    """The extract of every extent from ``source``, cut in as few passes as possible.

    Extracts already in the store for this version of ``source`` and the same area are
    reused; the others are cut together. Extracts of older versions of ``source`` are
    removed once the new ones are in place.

    Raises
    ------
    InputError
        ``source`` is missing or unreadable, osmium is not installed, or osmium fails.
    """
    clock = time.perf_counter()
    source = Path(source)
    if not source.is_file():
        raise InputError(f"{source}: file not found")
    keys = [e.key for e in extents]
    if len(set(keys)) != len(keys):
        raise InputError(f"{source}: an area is listed twice among the extracts")
    folder = Path(store) / source_facts(source, Path(store))["sha256"][:16]
    polygons = {e.key: extract_polygon(e.area, buffer_m) for e in extents}
    paths = {key: folder / f"{key}-{_polygon_hash(poly)}.osm.pbf" for key, poly in polygons.items()}
    todo = [key for key in keys if not paths[key].is_file()]
    per_pass = (
        extracts_per_pass(source_facts(source, Path(store))["max_node_id"], memory_bytes)
        if todo
        else 1
    )
    passes = 0
    for start in range(0, len(todo), per_pass):
        batch = todo[start : start + per_pass]
        if log:
            log(f"osm: cutting {len(batch)} extracts from {source.name} in one osmium pass")
        _osmium_extract(source, {k: polygons[k] for k in batch}, {k: paths[k] for k in batch})
        passes += 1
    _remove_other_versions(Path(store), folder)
    return ExtractRun(
        paths=paths,
        cut=tuple(todo),
        reused=tuple(k for k in keys if k not in todo),
        passes=passes,
        seconds=time.perf_counter() - clock,
    )


# extracts reach this much beyond the clip zone (clip buffer + margin): boundaries are
# simplified for osmium, and complete ways need their ends
EXTRACT_SLACK_M = 250.0
# an OSM file of at least this size is cut into an extract even for one municipality
CUT_SINGLE_FILE_BYTES = 50 * 2**20


def share_osm_files(
    inputs: Sequence[RankInputs],
    buffer_m: float,
    store: Path,
    *,
    log: Callable[[str], None] | None = None,
) -> tuple[list[RankInputs], list[dict[str, Any]], dict[str, InputError]]:
    """The inputs with the OSM file of every municipality that shares it with others (or that
    is large) replaced by its extract (the boundary grown by ``buffer_m``), cut for all of
    them in one pass over the file.

    Returns the new inputs (same order, without the failed ones), a record per file cut, and
    the error of every municipality that could not be cut (no boundary, unreadable boundary,
    osmium failing).
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
            run = extract_areas(path, extents, buffer_m, store, log=log)
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
                "seconds": round(run.seconds, 3),
            }
        )
    kept = [
        replace(item, osm=replaced.get(item.gm_code, item.osm))
        for item in inputs
        if item.gm_code not in failed
    ]
    return kept, records, failed


def extracts_per_pass(max_node_id: int, memory_bytes: int) -> int:
    """How many extracts one osmium pass may cut within ``memory_bytes``."""
    per_extract = max(max_node_id, 1) / 8 * ID_SETS_PER_EXTRACT
    return int(min(MAX_EXTRACTS_PER_PASS, max(1, memory_bytes // per_extract)))


def source_facts(source: Path, store: Path) -> dict[str, Any]:
    """The sha256 and highest node id of ``source``, remembered in the store by size and
    modification time, so that a 1.4 GB file is read for them once per version, not per run."""
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
    if isinstance(entry, dict) and entry.get("stamp") == stamp and "max_node_id" in entry:
        return entry
    entry = {"stamp": stamp, "sha256": file_sha256(source), "max_node_id": _max_node_id(source)}
    memo[name] = entry
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=store, delete=False, suffix=".tmp") as fh:
        json.dump(memo, fh)
    os.replace(fh.name, memo_path)
    return entry


def _max_node_id(source: Path) -> int:
    if not osmium_available():
        raise InputError(
            f"{source}: cutting municipal extracts needs osmium-tool "
            "(`apt-get install osmium-tool`), which is not installed"
        )
    done = subprocess.run(
        [OSMIUM, "fileinfo", "--extended", "--get", "data.maxid.nodes", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(done.stdout.strip())
    except ValueError as exc:
        raise InputError(f"{source}: cannot read OSM data ({done.stderr.strip()})") from exc


def osmium_available() -> bool:
    return shutil.which(OSMIUM) is not None


def _polygon_hash(polygon: MultiPolygon) -> str:
    text = json.dumps([EXTRACT_FORMAT, STRATEGY, _rounded(mapping(polygon))], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
    source: Path, polygons: Mapping[str, MultiPolygon], targets: Mapping[str, Path]
) -> None:
    """One ``osmium extract --config`` pass writing every target atomically."""
    if not osmium_available():
        raise InputError(
            f"{source}: cutting municipal extracts needs osmium-tool "
            "(`apt-get install osmium-tool`), which is not installed"
        )
    folder = next(iter(targets.values())).parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract.") as tmp:
        config = {
            "directory": tmp,
            "extracts": [
                {
                    "output": f"{key}.osm.pbf",
                    "output_format": "pbf",
                    "description": key,
                    "output_header": {"generator": "magicmix-geo (osmium extract)"},
                    "multipolygon": _rounded(mapping(polygons[key])),
                }
                for key in polygons
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
            "--overwrite",
            "--no-progress",
            str(source),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            raise InputError(
                f"{source}: osmium extract failed ({message[-1] if message else done.returncode})"
            )
        for key, target in targets.items():
            os.replace(Path(tmp) / f"{key}.osm.pbf", target)


def _remove_other_versions(store: Path, keep: Path) -> None:
    for folder in store.iterdir():
        if folder.is_dir() and folder != keep and not folder.name.startswith("."):
            shutil.rmtree(folder, ignore_errors=True)
