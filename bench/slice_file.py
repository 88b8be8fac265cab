"""The slice file's CPU: ``write_slice`` and ``read_slice`` of another commit's
``prepare/osm_slice_file.py`` (``--old``, default 5a31214: format 2) against this checkout's,
interleaved in one process.

The city is sliced as ``bench/slices.py`` slices it (big-16: ``read_osm(crs="EPSG:4326")``,
its projection, an ``n x n`` grid of squares grown by ``--buffer`` metres, ``slice_osm`` per
square; not counted); then, ``--rounds`` times, in alternating order, each version writes
every slice into its own folder and reads every slice back. CPU seconds of this process
(user + system) per round, all slices together; medians over the rounds. Before timing, the
frames each version reads back are checked equal (dtypes, values, bit-equal geometry). Run::

    PYTHONPATH=$PWD .venv/bin/python bench/slice_file.py
    PYTHONPATH=$PWD .venv/bin/python bench/slice_file.py --rounds 7 --old 5a31214
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from slices import BIG, cpu, grid_polygons  # noqa: E402

import magicmix_geo.prepare.osm_slice_file as new_file  # noqa: E402
from magicmix_geo.config import load_settings  # noqa: E402
from magicmix_geo.prepare.osm import OsmData, ReaderKeys, project, read_osm, reader_keys  # noqa: E402
from magicmix_geo.prepare.osm_slice import slice_osm  # noqa: E402

MODULE = "magicmix_geo/prepare/osm_slice_file.py"


def old_module(commit: str) -> types.ModuleType:
    """``prepare/osm_slice_file.py`` as it is at ``commit``, as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{MODULE}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("osm_slice_file_old")
    exec(compile(source, f"{commit}:{MODULE}", "exec"), module.__dict__)  # our own repository
    return module


def slices(osm: Path, boundary: Path, grid: int, buffer_m: float) -> dict[str, OsmData]:
    keys = reader_keys(load_settings())
    region = read_osm(
        osm,
        keys.way_filter,
        keys.feature_keys,
        keys.tag_columns,
        node_rules=keys.node_rules,
        crs="EPSG:4326",
    )
    projected = project(region)
    polygons = grid_polygons(boundary, grid, buffer_m)
    return {key: slice_osm(region, polygon, projected) for key, (polygon, _) in polygons.items()}


def write_all(module: Any, data: dict[str, OsmData], keys: ReaderKeys, folder: Path) -> float:
    start = cpu()
    for key, sliced in data.items():
        module.write_slice(sliced, keys, folder / f"{key}{module.SLICE_SUFFIX}")
    return cpu() - start


def read_all(module: Any, keys: ReaderKeys, folder: Path) -> tuple[list[OsmData], float]:
    start = cpu()
    back = [module.read_slice(p, keys) for p in sorted(folder.glob(f"*{module.SLICE_SUFFIX}"))]
    return back, cpu() - start


def same_frames(a: OsmData, b: OsmData) -> None:
    for field in ("way_ids", "offsets", "node_ids", "lon", "lat"):
        left, right = getattr(a.walk, field), getattr(b.walk, field)
        assert left.dtype == right.dtype and np.array_equal(left, right, equal_nan=True), field
    for name in ("features", "lines"):
        left, right = getattr(a, name), getattr(b, name)
        pd.testing.assert_frame_equal(
            pd.DataFrame(left.drop(columns="geometry")),
            pd.DataFrame(right.drop(columns="geometry")),
        )
        assert left.crs == right.crs
        assert shapely.equals_identical(left.geometry.to_numpy(), right.geometry.to_numpy()).all()


def sizes(folder: Path) -> tuple[float, float]:
    """MB on disk and MB of arrays (the entries' uncompressed size)."""
    disk = raw = 0
    for path in folder.iterdir():
        disk += path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            raw += sum(info.file_size for info in zf.infolist())
    return disk / 1e6, raw / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osm", type=Path, default=BIG / "city.osm.pbf")
    parser.add_argument("--boundary", type=Path, default=BIG / "boundary.gpkg")
    parser.add_argument("--grid", type=int, default=4, help="n: an n x n grid of squares")
    parser.add_argument("--buffer", type=float, default=2250.0, help="metres (extract_polygon)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old", default="5a31214", help="the commit of the old format")
    args = parser.parse_args()
    keys = reader_keys(load_settings())
    data = slices(args.osm, args.boundary, args.grid, args.buffer)
    versions = {"old": old_module(args.old), "new": new_file}
    times: dict[str, dict[str, list[float]]] = {v: {"write": [], "read": []} for v in versions}
    with tempfile.TemporaryDirectory(prefix="bench-slice-file-") as tmp:
        folders = {v: Path(tmp) / v for v in versions}
        for folder in folders.values():
            folder.mkdir()
        for number in range(args.rounds):
            order = list(versions) if number % 2 == 0 else list(reversed(versions))
            backs = {}
            for version in order:
                module, folder = versions[version], folders[version]
                times[version]["write"].append(write_all(module, data, keys, folder))
                backs[version], seconds = read_all(module, keys, folder)
                times[version]["read"].append(seconds)
            if number == 0:
                for old, new in zip(backs["old"], backs["new"], strict=True):
                    same_frames(old, new)
            print(
                f"round {number + 1}: "
                + ", ".join(
                    f"{v} write {times[v]['write'][-1]:.2f} read {times[v]['read'][-1]:.2f}"
                    for v in versions
                ),
                flush=True,
            )
        print(f"{len(data)} slices of {args.osm}; CPU s, medians of {args.rounds} rounds")
        for version in versions:
            write = statistics.median(times[version]["write"])
            read = statistics.median(times[version]["read"])
            disk, raw = sizes(folders[version])
            print(
                f"{version}: write {write:.3f} s, read {read:.3f} s, {disk:.1f} MB on disk"
                f" of {raw:.1f} MB of arrays ({disk / raw:.2f})"
            )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"wall {time.perf_counter() - started:.1f} s")
