"""Publishing a run: every file of every municipality and the national files, into one run
folder, atomically (all of it or nothing; see :mod:`magicmix_geo._atomic`).

:func:`publish_run` is the only entry point that writes a run; the writers of each output
live beside it in this package (gpkg, rasters, maps, report, lists, manifest).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from magicmix_geo import __version__
from magicmix_geo._atomic import atomic_directory
from magicmix_geo._errors import OutputError
from magicmix_geo.config import Settings
from magicmix_geo.contract import MunicipalityResult
from magicmix_geo.publish.gpkg import write_municipality_gpkg
from magicmix_geo.publish.lists import write_national_ranking, write_summary_csv
from magicmix_geo.publish.manifest import write_manifest
from magicmix_geo.publish.maps import write_interactive_map, write_static_map
from magicmix_geo.publish.rasters import write_rasters
from magicmix_geo.publish.report import write_municipality_report
from magicmix_geo.score.capacity import CapacityRun, municipality_summary, with_capacity
from magicmix_geo.score.method import method_rows

def publish_run(
    results: list[MunicipalityResult],
    out_dir: Path,
    settings: Settings,
    *,
    started: datetime,
    extra: dict[str, Any] | None = None,
    capacity: CapacityRun | None = None,
    reuse: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Write every output of a run into ``out_dir`` atomically: all of it or nothing.

    ``capacity`` (reserve share and the municipalities' tasks) adds ``homes_est``,
    ``homes_reserved`` and ``selected`` to the sites and writes ``national_summary.csv``.

    ``reuse`` maps a municipality code to its files (relative paths) in the run already in
    ``out_dir`` that are still current (same result, code, configuration and capacity; the
    caller decides, see :func:`magicmix_geo.national.reusable_outputs`): those are
    hard-linked (copied across file systems) into the new run folder instead of written
    again, so they keep the manifest of the run that wrote them. The national files and
    ``manifest.json`` are always written.
    """
    out_dir = check_output_dir(out_dir)
    capacity = capacity or CapacityRun(share=settings.capacity.reserve_share, tasks=None)
    for result in results:
        result.layers["sites"] = with_capacity(result, settings.capacity, capacity)
    summary = municipality_summary(
        pd.concat([r.sites for r in results], ignore_index=True), capacity.tasks, capacity.share
    )
    manifest = _manifest(results, settings, started, extra or {})
    manifest["capacity"] = {
        "reserve_share": capacity.share,
        "tasks": capacity.tasks_source,
        "homes_reserved": int(summary["homes_reserved"].iloc[-1]),
    }
    reuse = dict(reuse or {})
    reused: list[str] = []
    timings: dict[str, dict[str, float]] = {}
    with atomic_directory(out_dir) as tmp:
        write_summary_csv(tmp / "national_summary.csv", summary)
        for result in results:
            if result.gm_code in reuse and _link_files(out_dir, tmp, reuse[result.gm_code]):
                reused.append(result.gm_code)
                continue
            metadata = _municipality_metadata(manifest, result, summary)
            timings[result.gm_code] = _publish_municipality(
                tmp, result, metadata, settings, results
            )
        all_sites = pd.concat([r.sites for r in results], ignore_index=True)
        write_national_ranking(
            tmp,
            gpd.GeoDataFrame(all_sites, geometry="geometry", crs=results[0].sites.crs),
            manifest=manifest,
            method=method_rows(settings),
            extra_sheets={"capacity": summary},
        )
        # the time per output (publish_*_s) beside the computation stages; the files of a
        # municipality in ``reused`` were linked from the previous run, not written
        for entry in manifest["municipalities"]:
            written = timings.get(entry["gm_code"], {})
            entry["timings_s"] = {
                **entry["timings_s"], **{f"publish_{k}": round(v, 3) for k, v in written.items()}
            }
        manifest["reused"] = sorted(reused)
        manifest["ended_at"] = _now()
        write_manifest(tmp / "manifest.json", manifest)
    return manifest


def _municipality_metadata(
    manifest: dict[str, Any], result: MunicipalityResult, summary: pd.DataFrame
) -> dict[str, Any]:
    """The manifest stored in one municipality's files: the run's facts with only this
    municipality's entry, inputs and capacity figures (the run-wide summary stays in
    manifest.json), so its files depend on nothing another municipality changes."""
    code = result.gm_code
    metadata = {k: v for k, v in manifest.items() if k != "run_summary"}
    metadata["municipalities"] = [m for m in manifest["municipalities"] if m["gm_code"] == code]
    metadata["inputs"] = list(result.inputs)
    if isinstance(manifest.get("capacity"), dict):
        own = summary.loc[summary["gm_code"] == code, "homes_reserved"]
        metadata["capacity"] = {
            **manifest["capacity"], "homes_reserved": int(own.iloc[0]) if len(own) else 0,
        }
    metadata["gm_code"] = code
    return metadata


def municipality_files(result: MunicipalityResult) -> list[str]:
    """The files :func:`publish_run` writes for one municipality, relative to the run folder."""
    code = result.gm_code
    return [
        f"{code}_{_safe_name(result.gm_name)}.gpkg",
        *(f"rasters/{code}_{name}.tif" for name in sorted(result.rasters)),
        f"maps/{code}.png",
        f"maps/{code}.html",
        f"reports/{code}.html",
        f"reports/{code}.pdf",
    ]


def _link_files(source: Path, target: Path, files: Sequence[str]) -> bool:
    """Hard-link ``files`` from the folder ``source`` into ``target`` (copy when linking is
    impossible, e.g. across file systems); False, with nothing left behind, if any is missing."""
    done: list[Path] = []
    try:
        for name in files:
            src, dst = source / name, target / name
            if not src.is_file() or src.is_symlink():
                raise FileNotFoundError(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            done.append(dst)
    except OSError:
        for path in done:
            path.unlink(missing_ok=True)
        return False
    return True


def _publish_municipality(
    tmp: Path,
    result: MunicipalityResult,
    metadata: dict[str, Any],
    settings: Settings,
    results: list[MunicipalityResult],
) -> dict[str, float]:
    """Write the files of one municipality (:func:`municipality_files`) into ``tmp``; returns
    the seconds per output."""
    timings: dict[str, float] = {}

    def timed(name: str, clock: float) -> float:
        now = time.perf_counter()
        timings[name] = now - clock
        return now

    clock = time.perf_counter()
    gpkg = tmp / f"{result.gm_code}_{_safe_name(result.gm_name)}.gpkg"
    write_municipality_gpkg(gpkg, result.layers, metadata)
    clock = timed("gpkg_s", clock)
    _write_rasters(tmp, result, metadata)
    clock = timed("rasters_s", clock)
    title = f"{result.gm_code} {result.gm_name}: Magic Mix site ranking ({_profiles(results)})"
    context = {
        name: result.layers[name]
        for name in ("water", "buildings", "streets")
        if name in result.layers
    }
    write_static_map(
        tmp / "maps" / f"{result.gm_code}.png",
        result.sites,
        result.layers["boundary"],
        title=title,
        context=context,
    )
    clock = timed("map_png_s", clock)
    write_interactive_map(
        tmp / "maps" / f"{result.gm_code}.html",
        result.sites,
        result.layers["boundary"],
        amenities=result.layers["amenities"],
        title=title,
    )
    clock = timed("map_html_s", clock)
    write_municipality_report(
        tmp / "reports" / f"{result.gm_code}.html",
        tmp / "reports" / f"{result.gm_code}.pdf",
        result.sites,
        result.layers["boundary"],
        title=title,
        manifest=metadata,
        method=method_rows(settings),
        map_png=tmp / "maps" / f"{result.gm_code}.png",
        context=context,
    )
    timed("report_s", clock)
    return timings


def _write_rasters(folder: Path, result: MunicipalityResult, manifest: dict[str, Any]) -> None:
    if result.rasters:
        write_rasters(
            folder / "rasters", result.gm_code, result.rasters,
            tags={"run_id": str(manifest.get("run_id")), "source": "magicmix-geo",
                  "attribution": "© OpenStreetMap contributors (ODbL); Bron: CBS, Kadaster"},
        )


def _manifest(
    results: list[MunicipalityResult], settings: Settings, started: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "run_id": uuid.uuid4().hex,
        "started_at": started.isoformat(),
        "ended_at": None,
        "software": {"name": "magicmix-geo", "version": __version__},
        "config_hash": settings.hash,
        "profile": _profiles(results),
        "municipalities": [
            {
                "gm_code": r.gm_code,
                "gm_name": r.gm_name,
                "sites": int(len(r.sites)),
                "ranked": int((~r.sites["excluded"]).sum()),
                "excluded": int(r.sites["excluded"].sum()),
                "candidate_source": r.candidate_source,
                "candidates_are_proxies": r.candidate_source == "osm_proxy",
                "network": r.network,
                "timings_s": {k: round(v, 3) for k, v in r.timings.items()},
                "files": municipality_files(r),
            }
            for r in results
        ],
        "inputs": [item for r in results for item in r.inputs],
        **extra,
    }


def _profiles(results: list[MunicipalityResult]) -> str:
    names = sorted({str(p) for r in results for p in r.sites["profile"].unique()})
    return ",".join(names)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "unnamed"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def check_output_dir(out_dir: Path) -> Path:
    """An output path must be a directory (or not exist yet) in a writable folder."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a directory")
    probe = out_dir.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{out_dir}: {probe} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".magicmix-probe."):
            pass
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write in {probe} ({exc.strerror})") from exc
    return out_dir
