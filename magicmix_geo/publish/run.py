"""Publishing a run: every file of every municipality and the national files, into one run
folder, atomically (all of it or nothing; see :mod:`magicmix_geo._atomic`).

:func:`publish_run` is the only entry point that writes a run; the writers of each output
live beside it in this package (gpkg, rasters, maps, report, lists, manifest).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from magicmix_geo import __version__
from magicmix_geo._atomic import atomic_directory, check_output_dir
from magicmix_geo.config import Settings
from magicmix_geo.contract import MunicipalityResult
from magicmix_geo.publish.gpkg import GpkgReader, write_municipality_gpkg
from magicmix_geo.publish.lists import (
    national_sheets,
    write_national_csv,
    write_national_gpkg,
    write_summary_csv,
)
from magicmix_geo.publish.manifest import write_manifest
from magicmix_geo.publish.maps import map_title, write_interactive_map, write_static_map
from magicmix_geo.publish.overview import MunicipalityEntry, overview_table
from magicmix_geo.publish.rasters import write_rasters
from magicmix_geo.publish.report import write_municipality_report
from magicmix_geo.publish.run_outputs import (
    category_labels,
    criterion_labels,
    start_run_project,
    write_municipality_pdf,
    write_run_index,
    write_run_outputs,
)
from magicmix_geo.publish.side_process import start_workbook
from magicmix_geo.score.capacity import CapacityRun, municipality_summary, with_capacity
from magicmix_geo.score.method import method_rows


@dataclass(frozen=True)
class PreviousRun:
    """The run already in the output folder, and which municipalities' files in it are still
    current (same result key, code, configuration, what-if, profile and software version):
    those are hard-linked into the new run instead of written again."""

    folder: Path
    keys: dict[str, str]
    files: dict[str, list[str]]


@dataclass(frozen=True)
class RunContext:
    """What every municipality of a run shares when it is published (small, picklable)."""

    run_id: str
    started_at: str
    config_hash: str
    capacity: CapacityRun
    head: dict[str, Any] = field(default_factory=dict)
    previous: PreviousRun | None = None
    # the language of the typeset reports, the overview and index.html
    lang: str = "nl"


@dataclass(frozen=True)
class Published:
    """One municipality in the run folder: its manifest entry and inputs (small)."""

    entry: dict[str, Any]
    inputs: list[dict[str, Any]]
    reused: bool


def new_context(
    settings: Settings,
    started: datetime,
    capacity: CapacityRun | None = None,
    *,
    head: dict[str, Any] | None = None,
    previous: PreviousRun | None = None,
    lang: str = "nl",
) -> RunContext:
    """A run context with a fresh run id."""
    return RunContext(
        run_id=uuid.uuid4().hex,
        started_at=started.isoformat(),
        config_hash=settings.hash,
        capacity=capacity or CapacityRun(share=settings.capacity.reserve_share),
        head=dict(head or {}),
        previous=previous,
        lang=lang,
    )


def publish_run(
    results: list[MunicipalityResult],
    out_dir: Path,
    settings: Settings,
    *,
    started: datetime,
    extra: dict[str, Any] | None = None,
    capacity: CapacityRun | None = None,
    lang: str = "nl",
) -> dict[str, Any]:
    """Write every output of a run of results held in memory into ``out_dir`` atomically:
    all of it or nothing. (A national run publishes each municipality as it is done,
    :func:`publish_municipality`, and then :func:`finish_run`.)

    ``capacity`` (reserve share and the municipalities' tasks) adds ``homes_est``,
    ``homes_reserved`` and ``selected`` to the sites and writes ``national_summary.csv``.
    """
    out_dir = check_output_dir(out_dir)
    context = new_context(settings, started, capacity, head=extra, lang=lang)
    with atomic_directory(out_dir) as staging:
        published = [publish_municipality(staging, r, None, context, settings) for r in results]
        return finish_run(staging, context, published, settings, extra=extra)


def publish_municipality(
    staging: Path,
    result: MunicipalityResult,
    key: str | None,
    context: RunContext,
    settings: Settings,
) -> Published:
    """Write the files of one municipality (:func:`municipality_files`) into the run folder
    being built, or link them from the previous run when they are still current."""
    code = result.gm_code
    result.layers["sites"] = with_capacity(result, settings.capacity, context.capacity)
    sites = result.sites
    files = municipality_files(result)
    timings = {k: round(v, 3) for k, v in result.timings.items()}
    entry: dict[str, Any] = {
        "gm_code": code,
        "gm_name": result.gm_name,
        "sites": len(sites),
        "ranked": int((~sites["excluded"].astype(bool)).sum()),
        "excluded": int(sites["excluded"].astype(bool).sum()),
        "candidate_source": result.candidate_source,
        "candidates_are_proxies": result.candidate_source == "osm_proxy",
        "network": result.network,
        "timings_s": timings,
        "files": files,
    }
    previous = context.previous
    if (
        previous is not None
        and key is not None
        and previous.keys.get(code) == key
        and previous.files.get(code) == files
        and _link_files(previous.folder, staging, files)
    ):
        return Published(entry, list(result.inputs), reused=True)
    homes = int(sites.loc[sites["selected"].astype(bool), "homes_reserved"].sum())
    task = context.capacity.task_of(code)
    metadata = {
        **{k: v for k, v in context.head.items() if k != "run_summary"},
        **_manifest_head(context),
        "profile": _profiles([result]),
        "municipalities": [entry],
        "inputs": list(result.inputs),
        "capacity": {**_capacity_head(context), "homes_reserved": homes, "taakstelling": task},
        "gm_code": code,
    }
    written = _write_municipality(staging, result, metadata, settings, context.lang)
    timings.update({f"publish_{k}": round(v, 3) for k, v in written.items()})
    return Published(entry, list(result.inputs), reused=False)


def finish_run(
    staging: Path,
    context: RunContext,
    published: Sequence[Published],
    settings: Settings,
    *,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The national files and ``manifest.json`` of a run whose municipalities are in
    ``staging``, read back from their GeoPackages (never from results held in memory)."""
    published = sorted(published, key=lambda p: p.entry["gm_code"])
    sites, capacity_columns, boundaries = national_sites(staging, [p.entry for p in published])
    capacity = context.capacity
    summary = municipality_summary(capacity_columns, capacity.tasks, capacity.share)
    manifest = {
        **_manifest_head(context),
        "profile": _profile_of(sites),
        "municipalities": [p.entry for p in published],
        "inputs": [item for p in published for item in p.inputs],
        **(extra or {}),
        "capacity": {
            **_capacity_head(context),
            "homes_reserved": int(summary["homes_reserved"].iloc[-1]),
        },
        "reused": sorted(p.entry["gm_code"] for p in published if p.reused),
    }
    write_summary_csv(staging / "national_summary.csv", summary)
    ranked, sheets = national_sheets(
        sites,
        manifest=manifest,
        method=method_rows(settings, context.lang),
        extra_sheets={"capacity": summary},
    )
    write_national_gpkg(staging, ranked, sheets, manifest=manifest, lang=context.lang)
    entries = municipality_entries([p.entry for p in published], sites, boundaries)
    # QGIS builds the project, and a second process the workbook (the longest national file:
    # xlsxwriter writes cell by cell), while the other national files are written
    project = start_run_project(
        staging,
        entries,
        lang=context.lang,
        category_labels=category_labels(settings, context.lang),
    )
    workbook = None
    try:
        workbook = start_workbook(staging, sheets, lang=context.lang)
        write_national_csv(staging, sheets)
        table = overview_table(entries, summary)
        manifest.update(
            write_run_outputs(
                staging,
                entries,
                summary,
                manifest=manifest,
                method=method_rows(settings, context.lang),
                lang=context.lang,
                table=table,
                project=project,
            )
        )
        workbook.wait()
    except BaseException:
        project.cancel()
        if workbook is not None:
            workbook.cancel()
        raise
    manifest["ended_at"] = _now()
    write_manifest(staging / "manifest.json", manifest)
    write_run_index(staging, entries, summary, manifest=manifest, lang=context.lang, table=table)
    return manifest


def municipality_entries(
    entries: Sequence[dict[str, Any]],
    sites: gpd.GeoDataFrame,
    boundaries: Mapping[str, gpd.GeoDataFrame],
) -> list[MunicipalityEntry]:
    """What the overview, the national PDF, the QGIS project and the index need of each
    municipality: its boundary (as :func:`national_sites` read it) and its sites (the
    columns the overview reads)."""
    columns = [c for c in _OVERVIEW_COLUMNS if c in sites.columns]
    lean = sites[[*columns, sites.geometry.name]]
    rows = _rows_by_code(lean["gm_code"].to_numpy(dtype=object))
    out = []
    for entry in entries:
        code = entry["gm_code"]
        boundary = boundaries[code]
        mine = lean.iloc[rows.get(code, slice(0, 0))]
        out.append(MunicipalityEntry(code, entry["gm_name"], boundary, mine, entry["files"]))
    return out


def _rows_by_code(codes: np.ndarray) -> dict[str, Any]:
    """gm_code -> its rows (a slice when they are together, as :func:`national_sites` reads
    them; else their positions)."""
    if not len(codes):
        return {}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    if len(set(codes[starts])) == len(starts):  # each code in one run of rows
        ends = np.r_[starts[1:], len(codes)]
        return {str(codes[a]): slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    return {str(k): v for k, v in pd.Series(codes).groupby(codes, sort=False).indices.items()}


# the columns of a municipality's sites the overview table reads (overview.overview_table)
_OVERVIEW_COLUMNS = ("gm_code", "site_id", "excluded", "rank_gm", "score_total")
# the columns of every site (ranked or not) the national files need
_ALL_SITE_COLUMNS = (
    "gm_code",
    "site_id",
    "excluded",
    "score_total",
    "rank_gm",
    "profile",
    "site_type",
    "selected",
)
_CAPACITY_COLUMNS = (
    "gm_code",
    "rank_gm",
    "selected",
    "homes_est",
    "homes_reserved",
    "site_type",
)


class NationalSites(NamedTuple):
    """What :func:`national_sites` reads back from the municipalities' GeoPackages."""

    sites: gpd.GeoDataFrame  # ranked sites in full, excluded ones with the key columns
    capacity: pd.DataFrame  # the capacity columns of all sites
    boundaries: dict[str, gpd.GeoDataFrame]  # gm_code -> its boundary, EPSG:28992


def national_sites(staging: Path, entries: Sequence[dict[str, Any]]) -> NationalSites:
    """The sites of every municipality, read back from their GeoPackages in the run folder,
    one municipality at a time (a national run never holds every result in memory): ranked
    sites with all their columns and geometry, excluded ones with the key columns only; the
    capacity columns of all sites; and each municipality's boundary."""
    frames: list[pd.DataFrame] = []
    capacity: list[pd.DataFrame] = []
    boundaries: dict[str, gpd.GeoDataFrame] = {}
    for entry in entries:
        path = staging / entry["files"][0]
        ranked = pyogrio.read_dataframe(path, layer="sites", where="excluded = 0")
        # the rest with SQLite alone (no GDAL open): the excluded rows without geometry, and
        # the boundary for the overview
        with GpkgReader(path) as reader:
            fields = set(reader.fields("sites"))
            keys = [c for c in _ALL_SITE_COLUMNS if c in fields]
            held = [c for c in _CAPACITY_COLUMNS if c in fields]
            rest = reader.attributes("sites", sorted(set(keys) | set(held)), "excluded <> 0")
            boundary = reader.geometries("boundary")
        boundaries[entry["gm_code"]] = gpd.GeoDataFrame(geometry=boundary)
        for column in rest.columns:  # SQLite's 0/1 back to the booleans the ranked rows have
            if pd.api.types.is_bool_dtype(ranked[column].dtype):
                rest[column] = rest[column].astype("boolean")
        frames += [ranked, rest[keys]]
        capacity += [pd.DataFrame(ranked[held]), rest[held]]
    table = pd.concat(frames, ignore_index=True)
    # the excluded rows carry the key columns only: keep the ranked rows' types
    for column, dtype in frames[0].dtypes.items() if frames else ():
        if pd.api.types.is_bool_dtype(dtype) and column in table:
            table[column] = table[column].astype("boolean").fillna(False).astype(bool)
        elif pd.api.types.is_integer_dtype(dtype) and column in table:
            table[column] = table[column].astype("Int64")
    sites = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:28992")
    cap = pd.concat(capacity, ignore_index=True)
    cap["selected"] = cap["selected"].fillna(False).astype(bool)
    return NationalSites(sites, cap, boundaries)


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


def _write_municipality(
    tmp: Path,
    result: MunicipalityResult,
    metadata: dict[str, Any],
    settings: Settings,
    lang: str,
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
    # its QGIS styles (map tips, label rules, legends) in the run's language
    labels = category_labels(settings, lang)
    write_municipality_gpkg(gpkg, result.layers, metadata, lang=lang, category_labels=labels)
    clock = timed("gpkg_s", clock)
    _write_rasters(tmp, result, metadata)
    clock = timed("rasters_s", clock)
    # every map and report follows the run's language (label i18n)
    title = map_title(result.gm_code, result.gm_name, _profiles([result]), lang)
    context: dict[str, gpd.GeoDataFrame] = {
        name: result.layers[name]
        for name in ("water", "buildings", "streets")
        if name in result.layers
    }
    map_rgb = write_static_map(
        tmp / "maps" / f"{result.gm_code}.png",
        result.sites,
        result.layers["boundary"],
        title=title,
        context=context,
        lang=lang,
    )
    clock = timed("map_png_s", clock)
    write_interactive_map(
        tmp / "maps" / f"{result.gm_code}.html",
        result.sites,
        result.layers["boundary"],
        amenities=result.layers["amenities"],
        title=title,
        lang=lang,
        category_labels=category_labels(settings, lang),
        criterion_labels=criterion_labels(settings, lang),
    )
    clock = timed("map_html_s", clock)
    write_municipality_report(
        tmp / "reports" / f"{result.gm_code}.html",
        result.sites,
        title=title,
        manifest=metadata,
        method=method_rows(settings, lang),
        map_png=tmp / "maps" / f"{result.gm_code}.png",
        lang=lang,
    )
    write_municipality_pdf(
        tmp / "reports" / f"{result.gm_code}.pdf",
        result.sites,
        gm_code=result.gm_code,
        gm_name=result.gm_name,
        manifest=metadata,
        method=method_rows(settings, lang),
        settings=settings,
        map_png=tmp / "maps" / f"{result.gm_code}.png",
        context=context,
        lang=lang,
        map_rgb=map_rgb,  # the PNG just written, not read back
    )
    timed("report_s", clock)
    return timings


def _write_rasters(folder: Path, result: MunicipalityResult, manifest: dict[str, Any]) -> None:
    if result.rasters:
        write_rasters(
            folder / "rasters",
            result.gm_code,
            result.rasters,
            tags={
                "run_id": str(manifest.get("run_id")),
                "source": "magicmix-geo",
                "attribution": "© OpenStreetMap contributors (ODbL); Bron: CBS, Kadaster",
            },
        )


def _manifest_head(context: RunContext) -> dict[str, Any]:
    return {
        "run_id": context.run_id,
        "started_at": context.started_at,
        "ended_at": None,
        "software": {"name": "magicmix-geo", "version": __version__},
        "config_hash": context.config_hash,
    }


def _capacity_head(context: RunContext) -> dict[str, Any]:
    return {"reserve_share": context.capacity.share, "tasks": context.capacity.tasks_source}


def _profile_of(sites: pd.DataFrame) -> str:
    if "profile" not in sites.columns:
        return ""
    return ",".join(sorted({str(p) for p in sites["profile"].dropna().unique()}))


def _profiles(results: list[MunicipalityResult]) -> str:
    names = sorted({str(p) for r in results for p in r.sites["profile"].unique()})
    return ",".join(names)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "unnamed"


def _now() -> str:
    return datetime.now(UTC).isoformat()
