"""Build the run's QGIS project with PyQGIS; run by ``qgis_project.py`` with the system Python.

Not imported by the library: Debian's python3-qgis lives in the system interpreter, which has
none of the package's dependencies, so this file uses only the standard library and PyQGIS::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_script.py SPEC.json

SPEC.json: ``{"project": ".../magicmix.qgz", "title": "...", "crs": "EPSG:28992",
"national": [{"path": ..., "layer": ..., "name": ...}], "groups": [{"name": ..., "layers":
[{"path": ..., "layer": ..., "name": ..., "visible": bool, "qml": optional, "map_tip":
optional, "rule": optional}], "rasters": [{"path": ..., "name": ..., "legend": optional
{"title": ..., "digits": n, "suffix": ..., "thousands": ..., "decimal": ...}}]}],
"legend_labels": {"categories": {field: {value: label}}, "ranges": {"%.3f" % lower:
label}}}``. Vector layers keep the default style stored in their GeoPackage's
``layer_styles``, or take the QML text of their ``qml`` key (the site_type outlines); their
legend labels are then set from ``legend_labels``, their map tip from ``map_tip`` and their
label rules' description from ``rule`` (the run's language); rasters get a pseudocolour ramp
over their range and start hidden, their legend's heading and numbers from ``legend`` (the
run's language). Paths are saved relative to the project, so the run folder can be moved.
Prints a JSON line with what was written; exit status 0 on success.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsBasicNumericFormat,
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsCoordinateReferenceSystem,
    QgsGradientColorRamp,
    QgsMapLayerLegendUtils,
    QgsNumericFormatContext,
    QgsProject,
    QgsRasterBandStats,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]
from qgis.PyQt.QtXml import QDomDocument  # type: ignore[import-not-found]

RAMP = ("#f7fcf5", "#00441b")
RASTER_ATTEMPTS = 3
RASTER_RETRY_S = 0.5


def _raster_layer(spec: dict[str, Any]) -> Any:
    """The raster as a QGIS layer. A complete GeoTIFF was once seen invalid under heavy load
    (CI, one run in many; cause not found): it is opened again before giving up, and the
    error says what GDAL reported."""
    for attempt in range(RASTER_ATTEMPTS):
        layer = QgsRasterLayer(spec["path"], spec["name"], "gdal")
        if layer.isValid():
            return layer
        if attempt + 1 < RASTER_ATTEMPTS:
            time.sleep(RASTER_RETRY_S * (attempt + 1))
    reason = " ".join(layer.error().summary().split()) or "no reason given"
    raise RuntimeError(f"{spec['path']}: raster is not valid in QGIS ({reason})")


def vector(spec: dict[str, Any], labels: dict[str, Any] | None = None) -> Any:
    layer = QgsVectorLayer(f"{spec['path']}|layername={spec['layer']}", spec["name"], "ogr")
    if not layer.isValid():
        raise RuntimeError(f"{spec['path']}: layer {spec['layer']!r} is not valid in QGIS")
    if spec.get("qml"):
        doc = QDomDocument("qgis")
        doc.setContent(spec["qml"])
        ok, error = layer.importNamedStyle(doc)
        if not ok:
            raise RuntimeError(f"{spec['name']}: QGIS could not apply its style ({error})")
    relabel(layer.renderer(), labels or {})
    if spec.get("map_tip"):
        layer.setMapTipTemplate(spec["map_tip"])
    if spec.get("rule"):
        describe_rules(layer.labeling(), spec["rule"])
    return layer


def describe_rules(labeling: Any, description: str) -> None:
    """Set the description of the label rules of a rule-based ``labeling`` (the top 10)."""
    if labeling is None or labeling.type() != "rule-based":
        return
    for rule in labeling.rootRule().children():
        rule.setDescription(description)


def relabel(renderer: Any, labels: dict[str, Any]) -> None:
    """Set the legend labels of ``renderer`` that ``labels`` names (the run's language): a
    category by its field and value, a graduated class by its lower bound; others stay."""
    if renderer is None:
        return
    if renderer.type() == "categorizedSymbol":
        mine = labels.get("categories", {}).get(renderer.classAttribute(), {})
        for i, category in enumerate(renderer.categories()):
            label = mine.get(str(category.value()))
            if label is not None:
                renderer.updateCategoryLabel(i, label)
    elif renderer.type() == "graduatedSymbol":
        ranges = labels.get("ranges", {})
        for i, class_range in enumerate(renderer.ranges()):
            label = ranges.get(f"{class_range.lowerValue():.3f}")
            if label is not None:
                renderer.updateRangeLabel(i, label)


def raster(spec: dict[str, Any]) -> Any:
    layer = _raster_layer(spec)
    stats = layer.dataProvider().bandStatistics(1, QgsRasterBandStats.Min | QgsRasterBandStats.Max)
    low, high = float(stats.minimumValue), float(stats.maximumValue)
    if not high > low:
        high = low + 1.0
    ramp = QgsGradientColorRamp(QColor(RAMP[0]), QColor(RAMP[1]))
    shader_function = QgsColorRampShader(low, high, ramp)
    shader_function.classifyColorRamp(5, -1)
    if spec.get("legend"):
        ramp_numbers(shader_function, spec["legend"])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    layer.setRenderer(renderer)
    return layer


def ramp_numbers(shader_function: Any, legend: dict[str, Any]) -> None:
    """Write the ramp's numbers as the run's language does: the continuous legend's ends and
    the classes' labels, with its separators, digits and unit."""
    number = QgsBasicNumericFormat()
    number.setNumberDecimalPlaces(int(legend["digits"]))
    number.setShowTrailingZeros(True)
    number.setShowThousandsSeparator(True)
    number.setThousandsSeparator(legend["thousands"])
    number.setDecimalSeparator(legend["decimal"])
    settings = QgsColorRampLegendNodeSettings()  # a new one: the shader takes it over
    settings.setUseContinuousLegend(True)
    settings.setNumericFormat(number.clone())
    settings.setSuffix(legend["suffix"])
    shader_function.setLegendSettings(settings)
    context = QgsNumericFormatContext()
    items = shader_function.colorRampItemList()
    for item in items:
        item.label = number.formatDouble(item.value, context) + legend["suffix"]
    shader_function.setColorRampItemList(items)


def raster_heading(tree_layer: Any, legend: dict[str, Any] | None) -> None:
    """The raster's legend heading (QGIS shows the GeoTIFF's band description, English) in
    the run's language: the layer tree's own label of the first legend entry."""
    if legend and legend.get("title"):
        QgsMapLayerLegendUtils.setLegendNodeUserLabel(tree_layer, 0, legend["title"])


def build(spec: dict[str, Any]) -> dict[str, Any]:
    project = QgsProject.instance()
    project.clear()
    project.setCrs(QgsCoordinateReferenceSystem(spec["crs"]))
    project.setTitle(spec["title"])
    project.writeEntryBool("Paths", "/Absolute", False)
    root = project.layerTreeRoot()
    written = 0
    if spec.get("national"):
        group = root.addGroup(spec["national_group"])
        for item in spec["national"]:
            layer = vector(item, spec.get("legend_labels"))
            project.addMapLayer(layer, False)
            group.addLayer(layer).setItemVisibilityChecked(bool(item.get("visible", False)))
            written += 1
        group.setExpanded(False)
    for entry in spec["groups"]:
        group = root.addGroup(entry["name"])
        for item in entry["layers"]:
            layer = vector(item, spec.get("legend_labels"))
            project.addMapLayer(layer, False)
            group.addLayer(layer).setItemVisibilityChecked(bool(item["visible"]))
            written += 1
        if entry.get("rasters"):
            sub = group.addGroup(entry["rasters_group"])
            for item in entry["rasters"]:
                layer = raster(item)
                project.addMapLayer(layer, False)
                tree_layer = sub.addLayer(layer)
                tree_layer.setItemVisibilityChecked(False)
                raster_heading(tree_layer, item.get("legend"))
                written += 1
            sub.setItemVisibilityChecked(False)
            sub.setExpanded(False)
    if not project.write(spec["project"]):
        raise RuntimeError(f"{spec['project']}: QGIS could not write the project")
    return {"project": spec["project"], "layers": written}


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    # a throwaway profile: QGIS would otherwise create files in HOME or the working folder
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    try:
        print(json.dumps(build(spec)))
        status = 0
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        status = 1
    QgsProject.instance().clear()
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
