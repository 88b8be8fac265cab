"""Prefect flow: the national run, a thin wrapper around the library's one orchestrator
(:func:`magicmix_geo.national.run_national`: plan with the OSM store, rank and publish each
municipality on Dask, national lists from the published files).

The municipalities come from an areas file (TOML, see ``magicmix_geo.national``) or from the
acquisition data cache (``--areas GM0503,... | --all``). With ``--workers N`` the ranking runs
on a local Dask cluster of N processes, with ``--dask-address`` on an existing cluster. An
unchanged municipality is served from the library's result cache. A municipality that fails is
listed in the manifest and fails the flow run, after the others have been published. Run::

    .venv/bin/python -m flows.national --areas-file areas.toml --workers 4 --out outputs/national
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from magicmix_geo._errors import InputError
from magicmix_geo.cache import default_cache_dir
from magicmix_geo.config import Settings, load_settings
from magicmix_geo.national import (
    DEFAULT_OUT,
    Area,
    cached_areas,
    parse_codes,
    read_areas_file,
    run_national,
    select_areas,
)


class MunicipalitiesFailedError(RuntimeError):
    """Some municipalities failed; the others were published."""


@functools.lru_cache(maxsize=8)
def settings_for(config: str | None) -> Settings:
    return load_settings(Path(config) if config else None)


def not_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry unless the failure is bad input or configuration, which a retry cannot fix."""
    try:
        state.result()
    except InputError:
        return False
    except Exception:
        return True
    return True


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=not_bad_input)
def list_areas(
    areas_file: str | None, codes: list[str] | None, data_dir: str | None, profile: str | None
) -> list[Area]:
    """The municipalities of this run: from the areas file, else from the data cache."""
    if areas_file:
        areas: list[Area] = list(select_areas(read_areas_file(Path(areas_file)), codes))
        return [replace(a, profile=profile) for a in areas] if profile else areas
    return list(cached_areas(codes, Path(data_dir) if data_dir else None, profile or "singles"))


@task(retries=1, retry_delay_seconds=[15], retry_condition_fn=not_bad_input)
def rank_and_publish(
    areas: list[Area],
    out: str,
    config: str | None,
    cache_dir: str | None,
    workers: int | None,
    dask_address: str | None,
) -> dict[str, Any]:
    """The library's national run; returns its summary (small, JSON)."""
    run = run_national(
        areas,
        settings_for(config),
        Path(out),
        workers=workers,
        dask_address=dask_address,
        cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
    )
    return run.to_dict()


@flow(name="magicmix-national")
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
    listed = list_areas(areas_file, areas, data_dir, profile)
    summary = rank_and_publish(listed, out, config, cache_dir, workers, dask_address)
    report(summary)
    failed = [r for r in summary["municipalities"] if r["status"] == "failed"]
    if failed:
        raise MunicipalitiesFailedError(
            f"{len(failed)} of {len(summary['municipalities'])} municipalities failed: "
            + "; ".join(f"{r['gm_code']}: {r['error']}" for r in failed)
        )
    return summary


def report(summary: dict[str, Any]) -> None:
    """The run summary as a Prefect artifact and a log line."""
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
        areas_file=args.areas_file,
        areas=parse_codes(args.areas) if args.areas else None,
        out=args.out,
        config=args.config,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        workers=args.workers,
        dask_address=args.dask_address,
        profile=args.profile,
    )


if __name__ == "__main__":
    main()
