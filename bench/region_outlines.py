"""How much the OSM store's regions hold of the country: boxes against outlines (issue 12).

The store cuts a national file into regions of neighbouring municipalities and parses every
region's file, so what the regions hold together, against the country, is what the parse
costs against one pass. This bench plans the regions for the CBS municipality polygons of
2020 (the team's shared data: all 355, land only), as ``prepare/extracts.slice_areas`` plans
them for a national file of ``--nodes`` nodes, and weighs what each region's box and each
region's outline (``prepare/regions.region_outline``) hold of every municipality, by land
area and by people (a municipality's weight spread evenly over it). It also prints what the
slices hold together (the members' extract polygons: the buffers' overlap). Run::

    .venv/bin/python bench/region_outlines.py [--nodes 100000000] [--regions N]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000_000, help="the national file's")
    parser.add_argument("--regions", type=int, default=None, help="force this many regions")
    args = parser.parse_args(argv)
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    frame = gpd.read_file(KERNCIJFERS, columns=["GM_CODE", "H2O", "Aantal inwoners"])
    frame = frame.loc[frame["H2O"] == "NEE"].reset_index(drop=True)
    settings = load_settings()
    buffer_m = settings.walk.clip_buffer_m + CLIP_MARGIN_M + EXTRACT_SLACK_M
    rd = frame.to_crs(28992)
    polygons = {
        code: extract_polygon(area, buffer_m)
        for code, area in zip(frame["GM_CODE"], rd.geometry, strict=True)
    }
    regions = plan_slice_regions(polygons, args.nodes, args.regions, REGION_WORKERS)
    municipalities = frame.to_crs(4326).geometry.to_numpy()
    weights = {
        "land area": rd.geometry.area.to_numpy(),
        "people": frame["Aantal inwoners"].clip(lower=0).to_numpy(dtype=float),
    }
    boxes = [shapely.box(*region_box([polygons[k] for k in r.members])) for r in regions]
    outlines = [r.outline for r in regions]
    vertices = max(int(shapely.get_num_coordinates(o)) for o in outlines)
    print(
        f"{len(frame)} municipalities (land), buffer {buffer_m:g} m, {len(regions)} regions "
        f"for {args.nodes:,} nodes; outlines of at most {vertices} vertices"
    )
    for name, weight in weights.items():
        slices = held(municipalities, weight, list(polygons.values()))
        in_boxes = held(municipalities, weight, boxes)
        in_outlines = held(municipalities, weight, outlines)
        print(
            f"  by {name}: slices {slices:.2f} x; region boxes {in_boxes:.2f} x, region "
            f"outlines {in_outlines:.2f} x ({1 - in_outlines / in_boxes:.0%} less to parse)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
