"""Prefect flow: the nightly run (acquire, then the national ranking) and its schedule.

``magicmix-geo serve`` runs ``python -m flows.nightly serve``: it registers the deployment
``magicmix-nightly/<name>`` with a cron schedule (default 02:00 Europe/Amsterdam) on a Prefect
server and serves it (this process starts the scheduled runs). The schedule needs a real
server; Prefect's ephemeral in-process server forgets everything when the process ends::

    .venv/bin/prefect server start                       # in its own terminal / service
    .venv/bin/prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api
    .venv/bin/magicmix-geo serve --cron "0 2 * * *" --areas-file areas.toml --workers 4

Run the nightly flow once, now: ``.venv/bin/python -m flows.nightly run --areas-file ...``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import urllib.request
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL

from flows.national import DEFAULT_OUT, national
from magicmix_geo.national import parse_codes

FLOW_NAME = "magicmix-nightly"
DEFAULT_CRON = "0 2 * * *"
TIMEZONE = "Europe/Amsterdam"
SERVER_CHECK_TIMEOUT_S = 10


def acquire_hook() -> Any | None:
    """The acquisition flow (``flows/acquire.py``: ``acquire_flow``) when it exists."""
    try:
        from flows.acquire import acquire_flow
    except ImportError:
        return None
    return acquire_flow


@flow(name=FLOW_NAME)
def nightly(
    areas_file: str | None = None,
    areas: list[str] | None = None,
    out: str = str(DEFAULT_OUT),
    data_dir: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    config: str | None = None,
    cache_dir: str | None = None,
    acquire: bool = True,
) -> dict[str, Any]:
    """Refresh the data cache (unless ``acquire`` is False or an areas file gives local files),
    then rank every municipality and publish the national list."""
    logger = get_run_logger()
    acquire_flow = acquire_hook()
    if not acquire or areas_file:
        logger.info("acquisition skipped (%s)", "areas file" if areas_file else "acquire=False")
    elif acquire_flow is None:
        logger.warning("flows/acquire.py not found: acquisition skipped, using the data cache")
    else:
        offered = inspect.signature(acquire_flow.fn).parameters
        # no areas named: every municipality, so per-area sources (BRK, BAG) are refreshed too
        kwargs = {"areas": areas, "data_dir": data_dir, "config": config, "all_areas": not areas}
        acquire_flow(**{k: v for k, v in kwargs.items() if k in offered})
    return national(
        areas_file=areas_file,
        areas=areas,
        out=out,
        config=config,
        data_dir=data_dir,
        cache_dir=cache_dir,
        workers=workers,
        dask_address=dask_address,
    )


def schedule(cron: str = DEFAULT_CRON, timezone: str = TIMEZONE) -> Any:
    return Cron(cron, timezone=timezone)


def deployment(
    name: str = "nightly",
    cron: str = DEFAULT_CRON,
    timezone: str = TIMEZONE,
    parameters: dict[str, Any] | None = None,
) -> Any:
    """The nightly deployment (not yet registered)."""
    return nightly.to_deployment(
        name=name,
        schedules=[schedule(cron, timezone)],
        parameters=parameters or {},
        description="Nightly Magic Mix ranking of the Dutch municipalities",
        tags=["magicmix", "nightly"],
    )


def require_server() -> str:
    """The API URL of a real Prefect server; the ephemeral one cannot keep a schedule."""
    url = PREFECT_API_URL.value()
    if not url:
        raise SystemExit(
            "magicmix-geo: error: no Prefect server configured (PREFECT_API_URL is unset); the "
            "ephemeral server cannot keep a schedule. Start one with `prefect server start` and "
            "run `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    # issue 16: an unreachable server is one line, not Prefect's traceback
    health = str(url).rstrip("/") + "/health"  # Prefect REST API: GET /health -> true
    try:
        with urllib.request.urlopen(health, timeout=SERVER_CHECK_TIMEOUT_S) as answer:
            answer.read(64)
    except (OSError, ValueError) as exc:  # URLError, refused, timeout, a malformed URL
        reason = getattr(exc, "reason", None) or exc
        raise SystemExit(
            f"magicmix-geo: error: PREFECT_API_URL {url}: no Prefect server answers ({reason}); "
            "start one with `prefect server start` or fix PREFECT_API_URL"
        ) from None
    return str(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The nightly Magic Mix run (Prefect).")
    parser.add_argument("action", choices=["serve", "register", "run"])
    parser.add_argument("--cron", default=DEFAULT_CRON)
    parser.add_argument("--timezone", default=TIMEZONE)
    parser.add_argument("--name", default="nightly")
    parser.add_argument("--areas-file", default=None)
    parser.add_argument("--areas", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--dask-address", default=None)
    args = parser.parse_args(argv)
    params: dict[str, Any] = {
        "areas_file": str(Path(args.areas_file).resolve()) if args.areas_file else None,
        "areas": parse_codes(args.areas) if args.areas else None,
        "out": str(Path(args.out).resolve()) if args.out else None,
        "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "workers": args.workers,
        "dask_address": args.dask_address,
    }
    params = {k: v for k, v in params.items() if v is not None}
    if args.action == "run":
        nightly(**params)
        return 0
    try:
        schedule(args.cron, args.timezone)
    except ValueError as exc:
        print(
            f"magicmix-geo: error: --cron {args.cron!r} / --timezone {args.timezone!r}: {exc}",
            file=sys.stderr,
        )
        return 2
    try:
        url = require_server()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.action == "register":
        deployment_id = deployment(args.name, args.cron, args.timezone, params).apply()
        print(f"registered {FLOW_NAME}/{args.name} ({deployment_id}) on {url}")
        return 0
    print(f"serving {FLOW_NAME}/{args.name}: '{args.cron}' {args.timezone} on {url}", flush=True)
    from prefect import serve

    serve(deployment(args.name, args.cron, args.timezone, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
