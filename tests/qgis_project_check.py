"""Open a run's QGIS project in real QGIS (headless) and report what it holds, as JSON.

Run by tests/test_qgis_project.py with the system Python (PyQGIS)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_project_check.py PROJECT.qgz \
        REPORT.json OUT.png

For every layer: validity, kind, group, visibility, CRS, renderer and (vector layers) whether
the renderer is the default style of its GeoPackage (the same renderer a fresh layer from the
same source loads). The visible layers are rendered to ``OUT.png`` in the project's order.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsMapLayerType,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # type: ignore[import-not-found]
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]


def renderer_signature(layer: Any) -> dict[str, Any]:
    renderer = layer.renderer()
    if renderer is None:
        return {"type": None}
    out: dict[str, Any] = {"type": renderer.type()}
    if hasattr(renderer, "classAttribute"):
        out["field"] = renderer.classAttribute()
    if renderer.type() == "graduatedSymbol":
        out["classes"] = [
            [r.lowerValue(), r.upperValue(), r.symbol().color().name()] for r in renderer.ranges()
        ]
    if renderer.type() == "categorizedSymbol":
        out["classes"] = [
            [str(c.value()), c.symbol().color().name()] for c in renderer.categories()
        ]
        # value, legend label, outline colour, pen style (Qt.PenStyle) and fill alpha
        out["outlines"] = [
            [
                str(c.value()),
                c.label(),
                c.symbol().symbolLayer(0).strokeColor().name(),
                int(c.symbol().symbolLayer(0).strokeStyle()),
                c.symbol().symbolLayer(0).color().alpha(),
            ]
            for c in renderer.categories()
            if hasattr(c.symbol().symbolLayer(0), "strokeStyle")
        ]
    if renderer.type() == "singleSymbol":
        out["colour"] = renderer.symbol().color().name()
    return out


def inspect(project_path: str, png: str) -> dict[str, Any]:
    """Read, describe and render; every layer made here is released when this returns
    (a layer alive after exitQgis crashes the interpreter)."""
    project = QgsProject.instance()
    report: dict[str, Any] = {"read": bool(project.read(project_path))}
    report["crs"] = project.crs().authid()
    report["title"] = project.title()
    with zipfile.ZipFile(project_path) as archive:
        qgs = next(n for n in archive.namelist() if n.endswith(".qgs"))
        text = archive.read(qgs).decode("utf-8")
    report["datasources"] = sorted(
        {
            line.strip()[len("<datasource>") : -len("</datasource>")]
            for line in text.splitlines()
            if line.strip().startswith("<datasource>")
        }
    )
    root = project.layerTreeRoot()
    layers = []
    for node in root.findLayers():
        layers.append(describe(node))
    report["layers"] = layers
    report["render"] = render(project, png)
    return report


def describe(node: Any) -> dict[str, Any]:
    layer = node.layer()
    entry: dict[str, Any] = {
        "name": layer.name(),
        "group": node.parent().name(),
        "valid": layer.isValid(),
        "visible": node.isVisible(),
        "checked": node.itemVisibilityChecked(),
        "crs": layer.crs().authid(),
        "kind": "vector" if layer.type() == QgsMapLayerType.VectorLayer else "raster",
        "renderer": renderer_signature(layer),
    }
    if entry["kind"] == "vector":
        entry["features"] = layer.featureCount()
        entry["map_tip"] = layer.mapTipTemplate()
        entry["source_layer"] = layer.source().rsplit("layername=", 1)[-1]
        fresh = QgsVectorLayer(layer.source(), "fresh", "ogr")
        entry["default_style"] = renderer_signature(fresh)
        related, _ids, names, _d, _e = fresh.listStylesInDatabase()
        entry["styles_in_file"] = list(names[:related])
        del fresh
    return entry


def render(project: Any, png: str) -> dict[str, Any]:
    root = project.layerTreeRoot()
    visible = [n.layer() for n in root.findLayers() if n.isVisible()]
    extent = QgsRectangle()
    for layer in visible:
        if layer.name().endswith("boundary"):
            extent.combineExtentWith(layer.extent())
    if extent.isEmpty() and visible:
        extent = visible[0].extent()
    extent.scale(1.05)
    settings = QgsMapSettings()
    settings.setLayers(visible)  # findLayers() is top to bottom, as setLayers wants
    settings.setDestinationCrs(project.crs())
    settings.setBackgroundColor(QColor("white"))
    settings.setOutputSize(QSize(1400, int(1400 * extent.height() / max(extent.width(), 1))))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    return {
        "saved": bool(image.save(png, "PNG")),
        "errors": [e.message for e in job.errors()],
        "distinct_colours": len(
            {
                image.pixelColor(x, y).name()
                for x in range(0, image.width(), 5)
                for y in range(0, image.height(), 5)
            }
        ),
    }


def main(argv: list[str]) -> int:
    project_path, report_path, png = argv
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    report = inspect(project_path, png)
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1, default=str)
    QgsProject.instance().clear()
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
