"""OSM slices against osmium extracts: the CPU of cutting a region into its municipalities.

A) the store before slices: one ``osmium extract --strategy smart`` pass writing one extract
   per polygon (lz4-compressed PBF, as it wrote them), then ``read_osm_for`` of each extract
   (a parse each);
B) slices: ``read_osm(region, crs="EPSG:4326")`` and its projection once, then per polygon
   ``slice_osm``, ``write_slice`` and (the municipality's worker) ``read_slice``.

Polygons: an ``n x n`` grid of squares over the boundary file's bounds, or (``--boundaries``)
``--members`` municipal boundaries of a synthetic country (bench/country.py), each grown by
``--buffer`` metres with ``extract_polygon`` and rounded as the OSM store gives it to osmium.
With ``--boundaries``, the region is first cut from ``--osm`` (not counted): the box around
the ``--region`` boundaries nearest to the country's centre, the members being the nearest
of those, so that a region of national size (~4 M nodes) is sliced. CPU is this process's
user + system time plus its children's (osmium). Run::

    PYTHONPATH=$PWD .venv/bin/python bench/slices.py
    PYTHONPATH=$PWD .venv/bin/python bench/slices.py --osm bench/_work/big-16/city.osm.pbf \\
        --boundary bench/_work/big-16/boundary.gpkg --grid 4 --buffer 2250
    PYTHONPATH=$PWD .venv/bin/python bench/slices.py \\
        --osm bench/_work/country-355/country.osm.pbf \\
        --boundaries bench/_work/country-355/boundaries --region 108 --members 14
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from magicmix_geo.config import load_settings
from magicmix_geo.prepare.extracts import REGION_FORMAT, extract_polygon
from magicmix_geo.prepare.osm import project, read_osm, read_osm_for, reader_keys
from magicmix_geo.prepare.osm_slice import slice_osm
from magicmix_geo.prepare.osm_slice_file import SLICE_SUFFIX, read_slice, write_slice

ROOT = Path(__file__).resolve().parents[1]
BIG = ROOT / "bench" / "_work" / "big-16"


def cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = cpu()
    result = work()
    return result, cpu() - start


def grid_polygons(boundary: Path, n: int, buffer_m: float) -> dict[str, tuple[BaseGeometry, Any]]:
    """Per grid square: the extract polygon (WGS84, rounded) and its osmium coordinates."""
    x0, y0, x1, y1 = gpd.read_file(boundary).to_crs(28992).total_bounds
    dx, dy = (x1 - x0) / n, (y1 - y0) / n
    squares = {}
    for i in range(n):
        for j in range(n):
            square = box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
            squares[f"m{i}{j}"] = square
    return _osmium_polygons(squares, buffer_m)


def _osmium_polygons(areas: dict[str, BaseGeometry], buffer_m: float) -> dict[str, Any]:
    polygons = {}
    for key, area in areas.items():
        polygon = extract_polygon(area, buffer_m)  # rounded as osmium is given it
        polygons[key] = (polygon, mapping(polygon)["coordinates"])
    return polygons


def osmium_extract(
    source: Path, areas: dict[str, dict[str, Any]], folder: Path, output_format: str
) -> dict[str, Path]:
    """One ``osmium extract --strategy smart`` pass: an extract per area, in ``folder``."""
    config = folder / "extracts.json"
    extracts = [
        {"output": f"{key}.osm.pbf", "output_format": output_format, **area}
        for key, area in areas.items()
    ]
    config.write_text(json.dumps({"directory": str(folder), "extracts": extracts}))
    subprocess.run(
        ["osmium", "extract", "-c", str(config), "-s", "smart", "-O", "--no-progress", str(source)],
        check=True,
        capture_output=True,
    )
    return {key: folder / f"{key}.osm.pbf" for key in areas}


def country_region(
    source: Path, boundaries: Path, region: int, members: int, buffer_m: float, folder: Path
) -> tuple[Path, dict[str, tuple[BaseGeometry, Any]]]:
    """The region file (a box cut from ``source``) and its members' polygons."""
    frames = [gpd.read_file(p).to_crs(28992) for p in sorted(boundaries.glob("*.gpkg"))]
    areas = gpd.GeoDataFrame(
        {"key": [p.stem for p in sorted(boundaries.glob("*.gpkg"))]},
        geometry=[f.union_all() for f in frames],
        crs=28992,
    )
    centre = shapely.Point(*np.mean(np.reshape(areas.total_bounds, (2, 2)), axis=0))
    order = np.argsort(areas.distance(centre).to_numpy())
    inner = areas.iloc[order[:region]]
    grown = gpd.GeoSeries(inner.geometry.buffer(buffer_m + 1000.0), crs=28992)
    lon0, lat0, lon1, lat1 = grown.to_crs(4326).total_bounds
    (path,) = osmium_extract(
        source, {"region": {"bbox": [lon0, lat0, lon1, lat1]}}, folder, REGION_FORMAT
    ).values()
    chosen = inner.iloc[:members]
    return path, _osmium_polygons(dict(zip(chosen["key"], chosen.geometry, strict=True)), buffer_m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osm", type=Path, default=BIG / "city.osm.pbf")
    parser.add_argument("--boundary", type=Path, default=BIG / "boundary.gpkg")
    parser.add_argument("--grid", type=int, default=4, help="n: an n x n grid of squares")
    parser.add_argument("--buffer", type=float, default=2250.0, help="metres (extract_polygon)")
    parser.add_argument("--boundaries", type=Path, help="a folder of municipal boundaries")
    parser.add_argument("--region", type=int, default=108, help="municipalities in the region")
    parser.add_argument("--members", type=int, default=14, help="municipalities sliced")
    args = parser.parse_args()
    settings = load_settings()
    keys = reader_keys(settings)
    with tempfile.TemporaryDirectory(prefix="bench-slices-") as tmp:
        folder = Path(tmp)
        if args.boundaries:
            args.osm, polygons = country_region(
                args.osm, args.boundaries, args.region, args.members, args.buffer, folder
            )
        else:
            polygons = grid_polygons(args.boundary, args.grid, args.buffer)
        print(f"{args.osm}: {len(polygons)} polygons, buffer {args.buffer:g} m")
        # A: osmium extract (one pass, every polygon) + a parse of each extract
        areas = {k: {"multipolygon": c} for k, (_, c) in polygons.items()}
        extract_folder = folder / "extracts"
        extract_folder.mkdir()
        targets, extract_s = timed(
            lambda: osmium_extract(args.osm, areas, extract_folder, "pbf,pbf_compression=lz4")
        )
        read_a = {}
        parse_s = 0.0
        for key, target in targets.items():
            read_a[key], seconds = timed(partial(read_osm_for, target, settings))
            parse_s += seconds
        extract_mb = sum(t.stat().st_size for t in targets.values()) / 1e6
        print(f"A osmium extract (1 pass)   {extract_s:6.2f} s CPU  ({extract_mb:.1f} MB)")
        print(f"A read_osm_for x{len(targets):<3}         {parse_s:6.2f} s CPU")
        print(f"A total                     {extract_s + parse_s:6.2f} s CPU")
        # B: one parse, then slice, write and read per polygon
        region, region_s = timed(
            lambda: read_osm(
                args.osm,
                keys.way_filter,
                keys.feature_keys,
                keys.tag_columns,
                node_rules=keys.node_rules,
                crs="EPSG:4326",
            )
        )
        projected, project_s = timed(partial(project, region))
        region_s += project_s
        slice_s, write_s, read_s = [], [], []
        rows_a = rows_b = 0
        for key, (polygon, _) in polygons.items():
            sliced, seconds = timed(partial(slice_osm, region, polygon, projected))
            slice_s.append(seconds)
            path = folder / f"{key}{SLICE_SUFFIX}"
            _, seconds = timed(partial(write_slice, sliced, keys, path))
            write_s.append(seconds)
            back, seconds = timed(partial(read_slice, path, keys))
            read_s.append(seconds)
            a = read_a[key]
            rows_a += len(a.walk.way_ids) + len(a.features) + len(a.lines)
            rows_b += len(back.walk.way_ids) + len(back.features) + len(back.lines)
        slice_mb = sum(p.stat().st_size for p in folder.glob(f"*{SLICE_SUFFIX}")) / 1e6
        nodes = len(region.walk.node_ids)
        print(
            f"B read_osm + project once    {region_s:6.2f} s CPU  ({nodes:,} walk node refs,"
            f" {len(region.features):,} features, {len(region.lines):,} lines)"
        )
        for name, values in (
            ("slice_osm", slice_s),
            ("write_slice", write_s),
            ("read_slice", read_s),
        ):
            print(
                f"B {name:<12} x{len(values):<3}      {sum(values):6.2f} s CPU"
                f"  (mean {np.mean(values):.3f}, max {max(values):.3f} s per polygon)"
            )
        total_b = region_s + sum(slice_s) + sum(write_s) + sum(read_s)
        print(f"B total                     {total_b:6.2f} s CPU  (slices {slice_mb:.1f} MB)")
        print(
            f"rows (walk ways + features + lines) over all polygons: A {rows_a:,}, "
            f"B {rows_b:,} ({rows_b - rows_a:+,})"
        )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"wall {time.perf_counter() - started:.1f} s")
