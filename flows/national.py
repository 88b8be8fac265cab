"""Prefect flow: rank many municipalities (one mapped task each) and publish the national list.

The municipalities come from an areas file (TOML, see ``magicmix_geo.national``) or from the
acquisition data cache (``--areas GM0503,... | --all``). With ``--workers N`` the ranking runs
on a local Dask cluster of N processes, with ``--dask-address`` on an existing cluster; the
Prefect tasks only wait for their municipality there. A municipality that fails is listed in
the manifest and fails the flow run, after the others have been published. Run::

    .venv/bin/python flows/national.py --areas-file areas.toml --workers 4 --out outputs/national
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make `flows` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows.rank import area_key, collect, publish, rank_area, stale
from magicmix_geo.cache import ResultCache, default_cache_dir
from magicmix_geo.national import (
    DEFAULT_OUT,
    cached_areas,
    dask_client,
    default_workers,
    describe_executor,
    parse_codes,
    read_areas_file,
    select_areas,
)


class MunicipalitiesFailedError(RuntimeError):
    """Some municipalities failed; the others were published."""


@task(retries=3, retry_delay_seconds=[2, 5, 15])
def list_areas(
    areas_file: str | None, codes: list[str] | None, data_dir: str | None, profile: str | None
) -> list[Any]:
    """The municipalities of this run: from the areas file, else from the data cache."""
    if areas_file:
        areas = select_areas(read_areas_file(Path(areas_file)), codes)
        if profile:
            from dataclasses import replace

            areas = [replace(a, profile=profile) for a in areas]
        return areas
    return cached_areas(codes, Path(data_dir) if data_dir else None, profile or "singles")


@flow(name="magicmix-national", task_runner=ThreadPoolTaskRunner(max_workers=64))
def national(
    areas_file: str | None = None,
    areas: list[str] | None = None,
    out: str = str(DEFAULT_OUT),
    config: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    """Rank every municipality (``areas``: codes, default all) and publish the national list."""
    logger = get_run_logger()
    started = datetime.now(UTC).isoformat()
    root = cache_dir or str(default_cache_dir())
    listed = list_areas(areas_file, areas, data_dir, profile)
    codes = [a.gm_code for a in listed]
    clock = time.perf_counter()
    prepared = area_key.map(listed, unmapped(config))
    # a cluster only when something must be computed: unchanged results are in the cache
    keys = []
    for future in prepared:
        future.wait()
        if future.state.is_completed():
            keys.append(future.result()["key"])
    todo = [k for k in keys if not ResultCache(Path(root)).path_for(k).is_file()]
    if not todo:
        workers, dask_address = 0, None
    elif workers is None and not dask_address:
        workers = default_workers(len(todo))
    with dask_client(workers, dask_address) as client:
        address = str(client.scheduler.address) if client is not None else None
        executor = describe_executor(client, dask_address)
        logger.info("ranking %d municipalities on %s", len(listed), executor)
        futures = rank_area.map(prepared, unmapped(config), unmapped(root), unmapped(address))
        rows = collect(codes, list(futures), upstream=list(prepared))
        again = [i for i, row in enumerate(rows) if stale(row)]
        if again:  # Prefect remembered a result whose file was since removed: recompute
            refresh = rank_area.with_options(refresh_cache=True)
            redo = [refresh.submit(prepared[i], config, root, address) for i in again]
            for i, row in zip(again, collect([codes[i] for i in again], redo), strict=True):
                rows[i] = row
    rank_seconds = time.perf_counter() - clock
    summary = publish(rows, config, out, started, executor, rank_seconds)
    _report(summary)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise MunicipalitiesFailedError(
            f"{len(failed)} of {len(rows)} municipalities failed: "
            + "; ".join(f"{r['gm_code']}: {r['error']}" for r in failed)
        )
    return summary


def _report(summary: dict[str, Any]) -> None:
    counts = summary["counts"]
    lines = [
        f"**{counts['done']} computed, {counts['cached']} cached, {counts['failed']} failed** "
        f"on {summary['executor']}; ranking {summary['rank_seconds']:.1f} s, publishing "
        f"{summary['publish_seconds']:.1f} s; outputs "
        + ("up to date" if summary["up_to_date"] else f"in `{summary['out_dir']}`"),
        "",
        "| municipality | status | seconds | sites | error |",
        "|---|---|---|---|---|",
    ]
    for row in summary["municipalities"]:
        lines.append(
            f"| {row['gm_code']} | {row['status']} | {row['seconds']:.1f} | "
            f"{row.get('sites') or ''} | {row.get('error') or ''} |"
        )
    create_markdown_artifact("\n".join(lines), key="national-run", description="run summary")
    get_run_logger().info(
        "%d computed, %d cached, %d failed", counts["done"], counts["cached"], counts["failed"]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="National run (Prefect flow).")
    parser.add_argument("--areas-file", default=None)
    parser.add_argument("--areas", default=None, help="codes, default all")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    for name in ("config", "data-dir", "cache-dir", "dask-address", "profile"):
        parser.add_argument(f"--{name}", default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    national(
        areas_file=args.areas_file, areas=parse_codes(args.areas) if args.areas else None,
        out=args.out, config=args.config, data_dir=args.data_dir, cache_dir=args.cache_dir,
        workers=args.workers, dask_address=args.dask_address, profile=args.profile,
    )


if __name__ == "__main__":
    main()
