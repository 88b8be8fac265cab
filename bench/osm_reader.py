"""CPU of ``read_osm`` on region files: this checkout's reader against another checkout's.

``read_osm(path, ..., crs="EPSG:4326", need_walk=False)`` per file, as the national OSM store
reads its regions (keys from a slice job file, ``--job``, or the default configuration), but
keeping every tagged node with a feature key (no ``node_rules``: a checkout from before them
reads the same objects).
With ``--against DIR``, that checkout's ``magicmix_geo/prepare/osm.py`` (with its own
``magicmix_geo/tags.py`` way filter) is loaded as a module of its own and both read every file
``--rounds`` times, in turns (old, new, new, old, ...) in this one process, so that another
load of the machine touches both alike. CPU seconds of this process (user + system, all
threads) per read; min and median per file. Before timing, each file's two results are checked
identical: walk arrays (dtype, values, NaN where NaN), the frames (columns, dtypes, values) and
the geometry's WKB bytes. Run from the repository root::

    .venv/bin/python bench/osm_reader.py --files bench/_work/regions/R00*.osm.pbf \\
        --job bench/_work/regions/job0.json --against ../main
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import magicmix_geo.prepare.osm as new_osm  # noqa: E402
from magicmix_geo.config import load_settings  # noqa: E402
from magicmix_geo.prepare.osm import OsmData, ReaderKeys, reader_keys  # noqa: E402

Reader = Callable[[Path], OsmData]


def cpu() -> float:
    """CPU seconds of this process (user + system, every thread)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def load_file(path: Path, name: str) -> types.ModuleType:
    """The Python file ``path`` as a module ``name`` of its own (registered under that name:
    dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def old_osm(checkout: Path) -> types.ModuleType:
    """``checkout``'s reader module, with that checkout's way filter (the filter is part of
    what the reader costs; the rest of the package is this checkout's)."""
    tags = load_file(checkout / "magicmix_geo" / "tags.py", "osm_reader_old_tags")
    module = load_file(checkout / "magicmix_geo" / "prepare" / "osm.py", "osm_reader_old")
    module.WayFilter = tags.WayFilter  # read_osm looks the name up when called
    return module


def job_keys(job: Path | None) -> ReaderKeys:
    """The reader keys of a slice job file, or of the default configuration."""
    if job is None:
        return reader_keys(load_settings())
    keys = json.loads(job.read_text())["keys"]
    return ReaderKeys(keys["way_filter"], tuple(keys["feature_keys"]), tuple(keys["tag_columns"]))


def reader(module: Any, keys: ReaderKeys) -> Reader:
    def read(path: Path) -> OsmData:
        data: OsmData = module.read_osm(
            path,
            keys.way_filter,
            keys.feature_keys,
            keys.tag_columns,
            crs="EPSG:4326",
            need_walk=False,
        )
        return data

    return read


def timed(read: Reader, path: Path) -> tuple[OsmData, float]:
    start = cpu()
    data = read(path)
    return data, cpu() - start


def assert_identical(a: OsmData, b: OsmData) -> None:
    """Raise AssertionError unless ``a`` and ``b`` hold the same rows, dtypes, values and
    geometry bytes."""
    for field in ("way_ids", "offsets", "node_ids", "lon", "lat"):
        left, right = getattr(a.walk, field), getattr(b.walk, field)
        assert left.dtype == right.dtype, field
        assert np.array_equal(left, right, equal_nan=left.dtype.kind == "f"), field
    for name in ("features", "lines"):
        left, right = getattr(a, name), getattr(b, name)
        assert list(left.columns) == list(right.columns), name
        pd.testing.assert_frame_equal(
            pd.DataFrame(left.drop(columns="geometry")),
            pd.DataFrame(right.drop(columns="geometry")),
            check_exact=True,
        )
        assert left.crs == right.crs, name
        wkb_left = shapely.to_wkb(left.geometry.to_numpy())
        wkb_right = shapely.to_wkb(right.geometry.to_numpy())
        assert len(wkb_left) == len(wkb_right) and bool(np.all(wkb_left == wkb_right)), name


def describe(data: OsmData) -> str:
    kinds = data.features["osm_type"].value_counts().to_dict()
    return (
        f"{len(data.walk.way_ids):,} walk ways ({len(data.walk.node_ids):,} refs), "
        f"{len(data.features):,} features {kinds}, {len(data.lines):,} lines"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=Path, nargs="+", required=True, help=".osm.pbf files")
    parser.add_argument("--job", type=Path, help="slice job JSON whose keys the reader gets")
    parser.add_argument("--against", type=Path, help="another checkout's root (the old code)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    keys = job_keys(args.job)
    versions: dict[str, Reader] = {"new": reader(new_osm, keys)}
    if args.against is not None:
        versions = {"old": reader(old_osm(args.against.resolve()), keys), **versions}
    times: dict[tuple[str, str], list[float]] = {}
    for path in args.files:
        results = {name: read(path) for name, read in versions.items()}  # warm-up, checked
        if "old" in results:
            assert_identical(results["old"], results["new"])
            print(f"{path.name}: identical ({describe(results['new'])})", flush=True)
        del results
        order = list(versions)
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else order[::-1]:
                _, seconds = timed(versions[name], path)
                times.setdefault((path.name, name), []).append(seconds)
                print(f"  {path.name} round {round_} {name}: {seconds:.2f} s", flush=True)
    print("file        version  min CPU s  median CPU s  rounds")
    for (name, version), seconds in times.items():
        print(
            f"{name:12s}{version:9s}{min(seconds):9.2f}{statistics.median(seconds):13.2f}"
            f"  {' '.join(f'{s:.2f}' for s in seconds)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
