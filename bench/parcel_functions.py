"""CPU of the per-parcel functions on the real inputs of the 16 copies, two checkouts in turns.

``bench/kadaster_parcels.py --copies 16`` ranks a municipality of ~70,000 BRK-format parcels;
this bench first runs that ranking once in-process (this checkout) and keeps the arguments of
the functions below as they were called (``bench/_work/big-16/functions.pkl``), then calls each
function on them in child processes, this checkout and ``--against OTHER_CHECKOUT`` in turns,
and prints per function the median CPU seconds of the calls and whether both checkouts
returned the same bytes. Run::

    .venv/bin/python bench/parcel_functions.py --against /tmp/old-checkout --turns 3
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# no import of this checkout's package at the top: a child imports the one on its PYTHONPATH
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"

FUNCTIONS = {
    "magicmix_geo.prepare.sites": ("covered",),
    "magicmix_geo.measure.context": ("distance_to_nearest", "share_covered"),
    "magicmix_geo.measure.site_cover": ("covered_share",),
    "magicmix_geo.measure.density": ("building_cover",),
}
CALLS = WORK / "big-16" / "functions.pkl"


def capture(target: Path) -> None:
    """Rank the 16 copies in this process, keeping every call's arguments of FUNCTIONS."""
    sys.path.insert(0, str(ROOT))
    from kadaster_parcels import work_inputs

    from magicmix_geo.config import load_settings
    from magicmix_geo.pipeline import rank_municipality

    calls: dict[str, list[tuple[Any, ...]]] = {}

    def kept(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any) -> Any:
            calls.setdefault(name, []).append(args)
            return fn(*args)

        return wrapper

    for module_name, names in FUNCTIONS.items():
        module = importlib.import_module(module_name)
        for name in names:
            original = getattr(module, name)
            wrapped = kept(f"{module_name}.{name}", original)
            # the name in every module that imported it
            for other in list(sys.modules.values()):
                ours = getattr(other, "__name__", "").startswith("magicmix_geo")
                if ours and getattr(other, name, None) is original:
                    setattr(other, name, wrapped)
    rank_municipality(work_inputs(WORK / "big-16"), load_settings())
    target.write_bytes(pickle.dumps(calls))


def child(name: str, rounds: int) -> None:
    """Time one function's calls (after one warm call) in this process; print JSON."""
    calls = pickle.loads(CALLS.read_bytes())[name]
    module_name, function = name.rsplit(".", 1)
    fn = getattr(importlib.import_module(module_name), function)
    results = [fn(*args) for args in calls]
    seconds = []
    for _ in range(rounds):
        clock = time.process_time()
        for args in calls:
            fn(*args)
        seconds.append(time.process_time() - clock)
    digest = hashlib.sha256(pickle.dumps([_comparable(r) for r in results])).hexdigest()
    print(json.dumps({"seconds": seconds, "digest": digest}))


def _comparable(result: Any) -> Any:
    """A result as bytes (arrays) or its arrays' bytes (a Raster)."""
    data = getattr(result, "data", result)
    return data.tobytes() if hasattr(data, "tobytes") else data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=False)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rounds)
        return 0
    if not CALLS.is_file():
        capture(CALLS)
    checkouts = {"this": ROOT}
    if args.against:
        checkouts["other"] = args.against.resolve()
    names = [f"{m}.{n}" for m, ns in FUNCTIONS.items() for n in ns]
    for name in names:
        seconds: dict[str, list[float]] = {c: [] for c in checkouts}
        digests: dict[str, str] = {}
        for turn in range(args.turns):
            order = list(checkouts.items())
            for label, checkout in order if turn % 2 == 0 else reversed(order):
                env = {**os.environ, "PYTHONPATH": str(checkout)}
                command = [sys.executable, __file__, "--child", name]
                done = subprocess.run(
                    [*command, "--rounds", str(args.rounds)],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                out = json.loads(done.stdout.strip().splitlines()[-1])
                seconds[label].extend(out["seconds"])
                digests[label] = out["digest"]
        figures = ", ".join(f"{c} {statistics.median(s):.3f} s" for c, s in seconds.items())
        same = len(set(digests.values())) == 1
        print(f"{name}: {figures}{'' if same or len(digests) == 1 else ' (RESULTS DIFFER)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
