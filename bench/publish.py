"""Publishing one municipality, again and again in one process, as a national run's worker does.

Ranks the bundled real sample once, then publishes it ``--repeat`` times into fresh run
folders with :func:`magicmix_geo.publish.run.publish_municipality` and prints the seconds of
each output (the manifest's ``timings_s``: gpkg, rasters, static map PNG, interactive HTML
map, report = HTML report + typeset PDF; wall seconds), the CPU seconds of each writer
(``cpu_*``: this process's time in the function, less noisy on a busy machine) and of the
whole publication: the first one (cold caches, first imports) and the median of the others
(what each further municipality of a worker costs). Run::

    PYTHONPATH=$PWD .venv/bin/python bench/publish.py [--repeat 6] [--lang nl]

With ``--finish N --source RUN_FOLDER`` it measures instead the national files of a run of N
municipalities (:func:`magicmix_geo.publish.run.finish_run`: ranking gpkg/csv/xlsx, overview,
national PDF, QGIS project, index): the municipalities' files of an existing run folder (e.g.
``bench/_work/country-24/out`` of ``bench/country.py``) are copied under N codes (``gm_code``
rewritten in each GeoPackage), and the CPU and wall seconds of each national step are printed.

With ``PYTHONPATH=/path/to/other/checkout`` it measures that checkout's code (before/after).
With ``--against OTHER_CHECKOUT`` it runs both: two worker processes (this ``PYTHONPATH`` and
the other checkout) publish in turns, so that both see the same load of a busy machine, and
the medians of their CPU seconds per writer are printed side by side.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import magicmix_geo.publish.run as run_module
from magicmix_geo.config import load_settings
from magicmix_geo.pipeline import rank_municipality
from magicmix_geo.publish.run import new_context, publish_municipality
from magicmix_geo.sample import sample_config, sample_inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=6, help="publications (default 6)")
    parser.add_argument("--lang", default="nl", choices=("nl", "en"))
    parser.add_argument("--finish", type=int, default=0, help="national files of N areas")
    parser.add_argument("--source", type=Path, help="a run folder to copy (with --finish)")
    parser.add_argument(
        "--against", type=Path, help="another checkout, published in turns with this one"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.finish:
        if args.source is None:
            parser.error("--finish needs --source RUN_FOLDER")
        return bench_finish(args.source, args.finish, args.lang)
    if args.worker:
        return bench_worker(args.lang)
    if args.against is not None:
        return bench_against(args.against, args.repeat, args.lang)
    publish = publisher(args.lang)
    runs = [publish() for _ in range(args.repeat)]
    names = list(runs[0])
    print(f"{'output':<20}{'first':>9}{'median of rest':>16}")
    for name in names:
        rest = [r[name] for r in runs[1:]] or [runs[0][name]]
        print(f"{name:<20}{runs[0][name]:>9.3f}{statistics.median(rest):>16.3f}")
    return 0


def publisher(lang: str) -> Callable[[], dict[str, float]]:
    """Rank the sample and return a function that publishes it once more into a fresh
    folder and returns the seconds of that publication (wall per output, CPU per writer)."""
    settings = load_settings([c for c in (sample_config(),) if c is not None])
    clock = time.perf_counter()
    result = rank_municipality(sample_inputs(), settings)
    print(
        f"ranked the sample in {time.perf_counter() - clock:.1f} s: {len(result.sites)} sites",
        file=sys.stderr,
    )
    context = new_context(settings, datetime.now(UTC), lang=lang)
    spent: dict[str, list[float]] = {}
    for name, label in PUBLISH_WRITERS.items():
        if hasattr(run_module, name):
            writer = _timed(getattr(run_module, name), spent.setdefault(label, [0.0, 0.0]))
            setattr(run_module, name, writer)
    tmp = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    done = [0]

    def publish() -> dict[str, float]:
        staging = tmp / f"run{done[0]}"
        staging.mkdir()
        done[0] += 1
        for step in spent.values():
            step[:] = [0.0, 0.0]
        clock, cpu = time.perf_counter(), time.process_time()
        published = publish_municipality(staging, result, None, context, settings)
        total, cpu = time.perf_counter() - clock, time.process_time() - cpu
        timings = published.entry["timings_s"]
        run = {k[len("publish_") :]: v for k, v in timings.items() if k.startswith("publish_")}
        run.update({f"cpu_{label}": cpu_wall[0] for label, cpu_wall in spent.items()})
        run["total_s"] = total
        run["total_cpu_s"] = cpu  # this process's CPU time: less noisy on a busy machine
        shutil.rmtree(staging)
        return run

    return publish


def bench_worker(lang: str) -> int:
    """Publish once per line read from stdin; print each publication's seconds as JSON."""
    publish = publisher(lang)
    for _line in sys.stdin:
        print(json.dumps(publish()), flush=True)
    return 0


def bench_against(other: Path, repeat: int, lang: str) -> int:
    """This checkout (``PYTHONPATH``) and ``other`` in two worker processes that publish in
    turns, so that both see the same load of a busy machine; medians of the CPU seconds."""
    checkouts = {"this": os.environ.get("PYTHONPATH", ""), "other": str(other)}
    workers = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--worker", "--lang", lang],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        for name, path in checkouts.items()
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in workers}
    for i in range(repeat + 1):  # the first publication of each (cold) is left out
        order = list(workers) if i % 2 == 0 else list(reversed(workers))
        for name in order:
            stdin, stdout = workers[name].stdin, workers[name].stdout
            assert stdin is not None and stdout is not None
            stdin.write("go\n")
            stdin.flush()
            run = json.loads(stdout.readline())
            if i:
                runs[name].append(run)
    for worker in workers.values():
        if worker.stdin is not None:
            worker.stdin.close()
        worker.wait()
    print(f"CPU seconds, median of {repeat}: this = {checkouts['this']}, other = {other}")
    print(f"{'output':<20}{'other':>9}{'this':>9}{'change':>9}")
    for name in [k for k in runs["this"][0] if k.startswith("cpu_") or k == "total_cpu_s"]:
        mine = statistics.median(r[name] for r in runs["this"])
        theirs = statistics.median(r[name] for r in runs["other"])
        change = f"{100 * (mine - theirs) / theirs:+.0f} %" if theirs else ""
        print(f"{name:<20}{theirs:>9.3f}{mine:>9.3f}{change:>9}")
    return 0


# the writers of one municipality timed by main (functions of magicmix_geo.publish.run) and
# their labels in the table
PUBLISH_WRITERS = {
    "write_municipality_gpkg": "gpkg_s",
    "write_rasters": "rasters_s",
    "write_static_map": "map_png_s",
    "write_interactive_map": "map_html_s",
    "write_municipality_report": "report_html_s",
    "write_municipality_pdf": "report_pdf_s",
}

# the national steps timed by bench_finish (functions of magicmix_geo.publish.run)
FINISH_STEPS = (
    "national_sites",
    "national_sheets",
    "write_national_gpkg",
    "municipality_entries",
    "start_run_project",
    "start_workbook",
    "write_national_csv",
    "overview_table",
    "write_run_outputs",
    "write_run_index",
)


def bench_finish(source: Path, n: int, lang: str) -> int:
    """Time finish_run on ``n`` copies of the municipalities of the run folder ``source``."""
    import magicmix_geo.publish.run as run

    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    settings = load_settings([c for c in (sample_config(),) if c is not None])
    spent: dict[str, list[float]] = {}
    for name in FINISH_STEPS:
        if hasattr(run, name):
            setattr(run, name, _timed(getattr(run, name), spent.setdefault(name, [0.0, 0.0])))
    with tempfile.TemporaryDirectory(prefix="bench-finish-") as tmp:
        staging = Path(tmp) / "run"
        clock = time.perf_counter()
        entries = _copies(source, staging, manifest["municipalities"], n)
        print(f"copied {n} municipalities in {time.perf_counter() - clock:.1f} s")
        context = new_context(settings, datetime.now(UTC), lang=lang)
        published = [
            run.Published(e, list(manifest["inputs"]) if i == 0 else [], reused=False)
            for i, e in enumerate(entries)
        ]
        clock, cpu = time.perf_counter(), time.process_time()
        done = run.finish_run(staging, context, published, settings)
        wall, cpu = time.perf_counter() - clock, time.process_time() - cpu
    print(f"{'step':<24}{'cpu_s':>9}{'wall_s':>9}")
    for name, (step_cpu, step_wall) in spent.items():
        print(f"{name:<24}{step_cpu:>9.2f}{step_wall:>9.2f}")
    print(f"{'finish_run':<24}{cpu:>9.2f}{wall:>9.2f}  (cpu: this process only)")
    print(f"qgis_project: {done.get('qgis_project')}")
    return 0


def _timed(function: Any, total: list[float]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        clock, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.process_time() - cpu
            total[1] += time.perf_counter() - clock

    return timed


def _copies(
    source: Path, staging: Path, originals: list[dict[str, Any]], n: int
) -> list[dict[str, Any]]:
    """The files of ``n`` municipalities in ``staging``, copied round-robin from ``source``
    under the codes GM1000, GM1001, ... (GeoPackages copied and their gm_code rewritten, the
    other files hard-linked)."""
    entries = []
    for i in range(n):
        entry = json.loads(json.dumps(originals[i % len(originals)]))
        old, code = entry["gm_code"], f"GM{1000 + i:04d}"
        files = []
        for name in entry["files"]:
            new = f"{code}_Gemeente_{i}.gpkg" if name.endswith(".gpkg") else name.replace(old, code)
            (staging / new).parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".gpkg"):
                shutil.copyfile(source / name, staging / new)
                _recode(staging / new, code)
            else:
                os.link(source / name, staging / new)
            files.append(new)
        entry.update(gm_code=code, gm_name=f"Gemeente {i}", files=files)
        entries.append(entry)
    return entries


def _recode(gpkg: Path, code: str) -> None:
    """Set ``gm_code`` in every table of ``gpkg`` that has it. GDAL's R-tree triggers name
    SpatiaLite functions; they only run when a geometry changes, so stand-ins do here."""
    with contextlib.closing(sqlite3.connect(gpkg)) as con, con:
        for function in ("ST_IsEmpty", "ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY"):
            con.create_function(function, 1, lambda _blob: 0)
        tables = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")]
        for table in tables:
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            if "gm_code" in columns:
                con.execute(f'UPDATE "{table}" SET gm_code = ?', (code,))


if __name__ == "__main__":
    sys.exit(main())
