"""How much the OSM store's regions hold of the country: boxes against outlines (issue 12).

The store cuts a national file into regions of neighbouring municipalities and parses every
region's file, so what the regions hold together, against the country, is what the parse
costs against one pass. This bench plans the regions for the CBS municipality polygons of
2020 (the team's shared data: all 355, land only), as ``prepare/extracts.slice_areas`` plans
them for a national file of ``--nodes`` nodes, and weighs what each region's box and each
region's outline (``prepare/regions.region_outline``) hold of every municipality, by land
area and by people (a municipality's weight spread evenly over it). It also prints what the
slices hold together (the members' extract polygons: the buffers' overlap). Run::

    .venv/bin/python bench/region_outlines.py [--nodes 100000000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from country import KERNCIJFERS  # noqa: E402

from magicmix_geo.config import load_settings  # noqa: E402
from magicmix_geo.prepare.clip import CLIP_MARGIN_M  # noqa: E402
from magicmix_geo.prepare.extracts import (  # noqa: E402
    EXTRACT_SLACK_M,
    REGION_WORKERS,
    extract_polygon,
)
from magicmix_geo.prepare.regions import plan_slice_regions, region_box  # noqa: E402


def held(municipalities: np.ndarray, weight: np.ndarray, shapes: list[BaseGeometry]) -> float:
    """What ``shapes`` hold together of ``weight`` (spread evenly over ``municipalities``,
    WGS84), as a multiple of its total."""
    area = shapely.area(municipalities)
    total = 0.0
    for shape in shapes:
        total += float(
            (weight * shapely.area(shapely.intersection(municipalities, shape)) / area).sum()
        )
    return total / float(weight.sum())


Volumes = dict[str, tuple[float, float, float]]


def region_volumes(areas: gpd.GeoSeries, weights: dict[str, np.ndarray], nodes: int) -> Volumes:
    """For municipalities ``areas`` (EPSG:28992), planned in regions as the store plans them
    for a file of ``nodes`` nodes: per weight (spread evenly over each municipality), what
    the slices, the regions' boxes and their outlines hold together, as multiples of it."""
    settings = load_settings()
    buffer_m = settings.walk.clip_buffer_m + CLIP_MARGIN_M + EXTRACT_SLACK_M
    polygons = {f"{i:04d}": extract_polygon(area, buffer_m) for i, area in enumerate(areas)}
    planned = plan_slice_regions(polygons, nodes, None, REGION_WORKERS)
    if not planned:  # parsed whole: the file once
        planned = plan_slice_regions(polygons, nodes, 1, REGION_WORKERS)
    municipalities = areas.to_crs(4326).to_numpy()
    boxes = [shapely.box(*region_box([polygons[k] for k in r.members])) for r in planned]
    outlines = [r.outline for r in planned]
    return {
        name: (
            held(municipalities, weight, list(polygons.values())),
            held(municipalities, weight, boxes),
            held(municipalities, weight, outlines),
        )
        for name, weight in weights.items()
    }


def national_volumes(nodes: int) -> Volumes:
    """:func:`region_volumes` of the CBS municipalities (land) by land area and by people."""
    frame = gpd.read_file(KERNCIJFERS, columns=["GM_CODE", "H2O", "Aantal inwoners"])
    frame = frame.loc[frame["H2O"] == "NEE"].reset_index(drop=True)
    areas = frame.to_crs(28992).geometry
    weights = {
        "land area": areas.area.to_numpy(),
        "people": frame["Aantal inwoners"].clip(lower=0).to_numpy(dtype=float),
    }
    return region_volumes(areas, weights, nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000_000, help="the national file's")
    args = parser.parse_args(argv)
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    print(f"the CBS municipalities of 2020 (land), in regions for {args.nodes:,} nodes")
    volumes = national_volumes(args.nodes)
    for name, (slices, in_boxes, in_outlines) in volumes.items():
        print(
            f"  by {name}: slices {slices:.2f} x; region boxes {in_boxes:.2f} x, region "
            f"outlines {in_outlines:.2f} x ({1 - in_outlines / in_boxes:.0%} less to parse)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
