"""The national ranked list of a run: GeoPackage, CSV and an Excel workbook for analysts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import xlsxwriter

from magicmix_geo.publish._common import (
    CBS_ATTRIBUTION,
    CBS_LICENCE,
    OSM_ATTRIBUTION,
    OSM_LICENCE,
    excluded_mask,
    format_number,
    output_path,
    require_rd,
    words_in,
)
from magicmix_geo.publish.cells import spreadsheet_value, write_csv
from magicmix_geo.publish.gpkg import write_municipality_gpkg
from magicmix_geo.publish.manifest import manifest_json
from magicmix_geo.site_types import SITE_TYPES

RANKING_LAYER = "national_ranking"
_KEY_COLUMNS = ("rank_nl", "gm_code", "site_id", "site_type", "rank_gm", "score_total")
_REQUIRED = ("gm_code", "site_id", "score_total")
# where the site is and why it ranks as it does, when the model provides them
_CONTEXT_COLUMNS = (
    "name",
    "homes_planned",
    "homes_source",
    "homes_reserved",
    "reserve_clusters",
    "selected",
    "bu_code",
    "bu_name",
    "area_m2",
    "reasons_en",
    "reasons_nl",
)


def write_national_ranking(
    out_dir: Path,
    sites: gpd.GeoDataFrame,
    *,
    manifest: dict[str, Any],
    method: list[tuple[str, str]],
    extra_sheets: dict[str, pd.DataFrame] | None = None,
    lang: str = "nl",
) -> gpd.GeoDataFrame:
    """Rank all sites of a run nationally and write the ranked list in three formats.

    Writes ``national_ranking.gpkg`` (layer ``national_ranking``, ranked sites sorted by
    ``rank_nl``, with a default QGIS style and the manifest, plus the attribute tables
    ``municipalities``, ``method``, ``attribution`` and ``manifest``), ``national_ranking.csv`` (no
    geometry; ``x_rd``/``y_rd`` of each site's representative point) and
    ``national_ranking.xlsx`` (sheets ``ranking``, ``municipalities``, ``by_type`` when the
    sites carry ``site_type``, ``method``, ``attribution``, ``manifest``). Each file is
    replaced atomically.

    Parameters
    ----------
    out_dir
        The run's output folder.
    sites
        All candidate sites of all municipalities of the run, excluded ones included,
        EPSG:28992, with at least ``gm_code``, ``site_id`` and ``score_total``.
    manifest
        The run manifest; its ``inputs`` (a mapping of name to input description, or a list
        of descriptions) are listed on the attribution sheet.
    method
        (criterion, description) rows for the method sheet.
    extra_sheets
        More tables for the workbook and the GeoPackage (e.g. ``capacity``: homes reserved
        against each municipality's task), after ``municipalities``.
    lang
        The language of the workbook's ``notes`` sheet and of the GeoPackage's QGIS style
        and description (``nl`` or ``en``).

    Returns
    -------
    geopandas.GeoDataFrame
        The ranked sites, sorted by ``rank_nl`` (see :func:`rank_national`).
    """
    ranked, sheets = national_sheets(
        sites, manifest=manifest, method=method, extra_sheets=extra_sheets
    )
    write_national_gpkg(out_dir, ranked, sheets, manifest=manifest, lang=lang)
    write_national_tables(out_dir, sheets, lang=lang)
    return ranked


def national_sheets(
    sites: gpd.GeoDataFrame,
    *,
    manifest: dict[str, Any],
    method: list[tuple[str, str]],
    extra_sheets: dict[str, pd.DataFrame] | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, pd.DataFrame]]:
    """The ranked sites (:func:`rank_national`) and the tables of the national files, by
    sheet name (``ranking`` first); the parameters are those of
    :func:`write_national_ranking`."""
    require_rd(sites, "sites")
    ranked = rank_national(sites)
    sheets = {
        "ranking": ranking_table(ranked),
        "municipalities": municipality_summary(sites, ranked),
        **({"by_type": type_summary(sites)} if "site_type" in sites.columns else {}),
        **(extra_sheets or {}),
        "method": pd.DataFrame(method, columns=["criterion", "description"]),
        "attribution": attribution_table(manifest),
        "manifest": manifest_table(manifest),
    }
    return ranked, sheets


def write_national_gpkg(
    out_dir: Path,
    ranked: gpd.GeoDataFrame,
    sheets: dict[str, pd.DataFrame],
    *,
    manifest: dict[str, Any],
    lang: str = "nl",
) -> None:
    """``national_ranking.gpkg`` of :func:`write_national_ranking` (from
    :func:`national_sheets`); its QGIS style and description in ``lang``."""
    # the same tables beside the layer, so QGIS users have the method and sources at hand
    write_municipality_gpkg(
        Path(out_dir) / f"{RANKING_LAYER}.gpkg",
        {RANKING_LAYER: ranked},
        manifest,
        tables={name: frame for name, frame in sheets.items() if name != "ranking"},
        lang=lang,
    )


def write_national_tables(
    out_dir: Path, sheets: dict[str, pd.DataFrame], *, lang: str = "nl"
) -> None:
    """``national_ranking.csv`` and ``.xlsx`` of :func:`write_national_ranking` (from
    :func:`national_sheets`)."""
    write_national_csv(out_dir, sheets)
    write_national_xlsx(out_dir, sheets, lang=lang)


def write_national_csv(out_dir: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """``national_ranking.csv``: the ``ranking`` sheet of :func:`national_sheets`."""
    with output_path(Path(out_dir) / f"{RANKING_LAYER}.csv") as tmp:
        write_csv(sheets["ranking"], tmp)


def write_national_xlsx(
    out_dir: Path, sheets: dict[str, pd.DataFrame], *, lang: str = "nl"
) -> None:
    """``national_ranking.xlsx``: the sheets of :func:`national_sheets`, and a ``notes`` sheet
    in ``lang`` when one is longer than a sheet holds. Takes no more than its arguments (a
    national run writes it in a process of its own)."""
    with output_path(Path(out_dir) / f"{RANKING_LAYER}.xlsx") as tmp:
        _write_workbook(tmp, sheets, lang)


def rank_national(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rank the non-excluded sites of all municipalities by ``score_total``.

    ``rank_nl`` is 1 for the best score; ties go to the lower ``gm_code``, then the lower
    ``site_id``, so the order is reproducible. Excluded sites and sites without a score
    are not ranked and not returned.

    Parameters
    ----------
    sites
        Candidate sites of a run, EPSG:28992.

    Returns
    -------
    geopandas.GeoDataFrame
        The ranked sites with an integer ``rank_nl`` column first, sorted by it, on a fresh
        index.

    Raises
    ------
    ValueError
        If a required column is missing or a (``gm_code``, ``site_id``) pair repeats.
    """
    missing = [c for c in _REQUIRED if c not in sites.columns]
    if missing:
        raise ValueError(f"sites lack the column(s) {', '.join(missing)} needed for rank_nl")
    repeated = sites.duplicated(subset=["gm_code", "site_id"], keep=False)
    if repeated.any():
        first = sites.loc[repeated, ["gm_code", "site_id"]].iloc[0].tolist()
        raise ValueError(f"site {first[1]!r} of {first[0]} appears more than once")
    score = pd.to_numeric(sites["score_total"], errors="coerce")
    eligible = ~excluded_mask(sites) & score.notna()
    ranked = sites.loc[eligible].assign(_score=score[eligible])
    ranked = ranked.sort_values(
        ["_score", "gm_code", "site_id"], ascending=[False, True, True], kind="stable"
    ).drop(columns="_score")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank_nl", pd.array(range(1, len(ranked) + 1), dtype="Int64"))
    if "rank_gm" in ranked.columns:
        ranked["rank_gm"] = pd.to_numeric(ranked["rank_gm"], errors="coerce").astype("Int64")
    return ranked


def ranking_table(ranked: gpd.GeoDataFrame) -> pd.DataFrame:
    """The ranked list without geometry: key columns, scores, distances and RD coordinates.

    Parameters
    ----------
    ranked
        Output of :func:`rank_national`, EPSG:28992.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank_nl, gm_code, site_id, site_type, rank_gm, score_total``, the other
        ``score_*`` columns, the ``dist_*_m`` columns, ``name`` (a plan's name),
        ``homes_planned``, ``homes_source``, ``homes_reserved``, ``reserve_clusters``,
        ``selected``, ``bu_code``, ``bu_name``, ``area_m2``, ``reasons_en`` and ``reasons_nl``
        when present, then ``x_rd`` and ``y_rd`` (metres, EPSG:28992, of the representative
        point).
    """
    columns = [c for c in _KEY_COLUMNS if c in ranked.columns]
    columns += [c for c in ranked.columns if c.startswith("score_") and c not in columns]
    columns += [c for c in ranked.columns if c.startswith("dist_")]
    columns += [c for c in _CONTEXT_COLUMNS if c in ranked.columns]
    table = pd.DataFrame(ranked[columns])
    points = ranked.geometry.representative_point()
    table["x_rd"] = points.x.round(2)
    table["y_rd"] = points.y.round(2)
    return table


def type_summary(sites: pd.DataFrame) -> pd.DataFrame:
    """Per ``gm_code`` and ``site_type``: candidates, ranked, and over the ranked ones the homes
    planned and reserved, and the homes reserved on the selected ones.

    Returns
    -------
    pandas.DataFrame
        Columns ``gm_code``, ``site_type``, ``candidates``, ``ranked``, ``homes_planned``,
        ``homes_reserved``, ``homes_reserved_selected``; types in the order of
        :data:`magicmix_geo.site_types.SITE_TYPES`.
    """
    frame = pd.DataFrame(sites.drop(columns="geometry", errors="ignore"))
    ranked = frame["rank_gm"].notna() if "rank_gm" in frame else ~frame["excluded"].astype(bool)
    selected = (
        frame["selected"].astype(bool)
        if "selected" in frame
        else pd.Series(False, index=frame.index)
    )

    def homes(column: str, mask: pd.Series) -> pd.Series:
        values = (
            pd.to_numeric(frame[column], errors="coerce")
            if column in frame
            else pd.Series(0.0, index=frame.index)
        )
        return values.where(mask, 0.0).fillna(0.0)

    work = pd.DataFrame(
        {
            "gm_code": frame["gm_code"],
            "site_type": frame["site_type"],
            "candidates": 1,
            "ranked": ranked.astype(int),
            "homes_planned": homes("homes_planned", ranked),
            "homes_reserved": homes("homes_reserved", ranked),
            "homes_reserved_selected": homes("homes_reserved", selected),
        }
    )
    table = work.groupby(["gm_code", "site_type"], sort=False).sum().reset_index()
    order = {kind: i for i, kind in enumerate(SITE_TYPES)}
    table = table.sort_values(
        ["gm_code", "site_type"], key=lambda c: c.map(order) if c.name == "site_type" else c
    ).reset_index(drop=True)
    counts = [c for c in table.columns if c not in ("gm_code", "site_type")]
    table[counts] = table[counts].astype(int)
    return table


def municipality_summary(sites: gpd.GeoDataFrame, ranked: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per ``gm_code``: sites, excluded, ranked, best and median ``score_total`` of ranked sites.

    Parameters
    ----------
    sites
        All candidate sites of the run.
    ranked
        Output of :func:`rank_national`.

    Returns
    -------
    pandas.DataFrame
        One row per municipality, sorted by ``gm_code``; ``best_rank_nl`` is the national
        rank of its best site.
    """
    counts = pd.DataFrame(
        {"gm_code": sites["gm_code"].to_numpy(), "excluded": excluded_mask(sites).to_numpy()}
    )
    summary = counts.groupby("gm_code", sort=True).agg(
        sites=("excluded", "size"), excluded=("excluded", "sum")
    )
    scores = pd.DataFrame(
        {
            "gm_code": ranked["gm_code"].to_numpy(),
            "score_total": pd.to_numeric(ranked["score_total"]).to_numpy(dtype=float),
            "rank_nl": ranked["rank_nl"].to_numpy(dtype=float),
        }
    )
    by_gm = scores.groupby("gm_code", sort=True).agg(
        ranked=("score_total", "size"),
        best_score=("score_total", "max"),
        median_score=("score_total", "median"),
        best_rank_nl=("rank_nl", "min"),
    )
    summary = summary.join(by_gm, how="left")
    summary["ranked"] = summary["ranked"].fillna(0).astype("int64")
    summary["best_rank_nl"] = summary["best_rank_nl"].astype("Int64")
    summary["excluded"] = summary["excluded"].astype("int64")
    return summary.reset_index()


def attribution_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """The attribution sheet: OSM and CBS/Kadaster, then every input listed in the manifest.

    Parameters
    ----------
    manifest
        The run manifest; ``inputs`` may map names to descriptions or list descriptions
        (as :func:`magicmix_geo.publish.manifest.describe_input` makes them).

    Returns
    -------
    pandas.DataFrame
        Columns ``input, source, licence, attribution, version``.
    """
    rows: list[dict[str, Any]] = [
        {
            "input": "OpenStreetMap",
            "source": "OpenStreetMap",
            "licence": OSM_LICENCE,
            "attribution": OSM_ATTRIBUTION,
            "version": None,
        },
        {
            "input": "CBS / Kadaster",
            "source": "CBS, Kadaster (PDOK)",
            "licence": CBS_LICENCE,
            "attribution": CBS_ATTRIBUTION,
            "version": None,
        },
    ]
    for name, entry in _inputs(manifest.get("inputs")):
        rows.append(
            {
                "input": name,
                "source": entry.get("source"),
                "licence": entry.get("licence"),
                "attribution": entry.get("attribution"),
                "version": entry.get("version"),
            }
        )
    return pd.DataFrame(rows, columns=["input", "source", "licence", "attribution", "version"])


def _inputs(inputs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, description) pairs from a manifest's ``inputs``, whichever shape it has."""
    if isinstance(inputs, dict):
        for name, entry in inputs.items():
            if isinstance(entry, dict):
                yield str(name), entry
    elif isinstance(inputs, list):
        for entry in inputs:
            if isinstance(entry, dict):
                yield str(entry.get("path") or entry.get("source") or ""), entry


def manifest_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """The manifest flattened to (key, value) rows: ``inputs.osm.sha256``, ``steps[0]``...

    Parameters
    ----------
    manifest
        The run manifest.

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` and ``value`` (text), keys sorted as in ``manifest.json``.
    """
    plain = json.loads(manifest_json(manifest))  # same conversions and key order as the file
    rows = list(_flatten(plain, ""))
    return pd.DataFrame(rows, columns=["key", "value"])


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    elif value is None:
        yield prefix, ""
    elif isinstance(value, dict | list):
        yield prefix, json.dumps(value)
    else:
        yield prefix, str(value)


# an xlsx sheet holds 1,048,576 rows, the header included
XLSX_MAX_ROWS = 1_048_575
# the workbook's notes sheet (its name stays "notes"): English, Dutch
_NOTE_WORDS: dict[str, tuple[str, str]] = {
    "sheet": ("sheet", "blad"),
    "note": ("note", "toelichting"),
    "cut": (
        "{rows} rows; the first {kept} are in this workbook, all of them in "
        "national_ranking.csv and national_ranking.gpkg",
        "{rows} rijen; de eerste {kept} staan in deze werkmap, alle in "
        "national_ranking.csv en national_ranking.gpkg",
    ),
}


def _write_workbook(path: Path, sheets: dict[str, pd.DataFrame], lang: str = "nl") -> None:
    """Write the sheets (xlsxwriter); header row frozen, columns sized to their content.

    A sheet longer than Excel allows keeps its first rows (for the ranking: the best sites)
    and a ``notes`` sheet says so in ``lang``; the CSV and GeoPackage hold every row.
    """
    words = words_in(_NOTE_WORDS, lang)
    kept = format_number(XLSX_MAX_ROWS, 0, lang)
    notes = [
        (name, words["cut"].format(rows=format_number(len(frame), 0, lang), kept=kept))
        for name, frame in sheets.items()
        if len(frame) > XLSX_MAX_ROWS
    ]
    if notes:
        sheets = {
            **{name: frame.head(XLSX_MAX_ROWS) for name, frame in sheets.items()},
            "notes": pd.DataFrame(notes, columns=[words["sheet"], words["note"]]),
        }
    # rows streamed straight to xlsxwriter (constant memory): three times faster than
    # pandas' to_excel on a national list, and memory does not grow with the rows
    # text is written as text: no formulas, links or numbers made from strings
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        for name, frame in sheets.items():
            sheet = book.add_worksheet(name)
            sheet.freeze_panes(1, 0)
            for i, column in enumerate(frame.columns):
                width = max([len(str(column)), *(len(str(v)) for v in frame[column].head(200))])
                sheet.set_column(i, i, min(max(width + 2, 8), 80))
            sheet.write_row(0, 0, [spreadsheet_value(str(c)) for c in frame.columns])
            columns = [_cells(frame[c]) for c in frame.columns]
            for row, values in enumerate(zip(*columns, strict=True), start=1):
                sheet.write_row(row, 0, values)
    finally:
        book.close()


def _cells(column: pd.Series) -> list[Any]:
    """Python values for a worksheet column: numbers stay numbers, nulls become blanks, text
    passes :func:`~magicmix_geo.publish.cells.spreadsheet_text`."""
    values = column.astype(object).where(column.notna(), None).tolist()
    return [
        v if v is None or isinstance(v, int | float | bool) else spreadsheet_value(str(v))
        for v in values
    ]


def write_summary_csv(path: Path, summary: pd.DataFrame) -> None:
    """``national_summary.csv``: per municipality and in total, homes reserved vs task."""
    with output_path(Path(path)) as tmp:
        write_csv(summary, tmp)
