"""Publishing one municipality, again and again in one process, as a national run's worker does.

Ranks the bundled real sample once, then publishes it ``--repeat`` times into fresh run
folders with :func:`magicmix_geo.publish.run.publish_municipality` and prints the seconds of
each output (the manifest's ``timings_s``: gpkg, rasters, static map PNG, interactive HTML
map, report = HTML report + typeset PDF; wall seconds) and the CPU seconds of the whole
publication: the first one (cold caches, first imports) and the median of the others (what
each further municipality of a worker costs). Run::

    PYTHONPATH=$PWD .venv/bin/python bench/publish.py [--repeat 6] [--lang nl]

With ``PYTHONPATH=/path/to/other/checkout`` it measures that checkout's code (before/after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from magicmix_geo.config import load_settings
from magicmix_geo.pipeline import rank_municipality
from magicmix_geo.publish.run import new_context, publish_municipality
from magicmix_geo.sample import sample_config, sample_inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=6, help="publications (default 6)")
    parser.add_argument("--lang", default="nl", choices=("nl", "en"))
    args = parser.parse_args(argv)
    config = [c for c in (sample_config(),) if c is not None]
    settings = load_settings(config)
    clock = time.perf_counter()
    result = rank_municipality(sample_inputs(), settings)
    print(f"ranked the sample in {time.perf_counter() - clock:.1f} s: {len(result.sites)} sites")
    context = new_context(settings, datetime.now(UTC), lang=args.lang)
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        for i in range(args.repeat):
            staging = Path(tmp) / f"run{i}"
            staging.mkdir()
            clock, cpu = time.perf_counter(), time.process_time()
            published = publish_municipality(staging, result, None, context, settings)
            total, cpu = time.perf_counter() - clock, time.process_time() - cpu
            timings = published.entry["timings_s"]
            run = {k[len("publish_") :]: v for k, v in timings.items() if k.startswith("publish_")}
            run["total_s"] = total
            run["total_cpu_s"] = cpu  # this process's CPU time: less noisy on a busy machine
            runs.append(run)
    names = list(runs[0])
    print(f"{'output':<14}{'first':>9}{'median of rest':>16}")
    for name in names:
        rest = [r[name] for r in runs[1:]] or [runs[0][name]]
        print(f"{name:<14}{runs[0][name]:>9.3f}{statistics.median(rest):>16.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
