"""CPU seconds per pipeline stage of one municipality, for a loaded machine.

``bench/big_municipality.py`` prints the manifest's stage timings, which are wall seconds: on
a machine shared with other sessions they stretch 2-4x and vary run to run. This bench runs
``pipeline.rank_municipality`` in this process on the files of ``bench/_work/big-<n>`` (built
by big_municipality.py) with the stage clock swapped for this process's CPU clock, and also
times the per-site functions of issue 12's site work (the land filter's cover and neighbour
tests, the neighbour count, the kind texts). No outputs are written. Run the code of another
checkout with ``PYTHONPATH=<checkout>``::

    PYTHONPATH=$PWD .venv/bin/python bench/stage_cpu.py --copies 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import magicmix_geo.measure.indicators as indicators
import magicmix_geo.pipeline as pipeline
import magicmix_geo.prepare.sites as sites
import magicmix_geo.score.model as model
from magicmix_geo.config import load_settings
from magicmix_geo.contract import RankInputs

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
KERNCIJFERS = Path("/work/shared/data/cbs_gemeenten_2020/cbs_gemeenten_2020_kerncijfers.gpkg")
GM_CODE = "GM0503"
# module, function: each called through the module's global, so wrapping it there counts it
TIMED = ((sites, "covered"), (sites, "residential_neighbours"), (indicators, "neighbour_count"))
TIMED_SCORE = ((model, "site_type_texts"),)


def _timed(module: Any, name: str, spent: dict[str, float]) -> None:
    inner: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        clock = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.process_time() - clock

    setattr(module, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--cbs", type=Path, default=KERNCIJFERS)
    args = parser.parse_args(argv)
    work = WORK / f"big-{args.copies}"
    if not (work / "city.osm.pbf").is_file():
        print(f"{work}: not built; run bench/big_municipality.py first", file=sys.stderr)
        return 2
    pipeline.time.perf_counter = time.process_time
    spent: dict[str, float] = {}
    for module, name in (*TIMED, *TIMED_SCORE):
        _timed(module, name, spent)
    inputs = RankInputs(
        osm=work / "city.osm.pbf", gm_code=GM_CODE, boundary=work / "boundary.gpkg", cbs=(args.cbs,)
    )
    clock = time.process_time()
    result = pipeline.rank_municipality(inputs, load_settings())
    total = time.process_time() - clock
    print(
        json.dumps(
            {
                "copies": args.copies,
                "sites": len(result.layers["sites"]),
                "cpu_s": round(total, 2),
                "stages_cpu_s": {k: round(v, 2) for k, v in result.timings.items()},
                "functions_cpu_s": {k: round(v, 2) for k, v in spent.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
