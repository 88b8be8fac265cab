"""First run vs re-run of `magicmix-geo national`, fresh processes, on a real Dask cluster.

Data: the real Delft sample split into west/east pseudo-municipalities GM9901/GM9902 (real
data, synthetic split; see tests/test_national.py). Usage::

    .venv/bin/python bench/bench_national.py [--dask-address tcp://HOST:PORT] [--workers 2]

Prints the wall times of: the first run (empty result cache), the re-run into the same folder
(nothing changed: nothing recomputed, outputs left as they are), a re-run into a new folder
(results from the cache, outputs written again), and whether the two folders' sites and
national lists are identical.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_national import make_split_dataset  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> float:
    clock = time.perf_counter()
    code = subprocess.call(command, env=env, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - clock
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dask-address", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        areas = make_split_dataset(tmp_path / "data", broken=False)
        env = {**os.environ, "MAGICMIX_CACHE_DIR": str(tmp_path / "cache")}
        exe = str(Path(sys.executable).with_name("magicmix-geo"))
        where = (
            ["--dask-address", args.dask_address]
            if args.dask_address
            else ["--workers", str(args.workers)]
        )
        base = [exe, "national", "--areas-file", str(areas), "--all", *where, "--quiet"]
        first = timed([*base, "--out", str(tmp_path / "a")], env)
        rerun = timed([*base, "--out", str(tmp_path / "a")], env)
        fresh = timed([*base, "--out", str(tmp_path / "b")], env)
        same = True
        for code in ("GM9901", "GM9902"):
            (a,) = (tmp_path / "a").glob(f"{code}_*.gpkg")
            (b,) = (tmp_path / "b").glob(f"{code}_*.gpkg")
            same &= gpd.read_file(a, layer="sites").equals(gpd.read_file(b, layer="sites"))
        same &= pd.read_csv(tmp_path / "a" / "national_ranking.csv").equals(
            pd.read_csv(tmp_path / "b" / "national_ranking.csv")
        )
        print(f"first run            {first:6.1f} s")
        print(f"re-run, same folder  {rerun:6.1f} s  ratio {rerun / first:.3f}")
        print(f"re-run, new folder   {fresh:6.1f} s  ratio {fresh / first:.3f}")
        print(f"identical sites and national list: {same}")


if __name__ == "__main__":
    main()
