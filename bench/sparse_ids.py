"""The OSM store on real, sparse OSM ids: osmium extract's memory before and after renumbering.

Builds (once, in ``bench/_work/sparse-<n>``) one OSM file of ``n`` islands, each a moved copy
of the real Delft sample's core keeping its real id distribution (node ids up to 1.3e10,
tests/_islands.py ``sparse_ids``), then measures with ``/usr/bin/time -v``:

- one ``osmium cat`` pass, for scale;
- ``osmium extract --config`` (smart) with 1 and ``--sparse-extracts`` extracts on the file
  as it is (each needs ~3.3 GB: keep it small on a shared machine);
- ``osmium renumber -t node -t way --index-directory``, and extract with 1, 5, 20 and ``n``
  extracts on the renumbered file;
- the OSM store (``prepare/extracts.slice_areas``, 8 GiB budget) slicing all ``n`` islands,
  then again after a nightly change (one footway gone, one new node with a low id).

Run::

    .venv/bin/python bench/sparse_ids.py --copies 50
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from magicmix_geo.config import load_settings  # noqa: E402
from magicmix_geo.prepare.extracts import Extent, slice_areas, source_facts  # noqa: E402
from magicmix_geo.prepare.osm import reader_keys  # noqa: E402
from tests._islands import Core, load_core, moved_area, write_islands  # noqa: E402

WORK = ROOT / "bench" / "_work"
SQUARE_DEG = 0.04


def shifts(n: int) -> list[tuple[float, float]]:
    return [(0.4 * (k % 10), 0.25 * (k // 10)) for k in range(n)]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of ``command``."""
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    assert rss and wall
    hours, minutes, seconds = wall.groups()
    total = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return total, int(rss.group(1)) / 2**20


def extract_config(work: Path, core: Core, count: int) -> Path:
    extracts = []
    for k, (dx, dy) in enumerate(shifts(count)):
        minx, miny, maxx, maxy = moved_area(core, (dx, dy), SQUARE_DEG).bounds
        extracts.append({"output": f"e{k}.osm.pbf", "bbox": [minx, miny, maxx, maxy]})
    (work / "out").mkdir(exist_ok=True)
    path = work / f"extracts-{count}.json"
    path.write_text(json.dumps({"directory": str(work / "out"), "extracts": extracts}))
    return path


def extract(work: Path, core: Core, source: Path, count: int) -> str:
    config = extract_config(work, core, count)
    seconds, gib = timed(
        ["osmium", "extract", "--config", str(config), "-s", "smart", "-O", "--no-progress",
         str(source)]
    )  # fmt: skip
    return f"{seconds:.1f} s, {gib:.2f} GiB"


def store_run(source: Path, core: Core, n: int, store: Path) -> tuple[str, dict[str, str]]:
    areas = gpd.GeoSeries([moved_area(core, s, SQUARE_DEG) for s in shifts(n)], crs=4326).to_crs(
        28992
    )
    extents = [Extent(f"GM{k:04d}", area) for k, area in enumerate(areas)]
    source_facts(source, store)  # sha256 and ids once per version, as a run does
    run = slice_areas(source, extents, 300.0, store, reader_keys(load_settings()))
    digests = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in run.paths.items()}
    text = (
        f"{run.seconds:.1f} s (renumber + order {run.renumber_seconds:.1f} s), "
        f"{run.passes} extract pass(es) for {run.regions} regions, renumbered {run.renumbered}"
    )
    return text, digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--sparse-extracts", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.copies
    work = WORK / f"sparse-{n}"
    core = load_core(work, real_ids=True)
    source = work / "country.osm.pbf"
    if not source.is_file():
        write_islands(source, core, shifts(n), sparse_ids=True)
    facts = source_facts(source, work / "facts")
    print(
        f"{source}: {facts['nodes']:,} nodes (highest id {facts['max_node_id']:,}), "
        f"{facts['ways']:,} ways (highest id {facts['max_way_id']:,})"
    )
    seconds, gib = timed(["osmium", "cat", "-O", "-o", str(work / "cat.osm.pbf"), str(source)])
    print(f"osmium cat: {seconds:.1f} s, {gib:.2f} GiB")
    for count in sorted({1, args.sparse_extracts}):
        print(f"extract, real ids, {count} extract(s): {extract(work, core, source, count)}")
    index = work / "index"
    for old in index.glob("*"):
        old.unlink()
    index.mkdir(exist_ok=True)
    renumbered = work / "renumbered.osm.pbf"
    seconds, gib = timed(
        ["osmium", "renumber", "-t", "node", "-t", "way", "-i", str(index), "-O", "-o",
         str(renumbered), "--no-progress", str(source)]
    )  # fmt: skip
    print(f"osmium renumber -t node -t way: {seconds:.1f} s, {gib:.2f} GiB")
    for count in sorted({1, 5, 20, n}):
        print(f"extract, renumbered, {count} extract(s): {extract(work, core, renumbered, count)}")
    store = work / "store"
    clock = time.perf_counter()
    text, before = store_run(source, core, n, store)
    print(f"OSM store, {n} islands: {text}")
    write_islands(source, core, shifts(n), drop_street_of=1, sparse_ids=True)
    centre = moved_area(core, shifts(n)[1], SQUARE_DEG).centroid
    opl = work / "new.opl"
    opl.write_text(f"n1000 v1 x{centre.x:.7f} y{centre.y:.7f}\n", encoding="utf-8")
    night = work / "night.osm.pbf"
    subprocess.run(["osmium", "merge", "-O", "-o", str(night), str(source), str(opl)], check=True)
    night.replace(source)
    text, after = store_run(source, core, n, store)
    same = sum(before[k] == after[k] for k in before)
    print(f"OSM store, next night: {text}; {same} of {n} extracts byte-identical")
    print(f"(bench {time.perf_counter() - clock:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
