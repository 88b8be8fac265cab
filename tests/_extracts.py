"""The reference the OSM store's slices are checked against: ``osmium extract --strategy
smart`` of one polygon, cut alone from the file, read by the pipeline's OSM reader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from shapely.geometry import MultiPolygon, mapping

from magicmix_geo.prepare.osm import OsmData


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


def assert_same_osm(got: OsmData, want: OsmData) -> None:
    """The same walk arrays and the same features and lines, row for row, bit for bit."""
    for name in ("way_ids", "offsets", "node_ids", "lon", "lat"):
        np.testing.assert_array_equal(getattr(got.walk, name), getattr(want.walk, name), name)
    for frame in ("features", "lines"):
        a, b = getattr(got, frame), getattr(want, frame)
        pd.testing.assert_frame_equal(
            pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
        )
        assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb()), frame
