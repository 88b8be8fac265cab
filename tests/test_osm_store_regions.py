"""The OSM store through regions: a municipality's slice parsed from its region's file is the
same, byte for byte, as from the whole file, reads as the smart extract cut alone, and the
source is read by one osmium pass, each region's file parsed once.

Data: six islands, each a moved copy of the real Delft sample's core (tests/_islands.py);
three touching municipalities on island 0 (squares side by side) and one on each other
island. Added to the file: a ferry way from island 0 to island 5, a multipolygon whose two
outer rings lie on island 0 and island 4, and a relation holding that multipolygon, so that
a municipality's extract reaches into other regions (complete ways, multipolygon members,
parent relations of the smart strategy).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import Extent, ExtractRun, extract_polygon, slice_areas
from magicmix_geo.prepare.osm import read_osm_for, reader_keys
from magicmix_geo.prepare.regions import (
    REGION_MARGIN_DEG,
    SLICE_REGION_NODES,
    group_by_position,
    osmium_area,
    plan_slice_regions,
    region_box,
    region_outline,
)
from tests._islands import Core, load_core, moved_area, write_islands

SHIFTS = [(0.4 * (k % 3), 0.25 * (k // 3)) for k in range(6)]
SQUARE_DEG = 0.006
BUFFER_M = 100.0
# island 0: three squares side by side (west, middle, east); islands 1-5: one square each
KEYS = [f"GM99{k:02d}" for k in range(8)]
REGIONS = 3


def areas(core: Core) -> dict[str, BaseGeometry]:
    """Each municipality's square, WGS84."""
    square = moved_area(core, SHIFTS[0], SQUARE_DEG)
    squares = [affinity.translate(square, dx * SQUARE_DEG, 0) for dx in (-1, 0, 1)]
    squares += [moved_area(core, shift, SQUARE_DEG) for shift in SHIFTS[1:]]
    return dict(zip(KEYS, squares, strict=True))


def extents(core: Core) -> list[Extent]:
    squares = areas(core)
    rd = gpd.GeoSeries(list(squares.values()), crs=4326).to_crs(28992)
    return [Extent(key, area) for key, area in zip(squares, rd, strict=True)]


def _max_ids(path: Path) -> dict[str, int]:
    done = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", str(path)], check=True, capture_output=True, text=True
    )
    maxid = json.loads(done.stdout)["data"]["maxid"]
    return {kind: int(maxid[f"{kind}s"]) for kind in ("node", "way", "relation")}


def _ring(first_id: int, centre: tuple[float, float], size: float) -> tuple[list[str], list[int]]:
    """Four OPL nodes around ``centre`` and the ids of a closed ring over them."""
    x, y = centre
    corners = [(x - size, y - size), (x + size, y - size), (x + size, y + size), (x - size, y)]
    ids = [first_id + i for i in range(4)]
    lines = [f"n{i} v1 x{cx:.7f} y{cy:.7f}" for i, (cx, cy) in zip(ids, corners, strict=True)]
    return lines, [*ids, ids[0]]


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Core, dict[str, int]]:
    """The islands file with the objects that cross regions; their ids by name."""
    work = tmp_path_factory.mktemp("regions")
    core = load_core(work)
    plain = work / "plain.osm.pbf"
    write_islands(plain, core, SHIFTS)
    top = _max_ids(plain)
    node, way, rel = top["node"] + 1, top["way"] + 1, top["relation"] + 1
    squares = areas(core)
    west, far4, far5 = (squares[k].centroid for k in ("GM9900", "GM9906", "GM9907"))
    ferry = [node, node + 1, node + 2]
    lines = [
        f"n{ferry[0]} v1 x{west.x:.7f} y{west.y:.7f}",
        f"n{ferry[1]} v1 x{(west.x + far5.x) / 2:.7f} y{(west.y + far5.y) / 2:.7f}",
        f"n{ferry[2]} v1 x{far5.x:.7f} y{far5.y:.7f}",
    ]
    ring_a, refs_a = _ring(node + 3, (west.x, west.y), 0.0005)
    ring_b, refs_b = _ring(node + 7, (far4.x, far4.y), 0.0005)
    lines += ring_a + ring_b
    ids = {
        "ferry": way,
        "ring_a": way + 1,
        "ring_b": way + 2,
        "ring_b_node": refs_b[0],
        "ferry_far_node": ferry[2],
        "multipolygon": rel,
        "parent": rel + 1,
    }
    lines += [
        f"w{way} v1 Troute=ferry Nn{',n'.join(map(str, ferry))}",
        f"w{way + 1} v1 T Nn{',n'.join(map(str, refs_a))}",
        f"w{way + 2} v1 T Nn{',n'.join(map(str, refs_b))}",
        f"r{rel} v1 Ttype=multipolygon,landuse=grass Mw{way + 1}@outer,w{way + 2}@outer",
        f"r{rel + 1} v1 Ttype=site Mr{rel}@",
    ]
    opl = work / "crossing.opl"
    opl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = work / "country.osm.pbf"
    subprocess.run(
        ["osmium", "merge", "-O", "-o", str(source), str(plain), str(opl)],
        check=True,
        capture_output=True,
    )
    return source, core, ids


def run_store(source: Path, core: Core, store: Path, regions: int | None) -> ExtractRun:
    keys = reader_keys(load_settings())
    return slice_areas(source, extents(core), BUFFER_M, store, keys, regions=regions)


@pytest.fixture(scope="module")
def split_run(
    country: tuple[Path, Core, dict[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> ExtractRun:
    source, core, _ = country
    return run_store(source, core, tmp_path_factory.mktemp("split-store"), REGIONS)


def test_touching_municipalities_fall_in_different_regions(
    country: tuple[Path, Core, dict[str, int]],
) -> None:
    """The layout the next tests rely on: a region edge runs between touching squares."""
    _, core, _ = country
    polygons = {e.key: extract_polygon(e.area, BUFFER_M) for e in extents(core)}
    plan = plan_slice_regions(polygons, 1, REGIONS)
    region_of = {key: region.key for region in plan for key in region.members}
    island0 = [region_of[k] for k in ("GM9900", "GM9901", "GM9902")]
    assert len(set(island0)) > 1
    assert region_of["GM9900"] not in {region_of["GM9906"], region_of["GM9907"]}


def test_every_slice_equals_the_slice_of_the_whole_file(
    country: tuple[Path, Core, dict[str, int]], split_run: ExtractRun, tmp_path: Path
) -> None:
    source, core, ids = country
    assert split_run.regions == REGIONS and sorted(split_run.cut) == KEYS
    whole = run_store(source, core, tmp_path, 0)
    assert whole.regions == 0 and whole.passes == 0 and whole.parses == 1
    for key in KEYS:
        got, want = split_run.paths[key], whole.paths[key]
        assert got.read_bytes() == want.read_bytes(), key
    # the cross-region multipolygon is whole in the west square's slice: its ring on island 4
    # came with it (its region's file is a smart extract), and it is not in a square it
    # does not touch
    settings = load_settings()
    west = read_osm_for(split_run.paths["GM9900"], settings).features
    rows = west.loc[(west["osm_type"] == "relation") & (west["osm_id"] == ids["multipolygon"])]
    assert len(rows) == 1 and len(rows.geometry.iloc[0].geoms) == 2
    far = read_osm_for(split_run.paths["GM9903"], settings).features
    assert not ((far["osm_type"] == "relation") & (far["osm_id"] == ids["multipolygon"])).any()


def test_the_source_is_read_by_one_pass_and_each_region_parsed_once(
    country: tuple[Path, Core, dict[str, int]],
    osmium_calls: list[list[str]],
    tmp_path: Path,
) -> None:
    source, core, _ = country
    store = tmp_path / "store"
    run = run_store(source, core, store, REGIONS)
    assert run.passes == 1 and run.regions == REGIONS and run.parses == REGIONS
    # one extract pass over the source (plus fileinfo's read for the source's facts: osmium
    # merge does not declare the file sorted, so its highest ids are not in a few blocks),
    # and no other osmium pass: the regions' files are parsed, not cut again
    osmium = [c for c in osmium_calls if c[0] == "osmium"]
    assert [c[1] for c in osmium] == ["fileinfo", "extract"] and osmium[-1][-1] == str(source)
    # each region's file parsed by its own program (prepare/slice_jobs.py), one each
    programs = [c for c in osmium_calls if c[1:3] == ["-m", "magicmix_geo.prepare.slice_jobs"]]
    assert len(programs) == REGIONS
    # region files are temporary
    assert not list(store.glob("*/.regions.*"))
    assert sorted(p.name.split("-")[0] for p in store.glob("*/GM*")) == KEYS


def test_a_small_file_is_parsed_whole_without_osmium(
    country: tuple[Path, Core, dict[str, int]], osmium_calls: list[list[str]], tmp_path: Path
) -> None:
    source, core, _ = country
    run = run_store(source, core, tmp_path, None)
    assert run.regions == 0 and run.passes == 0 and run.parses == 1
    assert [c[1] for c in osmium_calls if c[0] == "osmium"] == ["fileinfo"]
    again = run_store(source, core, tmp_path, None)  # the same version: every slice reused
    assert again.parses == 0 and sorted(again.reused) == KEYS


def test_regions_hold_about_a_fixed_number_of_nodes() -> None:
    corners = {f"GM{k:04d}": (4 + k % 20 * 0.1, 51 + k // 20 * 0.1) for k in range(342)}
    polygons = {key: box(x, y, x + 0.1, y + 0.1) for key, (x, y) in corners.items()}
    assert plan_slice_regions(polygons, SLICE_REGION_NODES) == []  # parsed whole
    national = plan_slice_regions(polygons, 100_000_000, parallel=2)
    assert len(national) % 2 == 0
    assert 100_000_000 / len(national) <= SLICE_REGION_NODES < 100_000_000 / (len(national) - 2)
    assert sorted(k for r in national for k in r.members) == sorted(polygons)
    one = plan_slice_regions({"GM0001": polygons["GM0001"]}, 100_000_000)
    assert [r.members for r in one] == [("GM0001",)]  # a municipality of the national file


def test_groups_are_balanced_neighbourhoods() -> None:
    centres = {f"k{i:03d}": (4.0 + 0.1 * (i % 10), 52.0 + 0.1 * (i // 10)) for i in range(100)}
    groups = group_by_position(centres, 4)
    assert sorted(k for g in groups for k in g) == sorted(centres)
    assert sorted(len(g) for g in groups) == [25, 25, 25, 25]
    boxes = [
        box(*gpd.GeoSeries([box(*centres[k], *centres[k]) for k in g]).total_bounds) for g in groups
    ]
    # quadrants: no group's box overlaps another's
    assert all(a.intersection(b).area == 0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert group_by_position(centres, 4) == groups  # deterministic


def test_a_region_outline_covers_its_members_with_a_margin_and_not_their_box() -> None:
    """An L of two members: the outline holds both with the margin, on OSM's 1e-7 grid, and
    leaves out most of the box's empty corner."""
    members = [box(4.1, 52.0, 4.2, 52.1), box(4.1, 52.0, 4.4, 52.03)]
    outline = region_outline(members)
    grown = shapely.buffer(shapely.union_all(members), REGION_MARGIN_DEG)
    assert shapely.covers(outline, grown)
    coordinates = shapely.get_coordinates(outline)
    assert np.array_equal(np.round(coordinates, 7), coordinates)
    corner = box(4.2 + 0.01, 52.03 + 0.01, 4.4, 52.1)  # the empty corner, less 0.01 degrees
    assert not outline.intersects(corner)
    assert outline.area < 0.6 * box(*region_box(members)).area


def test_a_region_of_two_islands_is_cut_as_two_parts(
    country: tuple[Path, Core, dict[str, int]], tmp_path: Path
) -> None:
    """Islands 1 and 3 lie diagonally apart: their box holds islands 0 and 4 as well, their
    outline only them; osmium takes the outline from its config file and cuts by it."""
    source, core, _ = country
    squares = [moved_area(core, SHIFTS[k], SQUARE_DEG) for k in (1, 3)]
    members = [extract_polygon(g, BUFFER_M) for g in gpd.GeoSeries(squares, crs=4326).to_crs(28992)]
    outline = region_outline(members)
    assert len(outline.geoms) == 2
    area = osmium_area(outline)
    assert [len(polygon) for polygon in area["multipolygon"]] == [1, 1]  # outer rings, no hole
    assert all(ring[0] == ring[-1] for polygon in area["multipolygon"] for ring in polygon)
    config = tmp_path / "config.json"
    extract = {"output": "region.osm.pbf", **area}
    config.write_text(json.dumps({"directory": str(tmp_path), "extracts": [extract]}))
    subprocess.run(
        ["osmium", "extract", "-c", str(config), "-s", "smart", str(source)],
        check=True,
        capture_output=True,
    )
    cut = tmp_path / "region.osm.pbf"
    nodes = [n.location for n in osmium.FileProcessor(str(cut), osmium.osm.NODE)]
    islands = [moved_area(core, shift, 3 * SQUARE_DEG).buffer(0.05) for shift in SHIFTS]
    found = {
        k for k, island in enumerate(islands) for n in nodes if island.contains(Point(n.lon, n.lat))
    }
    assert found == {1, 3}
