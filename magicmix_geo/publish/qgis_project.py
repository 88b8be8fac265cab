"""The run's QGIS project (``magicmix.qgz``), made by PyQGIS in the system Python.

An analyst opens one file and sees every municipality as a layer group (its sites, stops,
amenities, boundary and context layers with the default styles of its GeoPackage, and its
rasters, hidden), the national ranking on top, in EPSG:28992. A run of more than
:data:`FULL_GROUPS_MAX` municipalities (a national run) gets compact groups, the sites (their
type in the map tip, not outlined) and the boundary only: QGIS opens every layer of a project
when it loads it, and 355 full groups are some 7,000 layers (more than ten minutes to build,
as long to open); the other layers are in each municipality's GeoPackage, one drag away.
Layer paths are relative to the project, so the run folder can be moved or copied. The
legends speak the run's language (``qgis_styles.legend_labels``): the site types' labels, the
score classes with the numbers as its readers write them, the destination categories (the
configuration's labels, passed in as ``category_labels``), the transit modes; and each
raster's title and colour ramp (:func:`raster_legend`). The map tips and label rules come
with the GeoPackages' styles, in the run's language (``qgis_styles.run_style``); the
site_type outlines' style is set here the same way.

PyQGIS comes with Debian's python3-qgis for the system interpreter, which lacks this package's
dependencies: the project is built by ``qgis_script.py`` in a subprocess (the venv's Python
variables removed). ``MAGICMIX_QGIS_PYTHON`` names another interpreter with PyQGIS. Without
PyQGIS no project is written and :func:`write_qgis_project` says why.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from magicmix_geo._errors import OutputError
from magicmix_geo.language import separators
from magicmix_geo.publish._common import format_number, words_in
from magicmix_geo.publish._palette import CATEGORY_STYLES
from magicmix_geo.publish.qgis_styles import (
    legend_labels,
    map_tip,
    rule_description,
    run_style,
)

PROJECT_FILE = "magicmix.qgz"
QGIS_PYTHON = "/usr/bin/python3"
TIMEOUT_S = 600
# a municipality's layers, top to bottom, and whether each starts visible
LAYER_ORDER = (
    ("sites", True),
    # plans and BAG projects outside the municipality: reported, not ranked
    ("candidates_outside", False),
    ("transit_stops", False),
    ("stops", True),
    ("amenities", True),
    ("boundary", True),
    ("streets", True),
    ("buildings", True),
    ("water", True),
)
# a run of more municipalities gets compact groups (COMPACT_LAYERS, no rasters)
FULL_GROUPS_MAX = 12
COMPACT_LAYERS = ("sites", "boundary")
# drawn over the sites layer: the same features, outlined by site_type (styles/site_types.qml)
SITE_TYPE_LAYER = "sites"
SITE_TYPE_STYLE = "site_types"  # styles/site_types.qml
SITE_TYPE_SUFFIX = "site_type"
# the national list repeats the sites of every municipality (and their labels): hidden at first
NATIONAL_LAYERS = (("national_ranking", False),)
_GROUPS = {"nl": ("Landelijke ranglijst", "rasters"), "en": ("National ranking", "rasters")}
# the rasters' titles (English, Dutch) by the kind of their name (measure/model_inputs.py and
# measure/density.py name them): {label} a destination category, {r} a radius in metres
_RASTER_TITLES: dict[str, tuple[str, str]] = {
    "dist": (
        "walking distance to the nearest {label} (m)",
        "loopafstand naar de dichtstbijzijnde {label} (m)",
    ),
    "transit_access": (
        "minutes to board public transport (walk + average wait)",
        "minuten tot instappen in het openbaar vervoer (lopen + gemiddeld wachten)",
    ),
    "building_area": ("building footprint per cell (m²)", "bebouwd oppervlak per cel (m²)"),
    "building_cover": (
        "building cover within {r} m (share)",
        "bebouwingsgraad binnen {r} m (aandeel)",
    ),
    "pop_cell": ("CBS residents per 100 m cell", "inwoners per cel van 100 m (CBS)"),
    "pop": ("CBS residents within {r} m", "inwoners binnen {r} m (CBS)"),
    "dwellings": ("CBS dwellings within {r} m", "woningen binnen {r} m (CBS)"),
}
# a raster's name -> (kind in _RASTER_TITLES, digits of its ramp's numbers, unit after them)
_RASTER_KINDS: tuple[tuple[re.Pattern[str], str, int, str], ...] = (
    (re.compile(r"dist_(?P<category>\w+)_m"), "dist", 0, " m"),
    (re.compile(r"transit_access_min"), "transit_access", 0, " min"),
    (re.compile(r"building_cover_100m"), "building_area", 0, " m²"),
    (re.compile(r"building_cover_(?P<r>\d+)m"), "building_cover", 2, ""),
    (re.compile(r"pop_100m"), "pop_cell", 0, ""),
    (re.compile(r"pop_(?P<r>\d+)m"), "pop", 0, ""),
    (re.compile(r"dwellings_(?P<r>\d+)m"), "dwellings", 0, ""),
)


@dataclass(frozen=True)
class ProjectMunicipality:
    """One municipality's files in the run folder (paths relative to it)."""

    gm_code: str
    gm_name: str
    gpkg: str
    layers: Sequence[str]  # the spatial layers of its GeoPackage
    rasters: Sequence[str] = ()


def project_spec(
    folder: Path,
    municipalities: Sequence[ProjectMunicipality],
    *,
    national_gpkg: str | None,
    title: str,
    lang: str = "nl",
    category_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The project's content for ``qgis_script.py`` (absolute paths in ``folder``).

    ``category_labels``: destination category -> its label in ``lang`` (config/categories.toml
    ``label_nl`` / ``label_en``) for the legends of the amenities and stops and the rasters'
    titles; a category without one keeps the style's English label."""
    folder = Path(folder).resolve()
    national_group, raster_group = _GROUPS[lang]
    compact = len(municipalities) > FULL_GROUPS_MAX
    groups = []
    for m in municipalities:
        present = set(m.layers) & set(COMPACT_LAYERS) if compact else set(m.layers)
        layers = [
            {
                "path": str(folder / m.gpkg),
                "layer": name,
                "name": f"{m.gm_code} {name}",
                "visible": visible,
                **style_texts(name, lang, category_labels),
            }
            for name, visible in LAYER_ORDER
            if name in present
        ]
        if SITE_TYPE_LAYER in present and not compact:
            layers.insert(0, _site_type_layer(folder / m.gpkg, m.gm_code, lang))
        rasters = [
            {
                "path": str(folder / path),
                "name": Path(path).stem,
                "legend": raster_legend(
                    Path(path).stem.removeprefix(f"{m.gm_code}_"), lang, category_labels
                ),
            }
            for path in ([] if compact else m.rasters)
        ]
        groups.append(
            {
                "name": f"{m.gm_code} {m.gm_name}",
                "layers": layers,
                "rasters": rasters,
                "rasters_group": raster_group,
            }
        )
    national = []
    if national_gpkg is not None:
        national = [
            {
                "path": str(folder / national_gpkg),
                "layer": name,
                "name": name,
                "visible": vis,
                **style_texts(name, lang, category_labels),
            }
            for name, vis in NATIONAL_LAYERS
        ]
    return {
        "project": str(folder / PROJECT_FILE),
        "title": title,
        "crs": "EPSG:28992",
        "national": national,
        "national_group": national_group,
        "groups": groups,
        "compact": compact,
        "legend_labels": legend_labels(lang, category_labels),
    }


def style_texts(
    layer: str, lang: str, category_labels: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The texts ``qgis_script.py`` sets on a layer over its GeoPackage style, in ``lang``:
    its ``map_tip`` and its label rule's description (``rule``), where its style has them
    (the GeoPackages of the same run carry the same; this keeps the project in its language
    whatever wrote them)."""
    texts = {"map_tip": map_tip(layer, lang, category_labels)}
    rule = rule_description(layer, lang)
    if rule is not None:
        texts["rule"] = rule
    return {key: text for key, text in texts.items() if text}


def raster_legend(
    name: str, lang: str, category_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A raster's legend in ``lang`` for ``qgis_script.py``: its ``title`` (the legend's
    heading, over the GeoTIFF's English band description), and how the colour ramp writes
    its numbers: ``digits``, ``suffix`` (the unit), ``thousands`` and ``decimal`` separators.

    Parameters
    ----------
    name
        The raster's name without the municipality (``dist_supermarket_m``,
        ``transit_access_min``, ``building_cover_400m``, ``pop_800m``...); another name is
        its own title.
    lang
        ``nl`` or ``en``.
    category_labels
        Destination category -> its label in ``lang``, for the walking distances.
    """
    thousands, point = separators(lang)
    number = {"thousands": thousands, "decimal": point}
    for pattern, kind, digits, suffix in _RASTER_KINDS:
        found = pattern.fullmatch(name)
        if found is None:
            continue
        parts = found.groupdict()
        category = parts.get("category") or ""
        label = (category_labels or {}).get(category) or _category_fallback(category, lang)
        radius = format_number(int(parts["r"]), 0, lang) if parts.get("r") else ""
        title = words_in(_RASTER_TITLES, lang)[kind].format(label=label, r=radius)
        return {"title": title, "digits": digits, "suffix": suffix, **number}
    return {"title": name, "digits": 2, "suffix": "", **number}


def _category_fallback(category: str, lang: str) -> str:
    """A category's label when the configuration gives none: the style's English one in
    English, else its name in words."""
    if lang == "en" and category in CATEGORY_STYLES:
        return CATEGORY_STYLES[category][0]
    return category.replace("_", " ")


def _site_type_layer(gpkg: Path, gm_code: str, lang: str) -> dict[str, Any]:
    """The sites again, above them, in the outline-only ``site_type`` style (its map tip and
    legend in ``lang``)."""
    qml = run_style(SITE_TYPE_STYLE, lang)
    if qml is None:  # pragma: no cover - package data missing from the install
        raise FileNotFoundError(f"style {SITE_TYPE_STYLE}.qml is missing from the package")
    return {
        "path": str(gpkg),
        "layer": SITE_TYPE_LAYER,
        "name": f"{gm_code} {SITE_TYPE_LAYER} {SITE_TYPE_SUFFIX}",
        "visible": True,
        "qml": qml,
    }


def qgis_env(home: Path) -> dict[str, str]:
    """The environment for the system Python: no venv paths, Qt offscreen, a private HOME."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    # GDAL_PAM_ENABLED=NO: QGIS must not leave .aux.xml statistics beside the run's rasters
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(home),
        HOME=str(home),
        GDAL_PAM_ENABLED="NO",
    )
    return env


def qgis_python() -> str:
    """The interpreter with PyQGIS (``MAGICMIX_QGIS_PYTHON``, default the system one)."""
    return os.environ.get("MAGICMIX_QGIS_PYTHON") or QGIS_PYTHON


def write_qgis_project(
    folder: Path,
    municipalities: Sequence[ProjectMunicipality],
    *,
    national_gpkg: str | None,
    title: str,
    lang: str = "nl",
    category_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``folder/magicmix.qgz`` with PyQGIS; returns what the manifest records.
    ``lang`` and ``category_labels``: the legends' language (see :func:`project_spec`).

    Returns ``{"file": "magicmix.qgz", "layers": n, "compact": bool}``, or ``{"file": None,
    "error": why}`` when no interpreter with PyQGIS is found or QGIS takes longer than
    :data:`TIMEOUT_S` (the rest of the run is still published).

    Raises
    ------
    OutputError
        If PyQGIS is there but cannot build or write the project (a layer it cannot open).
    """
    build = start_qgis_project(
        folder,
        municipalities,
        national_gpkg=national_gpkg,
        title=title,
        lang=lang,
        category_labels=category_labels,
    )
    return build.result()


class QgisBuild:
    """A QGIS project being built by PyQGIS in a subprocess (:func:`start_qgis_project`);
    :meth:`result` waits for it. The run's other national files are written meanwhile."""

    def __init__(self, spec: dict[str, Any] | None, error: str | None = None) -> None:
        self._spec = spec
        self._error = error
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[str] | None = None
        self._started = time.monotonic()

    def start(self, python: str) -> None:
        """Probe PyQGIS, then start the build (no wait)."""
        assert self._spec is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="magicmix-qgis-")
        home = Path(self._tmp.name)
        spec_path = home / "spec.json"
        spec_path.write_text(json.dumps(self._spec), encoding="utf-8")
        probe = _run_qgis([python, "-c", "import qgis.core"], home)
        if probe.returncode != 0:
            self._error = f"{python} cannot import PyQGIS"
            return
        script = resources.files("magicmix_geo.publish").joinpath("qgis_script.py")
        # an installed package is a folder: the script's own path stays valid for the child
        with resources.as_file(script) as script_path:
            command = [python, str(script_path), str(spec_path)]
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=qgis_env(home),
            cwd=home,
        )

    def result(self) -> dict[str, Any]:
        """Wait for the build (at most :data:`TIMEOUT_S` since it started); what the
        manifest records, as :func:`write_qgis_project` returns it."""
        try:
            return self._wait()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def cancel(self) -> None:
        """Stop the build (the run failed meanwhile); nothing is left behind."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        if self._spec is not None and self._process is not None:
            Path(self._spec["project"]).unlink(missing_ok=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _wait(self) -> dict[str, Any]:
        if self._process is None or self._spec is None:
            return {"file": None, "error": self._error or "QGIS project not started"}
        target = Path(self._spec["project"])
        left = max(TIMEOUT_S - (time.monotonic() - self._started), 0.0)
        try:
            out, err = self._process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            target.unlink(missing_ok=True)
            return {"file": None, "error": f"QGIS took longer than {TIMEOUT_S} s; not written"}
        if self._process.returncode != 0 or not target.is_file():
            reason = (err.strip().splitlines() or ["no message"])[-1]
            raise OutputError(f"{target}: QGIS could not write the project ({reason})")
        report = json.loads(out.strip().splitlines()[-1])
        compact = self._spec["compact"]
        return {"file": PROJECT_FILE, "layers": int(report["layers"]), "compact": compact}


def start_qgis_project(
    folder: Path,
    municipalities: Sequence[ProjectMunicipality],
    *,
    national_gpkg: str | None,
    title: str,
    lang: str = "nl",
    category_labels: Mapping[str, str] | None = None,
) -> QgisBuild:
    """Start building ``folder/magicmix.qgz`` (as :func:`write_qgis_project`) and return at
    once; the layers' GeoPackages must be complete. Call :meth:`QgisBuild.result` to wait."""
    python = qgis_python()
    if not Path(python).is_file():
        return QgisBuild(None, f"{python} not found (PyQGIS: apt install python3-qgis)")
    spec = project_spec(
        folder,
        municipalities,
        national_gpkg=national_gpkg,
        title=title,
        lang=lang,
        category_labels=category_labels,
    )
    build = QgisBuild(spec)
    build.start(python)
    return build


def _run_qgis(command: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with PyQGIS's environment in ``home``, within :data:`TIMEOUT_S`."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=qgis_env(home),
        cwd=home,
        timeout=TIMEOUT_S,
        check=False,
    )
