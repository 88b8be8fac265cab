"""Nightly OSM updates from replication diffs, against a replication server on 127.0.0.1.

The server (tests/_sources_server.py) serves Geofabrik's layout: ``netherlands-latest.osm.pbf``
with its ``.md5``, and ``netherlands-updates/state.txt`` with ``000/004/931.osc.gz`` ... The
diffs are real osmChange files made by ``osmium derive-changes`` from the Delft sample with a
few nodes moved, a way added and a street renamed; the base file carries a Geofabrik-like
replication header written with ``osmium cat --output-header``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pytest
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo.cli import main
from magicmix_geo.config import load_settings
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.prepare.extracts import Extent, extract_polygon, slice_areas
from magicmix_geo.prepare.osm import reader_keys
from magicmix_geo.sources._http import RetryPolicy, SourceError, make_session
from magicmix_geo.sources.cache import DataCache
from magicmix_geo.sources.osm_changes import (
    CELL_DEG,
    REACH,
    ReplicationState,
    cell_boxes,
    extents_wgs84,
    parse_state,
    parse_timestamp,
    sequence_path,
    touched,
    touched_since,
)
from magicmix_geo.sources.osm_updates import (
    DiffContent,
    UpdateError,
    changed_locations,
    refresh_osm,
    updates_url,
    verify_pbf,
)
from tests._extracts import smart_extract
from tests._sources_server import SAMPLE, FakeServer, Resource

PBF_PATH = "/europe/netherlands-latest.osm.pbf"
UPDATES = "/europe/netherlands-updates"
GEOFABRIK_UPDATES = "https://download.geofabrik.de/europe/netherlands-updates"
BASE_SEQ = 4930
TIMES = {4930: "2026-10-06T20:21:06Z", 4931: "2026-10-07T20:20:58Z", 4932: "2026-10-08T20:21:11Z"}
# where the edits are made (lon, lat): nodes moved by diff 4931 near A, a way added near B,
# a street near C renamed (tags only), nodes moved by diff 4932 near D, a multipolygon
# retagged and a point of interest near E deleted by diff 4932
NEAR_A = (4.3700, 52.0000)
NEAR_B = (4.3600, 52.0100)
NEAR_C = (4.3550, 52.0110)
NEAR_D = (4.3900, 51.9900)
NEAR_E = (4.3400, 51.9850)
# a corner of the sample far from every edit
FAR_CORNER = (4.2000, 52.1000)
SHIFT = (0.0010, 0.0005)  # degrees: about 70 m east, 55 m north


@dataclass(frozen=True)
class Replication:
    base: Path  # the file as first downloaded (sequence 4930)
    states: dict[int, Path]  # the full file at each sequence
    diffs: dict[int, bytes]  # sequence -> .osc.gz
    moved: dict[int, dict[int, tuple[float, float]]]  # sequence -> node id -> new location
    moved_from: dict[int, tuple[float, float]]  # node id -> old location
    renamed_way: int
    renamed_way_nodes: list[tuple[float, float]]
    retagged_relation: int
    retagged_relation_nodes: list[tuple[float, float]]
    deleted_node: tuple[int, tuple[float, float]]
    added_nodes: list[tuple[float, float]]


def geofabrik_state(sequence: int, timestamp: str | None = None) -> bytes:
    """A state.txt as Geofabrik writes it (docs/sources.md, "OSM replication")."""
    stamp = (timestamp or TIMES[sequence]).replace(":", "\\:")
    return (
        f"# original OSM minutely replication sequence number {7320604 + sequence}\n"
        f"timestamp={stamp}\nsequenceNumber={sequence}\n"
    ).encode()


def with_header(src: Path, out: Path, sequence: int, base_url: str = GEOFABRIK_UPDATES) -> Path:
    subprocess.run(
        [
            "osmium",
            "cat",
            "--no-progress",
            str(src),
            "-o",
            str(out),
            "--overwrite",
            "--output-header",
            f"osmosis_replication_base_url={base_url}",
            "--output-header",
            f"osmosis_replication_sequence_number={sequence}",
            "--output-header",
            f"osmosis_replication_timestamp={TIMES[sequence]}",
        ],
        check=True,
    )
    return out


def nearest_nodes(
    locs: dict[int, tuple[float, float]], near: tuple[float, float], n: int, avoid: set[int]
) -> list[int]:
    ranked = sorted(
        (i for i in locs if i not in avoid),
        key=lambda i: (locs[i][0] - near[0]) ** 2 + (locs[i][1] - near[1]) ** 2,
    )
    return ranked[:n]


def edit(
    src: Path,
    out: Path,
    *,
    move: set[int],
    rename: int | None = None,
    retag: int | None = None,
    delete: int | None = None,
    add_at: tuple[float, float] | None = None,
    stamp: str,
) -> None:
    """Write ``src`` with nodes moved by SHIFT, a way renamed, a relation retagged and a new
    way, each with a new version."""
    info = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", "--no-progress", str(src)],
        capture_output=True,
        text=True,
        check=True,
    )
    maxid = json.loads(info.stdout)["data"]["maxid"]
    writer = osmium.SimpleWriter(str(out))
    pending_nodes = add_at is not None
    pending_way = add_at is not None
    new_nodes = [maxid["nodes"] + 1 + i for i in range(3)]
    for obj in osmium.FileProcessor(str(src)):
        if pending_nodes and not isinstance(obj, osmium.osm.Node):
            assert add_at is not None
            for i, node_id in enumerate(new_nodes):
                writer.add_node(
                    osmium.osm.mutable.Node(
                        id=node_id,
                        version=1,
                        timestamp=stamp,
                        location=(add_at[0] + 0.0004 * i, add_at[1]),
                    )
                )
            pending_nodes = False
        if pending_way and isinstance(obj, osmium.osm.Relation):
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=maxid["ways"] + 1,
                    version=1,
                    timestamp=stamp,
                    nodes=new_nodes,
                    tags={"highway": "residential", "name": "Proefweg"},
                )
            )
            pending_way = False
        if obj.id == delete and isinstance(obj, osmium.osm.Node):
            continue
        if isinstance(obj, osmium.osm.Node) and obj.id in move:
            loc = obj.location
            writer.add_node(
                obj.replace(
                    location=osmium.osm.Location(loc.lon + SHIFT[0], loc.lat + SHIFT[1]),
                    version=obj.version + 1,
                    timestamp=stamp,
                )
            )
        elif isinstance(obj, osmium.osm.Way) and obj.id == rename:
            tags = dict(obj.tags)
            tags["name"] = "Hernoemde straat"
            writer.add_way(obj.replace(tags=tags, version=obj.version + 1, timestamp=stamp))
        elif isinstance(obj, osmium.osm.Relation) and obj.id == retag:
            tags = {**dict(obj.tags), "note": "retagged"}
            writer.add_relation(obj.replace(tags=tags, version=obj.version + 1, timestamp=stamp))
        else:
            writer.add(obj)
    writer.close()


def derive(old: Path, new: Path, out: Path) -> bytes:
    subprocess.run(
        [
            "osmium",
            "derive-changes",
            "--no-progress",
            str(old),
            str(new),
            "-o",
            str(out),
            "--overwrite",
        ],
        check=True,
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
def replication(tmp_path_factory: pytest.TempPathFactory) -> Replication:
    tmp = tmp_path_factory.mktemp("replication")
    base = with_header(SAMPLE / "tudelft.osm.pbf", tmp / "base.osm.pbf", BASE_SEQ)
    locs = {
        n.id: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(base), osmium.osm.NODE)
        if isinstance(n, osmium.osm.Node)
    }
    streets = [
        (w.id, [r.ref for r in w.nodes])
        for w in osmium.FileProcessor(str(base), osmium.osm.WAY)
        if isinstance(w, osmium.osm.Way)
        and w.tags.get("highway") == "residential"
        and 2 <= len(w.nodes) <= 6
    ]
    first = set(nearest_nodes(locs, NEAR_A, 3, set()))
    second = set(nearest_nodes(locs, NEAR_D, 2, first))

    def dist(way: tuple[int, list[int]]) -> float:
        x, y = locs[way[1][0]]
        return (x - NEAR_C[0]) ** 2 + (y - NEAR_C[1]) ** 2

    way_nodes = {
        w.id: [r.ref for r in w.nodes]
        for w in osmium.FileProcessor(str(base), osmium.osm.WAY)
        if isinstance(w, osmium.osm.Way)
    }
    # the multipolygon with the smallest extent whose members (all ways) are in the file
    polygons = {
        r.id: [p for m in r.members for p in way_nodes[m.ref]]
        for r in osmium.FileProcessor(str(base), osmium.osm.RELATION)
        if isinstance(r, osmium.osm.Relation)
        and r.tags.get("type") == "multipolygon"
        and all(m.type == "w" and m.ref in way_nodes for m in r.members)
    }

    def extent(nodes: list[int]) -> float:
        xs, ys = zip(*(locs[n] for n in nodes), strict=True)
        return (max(xs) - min(xs)) * (max(ys) - min(ys))

    retagged = min(polygons, key=lambda r: extent(polygons[r]))
    # a point of interest (tagged, in no way) near E, deleted by diff 4932
    in_ways = {n for nodes in way_nodes.values() for n in nodes}
    pois = {
        n.id: locs[n.id]
        for n in osmium.FileProcessor(str(base), osmium.osm.NODE)
        if isinstance(n, osmium.osm.Node) and len(n.tags) and n.id not in in_ways
    }
    deleted = nearest_nodes(pois, NEAR_E, 1, first | second)[0]
    renamed = min((w for w in streets if not set(w[1]) & (first | second)), key=dist)
    v1 = tmp / "v1.osm.pbf"
    edit(base, v1, move=first, rename=renamed[0], add_at=NEAR_B, stamp="2026-10-07T09:00:00Z")
    v2 = tmp / "v2.osm.pbf"
    edit(v1, v2, move=second, retag=retagged, delete=deleted, stamp="2026-10-08T09:00:00Z")
    diffs = {4931: derive(base, v1, tmp / "4931.osc.gz"), 4932: derive(v1, v2, tmp / "4932.osc.gz")}
    states = {
        BASE_SEQ: base,
        4931: with_header(v1, tmp / "full-4931.osm.pbf", 4931),
        4932: with_header(v2, tmp / "full-4932.osm.pbf", 4932),
    }
    moved = {
        seq: {i: (locs[i][0] + SHIFT[0], locs[i][1] + SHIFT[1]) for i in ids}
        for seq, ids in ((4931, first), (4932, second))
    }
    return Replication(
        base=base,
        states=states,
        diffs=diffs,
        moved=moved,
        moved_from={i: locs[i] for i in first | second},
        renamed_way=renamed[0],
        renamed_way_nodes=[locs[r] for r in renamed[1]],
        retagged_relation=retagged,
        retagged_relation_nodes=[locs[n] for n in polygons[retagged]],
        deleted_node=(deleted, locs[deleted]),
        added_nodes=[(NEAR_B[0] + 0.0004 * i, NEAR_B[1]) for i in range(3)],
    )


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "fast.toml"
    path.write_text("[sources.acquire]\nattempts = 2\nbackoff_s = 0.01\ntimeout_s = 10.0\n")
    return path


@pytest.fixture
def env(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGICMIX_OSM_URL", server.url(PBF_PATH))
    monkeypatch.setenv("MAGICMIX_OSM_UPDATES_URL", server.url(UPDATES))


def serve_full(srv: FakeServer, body: bytes, *, md5_of: bytes | None = None) -> None:
    md5 = hashlib.md5(md5_of if md5_of is not None else body).hexdigest()
    srv.routes[PBF_PATH] = Resource(body)
    srv.routes[PBF_PATH + ".md5"] = Resource(f"{md5}  netherlands-latest.osm.pbf\n".encode())


def serve_updates(srv: FakeServer, latest: int, diffs: dict[int, bytes]) -> None:
    srv.routes[f"{UPDATES}/state.txt"] = Resource(geofabrik_state(latest), "text/plain")
    for seq, body in diffs.items():
        srv.routes[f"{UPDATES}/{sequence_path(seq, 'state.txt')}"] = Resource(
            geofabrik_state(seq), "text/plain"
        )
        srv.routes[f"{UPDATES}/{sequence_path(seq, 'osc.gz')}"] = Resource(body)


def acquire_cli(data: Path, config: Path) -> int:
    return main(["acquire", "--sources", "osm", "--data-dir", str(data), "--config", str(config)])


def first_download(srv: FakeServer, rep: Replication, data: Path, config: Path) -> None:
    """The cache as after the first night: the base file (sequence 4930) downloaded whole."""
    serve_full(srv, rep.base.read_bytes())
    assert acquire_cli(data, config) == 0
    manifest = read_manifest(data)
    assert manifest["changes"]["kind"] == "full"
    assert manifest["replication"]["sequence_number"] == BASE_SEQ


def read_manifest(data: Path) -> dict:
    return json.loads((data / "osm" / "manifest.json").read_text())


def cached(data: Path) -> Path:
    return data / "osm" / "netherlands-latest.osm.pbf"


def header_of(path: Path) -> dict[str, str]:
    reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    header = reader.header()
    out = {
        k: header.get(k)
        for k in (
            "osmosis_replication_base_url",
            "osmosis_replication_sequence_number",
            "osmosis_replication_timestamp",
        )
    }
    reader.close()
    return out


def same_objects(a: Path, b: Path) -> bool:
    """osmium diff: exit 0 when both files hold the same objects (type, id, version, data)."""
    done = subprocess.run(
        ["osmium", "diff", "-q", "--no-progress", str(a), str(b)], capture_output=True, check=False
    )
    return done.returncode == 0


def node_locations(path: Path, ids: set[int]) -> dict[int, tuple[float, float]]:
    return {
        n.id: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(path), osmium.osm.NODE)
        if isinstance(n, osmium.osm.Node) and n.id in ids
    }


def assert_locations(
    actual: dict[int, tuple[float, float]], expected: dict[int, tuple[float, float]]
) -> None:
    assert set(actual) == set(expected)
    for node_id, (x, y) in expected.items():
        assert actual[node_id] == pytest.approx((x, y), abs=1e-7), node_id


def in_boxes(point: tuple[float, float], boxes: list[list[float]]) -> bool:
    x, y = point
    return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)


def pbf_downloads(srv: FakeServer) -> int:
    return srv.count(PBF_PATH, 200)


# ---------------------------------------------------------------------------------------------


def test_one_diff_updates_the_cached_file_without_download(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    # a night later: the server has a new full file and diff 4931
    serve_full(server, replication.states[4931].read_bytes())
    serve_updates(server, 4931, {4931: replication.diffs[4931]})
    assert acquire_cli(data, fast_config) == 0

    assert pbf_downloads(server) == 1  # only the first night's
    assert server.count(f"{UPDATES}/000/004/931.osc.gz", 200) == 1
    header = header_of(cached(data))
    assert header["osmosis_replication_sequence_number"] == "4931"
    assert header["osmosis_replication_timestamp"] == TIMES[4931]
    assert header["osmosis_replication_base_url"] == server.url(UPDATES)
    assert same_objects(cached(data), replication.states[4931])
    moved = replication.moved[4931]
    assert_locations(node_locations(cached(data), set(moved)), moved)

    manifest = read_manifest(data)
    body = cached(data).read_bytes()
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
    entry = manifest["files"]["netherlands-latest.osm.pbf"]
    assert entry["sha256"] == manifest["sha256"]
    assert entry["md5"] == hashlib.md5(body).hexdigest()
    assert entry["size_bytes"] == len(body)
    assert manifest["version"] == TIMES[4931]
    assert manifest["replication"]["sequence_number"] == 4931
    assert manifest["replication"]["timestamp"] == TIMES[4931]
    changes = manifest["changes"]
    assert changes["kind"] == "diffs"
    assert changes["from"]["sequence_number"] == BASE_SEQ
    assert changes["to"] == {"sequence_number": 4931, "timestamp": TIMES[4931]}
    # 3 moved + 3 added nodes, 1 added + 1 renamed way
    assert changes["objects"] == {"nodes": 6, "ways": 2, "relations": 0}
    assert not list((data / "osm").glob(".osm-updates-*"))

    # the next night with nothing new: up to date, nothing touched, nothing downloaded
    assert acquire_cli(data, fast_config) == 0
    assert read_manifest(data)["changes"]["kind"] == "none"
    assert cached(data).read_bytes() == body
    assert pbf_downloads(server) == 1


def test_two_diffs_in_sequence_and_the_changed_area(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    serve_full(server, replication.states[4932].read_bytes())
    serve_updates(server, 4932, replication.diffs)
    assert acquire_cli(data, fast_config) == 0

    assert pbf_downloads(server) == 1
    assert header_of(cached(data))["osmosis_replication_sequence_number"] == "4932"
    assert same_objects(cached(data), replication.states[4932])
    moved = {**replication.moved[4931], **replication.moved[4932]}
    assert_locations(node_locations(cached(data), set(moved)), moved)

    changes = read_manifest(data)["changes"]
    assert changes["kind"] == "diffs"
    assert changes["sequences"] == [4931, 4932]
    boxes = changes["boxes"]
    everything_changed = [
        *moved.values(),
        *replication.moved_from.values(),
        *replication.renamed_way_nodes,
        *replication.added_nodes,
        *replication.retagged_relation_nodes,
        replication.deleted_node[1],
    ]
    assert node_locations(cached(data), {replication.deleted_node[0]}) == {}
    assert changes["objects"] == {"nodes": 9, "ways": 2, "relations": 1}
    for point in everything_changed:
        assert in_boxes(point, boxes), point
    assert not in_boxes(FAR_CORNER, boxes)
    # the boxes are tight: each is a row of 0.01-degree cells holding a changed location
    cells = sum(round((b[2] - b[0]) / changes["cell_deg"]) for b in boxes)
    assert cells <= len(everything_changed)

    # municipalities as extents: Delft's real boundary grown by the extract buffer, and a
    # made-up one in the far corner
    delft = read_boundary(SAMPLE / "cbs_gemeenten_2020_gm0503.gpkg")
    far = gpd.GeoSeries([shapely.Point(FAR_CORNER)], crs=4326).to_crs(28992).iloc[0]
    extents = extents_wgs84({"GM0503": delft, "GM9999": far.buffer(500)}, buffer_m=200)
    assert touched(changes, extents) == {"GM0503"}
    x, y = FAR_CORNER
    boxes_only = {"GM9999": (x - 0.02, y - 0.02, x + 0.02, y + 0.02)}
    assert touched(changes, boxes_only) == set()
    assert touched({"kind": "full"}, extents) == {"GM0503", "GM9999"}
    assert touched(None, extents) == {"GM0503", "GM9999"}
    assert touched({"kind": "none"}, extents) == set()


def test_up_to_date_after_a_download_and_a_file_that_moved_on_without_its_manifest(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    serve_updates(server, BASE_SEQ, {})
    assert acquire_cli(data, fast_config) == 0
    manifest = read_manifest(data)
    assert manifest["changes"]["kind"] == "none"
    assert manifest["sha256"] == hashlib.sha256(replication.base.read_bytes()).hexdigest()
    # a run killed after replacing the file but before writing the manifest: the next run
    # finds the file at 4931 while the manifest says 4930
    newer = replication.states[4931].read_bytes()
    cached(data).write_bytes(newer)
    serve_updates(server, 4931, {4931: replication.diffs[4931]})
    assert acquire_cli(data, fast_config) == 0
    manifest = read_manifest(data)
    assert manifest["changes"]["kind"] == "full"  # what changed is unknown
    assert manifest["sha256"] == hashlib.sha256(newer).hexdigest()
    assert manifest["replication"]["sequence_number"] == 4931
    assert server.count(f"{UPDATES}/000/004/931.osc.gz") == 0
    assert pbf_downloads(server) == 1


def test_changes_log_over_two_nights(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    serve_updates(server, 4931, {4931: replication.diffs[4931]})
    assert acquire_cli(data, fast_config) == 0
    serve_updates(server, 4932, replication.diffs)
    assert acquire_cli(data, fast_config) == 0
    assert acquire_cli(data, fast_config) == 0  # up to date: the log keeps its records
    manifest = read_manifest(data)
    assert manifest["changes"]["kind"] == "none"
    log = manifest["changes_log"]
    assert [r["kind"] for r in log] == ["full", "diffs", "diffs"]
    assert [r["to"]["sequence_number"] for r in log] == [4930, 4931, 4932]

    def around(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
        xs, ys = zip(*points, strict=True)
        return (min(xs) - 0.001, min(ys) - 0.001, max(xs) + 0.001, max(ys) + 0.001)

    # around the way added by diff 4931, and around the nodes moved by diff 4932
    extents = {
        "B": around(replication.added_nodes),
        "D": around(list(replication.moved[4932].values())),
    }
    # a consumer that ranked at 4930 missed both nights; one at 4931 only the second
    assert touched_since(log, 4930, extents) == {"B", "D"}
    assert touched_since(log, 4931, extents) == {"D"}
    assert touched_since(log, 4932, extents) == set()
    # unknown, older than the last full download, or beyond what the log remembers: all
    assert touched_since(log, None, extents) == {"B", "D"}
    assert touched_since(log, 4929, extents) == {"B", "D"}
    assert touched_since(log[-1:], 4930, extents) == {"B", "D"}
    # a record written before the boxes followed ways and relations (no reach) may miss an
    # extract that changed: it touches everything
    older = [{k: v for k, v in r.items() if k != "reach"} for r in log]
    assert touched_since(older, 4931, extents) == {"B", "D"}
    assert touched(older[-1], extents) == {"B", "D"}


def test_diffs_that_do_not_connect_fall_back_to_a_full_download(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    full = replication.states[4932].read_bytes()
    serve_full(server, full)
    # the server no longer has diff 4931 (Geofabrik keeps about three months of diffs)
    serve_updates(server, 4932, {4932: replication.diffs[4932]})
    assert acquire_cli(data, fast_config) == 0

    assert server.count(f"{UPDATES}/000/004/931.osc.gz", 404) >= 1
    assert pbf_downloads(server) == 2
    assert cached(data).read_bytes() == full
    manifest = read_manifest(data)
    assert manifest["changes"]["kind"] == "full"
    assert "diff 4931 not available" in manifest["changes"]["reason"]
    assert manifest["replication"]["sequence_number"] == 4932
    assert manifest["sha256"] == hashlib.sha256(full).hexdigest()
    assert not list((data / "osm").glob(".osm-updates-*"))


def test_a_file_months_behind_is_downloaded_not_patched(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    full = replication.states[4932].read_bytes()
    serve_full(server, full)
    # five months of daily diffs later
    latest = BASE_SEQ + 150
    server.routes[f"{UPDATES}/state.txt"] = Resource(
        geofabrik_state(latest, "2027-03-05T20:21:06Z"), "text/plain"
    )
    assert acquire_cli(data, fast_config) == 0
    assert not [h for h in server.hits if h.path.startswith(f"{UPDATES}/000/")]
    assert cached(data).read_bytes() == full
    changes = read_manifest(data)["changes"]
    assert changes["kind"] == "full" and "150 diffs behind" in changes["reason"]


def test_a_file_from_another_region_is_downloaded_not_patched(
    server: FakeServer, replication: Replication, tmp_path: Path, fast_config: Path, env: None
) -> None:
    data = tmp_path / "cache"
    belgium = with_header(
        replication.base,
        tmp_path / "be.osm.pbf",
        BASE_SEQ,
        "https://download.geofabrik.de/europe/belgium-updates",
    )
    serve_full(server, belgium.read_bytes())
    assert acquire_cli(data, fast_config) == 0
    full = replication.states[4931].read_bytes()
    serve_full(server, full)
    serve_updates(server, 4931, {4931: replication.diffs[4931]})
    assert acquire_cli(data, fast_config) == 0
    assert server.count(f"{UPDATES}/000/004/931.osc.gz") == 0
    assert cached(data).read_bytes() == full
    assert "belgium-updates" in read_manifest(data)["changes"]["reason"]


@pytest.mark.parametrize("damage", ["truncated", "not_gzip", "not_osmchange"])
def test_a_corrupt_diff_keeps_the_previous_file(
    server: FakeServer,
    replication: Replication,
    tmp_path: Path,
    fast_config: Path,
    env: None,
    damage: str,
) -> None:
    data = tmp_path / "cache"
    first_download(server, replication, data, fast_config)
    before = cached(data).read_bytes()
    manifest_before = read_manifest(data)
    good = replication.diffs[4931]
    bad = {
        "truncated": good[: len(good) // 2],
        "not_gzip": b"<html><body>502 Bad Gateway</body></html>",
        "not_osmchange": gzip.compress(b"<osmChange version='0.6'><modify><node id='x'"),
    }[damage]
    serve_updates(server, 4932, {4931: bad, 4932: replication.diffs[4932]})
    settings = load_settings(fast_config)
    policy = RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=10.0)
    with pytest.raises(UpdateError, match=r"diff 4931 .* is corrupt"):
        refresh_osm(
            DataCache.at(data), settings, session=make_session(), policy=policy, fallback=False
        )
    assert cached(data).read_bytes() == before
    assert read_manifest(data) == manifest_before
    assert not list((data / "osm").glob(".osm-updates-*"))

    # with the fallback the full download is tried; when that fails too (its checksum does not
    # match) the command exits 2 and the previous file is still there, untouched
    serve_full(server, replication.states[4932].read_bytes(), md5_of=b"another file")
    assert acquire_cli(data, fast_config) == 2
    assert cached(data).read_bytes() == before
    assert read_manifest(data) == manifest_before


def test_updates_url_from_config_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAGICMIX_OSM_UPDATES_URL", raising=False)
    settings = load_settings()
    assert updates_url(settings) == GEOFABRIK_UPDATES
    monkeypatch.setenv("MAGICMIX_OSM_UPDATES_URL", "http://127.0.0.1:9/nl-updates")
    assert updates_url(settings) == "http://127.0.0.1:9/nl-updates"


def test_state_file_format() -> None:
    state = parse_state(geofabrik_state(4932).decode(), "state.txt")
    assert state.sequence == 4932
    assert state.timestamp == datetime(2026, 10, 8, 20, 21, 11, tzinfo=UTC)
    assert sequence_path(4932, "osc.gz") == "000/004/932.osc.gz"
    assert sequence_path(1_234_567, "state.txt") == "001/234/567.state.txt"
    for text, problem in (
        ("<html>404</html>", "sequenceNumber missing"),
        ("sequenceNumber=12a\ntimestamp=2026-10-08T20\\:21\\:06Z", "not a number"),
        ("sequenceNumber=12\ntimestamp=yesterday", "timestamp"),
    ):
        with pytest.raises(SourceError, match=problem):
            parse_state(text, "http://127.0.0.1/state.txt")


def test_verification_of_an_updated_file(replication: Replication, tmp_path: Path) -> None:
    state = ReplicationState(4931, parse_timestamp(TIMES[4931], "test"))
    info = verify_pbf(replication.states[4931], state)
    assert info["data"]["count"]["nodes"] > 60_000
    with pytest.raises(UpdateError, match="header sequence '4930'"):
        verify_pbf(replication.base, state)
    # two nodes out of order, with the right header: not a valid data file
    opl = tmp_path / "unsorted.opl"
    opl.write_text("n20 v1 x4.37 y52.0\nn10 v1 x4.36 y52.0\n")
    unsorted = with_header(opl, tmp_path / "unsorted.osm.pbf", 4931)
    with pytest.raises(UpdateError, match="not sorted"):
        verify_pbf(unsorted, state)
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(replication.states[4931].read_bytes()[:50_000])
    with pytest.raises(UpdateError, match="does not parse"):
        verify_pbf(garbage, state)


def test_changed_locations_follow_old_ways_and_relations(replication: Replication) -> None:
    """Ids alone (no locations, no members from a diff) find the old geometry in the file."""

    def points(content: DiffContent) -> set[tuple[float, float]]:
        lons, lats = changed_locations(replication.base, content)
        return {(round(x, 7), round(y, 7)) for x, y in zip(lons, lats, strict=True)}

    def rounded(locs: list[tuple[float, float]]) -> set[tuple[float, float]]:
        return {(round(x, 7), round(y, 7)) for x, y in locs}

    way = DiffContent(ways={replication.renamed_way})
    assert points(way) == rounded(replication.renamed_way_nodes)
    relation = DiffContent(relations={replication.retagged_relation})
    assert points(relation) == rounded(replication.retagged_relation_nodes)
    node_id, location = replication.deleted_node
    assert points(DiffContent(nodes={node_id})) == rounded([location])
    assert points(DiffContent()) == set()


# ---------------------------------------------------------------------------------------------
# The reach of a change: which municipal extracts a diff alters. The extracts are cut by the
# OSM store (prepare/extracts.py: ``osmium extract --strategy smart``), which keeps ways
# whole and completes multipolygons, so a change outside an area can alter its extract. The
# ground truth is the store itself: every extract cut from the file before and after the diff.

EXTENT_SIDE_M = 50.0  # each extent: a square of this side around a node (EPSG:28992) ...
EXTENT_BUFFER_M = 25.0  # ... grown by this buffer, as the store grows a municipality
# the extents' margin to their 0.01-degree cell's edges (degrees lon, lat at 52 N), so that
# no other cell's box meets them: half the square + buffer + 20 m
INNER_DEG = (70.0 / 68_500.0, 70.0 / 111_200.0)
# an extent of the grid of extents is placed in every cell holding this many nodes
GRID_NODES = 100


@dataclass(frozen=True)
class Osm:
    """A PBF in memory: node locations, way node lists, relation members and types."""

    locs: dict[int, tuple[float, float]]
    ways: dict[int, list[int]]
    relations: dict[int, tuple[list[tuple[str, int]], str | None]]
    node_ways: dict[int, list[int]]  # node -> the ways that have it

    @classmethod
    def read(cls, path: Path) -> Osm:
        locs, ways, relations, node_ways = {}, {}, {}, {}
        for obj in osmium.FileProcessor(str(path)):
            if isinstance(obj, osmium.osm.Node):
                locs[obj.id] = (obj.location.lon, obj.location.lat)
            elif isinstance(obj, osmium.osm.Way):
                ways[obj.id] = [r.ref for r in obj.nodes]
                for ref in ways[obj.id]:
                    node_ways.setdefault(ref, []).append(obj.id)
            elif isinstance(obj, osmium.osm.Relation):
                members = [(m.type, m.ref) for m in obj.members]
                relations[obj.id] = (members, obj.tags.get("type"))
        return cls(locs, ways, relations, node_ways)

    def cells(self, nodes: Iterable[int]) -> set[tuple[int, int]]:
        return {cell_of(self.locs[n]) for n in nodes if n in self.locs}

    def anchors(self, rel: int) -> set[int]:
        """The nodes by which a relation enters an extract: node members, member ways' nodes."""
        members, _ = self.relations[rel]
        out = {ref for kind, ref in members if kind == "n" and ref in self.locs}
        for kind, ref in members:
            if kind == "w" and ref in self.ways:
                out.update(self.ways[ref])
        return out

    def below(self, rel: int) -> set[int]:
        """``rel`` and the relations below it (member relations, recursively)."""
        out, todo = set(), [rel]
        while todo:
            current = todo.pop()
            if current in out or current not in self.relations:
                continue
            out.add(current)
            todo.extend(ref for kind, ref in self.relations[current][0] if kind == "r")
        return out

    def moved_cells(self, node: int) -> set[tuple[int, int]]:
        """The cells of a moved node's old and new location (what the record covered before)."""
        return {cell_of(self.locs[node]), cell_of(shifted(self.locs[node]))}


@dataclass(frozen=True)
class Reach:
    before: Path  # the sample (renumbered) with a replication header, sequence 4930
    after: Path  # the same after diff 4931
    diff: bytes
    areas: dict[str, BaseGeometry]  # EPSG:28992
    # cells of the changed objects' own locations (what the record covered before)
    own_cells: set[tuple[int, int]]
    # extents a cell or more away from every node any changed object reaches
    far: set[str]


def cell_of(loc: tuple[float, float]) -> tuple[int, int]:
    return (math.floor(loc[0] / CELL_DEG), math.floor(loc[1] / CELL_DEG))


def shifted(loc: tuple[float, float]) -> tuple[float, float]:
    return (loc[0] + SHIFT[0], loc[1] + SHIFT[1])


def inner(loc: tuple[float, float]) -> bool:
    """Whether an extent around ``loc`` stays well inside ``loc``'s cell."""
    cx, cy = cell_of(loc)
    dx = min(loc[0] - cx * CELL_DEG, (cx + 1) * CELL_DEG - loc[0])
    dy = min(loc[1] - cy * CELL_DEG, (cy + 1) * CELL_DEG - loc[1])
    return dx > INNER_DEG[0] and dy > INNER_DEG[1]


def square_rd(loc: tuple[float, float]) -> BaseGeometry:
    point = gpd.GeoSeries([shapely.Point(loc)], crs=4326).to_crs(28992).iloc[0]
    return point.buffer(EXTENT_SIDE_M / 2, cap_style="square")


Cells = set[tuple[int, int]]


def pick_way_into(osm: Osm, avoid: Cells, mp_nodes: set[int]) -> tuple[int, int]:
    """(a node inside A, the node moved): a way in no multipolygon with a node well inside a
    cell and another node, in no multipolygon, in another cell before and after the move."""
    for refs in (osm.ways[w] for w in sorted(osm.ways)):
        for p in (n for n in refs if inner(osm.locs[n]) and cell_of(osm.locs[n]) not in avoid):
            home = cell_of(osm.locs[p])
            for x in (n for n in refs if n not in mp_nodes):
                if home not in osm.moved_cells(x) and not osm.moved_cells(x) & avoid:
                    return p, x
    raise AssertionError("no way of the sample crosses a cell edge")


def pick_far_member(osm: Osm, avoid: Cells, multipolygons: list[int]) -> tuple[int, int]:
    """(a node inside C, the node moved): the moved node is on a member way of a multipolygon
    with another member way inside C, and no way that has the moved node comes near C."""
    for rel in multipolygons:
        members = [ref for kind, ref in osm.relations[rel][0] if kind == "w" and ref in osm.ways]
        for w1, w2 in ((a, b) for a in members for b in members if a != b):
            homes = {cell_of(osm.locs[n]): n for n in osm.ways[w1] if inner(osm.locs[n])}
            for y in (n for n in osm.ways[w2] if n not in osm.ways[w1]):
                if osm.moved_cells(y) & avoid:
                    continue
                near = osm.moved_cells(y) | osm.cells(
                    n for w in osm.node_ways[y] for n in osm.ways[w]
                )
                for home in sorted(set(homes) - near - avoid):
                    return homes[home], y
    raise AssertionError("no multipolygon of the sample has member ways cells apart")


def pick_super_relation(osm: Osm, avoid: Cells) -> tuple[int, int]:
    """(a node inside D, the relation retagged): of the relations with member relations and
    members away from ``avoid``, the one reaching the fewest cells, and a node of a relation
    below it, away from its own members."""
    best: tuple[int, int, int] | None = None
    for rel in sorted(osm.relations):
        below = osm.below(rel) - {rel}
        own = osm.cells(osm.anchors(rel))
        if not below or own & avoid:
            continue
        reach = set().union(*(osm.anchors(d) for d in below))
        inside = sorted(
            n for n in reach if inner(osm.locs[n]) and cell_of(osm.locs[n]) not in own | avoid
        )
        if inside and (best is None or len(osm.cells(reach)) < best[0]):
            best = (len(osm.cells(reach)), inside[0], rel)
    assert best is not None, "no relation of the sample has member relations"
    return best[1], best[2]


def reached_cells(osm: Osm, moved: set[int], retagged: int) -> Cells:
    """Every cell from which an extract holds a changed object (a superset: relations of any
    type are completed here)."""
    nodes = set(moved)
    for node in moved:
        ways = osm.node_ways.get(node, [])
        nodes.update(n for w in ways for n in osm.ways[w])
        refs = {("n", node), *(("w", w) for w in ways)}
        for rel, (members, _) in osm.relations.items():
            if refs & set(members):
                nodes |= osm.anchors(rel)
    for rel in osm.below(retagged):
        nodes |= osm.anchors(rel)
    return osm.cells(nodes) | set().union(*(osm.moved_cells(n) for n in moved))


@pytest.fixture(scope="module")
def reach(tmp_path_factory: pytest.TempPathFactory) -> Reach:
    tmp = tmp_path_factory.mktemp("reach")
    # dense ids keep osmium's id sets small (the extracts of ~40 areas are cut twice)
    dense = tmp / "dense.osm.pbf"
    sample = SAMPLE / "tudelft.osm.pbf"
    subprocess.run(
        ["osmium", "renumber", "--no-progress", "-O", "-o", str(dense), str(sample)], check=True
    )
    before = with_header(dense, tmp / "before.osm.pbf", BASE_SEQ)
    osm = Osm.read(before)
    multipolygons = sorted(r for r, (_, kind) in osm.relations.items() if kind == "multipolygon")
    mp_nodes = set().union(*(osm.anchors(r) for r in multipolygons))
    # each case's extent lies away from the other cases' changed objects, and the reverse
    in_c, moved_c = pick_far_member(osm, set(), multipolygons)
    avoid = {cell_of(osm.locs[in_c])} | osm.moved_cells(moved_c)
    in_a, moved_a = pick_way_into(osm, avoid, mp_nodes)
    avoid |= {cell_of(osm.locs[in_a])} | osm.moved_cells(moved_a)
    in_d, retagged = pick_super_relation(osm, avoid)
    v1 = tmp / "v1.osm.pbf"
    edit(before, v1, move={moved_a, moved_c}, retag=retagged, stamp="2026-10-07T09:00:00Z")
    diff = derive(before, v1, tmp / "4931.osc.gz")
    after = with_header(v1, tmp / "after.osm.pbf", 4931)

    own = osm.moved_cells(moved_a) | osm.moved_cells(moved_c) | osm.cells(osm.anchors(retagged))
    reached = reached_cells(osm, {moved_a, moved_c}, retagged)
    by_cell: dict[tuple[int, int], list[int]] = {}
    for node, loc in osm.locs.items():
        by_cell.setdefault(cell_of(loc), []).append(node)
    areas = {k: square_rd(osm.locs[n]) for k, n in (("A", in_a), ("C", in_c), ("D", in_d))}
    far = set()
    for cell, nodes in sorted(by_cell.items()):
        centre = ((cell[0] + 0.5) * CELL_DEG, (cell[1] + 0.5) * CELL_DEG)
        near = min(nodes, key=lambda n: math.dist(osm.locs[n], centre))
        if len(nodes) < GRID_NODES or not inner(osm.locs[near]):
            continue
        key = f"G{cell[0]}_{cell[1]}"
        areas[key] = square_rd(osm.locs[near])
        if not {(cell[0] + i, cell[1] + j) for i in (-1, 0, 1) for j in (-1, 0, 1)} & reached:
            far.add(key)
    return Reach(before, after, diff, areas, own, far)


def cut_extracts(source: Path, areas: dict[str, BaseGeometry], store: Path) -> dict[str, Path]:
    """Every area's ``osmium extract --strategy smart`` extract of the store's polygon."""
    return {
        key: smart_extract(source, extract_polygon(area, EXTENT_BUFFER_M), store / f"{key}.pbf")
        for key, area in areas.items()
    }


def cut_slices(source: Path, areas: dict[str, BaseGeometry], store: Path) -> dict[str, Path]:
    """Every area's slice as the OSM store cuts it."""
    extents = [Extent(key, area) for key, area in areas.items()]
    keys = reader_keys(load_settings())
    return dict(slice_areas(source, extents, EXTENT_BUFFER_M, store, keys).paths)


def test_the_changes_record_reaches_every_extract_a_diff_alters(
    server: FakeServer, reach: Reach, tmp_path: Path, fast_config: Path, env: None
) -> None:
    """A node moved outside A on a way into A, a node moved far from C on a member way of a
    multipolygon with another member way in C, a relation retagged whose member relations'
    ways are in D: A, C and D's extracts change, and the record says they are touched."""
    polygons = {k: extract_polygon(a, EXTENT_BUFFER_M) for k, a in reach.areas.items()}
    for key, polygon in polygons.items():  # each extent well inside one 0.01-degree cell
        assert len({cell_of((x, y)) for x, y in shapely.get_coordinates(polygon)}) == 1, key
    # the scenario: the changed objects' own locations are nowhere near A, C or D
    centres = np.array([((x + 0.5) * CELL_DEG, (y + 0.5) * CELL_DEG) for x, y in reach.own_cells])
    own = {"kind": "diffs", "reach": REACH, "boxes": cell_boxes(centres[:, 0], centres[:, 1])}
    assert touched(own, {k: polygons[k] for k in "ACD"}) == set()
    assert len(reach.far) >= 3

    data = tmp_path / "cache"
    serve_full(server, reach.before.read_bytes())
    assert acquire_cli(data, fast_config) == 0
    serve_updates(server, 4931, {4931: reach.diff})
    assert acquire_cli(data, fast_config) == 0
    assert pbf_downloads(server) == 1
    assert same_objects(cached(data), reach.after)
    changes = read_manifest(data)["changes"]
    assert changes["kind"] == "diffs" and changes["reach"] == REACH
    said = touched(changes, polygons)

    old = cut_extracts(reach.before, reach.areas, tmp_path / "store-before")
    new = cut_extracts(cached(data), reach.areas, tmp_path / "store-after")
    altered = {k for k in reach.areas if old[k].read_bytes() != new[k].read_bytes()}
    assert altered == {k for k in reach.areas if not same_objects(old[k], new[k])}
    assert {"A", "C", "D"} <= altered
    assert altered <= said
    assert reach.far and not reach.far & altered
    assert not reach.far & said  # not everything: the far extents are untouched
    # the store's slices hold some of each extract's objects: none changes unsaid (A's way
    # and C's multipolygon are read; D's retagged relation is not)
    old = cut_slices(reach.before, reach.areas, tmp_path / "slices-before")
    new = cut_slices(cached(data), reach.areas, tmp_path / "slices-after")
    altered_slices = {k for k in reach.areas if old[k].read_bytes() != new[k].read_bytes()}
    assert {"A", "C"} <= altered_slices <= said
