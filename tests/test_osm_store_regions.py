"""The OSM store through regions: a municipality's extract cut from its region's file is the
same, byte for byte, as cut alone from the source, and the source is read by one extract
pass, each region's file by one.

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
import osmium
import pytest
from shapely import affinity
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from magicmix_geo.prepare.extracts import Extent, ExtractRun, extract_areas, extract_polygon
from magicmix_geo.prepare.regions import (
    REGION_MARGIN_DEG,
    best_region_count,
    group_by_position,
    plan_regions,
    region_box,
    single_cost,
    split_cost,
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


def objects(path: Path) -> set[str]:
    return {f"{o.type_str()}{o.id}" for o in osmium.FileProcessor(str(path))}


@pytest.fixture(scope="module")
def split_run(
    country: tuple[Path, Core, dict[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> ExtractRun:
    source, core, _ = country
    store = tmp_path_factory.mktemp("split-store")
    return extract_areas(source, extents(core), BUFFER_M, store, regions=REGIONS)


def test_touching_municipalities_fall_in_different_regions(
    country: tuple[Path, Core, dict[str, int]],
) -> None:
    """The layout the next tests rely on: a region edge runs between touching squares."""
    _, core, _ = country
    polygons = {e.key: extract_polygon(e.area, BUFFER_M) for e in extents(core)}
    plan = plan_regions(polygons, 250, REGIONS)
    region_of = {key: region.key for region in plan for key in region.members}
    island0 = [region_of[k] for k in ("GM9900", "GM9901", "GM9902")]
    assert len(set(island0)) > 1
    assert region_of["GM9900"] not in {region_of["GM9906"], region_of["GM9907"]}


def test_every_extract_equals_the_extract_cut_alone_from_the_source(
    country: tuple[Path, Core, dict[str, int]], split_run: ExtractRun, tmp_path: Path
) -> None:
    source, core, ids = country
    assert split_run.regions == REGIONS and sorted(split_run.cut) == KEYS
    for extent in extents(core):
        alone = extract_areas(source, [extent], BUFFER_M, tmp_path / extent.key, regions=0)
        assert alone.passes == 1 and alone.regions == 0
        got, want = split_run.paths[extent.key], alone.paths[extent.key]
        assert got.read_bytes() == want.read_bytes(), extent.key
    # the cross-region objects are really there: the ferry way with its node on island 5,
    # the multipolygon's ring on island 4 with its nodes, and the relation holding it
    west = objects(split_run.paths["GM9900"])
    wanted = {
        f"w{ids['ferry']}",
        f"n{ids['ferry_far_node']}",
        f"w{ids['ring_b']}",
        f"n{ids['ring_b_node']}",
        f"r{ids['multipolygon']}",
        f"r{ids['parent']}",
    }
    assert wanted <= west
    # and not in a municipality they do not touch
    assert not wanted & objects(split_run.paths["GM9903"])


def test_the_source_is_read_by_one_pass_and_each_region_by_one(
    country: tuple[Path, Core, dict[str, int]],
    osmium_calls: list[list[str]],
    tmp_path: Path,
) -> None:
    source, core, _ = country
    store = tmp_path / "store"
    run = extract_areas(source, extents(core), BUFFER_M, store, regions=REGIONS)
    assert run.passes == 1 and run.regions == REGIONS and run.region_passes == REGIONS
    extracts = [c for c in osmium_calls if c[1] == "extract"]
    reads = [c[-1] for c in extracts]
    # one extract pass over the source (plus fileinfo's read for the source's facts: osmium
    # merge does not declare the file sorted, so its highest ids are not in a few blocks)
    assert reads.count(str(source)) == 1
    assert [c[1] for c in osmium_calls if c[-1] == str(source)] == ["fileinfo", "extract"]
    region_files = [r for r in reads if r != str(source)]
    assert len(region_files) == len(set(region_files)) == REGIONS
    # region files are temporary
    assert not any(Path(r).exists() for r in region_files)
    assert not list(store.glob("*/.regions.*"))


def test_few_municipalities_keep_the_single_pass(
    country: tuple[Path, Core, dict[str, int]], tmp_path: Path
) -> None:
    source, core, _ = country
    run = extract_areas(source, extents(core), BUFFER_M, tmp_path)
    assert run.regions == 0 and run.passes == 1 and run.region_passes == 0


def test_the_cost_model_splits_hundreds_of_municipalities_only() -> None:
    assert best_region_count(8, 250) == 0
    assert best_region_count(24, 250) == 0
    regions = best_region_count(355, 250)
    assert 10 <= regions <= 40
    assert split_cost(355, regions, 250) < 0.5 * single_cost(355, 250)


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


def test_a_region_box_covers_its_members_with_a_margin() -> None:
    members = [box(4.1, 52.0, 4.2, 52.1), box(4.3, 51.95, 4.35, 52.05)]
    west, south, east, north = region_box(members)
    assert west <= 4.1 - REGION_MARGIN_DEG and south <= 51.95 - REGION_MARGIN_DEG
    assert east >= 4.35 + REGION_MARGIN_DEG and north >= 52.1 + REGION_MARGIN_DEG
    assert all(round(v * 1e7) == v * 1e7 for v in (west, south, east, north))
