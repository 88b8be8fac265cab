"""The ``magicmix-geo`` command line: parse arguments, run, map errors to exit codes.

Exit status: 0 success; 2 bad input or configuration (one line naming the file or key);
1 any other failure. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from magicmix_geo import __version__
from magicmix_geo._atomic import interrupt_on_sigterm, point_latest
from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings

if TYPE_CHECKING:
    from magicmix_geo.config import Settings
    from magicmix_geo.contract import MunicipalityResult, RankInputs
    from magicmix_geo.score.capacity import CapacityRun

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
PLANS_HELP = (
    "planned housing projects (plancapaciteit: GPKG, GeoJSON, SHP, CSV+WKT); columns "
    "mapped by [plans.columns] in --config"
)
# a full disk, a read-only file system or a forbidden folder: the user must fix the output place
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="magicmix-geo",
        description="Rank candidate housing sites for Magic Mix housing in Dutch municipalities.",
    )
    parser.add_argument("--version", action="version", version=f"magicmix-geo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="the whole pipeline on the bundled real sample (offline)")
    run.add_argument(
        "--out", type=Path, default=None, help="output folder (default outputs/sample)"
    )
    run.add_argument("--profile", default=None, help="household profile: singles or families")
    run.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")
    run.add_argument("--no-cache", action="store_true", help="recompute; ignore the result cache")
    _add_capacity_options(run)

    rank = sub.add_parser("rank", help="one municipality from local files or the data cache")
    rank.add_argument(
        "--osm",
        type=Path,
        default=None,
        help=".osm.pbf, .osm, .osm.gz or .osm.bz2 (default: from the data cache, see acquire)",
    )
    rank.add_argument("--area", required=True, help="municipality code, e.g. GM0503")
    rank.add_argument(
        "--boundary", type=Path, help="area polygon (default: extent of the OSM data)"
    )
    rank.add_argument(
        "--cbs",
        type=Path,
        action="append",
        default=[],
        help="CBS kerncijfers per gemeente and/or buurten file (repeatable)",
    )
    rank.add_argument("--grid", type=Path, help="CBS 100 m vierkantstatistieken")
    rank.add_argument(
        "--candidates", type=Path, help="candidate sites (GPKG, GeoJSON, SHP, CSV+WKT)"
    )
    rank.add_argument("--bag", type=Path, help="BAG panden (refine residential buildings)")
    rank.add_argument("--plans", type=Path, help=PLANS_HELP)
    rank.add_argument("--profile", default="singles", help="household profile: singles or families")
    rank.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")
    rank.add_argument(
        "--out", type=Path, default=None, help="output folder (default outputs/<run>)"
    )
    rank.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data cache used without --osm (default: $MAGICMIX_DATA_DIR or ~/.cache/magicmix-geo)",
    )
    rank.add_argument("--no-cache", action="store_true", help="recompute; ignore the result cache")
    _add_capacity_options(rank)

    acq = sub.add_parser("acquire", help="download / refresh the sources into the data cache")
    acq.add_argument(
        "--sources", default=None, help="comma list of osm,cbs,brk,bag,gtfs (default all)"
    )
    where = acq.add_mutually_exclusive_group()
    where.add_argument("--areas", default=None, help="municipality codes, e.g. GM0503,GM0363")
    where.add_argument("--all", action="store_true", help="every municipality of the CBS map")
    acq.add_argument("--data-dir", type=Path, default=None, help="the data cache folder")
    acq.add_argument("--offline", action="store_true", help="use only the cache; download nothing")
    acq.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")
    _add_national_parsers(sub)
    return parser


def _add_capacity_options(parser: argparse.ArgumentParser) -> None:
    # issue 17 hook: --lang rides with the capacity options of run, rank and national
    parser.add_argument(
        "--lang",
        choices=("nl", "en"),
        default="nl",
        help="language of the PDF reports, the overview and index.html (default nl)",
    )
    parser.add_argument(
        "--reserve-share",
        type=float,
        default=None,
        help="share of a selected project's homes reserved for statushouders (default "
        "config/capacity.toml, 0.05); e.g. 0.10 for a what-if",
    )
    parser.add_argument(
        "--tasks",
        type=Path,
        default=None,
        help="the municipalities' task to compare with: a CSV with gm_code, period, "
        "taakstelling (persons), or the circulaire's Bijlage A table (CSV or xlsx; names "
        "mapped to codes through the cached CBS map)",
    )


def _capacity_run(args: argparse.Namespace, settings: Settings) -> CapacityRun:
    """The what-if of this run from --reserve-share and --tasks."""
    from magicmix_geo.prepare.tasks import load_tasks
    from magicmix_geo.score.capacity import CapacityRun
    from magicmix_geo.sources.cache import DataCache

    share = args.reserve_share
    if share is None:
        share = settings.capacity.reserve_share
    elif not 0.0 < share <= 1.0:
        raise InputError(f"--reserve-share: {share} is not a share in (0, 1]")
    tasks = None
    if args.tasks is not None:
        # the task counts persons; the sites offer homes (persons_per_home of the profile)
        profile = getattr(args, "profile", None) or "singles"
        tasks = load_tasks(
            args.tasks,
            persons_per_home=settings.persons_per_home.get(profile, 1.0),
            names_file=DataCache.at(getattr(args, "data_dir", None)).cbs_map(),
        )
    return CapacityRun(
        share=share, tasks=tasks, tasks_source=str(args.tasks) if args.tasks else None
    )


def _add_national_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nat = sub.add_parser("national", help="many municipalities in parallel and the national list")
    which = nat.add_mutually_exclusive_group()
    which.add_argument("--areas", default=None, help="municipality codes, e.g. GM0503,GM0363")
    which.add_argument(
        "--all",
        action="store_true",
        help="every municipality (of the areas file or the data cache)",
    )
    nat.add_argument(
        "--areas-file",
        type=Path,
        default=None,
        help="TOML listing local files per municipality (default: the data cache)",
    )
    nat.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of a local Dask cluster (default one per CPU; 0: none)",
    )
    nat.add_argument("--dask-address", default=None, help="existing Dask scheduler tcp://HOST:PORT")
    nat.add_argument(
        "--out", type=Path, default=None, help="output folder (default outputs/national)"
    )
    nat.add_argument("--profile", default=None, help="household profile for every municipality")
    nat.add_argument("--config", type=Path, default=None, help="TOML file layered over config/")
    nat.add_argument("--data-dir", type=Path, default=None, help="the data cache folder")
    nat.add_argument("--no-cache", action="store_true", help="recompute; ignore the result cache")
    nat.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    nat.add_argument("--plans", type=Path, default=None, help=PLANS_HELP)
    _add_capacity_options(nat)

    srv = sub.add_parser("serve", help="register and serve the nightly Prefect schedule")
    srv.add_argument("--cron", default="0 2 * * *", help="cron schedule (default: 02:00 nightly)")
    srv.add_argument("--timezone", default="Europe/Amsterdam", help="time zone of --cron")
    srv.add_argument("--name", default="nightly", help="deployment name")
    srv.add_argument("--areas-file", type=Path, default=None, help="as for national")
    srv.add_argument("--areas", default=None, help="as for national (default: all)")
    srv.add_argument("--workers", type=int, default=None, help="as for national")
    srv.add_argument("--dask-address", default=None, help="as for national")
    srv.add_argument("--out", type=Path, default=None, help="as for national")
    srv.add_argument("--data-dir", type=Path, default=None, help="as for national")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        interrupt_on_sigterm()  # issue 16: SIGTERM cleans up like Ctrl-C
    try:
        if args.command == "run":
            return _run_sample(args)
        if args.command == "rank":
            return _rank(args)
        if args.command == "acquire":
            return _acquire(args)
        if args.command == "national":
            return _national(args)
        if args.command == "serve":
            return _serve(args)
        parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    except InputError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"magicmix-geo: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        if exc.errno in _OUTPUT_ERRNOS:
            where = exc.filename or "output"
            print(f"magicmix-geo: error: {where}: cannot write ({exc.strerror})", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"magicmix-geo: failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
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

    from magicmix_geo.sample import SAMPLE_OUT, sample_config, sample_inputs

    inputs = sample_inputs()
    if args.profile:
        inputs = replace(inputs, profile=args.profile)
    # issue 14: the sample's own settings (its plans file's columns), then the user's
    config = [c for c in (sample_config(), args.config) if c is not None]
    return _execute(
        inputs,
        config,
        args.out or SAMPLE_OUT,
        update_latest=args.out is None,
        use_cache=not args.no_cache,
        args=args,
    )


def _rank(args: argparse.Namespace) -> int:
    from magicmix_geo.contract import RankInputs

    if args.osm is None:
        return _rank_from_cache(args)
    inputs = RankInputs(
        osm=args.osm,
        gm_code=args.area,
        boundary=args.boundary,
        cbs=tuple(args.cbs),
        grid=args.grid,
        candidates=args.candidates,
        bag=args.bag,
        profile=args.profile,
        plans=args.plans,
    )
    out = args.out or Path("outputs") / f"{args.area}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return _execute(
        inputs,
        args.config,
        out,
        update_latest=args.out is None,
        use_cache=not args.no_cache,
        args=args,
    )


def _rank_from_cache(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from magicmix_geo.sources.acquire import cached_rank_inputs

    settings = load_settings(args.config)
    inputs, chosen = cached_rank_inputs(
        settings, args.area, data_dir=args.data_dir, profile=args.profile, log=_say
    )
    # files given on the command line win over the cached ones
    given = {k: getattr(args, k) for k in ("boundary", "grid", "candidates", "bag", "plans")}
    inputs = replace(inputs, **{k: v for k, v in given.items() if v is not None})
    if args.boundary is not None:
        inputs = replace(inputs, boundary_source="file")
    if args.cbs:
        inputs = replace(inputs, cbs=tuple(args.cbs))
    inputs = _slice_of_shared_file(inputs, settings)
    if args.candidates is not None:
        chosen["candidates"] = {"used": "file", "reason": "--candidates"}
    elif chosen["candidates"]["used"] == "brk":
        inputs = replace(inputs, candidate_source="brk")
    _say(f"candidates: {chosen['candidates']['used']} ({chosen['candidates']['reason']})")
    out = args.out or Path("outputs") / f"{args.area}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return _execute(
        inputs,
        args.config,
        out,
        update_latest=args.out is None,
        extra={"acquired": chosen},
        use_cache=not args.no_cache,
        args=args,
    )


def _slice_of_shared_file(inputs: RankInputs, settings: Settings) -> RankInputs:
    """The municipality's slice of the (large) cached OSM file, cut once per file version."""
    from magicmix_geo.cache import default_cache_dir
    from magicmix_geo.prepare.clip import CLIP_MARGIN_M
    from magicmix_geo.prepare.extracts import EXTRACT_SLACK_M, share_osm_files
    from magicmix_geo.prepare.osm import reader_keys

    buffer_m = settings.walk.clip_buffer_m + CLIP_MARGIN_M + EXTRACT_SLACK_M
    store = default_cache_dir() / "osm-extracts"
    cut, _, failed = share_osm_files([inputs], buffer_m, store, reader_keys(settings), log=_say)
    if failed:
        raise failed[inputs.gm_code]
    return cut[0]


def _acquire(args: argparse.Namespace) -> int:
    from magicmix_geo.sources.acquire import acquire, parse_areas, parse_sources
    from magicmix_geo.sources.cache import DataCache

    settings = load_settings(args.config)
    sources = parse_sources(args.sources)
    areas = parse_areas(args.areas)
    cache = DataCache.at(args.data_dir)
    _say(
        f"acquiring {', '.join(sources)} into {cache.root}" + (" (offline)" if args.offline else "")
    )
    manifests = acquire(
        settings,
        sources=sources,
        areas=areas,
        all_areas=args.all,
        data_dir=cache.root,
        offline=args.offline,
        log=_say,
    )
    for name, manifest in manifests.items():
        print(
            f"{name}: version {manifest.get('version')}, "
            f"sha256 {str(manifest.get('sha256'))[:12]}, {cache.manifest_path(name)}"
        )
    return EXIT_OK


def _execute(
    inputs: RankInputs,
    config: Path | Sequence[Path] | None,
    out: Path,
    *,
    update_latest: bool = False,
    extra: dict[str, object] | None = None,
    use_cache: bool = True,
    args: argparse.Namespace | None = None,
) -> int:
    from magicmix_geo._atomic import check_output_dir
    from magicmix_geo.publish.run import publish_run

    started = datetime.now(UTC)
    clock = time.perf_counter()
    settings = load_settings(config)
    capacity = _capacity_run(args, settings) if args is not None else None
    check_output_dir(out)
    _say(f"ranking {inputs.gm_code} from {inputs.osm} (profile {inputs.profile})")
    result = _rank_cached(inputs, settings, use_cache)
    sites = result.sites
    _say(
        f"{len(sites)} sites ({result.candidate_source}), "
        f"{int((~sites['excluded']).sum())} ranked, "
        f"network {result.network['nodes']} nodes / {result.network['segments']} segments"
    )
    publish_run(
        [result],
        out,
        settings,
        started=started,
        extra=extra,
        capacity=capacity,
        lang=getattr(args, "lang", "nl"),
    )  # issue 17 hook: lang
    if update_latest:
        # outputs/latest moves only after the run folder is complete
        point_latest(Path(out).parent / "latest", Path(out))
    _say(f"done in {time.perf_counter() - clock:.1f} s")
    print(f"outputs written to {Path(out).resolve()}")
    return EXIT_OK


def _rank_cached(inputs: RankInputs, settings: Settings, use_cache: bool) -> MunicipalityResult:
    """rank_municipality through the result cache (magicmix_geo.cache), unless disabled."""
    from magicmix_geo.cache import ResultCache, default_cache_dir, rank_cached
    from magicmix_geo.progress import spinner, stderr_console

    cache = ResultCache(default_cache_dir()) if use_cache else None
    with spinner(
        "ranking (reading OSM, network, candidates, distances, scores)", console=stderr_console()
    ):
        ranked = rank_cached(inputs, settings, cache)
    if ranked.hit:
        _say(f"unchanged inputs, configuration and code: result from the cache {ranked.path}")
    return ranked.result


def _national(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from magicmix_geo.cache import default_cache_dir
    from magicmix_geo.national import (
        DEFAULT_OUT,
        cached_areas,
        check_output_dir,
        parse_codes,
        print_summary,
        read_areas_file,
        run_national,
        select_areas,
    )
    from magicmix_geo.progress import stderr_console

    settings = load_settings(args.config)
    codes = parse_codes(args.areas) if args.areas else None
    if args.areas_file is not None:
        areas: list = select_areas(read_areas_file(args.areas_file), codes)
        if args.profile:
            areas = [replace(a, profile=args.profile) for a in areas]
    elif codes is None and not args.all:
        raise InputError(
            "national: give --areas GM0503,... or --all (and --areas-file FILE "
            "for local files instead of the data cache)"
        )
    else:
        areas = cached_areas(codes, args.data_dir, args.profile or "singles")
    if args.plans is not None:  # issue 14: one plans file for every area without its own
        areas = [a if getattr(a, "plans", None) else replace(a, plans=args.plans) for a in areas]
    if args.workers is not None and args.workers < 0:
        raise InputError("--workers: must be 0 or more")
    out = args.out or DEFAULT_OUT
    check_output_dir(out)
    console = stderr_console(not args.quiet)
    run = run_national(
        areas,
        settings,
        out,
        workers=args.workers,
        dask_address=args.dask_address,
        cache_dir=None if args.no_cache else default_cache_dir(),
        console=console,
        capacity=_capacity_run(args, settings),
        lang=args.lang,  # issue 17 hook: lang
    )
    print_summary(run, stderr_console(True) if run.failed else console)
    if args.debug:
        for outcome in run.failed:
            print(outcome.detail, file=sys.stderr)
    if run.published or run.up_to_date:
        print(f"outputs in {Path(out).resolve()}")
    return EXIT_FAILURE if run.failed else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    """Run the nightly flow (``flows.nightly``, installed with the package) in its own process:
    the library itself never imports prefect."""
    import subprocess

    command = [
        sys.executable,
        "-m",
        "flows.nightly",
        "serve",
        "--cron",
        args.cron,
        "--timezone",
        args.timezone,
        "--name",
        args.name,
    ]
    for option in ("areas_file", "areas", "workers", "dask_address", "out", "data_dir"):
        value = getattr(args, option)
        if isinstance(value, Path):
            value = value.resolve()
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    return subprocess.call(command)


def _say(message: str) -> None:
    print(f"magicmix-geo: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
