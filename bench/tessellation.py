"""Our enclosed tessellation next to momepy's, on the real Delft sample.

The sample's street blocks (``momepy.enclosures``) and building footprints (OSM), blocks with
two or more buildings; both tessellations get the same blocks and buildings and the same
parameters, except that momepy densifies outlines every 0.5 m (its default) and we every
``tessellation.SEGMENT_M``. Prints both times and how far the
cells differ, building by building: the area that is in one cell but not the other, as a
share of the cell. Run::

    .venv/bin/python bench/tessellation.py

With ``--against <checkout>`` it compares this checkout's ``block_cells`` with another
checkout's instead (e.g. an older commit: ``git worktree add /tmp/tess-old <commit>``): CPU
seconds of each, run in turns ``--rounds`` times, on the sample and on ``--copies`` copies
of it side by side, and how far the cells differ::

    .venv/bin/python bench/tessellation.py --against /tmp/tess-old --copies 4 --rounds 5
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import momepy
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from magicmix_geo.prepare import tessellation  # noqa: E402
from tests.test_tessellation import MOMEPY_SEGMENT_M, sample_blocks  # noqa: E402

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]
CellsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Arrays]
# copies of the sample sit this far apart (metres): each block stays whole and alone
COPY_SHIFT_M = 10_000.0


def _block_cells_of(checkout: Path) -> CellsFn:
    """``block_cells`` as another checkout has it (its package imported under its own path,
    then forgotten, so that this checkout's stays the one imported)."""
    saved = {k: v for k, v in sys.modules.items() if k.startswith("magicmix_geo")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(checkout))
    try:
        module = importlib.import_module("magicmix_geo.prepare.tessellation")
    finally:
        sys.path.remove(str(checkout))
        for k in [k for k in sys.modules if k.startswith("magicmix_geo")]:
            del sys.modules[k]
        sys.modules.update(saved)
    if not Path(module.__file__ or "").is_relative_to(checkout):
        raise SystemExit(f"{checkout}: did not import its magicmix_geo")
    fn: CellsFn = module.block_cells
    return fn


def _copies(blocks: np.ndarray, pieces: np.ndarray, piece_block: np.ndarray, n: int) -> Arrays:
    """``n`` copies of the blocks and their buildings, each moved east by COPY_SHIFT_M."""
    moved_blocks, moved_pieces = [], []
    for k in range(n):
        shift = np.array([k * COPY_SHIFT_M, 0.0])
        moved_blocks.append(shapely.transform(blocks, lambda xy, s=shift: xy + s))
        moved_pieces.append(shapely.transform(pieces, lambda xy, s=shift: xy + s))
    homes = [piece_block + k * len(blocks) for k in range(n)]
    return np.concatenate(moved_blocks), np.concatenate(moved_pieces), np.concatenate(homes)


def _cpu(fn: CellsFn, args: Arrays) -> float:
    clock = time.process_time()
    fn(*args)
    return time.process_time() - clock


def against(checkout: Path, copies: int, rounds: int) -> int:
    """This checkout's block_cells next to ``checkout``'s: CPU in turns, and the cells."""
    from magicmix_geo.prepare.tessellation import block_cells as ours

    theirs = _block_cells_of(checkout.resolve())
    sample = sample_blocks()
    print(f"{len(np.unique(sample[2]))} blocks, {len(sample[1])} buildings a copy")
    base_cells, base_home, base_owner = theirs(*sample)
    cells, home, owner = ours(*sample)
    if not ((home == base_home).all() and (owner == base_owner).all()):
        print("the cells' blocks or buildings differ")
        return 1
    exact = shapely.equals_exact(cells, base_cells, tolerance=0)
    differ = shapely.area(shapely.symmetric_difference(cells, base_cells))
    share = differ / shapely.area(base_cells)
    print(
        f"cells: {exact.sum()} of {len(cells)} vertex for vertex the same; area in one but "
        f"not the other, share of the cell: max {share.max():.1e}, all {differ.sum():.1e} m2"
    )
    for n in sorted({1, copies}):
        args = sample if n == 1 else _copies(*sample, n)
        ours(*args)  # compiled kernels, caches
        theirs(*args)
        times: dict[str, list[float]] = {"against": [], "this": []}
        for _ in range(rounds):
            times["against"].append(_cpu(theirs, args))
            times["this"].append(_cpu(ours, args))
        old, new = (statistics.median(times[k]) for k in ("against", "this"))
        print(
            f"{n} cop{'y' if n == 1 else 'ies'}, CPU median of {rounds} in turns: "
            f"{checkout.name} {old:.2f} s, this checkout {new:.2f} s ({old / new:.1f}x); "
            f"all: {', '.join(f'{t:.2f}' for t in times['against'])} / "
            f"{', '.join(f'{t:.2f}' for t in times['this'])}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--copies", type=int, default=4, help="copies of the sample (--against)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each (--against)")
    args = parser.parse_args()
    if args.against is not None:
        return against(args.against, args.copies, args.rounds)
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
