"""Regenerate the QML styles of this folder with PyQGIS, so that QGIS itself writes them.

Run with the Python that has PyQGIS (Debian: ``apt-get install python3-qgis``), from the
repository root::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 magicmix_geo/publish/styles/make_styles.py

The styles are written by the oldest QGIS we support (3.22, Debian bookworm); newer QGIS
versions read them unchanged. Colours come from ``../_palette.py``. After editing a style in
QGIS (Layer Properties > Style > Save Style... > QML), the file can also be saved over the one
here directly; this script is only the reproducible starting point.

Sites (and the national ranking) use a graduated renderer on the expression::

    CASE WHEN coalesce("excluded", false) THEN -1 WHEN "score_total" IS NULL THEN -2
    ELSE "score_total" END

so the five score_total classes and the grey "excluded" class live in one graduated legend:
excluded sites fall in the class [-1.5, -0.5], sites without a score in [-2.5, -1.5].

``site_types.qml`` categorises the sites on ``site_type`` with outlines only (no fill), one
colour and dash per type: the QGIS project draws it over the score-coloured sites layer, so
each candidate shows its score (fill) and its type (outline), each with a legend.

The styles here are English and have no map tips: a run writes each style into its
GeoPackages in its own language, with the map tips (HTML, values from data escaped), the label
rules' descriptions and the legend labels set by ``../qgis_styles.py`` (``run_style``).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

# a fixed hash seed makes Qt write XML attributes in the same order on every run
os.environ.setdefault("QT_HASH_SEED", "0")

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsLineSymbol,
    QgsMapLayer,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsProperty,
    QgsReadWriteContext,
    QgsRendererCategory,
    QgsRendererRange,
    QgsRuleBasedLabeling,
    QgsSimpleLineCallout,
    QgsSingleSymbolRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor, QFont  # type: ignore[import-not-found]
from qgis.PyQt.QtXml import QDomDocument  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent
SCORE_EXPRESSION = (
    'CASE WHEN coalesce("excluded", false) THEN -1 WHEN "score_total" IS NULL THEN -2 '
    'ELSE "score_total" END'
)
CATEGORIES = (
    QgsMapLayer.Symbology | QgsMapLayer.Labeling | QgsMapLayer.Rendering | QgsMapLayer.MapTips
)


def _load(path: Path) -> Any:
    """Load a module of plain constants by path: the package itself needs geopandas, this
    Python not."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load(HERE.parent / "_palette.py")
# the site types' labels (English: the packaged styles are English)
T = _load(HERE.parent.parent / "site_types.py")


def rgba(hex_colour: str, alpha: int = 255) -> str:
    colour = QColor(hex_colour)
    return f"{colour.red()},{colour.green()},{colour.blue()},{alpha}"


def fill(colour: str, edge: str, width: float = 0.2, alpha: int = 255, style: str = "solid") -> Any:
    return QgsFillSymbol.createSimple(
        {
            "color": rgba(colour, alpha),
            "outline_color": rgba(edge),
            "outline_width": str(width),
            "outline_width_unit": "MM",
            "style": style,
        }
    )


def marker(colour: str, shape: str, size: float) -> Any:
    return QgsMarkerSymbol.createSimple(
        {
            "name": shape,
            "color": rgba(colour),
            "outline_color": rgba("#333333"),
            "outline_width": "0.2",
            "size": str(size),
            "size_unit": "MM",
        }
    )


def site_renderer() -> Any:
    ranges = [
        QgsRendererRange(*P.NO_SCORE_CLASS, fill(P.NO_SCORE_COLOUR, P.SITE_EDGE), "no score", True),
        QgsRendererRange(
            *P.EXCLUDED_CLASS,
            fill(P.EXCLUDED_COLOUR, P.EXCLUDED_EDGE, alpha=150),
            "excluded",
            True,
        ),
    ]
    for i, colour in enumerate(P.SCORE_COLOURS):
        lo, hi = P.SCORE_BREAKS[i], P.SCORE_BREAKS[i + 1]
        ranges.append(
            QgsRendererRange(lo, hi, fill(colour, P.SITE_EDGE, width=0.3), f"{lo:.1f} - {hi:.1f}")
        )
    renderer = QgsGraduatedSymbolRenderer(SCORE_EXPRESSION, ranges)
    renderer.setClassificationMethod(
        QgsApplication.classificationMethodRegistry().method("EqualInterval")
    )
    # excluded sites below, the best on top
    renderer.setOrderBy(
        QgsFeatureRequest.OrderBy([QgsFeatureRequest.OrderByClause(SCORE_EXPRESSION, True)])
    )
    renderer.setOrderByEnabled(True)
    return renderer


def site_type_renderer() -> Any:
    """Outline-only symbols per ``site_type`` (P.SITE_TYPE_STYLES), legend "type: label"
    (T.SITE_TYPE_LABELS)."""
    items = []
    for value, (colour, dash) in P.SITE_TYPE_STYLES.items():
        label = T.site_type_label(value, "en")
        symbol = QgsFillSymbol.createSimple(
            {
                "color": rgba("#ffffff", 0),
                "style": "no",
                "outline_color": rgba(colour),
                "outline_style": dash,
                "outline_width": str(P.SITE_TYPE_WIDTH_MM),
                "outline_width_unit": "MM",
            }
        )
        items.append(QgsRendererCategory(value, symbol, f"{value}: {label}", True))
    return QgsCategorizedSymbolRenderer("site_type", items)


def rank_labels(field: str, description: str) -> Any:
    """Rule-based labels: the value of ``field`` on features where it is 1..10."""
    settings = QgsPalLayerSettings()
    settings.fieldName = field
    settings.isExpression = False
    settings.placement = QgsPalLayerSettings.AroundPoint
    settings.centroidInside = True
    settings.dist = 0.5
    settings.priority = 10
    # the sites tile the whole area: as obstacles they would leave no room for a label
    obstacles = settings.obstacleSettings()
    obstacles.setIsObstacle(False)
    settings.setObstacleSettings(obstacles)
    text = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(True)
    text.setFont(font)
    text.setNamedStyle("Bold")
    text.setSize(10)
    text.setColor(QColor("#000000"))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(1.0)
    buffer.setColor(QColor("#ffffff"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    # the best rank wins a contested position
    settings.dataDefinedProperties().setProperty(
        QgsPalLayerSettings.Priority, QgsProperty.fromExpression(f'11 - "{field}"')
    )
    callout = QgsSimpleLineCallout()
    callout.setEnabled(True)
    callout.setMinimumLength(1.0)
    settings.setCallout(callout)
    root = QgsRuleBasedLabeling.Rule(None)
    rule = QgsRuleBasedLabeling.Rule(settings)
    rule.setFilterExpression(f'"{field}" IS NOT NULL AND "{field}" <= 10')
    rule.setDescription(description)
    root.appendChild(rule)
    return QgsRuleBasedLabeling(root)


def categorized(
    field: str, categories: list[str], size: float, styles: dict[str, Any] | None = None
) -> Any:
    styles = P.CATEGORY_STYLES if styles is None else styles
    items = []
    for value in categories:
        label, colour, shape = styles[value]
        items.append(QgsRendererCategory(value, marker(colour, shape, size), label, True))
    label, colour, shape = P.OTHER_CATEGORY_STYLE
    items.append(QgsRendererCategory("", marker(colour, shape, size * 0.8), label, True))
    return QgsCategorizedSymbolRenderer(field, items)


def memory_layer(geometry: str, fields: str, name: str) -> Any:
    layer = QgsVectorLayer(f"{geometry}?crs=EPSG:28992&{fields}", name, "memory")
    assert layer.isValid(), name
    return layer


def save(layer: Any, filename: str, comment: str) -> None:
    doc = QDomDocument("qgis")
    error = layer.exportNamedStyle(doc, QgsReadWriteContext(), CATEGORIES)
    if error:
        raise RuntimeError(f"{filename}: {error}")
    doc.documentElement().insertBefore(
        doc.createComment(f" magicmix-geo: {comment} "), doc.documentElement().firstChild()
    )
    # rule keys are random uuids; stable ones keep a regenerated file identical
    counter = itertools.count()
    text = re.sub(
        r'key="\{[0-9a-f-]{36}\}"',
        lambda _m: f'key="{{{uuid.uuid5(uuid.NAMESPACE_URL, f"{filename}#{next(counter)}")}}}"',
        doc.toString(2),
    )
    (HERE / filename).write_text(text, encoding="utf-8")
    print(f"wrote {filename} ({len(text)} characters)")


def site_style(filename: str, rank_field: str, scope: str) -> None:
    fields = (
        "field=site_id:string&field=gm_code:string&field=score_total:double"
        "&field=excluded:boolean&field=exclusion_reason:string"
        f"&field={rank_field}:integer&field=site_type:string&field=name:string"
    )
    layer = memory_layer("MultiPolygon", fields, filename)
    layer.setRenderer(site_renderer())
    layer.setLabeling(rank_labels(rank_field, f"top 10 of the {scope}"))
    layer.setLabelsEnabled(True)
    layer.setDisplayExpression('"site_id"')
    save(
        layer,
        filename,
        "candidate sites, graduated on score_total (5 classes, red to green), excluded sites"
        f" grey, {rank_field} labels on the top 10. Regenerate with make_styles.py",
    )


def main() -> int:
    # a throwaway profile: QGIS would otherwise create symbology-style.db in the cwd
    profile = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False, profile)
    app.initQgis()
    try:
        site_style("sites.qml", "rank_gm", "municipality")
        site_style("national_ranking.qml", "rank_nl", "country")

        types = memory_layer(
            "MultiPolygon", "field=site_id:string&field=site_type:string", "site_types"
        )
        types.setRenderer(site_type_renderer())
        types.setDisplayExpression('"site_id"')
        save(
            types,
            "site_types.qml",
            "candidate sites by site_type: outline colour and dash per type, no fill (drawn"
            " over the sites layer). Regenerate with make_styles.py",
        )

        stops = memory_layer("Point", "field=category:string&field=name:string", "stops")
        stops.setRenderer(categorized("category", ["train_station", "pt_stop"], 2.6))
        stops.setDisplayExpression('"name"')
        save(stops, "stops.qml", "public transport stops and train stations by category")

        transit = memory_layer(
            "Point",
            "field=name:string&field=mode:string&field=departures_per_hour:double"
            "&field=wait_min:double",
            "transit_stops",
        )
        transit.setRenderer(categorized("mode", list(P.MODE_STYLES), 2.6, P.MODE_STYLES))
        transit.setDisplayExpression('"name"')
        save(transit, "transit_stops.qml", "public transport stops by mode (train ... bus)")

        amenities = memory_layer("Point", "field=category:string&field=name:string", "amenities")
        amenities.setRenderer(categorized("category", list(P.CATEGORY_STYLES), 2.4))
        amenities.setDisplayExpression('"name"')
        save(amenities, "amenities.qml", "destinations by category (config/categories.toml)")

        boundary = memory_layer("Polygon", "field=gm_code:string", "boundary")
        boundary.setRenderer(
            QgsSingleSymbolRenderer(fill("#ffffff", P.BOUNDARY_COLOUR, width=0.6, style="no"))
        )
        save(boundary, "boundary.qml", "municipal boundary, outline only")

        buildings = memory_layer("MultiPolygon", "field=building:string", "buildings")
        buildings.setRenderer(QgsSingleSymbolRenderer(fill(P.BUILDING_COLOUR, "#cfc6bb", 0.1)))
        save(buildings, "buildings.qml", "building footprints")

        water = memory_layer("MultiPolygon", "field=natural:string", "water")
        water.setRenderer(QgsSingleSymbolRenderer(fill(P.WATER_COLOUR, "#9cc3e4", 0.1)))
        save(water, "water.qml", "water areas")

        streets = memory_layer("LineString", "field=highway:string", "streets")
        line = QgsLineSymbol.createSimple(
            {"line_color": rgba(P.STREET_COLOUR), "line_width": "0.26", "line_width_unit": "MM"}
        )
        streets.setRenderer(QgsSingleSymbolRenderer(line))
        save(streets, "streets.qml", "streets and paths")

        for kind, geometry in (("point", "Point"), ("line", "LineString"), ("polygon", "Polygon")):
            layer = memory_layer(geometry, "field=id:integer", f"default_{kind}")
            if kind == "point":
                symbol = marker("#555555", "circle", 2.0)
            elif kind == "line":
                symbol = QgsLineSymbol.createSimple(
                    {"line_color": rgba("#7a7a7a"), "line_width": "0.3"}
                )
            else:
                symbol = fill("#dddddd", "#888888", 0.2)
            layer.setRenderer(QgsSingleSymbolRenderer(symbol))
            save(layer, f"default_{kind}.qml", f"default style for {kind} layers without one")
    finally:
        app.exitQgis()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
