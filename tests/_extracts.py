"""``osmium extract --strategy smart`` of one polygon, cut alone from a file: the extract the
OSM store's slices and the changes record's reach are defined against."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from shapely.geometry import MultiPolygon, mapping


def smart_extract(source: Path, polygon: MultiPolygon, target: Path) -> Path:
    """``target``: the smart extract of ``polygon`` (WGS84) from ``source``, cut alone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    config = target.with_suffix(".json")
    extract = {"output": target.name, "multipolygon": mapping(polygon)["coordinates"]}
    config.write_text(
        json.dumps({"directory": str(target.parent), "extracts": [extract]}), encoding="utf-8"
    )
    subprocess.run(
        ["osmium", "extract", "-c", str(config), "-s", "smart", "-O", "--no-progress", str(source)],
        check=True,
        capture_output=True,
    )
    return target
