"""Islands made of the real Delft sample: one OSM file holding several moved copies of the
sample's core, each with its own dense ids, so that every copy is a separate island (used by
the national-scale tests and by bench/country.py).

The core is the sample's study area plus ``margin_deg``, cut with osmium-tool and renumbered
(``osmium renumber``), so that the copies' ids do not collide and stay dense. With
``real_ids`` the core keeps the sample's real OSM ids (node ids up to 1.3e10, spread over the
whole range like any real extract's) and :func:`write_islands` with ``sparse_ids`` gives copy
``k`` of ``n`` the ids ``= k (mod n)`` nearest above the real ones: unique across copies, the
real id distribution and highest id kept (what osmium's id sets see in the national file).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import osmium
from shapely import affinity
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SAMPLE_AREA = SAMPLE / "area_tudelft_wippolder.gpkg"
SAMPLE_PBF = SAMPLE / "tudelft.osm.pbf"


@dataclass(frozen=True)
class Core:
    """The sample's core: nodes (id, lon, lat, tags), ways (id, refs, tags), relations."""

    nodes: list[tuple[int, float, float, dict[str, str]]]
    ways: list[tuple[int, list[int], dict[str, str]]]
    relations: list[tuple[int, list[tuple[str, int, str]], dict[str, str]]]
    area_wgs84: BaseGeometry
    bounds: tuple[float, float, float, float]

    @property
    def centre(self) -> tuple[float, float]:
        minx, miny, maxx, maxy = self.bounds
        return (minx + maxx) / 2, (miny + maxy) / 2


def load_core(
    work: Path, margin_deg: tuple[float, float] = (0.038, 0.024), *, real_ids: bool = False
) -> Core:
    """Cut and renumber the sample's core once into ``work``; read it (with ``real_ids`` the
    cut core before renumbering)."""
    area = gpd.read_file(SAMPLE_AREA).to_crs(4326).geometry.iloc[0]
    minx, miny, maxx, maxy = area.bounds
    bounds = (
        minx - margin_deg[0],
        miny - margin_deg[1],
        maxx + margin_deg[0],
        maxy + margin_deg[1],
    )
    work.mkdir(parents=True, exist_ok=True)
    core, dense = work / "core.osm.pbf", work / "core-dense.osm.pbf"
    if not dense.is_file():
        _osmium(
            "extract",
            "-b",
            ",".join(map(str, bounds)),
            "-s",
            "smart",
            "-O",
            "-o",
            str(core),
            str(SAMPLE_PBF),
        )
        _osmium("renumber", "-O", "-o", str(dense), str(core))
    nodes, ways, relations = [], [], []
    for obj in osmium.FileProcessor(str(core if real_ids else dense)):
        tags = dict(obj.tags)
        if isinstance(obj, osmium.osm.Node):
            nodes.append((obj.id, obj.location.lon, obj.location.lat, tags))
        elif isinstance(obj, osmium.osm.Way):
            ways.append((obj.id, [r.ref for r in obj.nodes], tags))
        elif isinstance(obj, osmium.osm.Relation):
            relations.append((obj.id, [(m.type, m.ref, m.role) for m in obj.members], tags))
    return Core(nodes, ways, relations, area, bounds)


def write_islands(
    path: Path,
    core: Core,
    shifts: Sequence[tuple[float, float]],
    *,
    drop_street_of: int | None = None,
    sparse_ids: bool = False,
    declare_sorted: bool = True,
) -> None:
    """Write one copy of ``core`` per (dlon, dlat) shift: every copy's nodes, then ways, then
    relations, ids ascending as PBF readers expect, the header declaring that order
    (``sorting=Type_then_ID``, as Geofabrik's files do) unless ``declare_sorted`` is false.
    ``drop_street_of`` leaves the footway
    nearest the study area's centre out of that copy (a changed street, for the nightly-update
    tests). ``sparse_ids`` keeps the core's (real) id distribution, see the module docstring;
    otherwise copy ``k`` adds ``k`` times the core's highest id + 1."""
    # a copy's ids step past every id the core holds or refers to: a relation's member may be
    # an object cut off from the core (renumbered too), which must not land in the next copy
    step = {kind: max(ids, default=0) + 1 for kind, ids in _ids_used(core).items()}
    new_id = _sparse_ids(core, len(shifts)) if sparse_ids else None

    def copy_id(kind: str, k: int, old: int) -> int:
        return new_id[kind][k][old] if new_id else k * step[kind] + old

    dropped = _central_footway(core)
    copies = range(len(shifts))
    # (new id, copy, object) sorted by new id: the copies interleave when ids are sparse
    nodes = sorted((copy_id("n", k, n[0]), k, n) for k in copies for n in core.nodes)
    ways = sorted(
        (copy_id("w", k, w[0]), k, w)
        for k in copies
        for w in core.ways
        if not (k == drop_street_of and w[0] == dropped)
    )
    relations = sorted((copy_id("r", k, r[0]), k, r) for k in copies for r in core.relations)
    tmp = path.with_name(f".{path.name}.tmp.pbf")
    tmp.unlink(missing_ok=True)
    header = osmium.io.Header()
    if declare_sorted:
        header.set("sorting", "Type_then_ID")
    with osmium.SimpleWriter(str(tmp), header=header) as writer:
        for node_id, k, (_, lon, lat, tags) in nodes:
            dx, dy = shifts[k]
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=node_id, location=(lon + dx, lat + dy), tags=tags, version=1
                )
            )
        for way_id, k, (_, refs, tags) in ways:
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=way_id, nodes=[copy_id("n", k, r) for r in refs], tags=tags, version=1
                )
            )
        for rel_id, k, (_, members, tags) in relations:
            writer.add_relation(
                osmium.osm.mutable.Relation(
                    id=rel_id,
                    tags=tags,
                    version=1,
                    members=[(t, copy_id(t, k, ref), role) for t, ref, role in members],
                )
            )
    tmp.replace(path)


def _sparse_ids(core: Core, copies: int) -> dict[str, list[dict[int, int]]]:
    """Per kind (n, w, r) and copy ``k``: the core's id -> the smallest id ``= k (mod copies)``
    not below it (the next such id when two would meet), so ids stay ascending and unique."""
    result: dict[str, list[dict[int, int]]] = {}
    for kind, ids in _ids_used(core).items():
        result[kind] = []
        for k in range(copies):
            mapping, last = {}, k - copies
            for old in sorted(ids):
                above = old - old % copies + k
                above += copies if above < old else 0
                mapping[old] = last = max(above, last + copies)
            result[kind].append(mapping)
    return result


def _ids_used(core: Core) -> dict[str, set[int]]:
    """The ids of each kind (``n``, ``w``, ``r``) that ``core`` holds or refers to."""
    used: dict[str, set[int]] = {
        "n": {n[0] for n in core.nodes},
        "w": {w[0] for w in core.ways},
        "r": {r[0] for r in core.relations},
    }
    for _, refs, _ in core.ways:
        used["n"].update(refs)
    for _, members, _ in core.relations:
        for kind, ref, _ in members:
            used[kind].add(ref)
    return used


def moved_area(core: Core, shift: tuple[float, float], size_deg: float | None = None) -> Any:
    """The study area of the copy moved by ``shift`` (EPSG:4326); with ``size_deg`` a square of
    that size at the area's centre instead (a small municipality ranks fast)."""
    area = core.area_wgs84
    if size_deg is not None:
        c = area.centroid
        area = box(c.x - size_deg / 2, c.y - size_deg / 3, c.x + size_deg / 2, c.y + size_deg / 3)
    return affinity.translate(area, *shift)


def write_boundary(path: Path, geometry_wgs84: BaseGeometry, gm_code: str) -> Path:
    gpd.GeoDataFrame({"gm_code": [gm_code]}, geometry=[geometry_wgs84], crs=4326).to_crs(
        28992
    ).to_file(path, engine="pyogrio")
    return path


def _central_footway(core: Core) -> int:
    """The footway whose first node lies nearest the study area's centre."""
    where = {n[0]: (n[1], n[2]) for n in core.nodes}
    c = core.area_wgs84.centroid
    footways = [w for w in core.ways if w[2].get("highway") == "footway" and w[1][0] in where]
    return min(
        footways,
        key=lambda w: (where[w[1][0]][0] - c.x) ** 2 + (where[w[1][0]][1] - c.y) ** 2,
    )[0]


def _osmium(*args: str) -> None:
    subprocess.run(["osmium", *args], check=True, capture_output=True)
