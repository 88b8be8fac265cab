"""The OSM store's facts about a source (highest node and way ids, node and way counts) from
a few blocks of a PBF file declared sorted, and from a full read of any other file.

Data: islands of the real Delft sample's core (tests/_islands.py; written by libosmium, the
header declaring ``sorting=Type_then_ID`` as Geofabrik's files do), with dense and with real,
sparse ids, and the real sample itself (cut by osmium, declared sorted). The reference is
``osmium fileinfo --extended``, which reads every object.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from magicmix_geo._errors import InputError
from magicmix_geo.prepare.extracts import source_facts
from magicmix_geo.prepare.sorted_pbf import NotSortedPbfError, SortedPbf, blobs
from tests._islands import SAMPLE_PBF, Core, load_core, write_islands

SHIFTS = [(0.4 * (k % 4), 0.25 * (k // 4)) for k in range(8)]


def full_read(path: Path) -> dict[str, int]:
    """The facts as ``osmium fileinfo -e`` finds them, reading every object."""
    done = subprocess.run(
        ["osmium", "fileinfo", "-e", "-j", str(path)], check=True, capture_output=True, text=True
    )
    data = json.loads(done.stdout)["data"]
    return {
        "max_node_id": data["maxid"]["nodes"],
        "max_way_id": data["maxid"]["ways"],
        "nodes": data["count"]["nodes"],
        "ways": data["count"]["ways"],
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sorted-pbf")


@pytest.fixture(scope="module")
def core(work: Path) -> Core:
    return load_core(work)


@pytest.fixture(scope="module")
def dense(work: Path, core: Core) -> Path:
    path = work / "dense.osm.pbf"
    write_islands(path, core, SHIFTS)
    return path


@pytest.fixture(scope="module")
def sparse(work: Path) -> Path:
    path = work / "sparse.osm.pbf"
    write_islands(path, load_core(work / "real", real_ids=True), SHIFTS, sparse_ids=True)
    return path


@pytest.mark.parametrize("name", ["dense", "sparse", "sample"])
def test_a_sorted_file_gives_the_facts_of_a_full_read_from_few_blocks(
    name: str, request: pytest.FixtureRequest
) -> None:
    path = SAMPLE_PBF if name == "sample" else request.getfixturevalue(name)
    reader = SortedPbf(path)
    assert reader.facts() == full_read(path)
    # a binary search for the end of the nodes and of the ways: a few blocks of many
    blocks = len(reader.data)
    assert reader.blocks_probed <= 2 * math.ceil(math.log2(blocks + 1))
    assert reader.blocks_decoded <= 5
    if name != "sample":
        assert blocks > 60  # eight islands of ~55,000 nodes: blocks of 8,000 objects


def test_sparse_ids_reach_osm_s_range(sparse: Path) -> None:
    facts = SortedPbf(sparse).facts()
    assert facts["max_node_id"] > 13 * 10**9 and facts["nodes"] < 10**6


def test_a_declared_sorted_source_is_not_read_by_osmium(
    dense: Path, tmp_path: Path, osmium_calls: list[list[str]]
) -> None:
    want = full_read(dense)
    osmium_calls.clear()  # the fixture sees every subprocess, full_read's too
    facts = source_facts(dense, tmp_path / "store")
    assert osmium_calls == []
    assert {k: facts[k] for k in want} == want


def test_a_file_not_declared_sorted_is_read_whole(
    work: Path, core: Core, tmp_path: Path, osmium_calls: list[list[str]]
) -> None:
    path = work / "undeclared.osm.pbf"
    write_islands(path, core, SHIFTS, declare_sorted=False)
    with pytest.raises(NotSortedPbfError, match="does not declare"):
        SortedPbf(path)
    want = full_read(path)
    osmium_calls.clear()
    facts = source_facts(path, tmp_path / "store")
    (call,) = osmium_calls
    assert call[1:3] == ["fileinfo", "--extended"] and "--no-crc" in call
    assert {k: facts[k] for k in want} == want


def test_another_format_is_read_whole(
    dense: Path, tmp_path: Path, osmium_calls: list[list[str]]
) -> None:
    xml = tmp_path / "islands.osm"
    subprocess.run(["osmium", "cat", "-o", str(xml), str(dense)], check=True)
    with pytest.raises(NotSortedPbfError, match="no PBF blob header"):
        blobs(xml)
    want = full_read(dense)
    osmium_calls.clear()
    facts = source_facts(xml, tmp_path / "store")
    assert [c[1] for c in osmium_calls] == ["fileinfo"]
    assert {k: facts[k] for k in want} == want


def test_a_file_of_nodes_only_has_no_ways(dense: Path, tmp_path: Path) -> None:
    path = tmp_path / "nodes.osm.pbf"
    declared = "--output-header=sorting=Type_then_ID"
    subprocess.run(
        ["osmium", "cat", "-t", "node", declared, "-o", str(path), str(dense)], check=True
    )
    facts = SortedPbf(path).facts()
    assert facts == full_read(path) and facts["ways"] == facts["max_way_id"] == 0


def test_a_truncated_file_is_an_input_error_naming_it(dense: Path, tmp_path: Path) -> None:
    cut = tmp_path / "truncated.osm.pbf"
    cut.write_bytes(dense.read_bytes()[: dense.stat().st_size // 2])
    with pytest.raises(NotSortedPbfError, match="runs past"):
        blobs(cut)
    with pytest.raises(InputError, match=r"truncated\.osm\.pbf: cannot read OSM data"):
        source_facts(cut, tmp_path / "store")
