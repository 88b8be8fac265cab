"""Evaluate the map tips of a project's or a GeoPackage's layers in real QGIS, as JSON.

Run by tests/test_qgis_styles_i18n.py with the system Python (PyQGIS)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_maptip_check.py SOURCE OUT.json

SOURCE is a ``.qgz`` project (its layers as the project holds them) or a ``.gpkg`` (each
spatial layer opened on its own, with the default style stored in the file). Per layer: the
map tip template, the map tip of every feature (at most ``LIMIT``) as QGIS's map tip
(``QgsMapTip``, src/gui/qgsmaptip.cpp) makes it: ``QgsExpression.replaceExpressionText`` with
the layer's global/project/layer scopes and the feature, the HTML it then shows; the
descriptions of the label rules and the legend labels.
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
    QgsApplication,
    QgsExpression,
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsMapLayerType,
    QgsProject,
    QgsVectorLayer,
)

LIMIT = 200


def describe(layer: Any) -> dict[str, Any]:
    template = layer.mapTipTemplate()
    tips = []
    errors = []
    for i, feature in enumerate(layer.getFeatures()):
        if i >= LIMIT:
            break
        context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
        context.setFeature(feature)
        tips.append(QgsExpression.replaceExpressionText(template, context))
    # every expression of the template parses
    for part in template.split("[%")[1:]:
        expression = QgsExpression(part.split("%]")[0])
        if expression.hasParserError():
            errors.append(expression.parserErrorString())
    labeling = layer.labeling()
    rules = []
    if labeling is not None and labeling.type() == "rule-based":
        rules = [rule.description() for rule in labeling.rootRule().children()]
    renderer = layer.renderer()
    legend = []
    if renderer is not None and renderer.type() == "categorizedSymbol":
        legend = [c.label() for c in renderer.categories()]
    elif renderer is not None and renderer.type() == "graduatedSymbol":
        legend = [r.label() for r in renderer.ranges()]
    return {
        "template": template,
        "tips": tips,
        "parser_errors": errors,
        "rules": rules,
        "legend": legend,
    }


def main(argv: list[str]) -> int:
    source, out = argv
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    report: dict[str, Any] = {}
    if source.endswith(".qgz"):
        project = QgsProject.instance()
        report["read"] = bool(project.read(source))
        for node in project.layerTreeRoot().findLayers():
            layer = node.layer()
            if layer.type() == QgsMapLayerType.VectorLayer:
                report[layer.name()] = describe(layer)
    else:
        from osgeo import ogr  # type: ignore[import-not-found]

        names = [layer.GetName() for layer in ogr.Open(source)]
        for name in names:
            layer = QgsVectorLayer(f"{source}|layername={name}", name, "ogr")
            if layer.isValid() and layer.isSpatial():
                report[name] = describe(layer)
            del layer
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    QgsProject.instance().clear()
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
