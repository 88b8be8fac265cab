"""Open GeoPackages in real QGIS (headless) and report what QGIS sees, as JSON in a file.

Run by tests/test_qgis.py with the system Python, which has PyQGIS (Debian python3-qgis);
it cannot import the package (no geopandas there) and does not need to::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py REPORT.json OUT.png \
        A.gpkg [B.gpkg...]

For every layer of every file: validity, feature count, CRS, the default style QGIS loaded
from ``layer_styles`` (renderer type, field or expression, classes, labels) and how many
features fall in each legend class. The ``sites`` layer of the first file is rendered with
its context layers and labels to ``OUT.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # type: ignore[import-not-found]
    Qgis,
    QgsApplication,
    QgsDataProvider,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRenderContext,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # type: ignore[import-not-found]
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]

RENDER_ORDER = ("sites", "boundary", "stops", "streets", "buildings", "water")  # top first


def layer_names(path: str) -> list[str]:
    """The tables of a GeoPackage, as QGIS's OGR provider lists them (spatial or not)."""
    probe = QgsVectorLayer(path, "probe", "ogr")
    separator = QgsDataProvider.sublayerSeparator()
    return [item.split(separator)[1] for item in probe.dataProvider().subLayers()]


def legend_counts(layer: Any) -> dict[str, int]:
    """Features per legend label, evaluated with the layer's own renderer."""
    renderer = layer.renderer().clone()
    context = QgsRenderContext()
    context.setExpressionContext(layer.createExpressionContext())
    renderer.startRender(context, layer.fields())
    labels = {item.ruleKey(): item.label() for item in renderer.legendSymbolItems()}
    counts: dict[str, int] = {}
    for feature in layer.getFeatures():
        context.expressionContext().setFeature(feature)
        keys = renderer.legendKeysForFeature(feature, context)
        label = ", ".join(sorted(labels.get(k, k) for k in keys))
        if not label:  # a single symbol has no legend classes
            label = "drawn" if renderer.willRenderFeature(feature, context) else "(not drawn)"
        counts[label] = counts.get(label, 0) + 1
    renderer.stopRender(context)
    return counts


def default_style(layer: Any) -> list[str]:
    """Names of the styles stored in the file for this layer (``layer_styles``)."""
    related, _ids, names, _descriptions, _error = layer.listStylesInDatabase()
    return list(names[:related])


def describe(layer: Any) -> dict[str, Any]:
    renderer = layer.renderer()
    info: dict[str, Any] = {
        "valid": layer.isValid(),
        "features": layer.featureCount(),
        "crs": layer.crs().authid(),
        "geometry_type": layer.geometryType(),
        "renderer": renderer.type() if renderer else None,
        "title": layer.metadata().title(),
        "abstract": layer.metadata().abstract(),
        "default_style": default_style(layer),
        "labels_enabled": layer.labelsEnabled(),
    }
    if renderer is None:
        return info
    if renderer.type() in ("graduatedSymbol", "categorizedSymbol"):
        info["field"] = renderer.classAttribute()
    if renderer.type() == "graduatedSymbol":
        info["classes"] = [
            {
                "lower": r.lowerValue(),
                "upper": r.upperValue(),
                "label": r.label(),
                "colour": r.symbol().color().name(),
            }
            for r in renderer.ranges()
        ]
    if renderer.type() == "categorizedSymbol":
        info["classes"] = [
            {
                "value": c.value(),
                "label": c.label(),
                "colour": c.symbol().color().name(),
                "shape": c.symbol().symbolLayer(0).properties().get("name"),
            }
            for c in renderer.categories()
        ]
    if renderer.type() == "singleSymbol":
        info["colour"] = renderer.symbol().color().name()
    labeling = layer.labeling()
    if labeling is not None:
        info["labeling"] = labeling.type()
        info["label_fields"] = [labeling.settings(pid).fieldName for pid in labeling.subProviders()]
        if labeling.type() == "rule-based":
            info["label_filters"] = [
                rule.filterExpression() for rule in labeling.rootRule().descendants()
            ]
    info["legend_counts"] = legend_counts(layer)
    return info


def render(layers: dict[str, Any], target: str) -> dict[str, Any]:
    """Render the sites with their context and labels to a PNG; report the placed labels."""
    drawn = [layers[name] for name in RENDER_ORDER if name in layers]
    extent = (layers.get("boundary") or layers["sites"]).extent()
    extent.scale(1.05)
    settings = QgsMapSettings()
    settings.setLayers(drawn)
    settings.setDestinationCrs(layers["sites"].crs())
    settings.setBackgroundColor(QColor("white"))
    settings.setOutputSize(QSize(1600, int(1600 * extent.height() / extent.width())))
    settings.setOutputDpi(150)
    settings.setExtent(extent)
    settings.setFlag(QgsMapSettings.Antialiasing, True)
    settings.setFlag(QgsMapSettings.DrawLabeling, True)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    saved = image.save(target, "PNG")
    labels = job.takeLabelingResults()
    placed = [
        label.labelText
        for label in labels.allLabels()
        if label.layerID == layers["sites"].id() and not label.isUnplaced
    ]
    colours = {
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), 4)
        for y in range(0, image.height(), 4)
    }
    return {
        "saved": bool(saved),
        "width": image.width(),
        "height": image.height(),
        "errors": [e.message for e in job.errors()],
        "labels": sorted(placed, key=lambda t: (len(t), t)),
        "distinct_colours": len(colours),
        "colours": sorted(colours),
    }


def inspect(paths: list[str], target: str) -> dict[str, Any]:
    """Open, describe and render; every layer is released when this returns."""
    report: dict[str, Any] = {"qgis_version": Qgis.QGIS_VERSION, "files": {}}
    opened: list[dict[str, Any]] = []
    for path in paths:
        layers = {}
        for name in layer_names(path):
            layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
            if layer.isSpatial():
                layers[name] = layer
        opened.append(layers)
        report["files"][path] = {name: describe(layer) for name, layer in layers.items()}
    with_sites = [layers for layers in opened if "sites" in layers]
    if with_sites:
        report["render"] = render(with_sites[0], target)
    return report


def main(argv: list[str]) -> int:
    report_path, target, *paths = argv
    # a throwaway profile: QGIS would otherwise create symbology-style.db in the cwd
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    report = inspect(paths, target)
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, default=str)
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
