"""The fixed CPU cost of one municipality: what a national run's worker pays per municipality
whatever its size.

Builds (once, in ``bench/_work/fixed-cost``) a tiny municipality from the bundled Delft sample:
a 400 x 400 m boundary in the study area and the sample's OSM cut to it + 500 m
(``osmium extract``), with the sample's CBS files. Then ranks and publishes it as a worker does
(``national.process_area``, no cache) ``--repeat`` + 1 times in this process and prints the CPU
seconds of the first call (paid once per worker: numba caches loaded, fonts, first use) and the
median of the others (paid per municipality), also per stage (the stage clocks switched to this
process's CPU clock). ``--sample`` ranks the whole bundled sample instead (529 sites);
``--gtfs N`` adds a national GTFS stop table of N stops spread over the Netherlands;
``--profile`` prints the cProfile top of the last call. Run::

    PYTHONPATH=$PWD .venv/bin/python bench/fixed_cost.py [--repeat 8] [--sample] [--gtfs 60000]

``--against OTHER_CHECKOUT`` runs this checkout and the other in turns (``--turns`` child
processes each, alternating, so that both see the same load of a shared machine) and prints
the medians side by side. ``--check OTHER_CHECKOUT`` runs ``magicmix-geo run --no-cache`` on the
bundled sample with both checkouts and compares the outputs: the CSV files byte for byte, every
GeoPackage layer column by column, the PDF's text (``pdftotext -layout``), the PNG map's pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "fixed-cost"
SAMPLE = ROOT / "data" / "sample"
# the tiny municipality, EPSG:28992: 400 x 400 m in the sample's study area (Wippolder)
TINY_BOX = (85_300.0, 445_700.0, 85_700.0, 446_100.0)
TINY_OSM_MARGIN_M = 500.0
# the Netherlands, WGS84, for the synthetic national GTFS table
NL_LAT, NL_LON = (50.8, 53.5), (3.4, 7.2)
# what differs between any two runs: the run's manifest (run id, times), the styles' write time,
# the run id printed in the PDF reports
RUN_LAYERS = {"manifest"}
RUN_COLUMNS = ["update_time"]
RUN_ID = re.compile(rb"\b[0-9a-f]{32}\b")


def build_tiny() -> tuple[Path, Path]:
    """The tiny municipality's OSM extract and boundary (built once)."""
    import geopandas as gpd
    from shapely.geometry import box

    osm, boundary = WORK / "tiny.osm.pbf", WORK / "boundary.gpkg"
    if osm.is_file() and boundary.is_file():
        return osm, boundary
    WORK.mkdir(parents=True, exist_ok=True)
    area = gpd.GeoDataFrame({"gm_code": ["GM0503"]}, geometry=[box(*TINY_BOX)], crs=28992)
    area.to_file(boundary, driver="GPKG")
    x0, y0, x1, y1 = TINY_BOX
    m = TINY_OSM_MARGIN_M
    grown = gpd.GeoSeries([box(x0 - m, y0 - m, x1 + m, y1 + m)], crs=28992).to_crs(4326)
    bbox = ",".join(f"{v:.6f}" for v in grown.total_bounds)
    subprocess.run(
        [
            "osmium",
            "extract",
            "-O",
            "-s",
            "smart",
            "-b",
            bbox,
            str(SAMPLE / "tudelft.osm.pbf"),
            "-o",
            str(osm),
        ],
        check=True,
        capture_output=True,
    )
    return osm, boundary


def national_gtfs(n: int) -> Path:
    """A GTFS stop table of ``n`` stops spread evenly over the Netherlands (built once)."""
    import numpy as np
    import pandas as pd

    path = WORK / f"gtfs-{n}.csv"
    if path.is_file():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    pd.DataFrame(
        {
            "stop_id": [f"stoparea:{i}" for i in range(n)],
            "stop_name": [f"Halte {i}" for i in range(n)],
            "lat": rng.uniform(*NL_LAT, n),
            "lon": rng.uniform(*NL_LON, n),
            "departures_per_hour": rng.uniform(0.0, 12.0, n).round(2),
        }
    ).to_csv(path, index=False)
    return path


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Rank and publish one municipality ``args.repeat`` + 1 times in this process."""
    clock = time.process_time()
    import magicmix_geo.pipeline as pipeline
    import magicmix_geo.publish.run as publish_run
    from magicmix_geo.config import load_settings
    from magicmix_geo.national import process_area
    from magicmix_geo.sample import sample_config, sample_inputs

    imports = time.process_time() - clock
    # the stage clocks (wall) on this process's CPU clock: a shared machine stretches wall
    pipeline.time.perf_counter = time.process_time  # type: ignore[attr-defined]
    publish_run.time.perf_counter = time.process_time  # type: ignore[attr-defined]
    from dataclasses import replace

    inputs = sample_inputs()
    if not args.sample:
        osm, boundary = build_tiny()
        inputs = replace(inputs, osm=osm, boundary=boundary, bag=None, plans=None)
    if args.gtfs:
        inputs = replace(inputs, gtfs=national_gtfs(args.gtfs))
    settings = load_settings(sample_config())
    context = publish_run.new_context(settings, datetime.now(UTC))
    calls = []
    profiler = None
    for i in range(args.repeat + 1):
        staging = tempfile.mkdtemp(prefix="fixed-cost-")
        if args.profile and i == args.repeat:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        clock = time.process_time()
        outcome = process_area(inputs, settings, None, staging, context)
        cpu = time.process_time() - clock
        if profiler is not None:
            profiler.disable()
        if outcome.published is None:
            raise SystemExit(f"failed: {outcome.error}\n{outcome.detail}")
        calls.append({"cpu_s": cpu, "sites": outcome.sites, **outcome.published.entry["timings_s"]})
        subprocess.run(["rm", "-rf", staging], check=True)
    if profiler is not None:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumtime").print_stats(40)
    steady = calls[1:]
    return {
        "imports_cpu_s": round(imports, 3),
        "sites": calls[0]["sites"],
        "first_cpu_s": round(calls[0]["cpu_s"], 3),
        "median_cpu_s": {
            k: round(statistics.median(c[k] for c in steady), 4) for k in calls[0] if k != "sites"
        },
    }


def against(args: argparse.Namespace) -> None:
    """This checkout and ``args.against`` in turns, each call a child process."""
    checkouts = {"this": ROOT, "other": Path(args.against).resolve()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    child = [sys.executable, str(Path(__file__).resolve()), "--json", "--repeat", str(args.repeat)]
    child += ["--sample"] if args.sample else []
    child += ["--gtfs", str(args.gtfs)] if args.gtfs else []
    for turn in range(args.turns):
        for name, checkout in checkouts.items() if turn % 2 == 0 else reversed(checkouts.items()):
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            out = subprocess.run(child, env=env, check=True, capture_output=True, text=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = list(runs["this"][0]["median_cpu_s"])
    print(f"CPU seconds per municipality, median of {args.turns} processes x {args.repeat} calls")
    print(f"{'':28s} {'other':>9s} {'this':>9s}")
    for key in ["first_cpu_s", *keys]:
        values = []
        for name in ("other", "this"):
            got = [r[key] if key == "first_cpu_s" else r["median_cpu_s"][key] for r in runs[name]]
            values.append(statistics.median(got))
        print(f"{key:28s} {values[0]:9.3f} {values[1]:9.3f}")


def check(args: argparse.Namespace) -> int:
    """The sample's outputs of both checkouts compared; 0 when they are the same."""
    import geopandas as gpd
    import numpy as np
    import pyogrio
    from PIL import Image

    outs = {}
    with tempfile.TemporaryDirectory(prefix="fixed-cost-check-") as tmp:
        for name, checkout in (("this", ROOT), ("other", Path(args.check).resolve())):
            out = Path(tmp) / name
            env = {**os.environ, "PYTHONPATH": str(checkout)}
            command = [sys.executable, "-m", "magicmix_geo.cli", "run", "--no-cache", "--out"]
            subprocess.run([*command, str(out)], env=env, check=True, capture_output=True)
            outs[name] = out
        this, other = outs["this"], outs["other"]
        problems = []
        for csv in sorted(p.relative_to(other) for p in other.rglob("*.csv")):
            if (this / csv).read_bytes() != (other / csv).read_bytes():
                problems.append(f"{csv}: bytes differ")
        for gpkg in sorted(p.relative_to(other) for p in other.rglob("*.gpkg")):
            for layer, _ in pyogrio.list_layers(other / gpkg):
                if layer in RUN_LAYERS:
                    continue
                a = gpd.read_file(this / gpkg, layer=layer).drop(
                    columns=RUN_COLUMNS, errors="ignore"
                )
                b = gpd.read_file(other / gpkg, layer=layer).drop(
                    columns=RUN_COLUMNS, errors="ignore"
                )
                if list(a.columns) != list(b.columns) or not a.equals(b):
                    problems.append(f"{gpkg} {layer}: differs")
        for pdf in sorted(p.relative_to(other) for p in other.rglob("*.pdf")):
            texts = [
                RUN_ID.sub(
                    b"<run id>",
                    subprocess.run(
                        ["pdftotext", "-layout", str(root / pdf), "-"],
                        check=True,
                        capture_output=True,
                    ).stdout,
                )
                for root in (this, other)
            ]
            if texts[0] != texts[1]:
                problems.append(f"{pdf}: text differs")
        for png in sorted(p.relative_to(other) for p in other.rglob("*.png")):
            pixels = [np.asarray(Image.open(root / png)) for root in (this, other)]
            if pixels[0].shape != pixels[1].shape or (pixels[0] != pixels[1]).any():
                problems.append(f"{png}: pixels differ")
        print("\n".join(problems) or "same outputs: CSV bytes, GeoPackage layers, PDF text, PNG")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--sample", action="store_true", help="the whole sample, not the tiny")
    parser.add_argument("--gtfs", type=int, default=0, help="a national GTFS table of N stops")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--against", type=Path)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--check", type=Path)
    args = parser.parse_args(argv)
    if args.check:
        return check(args)
    if args.against:
        against(args)
        return 0
    result = measure(args)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
