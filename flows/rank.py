"""Prefect tasks and flow for municipalities: content key, rank through the cache, publish.

``area_key`` resolves a municipality's input files and returns them with their cache key
(SHA-256 over input checksums, configuration hash and code fingerprint, see
``magicmix_geo.cache``). ``rank_area`` caches on its inputs (that key among them) and its own
source, so an unchanged municipality is not recomputed, not even started, on a later run; its
result stays in the library's result cache and the task returns only its path. Run one::

    .venv/bin/python flows/rank.py --osm data/sample/tudelft.osm.pbf --area GM0503 \\
        --boundary data/sample/area_tudelft_wippolder.gpkg --out outputs/GM0503
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script or loaded by path: make `flows` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from magicmix_geo._errors import InputError
from magicmix_geo.cache import check_inputs, default_cache_dir, result_key
from magicmix_geo.config import Settings, load_settings
from magicmix_geo.national import (
    AreaOutcome,
    CachedArea,
    client_for,
    compute_area,
    publish_national,
    resolve_area,
)
from magicmix_geo.contract import RankInputs

# one municipality at a time when computing in this process (the work is CPU-bound)
_LOCAL_SLOT = threading.Semaphore(1)


def _not_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry unless the failure is bad input or configuration, which a retry cannot fix."""
    try:
        state.result()
    except InputError:
        return False
    except Exception:
        return True
    return True


@functools.lru_cache(maxsize=8)
def _settings(config: str | None) -> Settings:
    return load_settings(Path(config) if config else None)


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=_not_bad_input)
def area_key(area: RankInputs | CachedArea, config: str | None = None) -> dict[str, Any]:
    """The input files of one municipality and their cache key (checksums, not contents)."""
    settings = _settings(config)
    inputs, provenance = resolve_area(area, settings)
    check_inputs(inputs, settings)
    return {"inputs": inputs, "key": result_key(inputs, settings.hash), "provenance": provenance}


@task(
    cache_policy=(INPUTS + TASK_SOURCE) - "dask_address",
    persist_result=True,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_not_bad_input,
    task_run_name="rank-{prepared[inputs].gm_code}",
)
def rank_area(
    prepared: dict[str, Any],
    config: str | None,
    cache_dir: str,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Rank one municipality (on the Dask cluster at ``dask_address`` if given) into the
    result cache; return its key and path. Where it ran is not part of the cache key."""
    settings = _settings(config)
    inputs: RankInputs = prepared["inputs"]
    if dask_address:
        future = client_for(dask_address).submit(
            compute_area, inputs, settings, cache_dir, pure=False
        )
        outcome: AreaOutcome = future.result()
    else:
        with _LOCAL_SLOT:
            outcome = compute_area(inputs, settings, cache_dir)
    if outcome.key != prepared["key"]:  # an input changed between hashing and ranking
        raise RuntimeError(f"{inputs.gm_code}: inputs changed while ranking; run again")
    return {**outcome.row(), "path": outcome.path, "provenance": prepared["provenance"]}


@task(retries=1, retry_delay_seconds=[5])
def publish(
    rows: list[dict[str, Any]],
    config: str | None,
    out: str,
    started: str,
    executor: str,
    rank_seconds: float,
) -> dict[str, Any]:
    """Publish the ranked municipalities from the result cache; return the run summary."""
    outcomes = [outcome_from_row(row) for row in rows]
    run = publish_national(
        outcomes, _settings(config), Path(out), started=datetime.fromisoformat(started),
        executor=executor, rank_seconds=rank_seconds,
    )
    return run.to_dict()


def outcome_from_row(row: dict[str, Any]) -> AreaOutcome:
    known = AreaOutcome.__dataclass_fields__
    return AreaOutcome(**{k: v for k, v in row.items() if k in known})


def collect(
    gm_codes: list[str], futures: list[Any], upstream: list[Any] | None = None
) -> list[dict[str, Any]]:
    """One row per municipality from the rank futures: a failure is a ``failed`` row (the
    others go on); a result the cache of Prefect returned counts as ``cached``. When the
    ``upstream`` (area_key) task of a municipality failed, its error is the one reported."""
    rows = []
    for i, (gm_code, future) in enumerate(zip(gm_codes, futures, strict=True)):
        future.wait()
        state = future.state
        if upstream is not None and not state.is_completed():
            upstream[i].wait()
            if upstream[i].state.is_failed():
                future = upstream[i]
        if state.is_completed():
            row = dict(future.result())
            if state.name == "Cached" or row["status"] == "cached":
                row["status"] = "cached"
            rows.append(row)
            continue
        try:
            future.result()
            message = f"ended in state {state.name}"
        except InputError as exc:
            message = str(exc)
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        rows.append({"gm_code": gm_code, "status": "failed", "seconds": 0.0, "error": message})
    return rows


def stale(row: dict[str, Any]) -> bool:
    """A cached task result whose result-cache file has since been removed."""
    return row["status"] != "failed" and not (row.get("path") and Path(row["path"]).is_file())


@flow(name="magicmix-rank")
def rank(
    osm: str,
    area: str,
    boundary: str | None = None,
    cbs: list[str] | None = None,
    grid: str | None = None,
    candidates: str | None = None,
    bag: str | None = None,
    profile: str = "singles",
    config: str | None = None,
    out: str | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """One municipality from local files: key, rank, publish."""
    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    inputs = RankInputs(
        osm=Path(osm), gm_code=area, boundary=path(boundary),
        cbs=tuple(Path(p) for p in cbs or ()), grid=path(grid), candidates=path(candidates),
        bag=path(bag), profile=profile,
    )
    started = datetime.now(UTC).isoformat()
    root = cache_dir or str(default_cache_dir())
    prepared = area_key(inputs, config)
    future = rank_area.submit(prepared, config, root)
    rows = collect([area], [future])
    if stale(rows[0]):
        rows = collect([area], [rank_area.with_options(refresh_cache=True).submit(
            prepared, config, root)])
    summary = publish(rows, config, out or f"outputs/{area}", started, "in-process", 0.0)
    if rows[0]["status"] == "failed":
        raise RuntimeError(f"{area} failed: {rows[0]['error']}")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Rank one municipality (Prefect flow).")
    parser.add_argument("--osm", required=True)
    parser.add_argument("--area", required=True)
    for name in ("boundary", "grid", "candidates", "bag", "config", "out", "cache-dir"):
        parser.add_argument(f"--{name}", default=None)
    parser.add_argument("--cbs", action="append", default=[])
    parser.add_argument("--profile", default="singles")
    args = parser.parse_args()
    rank(
        osm=args.osm, area=args.area, boundary=args.boundary, cbs=args.cbs, grid=args.grid,
        candidates=args.candidates, bag=args.bag, profile=args.profile, config=args.config,
        out=args.out, cache_dir=args.cache_dir,
    )
