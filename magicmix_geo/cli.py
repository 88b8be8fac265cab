"""The ``magicmix-geo`` command line: parse arguments, run, map errors to exit codes.

Exit status: 0 success; 2 bad input or configuration (one line naming the file or key);
1 any other failure. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from magicmix_geo import __version__
from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="magicmix-geo",
        description="Rank candidate housing sites for Magic Mix housing in Dutch municipalities.",
    )
    parser.add_argument("--version", action="version", version=f"magicmix-geo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="the whole pipeline on the bundled real sample (offline)")
    run.add_argument("--out", type=Path, default=None, help="output folder (default outputs/sample)")
    run.add_argument("--profile", default=None, help="household profile: singles or families")
    run.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")

    rank = sub.add_parser("rank", help="one municipality from local files")
    rank.add_argument("--osm", type=Path, required=True, help=".osm.pbf, .osm, .osm.gz or .osm.bz2")
    rank.add_argument("--area", required=True, help="municipality code, e.g. GM0503")
    rank.add_argument("--boundary", type=Path, help="area polygon (default: extent of the OSM data)")
    rank.add_argument(
        "--cbs", type=Path, action="append", default=[],
        help="CBS kerncijfers per gemeente and/or buurten file (repeatable)",
    )
    rank.add_argument("--grid", type=Path, help="CBS 100 m vierkantstatistieken")
    rank.add_argument("--candidates", type=Path, help="candidate sites (GPKG, GeoJSON, SHP, CSV+WKT)")
    rank.add_argument("--bag", type=Path, help="BAG panden (refine residential buildings)")
    rank.add_argument("--profile", default="singles", help="household profile: singles or families")
    rank.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")
    rank.add_argument("--out", type=Path, default=None, help="output folder (default outputs/<run>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run_sample(args)
        if args.command == "rank":
            return _rank(args)
        parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    except InputError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"magicmix-geo: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("magicmix-geo: interrupted; no output was written", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"magicmix-geo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _run_sample(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from magicmix_geo.sample import SAMPLE_OUT, sample_inputs

    inputs = sample_inputs()
    if args.profile:
        inputs = replace(inputs, profile=args.profile)
    return _execute(inputs, args.config, args.out or SAMPLE_OUT)


def _rank(args: argparse.Namespace) -> int:
    from magicmix_geo.pipeline import RankInputs

    inputs = RankInputs(
        osm=args.osm,
        gm_code=args.area,
        boundary=args.boundary,
        cbs=tuple(args.cbs),
        grid=args.grid,
        candidates=args.candidates,
        bag=args.bag,
        profile=args.profile,
    )
    out = args.out or Path("outputs") / f"{args.area}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return _execute(inputs, args.config, out)


def _execute(inputs: object, config: Path | None, out: Path) -> int:
    from magicmix_geo.pipeline import (
        RankInputs,
        check_output_dir,
        publish_run,
        rank_municipality,
    )

    assert isinstance(inputs, RankInputs)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    settings = load_settings(config)
    check_output_dir(out)
    _say(f"ranking {inputs.gm_code} from {inputs.osm} (profile {inputs.profile})")
    result = rank_municipality(inputs, settings)
    sites = result.sites
    _say(
        f"{len(sites)} sites ({result.candidate_source}), {int((~sites['excluded']).sum())} ranked, "
        f"network {result.network['nodes']} nodes / {result.network['segments']} segments"
    )
    publish_run([result], out, settings, started=started)
    _say(f"done in {time.perf_counter() - clock:.1f} s")
    print(f"outputs written to {Path(out).resolve()}")
    return EXIT_OK


def _say(message: str) -> None:
    print(f"magicmix-geo: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
