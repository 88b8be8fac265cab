"""Prefect flow: fill and refresh the data cache (``magicmix-geo acquire`` as a flow).

Each task acquires one source and returns the path of its manifest and its sha256 (paths and
hashes, never frames). CBS runs first: BRK and BAG need the municipal boundaries it writes.
A failing source (CBS OData stalled, say) does not stop the others: every source is tried,
then the flow fails naming the ones that failed, their previous cached copies kept (a
download is moved into the cache only when complete and verified). Run it::

    .venv/bin/python -m flows.acquire --areas GM0503 --sources osm,cbs,brk,bag,gtfs

A failed run prints ``magicmix-geo: error: acquire flow: <source>: <why>`` and exits 2, as
``magicmix-geo acquire`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prefect import flow, task

from magicmix_geo._errors import InputError
from magicmix_geo.config import load_settings
from magicmix_geo.sources._http import SourceError
from magicmix_geo.sources.acquire import acquire, parse_areas, parse_sources
from magicmix_geo.sources.cache import DataCache

EXIT_FAILED = 2  # as `magicmix-geo acquire` for a source that cannot be acquired


def retry_unless_source_error(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a task that crashed, not one whose source failed: the library has already
    retried that source's requests (``[sources.acquire] attempts``, backoff, deadline), so a
    404, a 500 that outlasted them or a truncated file is this run's answer."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, SourceError)


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=retry_unless_source_error,
)
def acquire_source(
    source: str,
    areas: list[str],
    data_dir: str,
    offline: bool = False,
    config: str | None = None,
    all_areas: bool = False,
) -> dict[str, str]:
    """Acquire one source into the cache; return its manifest path and sha256."""
    settings = load_settings(Path(config) if config else None)
    manifests = acquire(
        settings,
        sources=[source],
        areas=areas,
        all_areas=all_areas,
        data_dir=Path(data_dir),
        offline=offline,
    )
    cache = DataCache.at(Path(data_dir))
    manifest = manifests.get(source, {})
    return {
        "source": source,
        "manifest": str(cache.manifest_path(source)),
        "sha256": str(manifest.get("sha256", "")),
    }


@flow(name="magicmix-acquire")
def acquire_flow(
    sources: list[str] | None = None,
    areas: list[str] | None = None,
    data_dir: str | None = None,
    offline: bool = False,
    config: str | None = None,
    all_areas: bool = False,
) -> list[dict[str, str]]:
    """Acquire ``sources`` (default all) for ``areas`` (or every municipality) into ``data_dir``."""
    names = sources or parse_sources(None)
    codes = areas or []
    root = str(DataCache.at(Path(data_dir) if data_dir else None).root)
    states = []
    if "cbs" in names:
        states.append(
            (
                "cbs",
                acquire_source("cbs", codes, root, offline, config, all_areas, return_state=True),
            )
        )
    futures = [
        (name, acquire_source.submit(name, codes, root, offline, config, all_areas))
        for name in names
        if name != "cbs"
    ]
    for name, future in futures:
        future.wait()
        states.append((name, future.state))
    results: list[dict[str, str]] = []
    failed: list[str] = []
    for name, state in states:
        if state.is_completed():
            results.append(state.result())
            continue
        error = state.result(raise_on_failure=False)
        # a SourceError's text starts with its source; anything else gets the name here
        failed.append(str(error) if isinstance(error, SourceError) else f"{name}: {error}")
    if failed:
        raise AcquireFailedError("; ".join(failed))
    return results


class AcquireFailedError(RuntimeError):
    """Some sources failed; the others were acquired and their cache entries written."""


def main(argv: list[str] | None = None) -> int:
    """Run the flow from the command line; 0 when every source was acquired, else 2."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", default=None)
    parser.add_argument("--areas", default=None)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    try:
        results = acquire_flow(
            sources=parse_sources(args.sources),
            areas=parse_areas(args.areas),
            data_dir=args.data_dir,
            offline=args.offline,
            config=args.config,
            all_areas=args.all,
        )
    except (AcquireFailedError, InputError) as exc:
        print(f"magicmix-geo: error: acquire flow: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
