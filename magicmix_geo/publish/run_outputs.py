"""The run-wide outputs beside the national lists: overview map, national PDF, QGIS project,
``index.html``; and the municipality's typeset PDF report.

The run publisher calls :func:`write_municipality_pdf` per municipality, then
:func:`write_run_outputs` once all files are in the run folder, and :func:`write_run_index`
last (it links the files present, ``manifest.json`` included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from magicmix_geo.config import Settings
from magicmix_geo.publish.gpkg import spatial_layers
from magicmix_geo.publish.index_page import write_index
from magicmix_geo.publish.overview import (
    MunicipalityEntry,
    overview_table,
    write_overview_html,
    write_overview_png,
)
from magicmix_geo.publish.pdf_report import (
    check_lang,
    write_municipality_report_pdf,
    write_national_report_pdf,
)
from magicmix_geo.publish.qgis_project import (
    ProjectMunicipality,
    QgisBuild,
    start_qgis_project,
)

OVERVIEW_PNG = "overview.png"
OVERVIEW_HTML = "overview.html"
NATIONAL_PDF = "national_report.pdf"
NATIONAL_GPKG = "national_ranking.gpkg"
_PROJECT_TITLE = {"nl": "Magic Mix locaties", "en": "Magic Mix sites"}


def criterion_labels(settings: Settings, lang: str) -> dict[str, str]:
    """Criterion name -> its label in ``lang`` (config/criteria.toml)."""
    check_lang(lang)
    return {
        name: (c.label_nl if lang == "nl" else c.label_en) for name, c in settings.criteria.items()
    }


def category_labels(settings: Settings, lang: str) -> dict[str, str]:
    """Destination category -> its label in ``lang`` (config/categories.toml)."""
    check_lang(lang)
    return {
        name: (c.label_nl if lang == "nl" else c.label_en)
        for name, c in settings.categories.items()
    }


def write_municipality_pdf(
    path: Path,
    sites: gpd.GeoDataFrame,
    *,
    gm_code: str,
    gm_name: str,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    settings: Settings,
    map_png: Path | None,
    context: Mapping[str, gpd.GeoDataFrame],
    lang: str = "nl",
    map_rgb: np.ndarray | None = None,
) -> None:
    """The municipality's typeset report (``reports/<GM>.pdf``), Dutch unless ``lang="en"``;
    ``map_rgb``: the static map's pixels, when the caller holds them."""
    write_municipality_report_pdf(
        path,
        sites,
        gm_code=gm_code,
        gm_name=gm_name,
        manifest=manifest,
        method=method,
        labels=criterion_labels(settings, lang),
        map_png=map_png,
        context=context,
        lang=lang,
        map_rgb=map_rgb,
    )


def write_run_outputs(
    folder: Path,
    entries: Sequence[MunicipalityEntry],
    summary: pd.DataFrame | None,
    *,
    manifest: Mapping[str, Any],
    method: Sequence[tuple[str, str]],
    lang: str = "nl",
    table: gpd.GeoDataFrame | None = None,
    project: QgisBuild | None = None,
    category_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Overview (PNG, HTML), national PDF and QGIS project in the run folder ``folder``.

    Call when the municipalities' files and the national lists are written. Returns what the
    manifest records: ``{"qgis_project": {...}}`` (see
    :func:`~magicmix_geo.publish.qgis_project.write_qgis_project`). ``table`` is
    :func:`overview_table` of ``entries`` when the caller has it; ``project`` a QGIS build
    the caller started (:func:`start_run_project`), else it is started here (its legends
    with ``category_labels``, see :func:`start_run_project`), and built while the overview and
    the PDF are written.
    """
    check_lang(lang)
    folder = Path(folder)
    if project is None:
        project = start_run_project(folder, entries, lang=lang, category_labels=category_labels)
    if table is None:
        table = overview_table(entries, summary)
    write_overview_png(folder / OVERVIEW_PNG, table, lang=lang)
    write_overview_html(folder / OVERVIEW_HTML, table, lang=lang)
    write_national_report_pdf(
        folder / NATIONAL_PDF,
        table,
        manifest=manifest,
        method=method,
        overview_png=folder / OVERVIEW_PNG,
        lang=lang,
    )
    return {"qgis_project": project.result()}


def start_run_project(
    folder: Path,
    entries: Sequence[MunicipalityEntry],
    *,
    lang: str = "nl",
    category_labels: Mapping[str, str] | None = None,
) -> QgisBuild:
    """Start building ``magicmix.qgz`` in the background (QGIS in its own process); call when
    the municipalities' GeoPackages and ``national_ranking.gpkg`` (if any) are written.

    ``category_labels``: destination category -> its label in ``lang``
    (:func:`category_labels`), for the legends of the amenities, stops and rasters; without
    them the amenities and stops keep the styles' English labels, the rasters name the
    category by its key."""
    check_lang(lang)
    folder = Path(folder)
    return start_qgis_project(
        folder,
        [_project_municipality(folder, entry) for entry in entries],
        national_gpkg=NATIONAL_GPKG if (folder / NATIONAL_GPKG).is_file() else None,
        title=_PROJECT_TITLE[lang],
        lang=lang,
        category_labels=category_labels,
    )


def _project_municipality(folder: Path, entry: MunicipalityEntry) -> ProjectMunicipality:
    gpkg = next(name for name in entry.files if name.endswith(".gpkg") and "/" not in name)
    spatial = spatial_layers(folder / gpkg)
    rasters = [name for name in entry.files if name.startswith("rasters/")]
    return ProjectMunicipality(entry.gm_code, entry.gm_name, gpkg, spatial, rasters)


def write_run_index(
    folder: Path,
    entries: Sequence[MunicipalityEntry],
    summary: pd.DataFrame | None,
    *,
    manifest: dict[str, Any],
    lang: str = "nl",
    table: gpd.GeoDataFrame | None = None,
) -> None:
    """``index.html`` in the run folder; call last (it links the national files present).
    ``table`` is :func:`overview_table` of ``entries`` when the caller has it."""
    if table is None:
        table = overview_table(entries, summary)
    write_index(Path(folder), table, manifest=manifest, lang=lang)
