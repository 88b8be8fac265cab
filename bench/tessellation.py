"""Our enclosed tessellation next to momepy's, on the real Delft sample.

The sample's street blocks (``momepy.enclosures``) and building footprints (OSM), blocks with
two or more buildings; both tessellations get the same blocks and buildings and the same
parameters, except that momepy densifies outlines every 0.5 m (its default) and we every
``tessellation.SEGMENT_M``. Prints both times and how far the
cells differ, building by building: the area that is in one cell but not the other, as a
share of the cell. Run::

    .venv/bin/python bench/tessellation.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import momepy
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from magicmix_geo.prepare import tessellation  # noqa: E402
from tests.test_tessellation import MOMEPY_SEGMENT_M, sample_blocks  # noqa: E402


def main() -> int:
    blocks, pieces, piece_block = sample_blocks()
    print(f"{len(np.unique(piece_block))} blocks, {len(pieces)} buildings")

    clock = time.perf_counter()
    theirs = momepy.enclosed_tessellation(
        gpd.GeoSeries(pieces, crs=28992),
        gpd.GeoSeries(blocks, crs=28992),
        shrink=tessellation.SHRINK_M,
        segment=MOMEPY_SEGMENT_M,
        threshold=0.05,
        n_jobs=1,
    )
    momepy_s = time.perf_counter() - clock

    clock = time.perf_counter()
    cells, _, owner = tessellation.block_cells(blocks, pieces, piece_block)
    ours_s = time.perf_counter() - clock

    theirs = theirs[theirs.index >= 0]
    mine = dict(zip(owner.tolist(), cells, strict=True))
    shared = [i for i in theirs.index if i in mine]
    a = np.array([mine[i] for i in shared], dtype=object)
    b = np.asarray(theirs.loc[shared].geometry.array, dtype=object)
    differ = shapely.area(shapely.symmetric_difference(a, b)) / shapely.area(b)
    print(f"momepy.enclosed_tessellation: {momepy_s:.2f} s, {len(theirs)} cells")
    print(f"tessellation.block_cells:     {ours_s:.2f} s, {len(cells)} cells")
    print(f"ratio {momepy_s / ours_s:.1f}x; cells in both: {len(shared)}")
    print(
        "area in one cell but not the other, share of the cell: median "
        f"{np.median(differ):.2e}, p99 {np.percentile(differ, 99):.2e}, max {differ.max():.2e}"
    )
    total = shapely.area(shapely.symmetric_difference(a, b)).sum() / shapely.area(b).sum()
    print(f"over all cells: {total:.2e} of the area")
    return 0


if __name__ == "__main__":
    sys.exit(main())
