"""Prefect flow: one municipality from local files, through the same orchestrator as the
national run (:func:`magicmix_geo.national.run_national` with one area, in this process)::

    .venv/bin/python -m flows.rank --osm data/sample/tudelft.osm.pbf --area GM0503 \\
        --boundary data/sample/area_tudelft_wippolder.gpkg --out outputs/GM0503
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prefect import flow

from flows.national import rank_and_publish, report
from magicmix_geo.contract import RankInputs


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
    """One municipality from local files: rank (through the result cache) and publish."""

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    inputs = RankInputs(
        osm=Path(osm),
        gm_code=area,
        boundary=path(boundary),
        cbs=tuple(Path(p) for p in cbs or ()),
        grid=path(grid),
        candidates=path(candidates),
        bag=path(bag),
        profile=profile,
    )
    summary = rank_and_publish([inputs], out or f"outputs/{area}", config, cache_dir, 0, None)
    report(summary)
    row = summary["municipalities"][0]
    if row["status"] == "failed":
        raise RuntimeError(f"{area} failed: {row['error']}")
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
        osm=args.osm,
        area=args.area,
        boundary=args.boundary,
        cbs=args.cbs,
        grid=args.grid,
        candidates=args.candidates,
        bag=args.bag,
        profile=args.profile,
        config=args.config,
        out=args.out,
        cache_dir=args.cache_dir,
    )
