"""The OSM store on a file with real, sparse OSM ids (node ids up to 1.3e10).

osmium extract needs ~3.5 GB per extract at such ids (bench/README.md), so within a memory
budget the store renumbers the file to dense ids first and cuts its regions in few passes;
the regions' files carry renumbered ids, which their parse maps back to OSM's, so every
slice holds OSM's own ids.

Data: six islands, each a moved copy of the real Delft sample's core with its real id
distribution (tests/_islands.py, ``sparse_ids``), one small municipality per island, one region
per island (forced). The memory budget is forced down so that the file as it is allows one
region per pass (six passes) and the renumbered file two (three passes).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import (
    Extent,
    ExtractRun,
    extract_bytes,
    slice_areas,
    source_facts,
)
from magicmix_geo.prepare.osm import read_osm_for, reader_keys
from tests._islands import Core, load_core, moved_area, write_islands

COPIES = 6
SHIFTS = [(0.4 * (k % 3), 0.25 * (k // 3)) for k in range(COPIES)]
SQUARE_DEG = 0.006
BUFFER_M = 300.0
KEYS = [f"GM99{k:02d}" for k in range(COPIES)]
# the id of a node new to the file but older than its others (it came in from outside)
OLD_NEW_NODE = 1000


@pytest.fixture(scope="module")
def islands(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Core]:
    work = tmp_path_factory.mktemp("sparse")
    core = load_core(work, real_ids=True)
    write_islands(work / "country.osm.pbf", core, SHIFTS, sparse_ids=True)
    return work, core


def extents(core: Core) -> list[Extent]:
    squares = [moved_area(core, shift, SQUARE_DEG) for shift in SHIFTS]
    rd = gpd.GeoSeries(squares, crs=4326).to_crs(28992)
    return [Extent(key, area) for key, area in zip(KEYS, rd, strict=True)]


def budget(source: Path, store: Path) -> int:
    """Room for two extracts of the renumbered file: one of the file as it is won't fit."""
    facts = source_facts(source, store)
    return 2 * extract_bytes(facts["nodes"] + 1000, facts["ways"] + 1000)


def cut(source: Path, store: Path, core: Core, memory: int, regions: int = COPIES) -> ExtractRun:
    keys = reader_keys(load_settings())
    return slice_areas(
        source, extents(core), BUFFER_M, store, keys, memory_bytes=memory, regions=regions
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def max_node_id(path: Path) -> int:
    done = subprocess.run(
        ["osmium", "fileinfo", "-e", "-g", "data.maxid.nodes", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


@pytest.fixture(scope="module")
def first(islands: tuple[Path, Core]) -> tuple[ExtractRun, dict[str, str]]:
    work, core = islands
    source, store = work / "country.osm.pbf", work / "store"
    run = cut(source, store, core, budget(source, store))
    return run, {key: digest(path) for key, path in run.paths.items()}


def test_sparse_ids_are_renumbered_and_cut_in_three_passes(
    islands: tuple[Path, Core], osmium_calls: list[list[str]]
) -> None:
    work, core = islands
    source, store = work / "country.osm.pbf", work / "calls-store"
    assert max_node_id(source) > 13 * 10**9  # real ids: OSM's highest node id of the sample
    memory = budget(source, store)
    assert memory < extract_bytes(max_node_id(source), 0)  # as it is: one region per pass
    osmium_calls.clear()
    run = cut(source, store, core, memory)
    assert run.renumbered and run.passes == 3 and run.regions == COPIES
    assert run.parses == COPIES and sorted(run.cut) == KEYS
    tools = [c[1] for c in osmium_calls if Path(c[0]).name == "osmium"]
    # renumber; getid reads the renumbered copy for the objects that may be out of order
    # (here only nodes and ways referenced but not in the file: nothing to move); 3 passes
    assert tools == ["renumber", "getid", "extract", "extract", "extract"]
    # the source is read by renumber only (once: relations are not renumbered)
    assert sum(str(source) in c for c in osmium_calls) == 1
    # the slices hold OSM's ids, with nothing beside them to map ids back
    settings = load_settings()
    for path in run.paths.values():
        osm = read_osm_for(path, settings)
        assert osm.walk.node_ids.max() > 2**25 and (osm.features["osm_id"] > 2**25).any()
    assert not list(store.glob("*/GM*.ids.json"))


def test_parsed_whole_the_slices_are_byte_identical(
    islands: tuple[Path, Core],
    first: tuple[ExtractRun, dict[str, str]],
    osmium_calls: list[list[str]],
) -> None:
    """Parsed whole (no regions: no osmium pass, no renumbering), the real file gives the
    same slices, byte for byte, as through the renumbered regions, so the nightly byte
    identity holds whichever way the store goes."""
    work, core = islands
    _, want = first
    source, store = work / "country.osm.pbf", work / "whole-store"
    osmium_calls.clear()
    run = cut(source, store, core, budget(source, store), regions=0)
    assert not run.renumbered and run.regions == 0 and run.passes == 0 and run.parses == 1
    assert {key: digest(path) for key, path in run.paths.items()} == want
    assert not osmium_calls  # the file is declared sorted: its facts come from a few blocks


def _nightly(work: Path, core: Core) -> Path:
    """The next night's file: a footway on island 1 deleted; a new footway on island 1 with
    two new nodes (ids above every other) and one node new to the file with a low id."""
    night = work / "night.osm.pbf"
    write_islands(night, core, SHIFTS, drop_street_of=1, sparse_ids=True)
    facts = source_facts(night, work / "facts")
    c = moved_area(core, SHIFTS[1], SQUARE_DEG).centroid
    n1, n2, w1 = facts["max_node_id"] + 1, facts["max_node_id"] + 2, facts["max_way_id"] + 1
    opl = work / "new.opl"
    opl.write_text(
        f"n{OLD_NEW_NODE} v1 x{c.x - 0.001:.7f} y{c.y:.7f}\n"
        f"n{n1} v1 x{c.x:.7f} y{c.y:.7f}\n"
        f"n{n2} v1 x{c.x + 0.001:.7f} y{c.y + 0.0005:.7f}\n"
        f"w{w1} v1 Thighway=footway Nn{OLD_NEW_NODE},n{n1},n{n2}\n",
        encoding="utf-8",
    )
    merged = work / "country-night.osm.pbf"
    subprocess.run(
        ["osmium", "merge", "-O", "-o", str(merged), str(night), str(opl)],
        check=True,
        capture_output=True,
    )
    return merged


def test_a_nightly_change_leaves_the_other_slices_byte_identical(
    islands: tuple[Path, Core],
    first: tuple[ExtractRun, dict[str, str]],
    osmium_calls: list[list[str]],
) -> None:
    work, core = islands
    _, before = first
    store = work / "store"
    source = work / "country.osm.pbf"
    _nightly(work, core).replace(source)
    memory = budget(source, store)
    osmium_calls.clear()
    after = cut(source, store, core, memory)
    assert after.renumbered and after.passes == 3 and sorted(after.cut) == KEYS
    # known objects kept their renumbered ids, and their order: only the changed island's
    # slice differs
    changed = {key for key, path in after.paths.items() if digest(path) != before[key]}
    assert changed == {KEYS[1]}
    tools = [c[1] for c in osmium_calls if Path(c[0]).name == "osmium"]
    # the node new to the file with a low id is renumbered past the others: it is moved to
    # its place (getid, sort, removeid, merge) so that the copy is in id order for extract
    assert tools == ["renumber", "getid", "sort", "removeid", "merge", *["extract"] * 3]
    # the new footway is read with its real ids, though renumbered past all others
    osm = read_osm_for(after.paths[KEYS[1]], load_settings())
    facts = source_facts(source, store)
    (new_way,) = np.flatnonzero(osm.walk.way_ids == facts["max_way_id"])
    refs = osm.walk.node_ids[osm.walk.offsets[new_way] : osm.walk.offsets[new_way + 1]]
    assert refs.tolist() == [OLD_NEW_NODE, facts["max_node_id"] - 1, facts["max_node_id"]]
    # a second run of the same night reuses every slice: no renumbering, no pass
    again = cut(source, store, core, budget(source, store))
    assert again.passes == 0 and not again.renumbered and sorted(again.reused) == KEYS


def test_slices_outlive_a_lost_index(islands: tuple[Path, Core]) -> None:
    """The slices hold OSM's ids: deleting the renumbering index by hand leaves them whole,
    and the next version's cut builds a new index."""
    work, core = islands
    source, store = work / "country.osm.pbf", work / "store"
    shutil.rmtree(store / ".ids")
    again = cut(source, store, core, budget(source, store))
    assert sorted(again.reused) == KEYS
    osm = read_osm_for(again.paths[KEYS[0]], load_settings())
    assert (osm.features["osm_id"] > 2**25).any()
    write_islands(source, core, SHIFTS, sparse_ids=True)  # another version of the file
    fresh = cut(source, store, core, budget(source, store))
    assert fresh.renumbered and sorted(fresh.cut) == KEYS and (store / ".ids").is_dir()
