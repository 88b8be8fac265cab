"""The national default path at scale: a large municipality ranked from Kadaster parcels.

The nightly national run takes its candidate sites from BRK parcels (``[candidates] default =
"brk"``): no tessellation, but every parcel is typed (built on, vacant, residential setting)
and the vacant ones are measured, modelled and published. ``bench/big_municipality.py`` ranks
OSM parcel proxies; this bench ranks the same municipality of ``n`` copies of the real Delft
sample from parcels in the BRK candidate format (``sources.pdok.parcels_as_candidates``: the
``candidates`` layer of the cache's ``percelen.gpkg``, ``site_id`` the kadastrale aanduiding),
with ``candidate_source = "brk"`` as the data cache gives them.

There is no BRK extract of the sample's area here, so the parcels are the sample's own plots
(``osm_parcel_proxies``: one plot per building, the space of a street block shared out to its
buildings; empty blocks whole), every plot, with and without a building, as the cadastre
divides built-up land: synthetic parcels for scale, made from the real sample. Prints wall,
CPU and peak memory of the child, the stage timings and the CPU per thousand parcels, for one
copy and ``n`` copies. Run::

    .venv/bin/python bench/kadaster_parcels.py --copies 16
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd

if TYPE_CHECKING:
    from magicmix_geo.contract import RankInputs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from big_municipality import GM_CODE, KERNCIJFERS, WORK, build, node_count  # noqa: E402

RD_NEW = "EPSG:28992"
PARCELS = "percelen.gpkg"


def parcels(pbf: Path, boundary: Path, target: Path) -> Path:
    """The municipality's plots in the BRK candidate format (written once)."""
    if target.is_file():
        return target
    from magicmix_geo.config import load_settings
    from magicmix_geo.prepare.candidates import osm_parcel_proxies
    from magicmix_geo.prepare.osm import read_osm_for
    from magicmix_geo.sources.pdok import parcels_as_candidates

    area = gpd.read_file(boundary).to_crs(RD_NEW).geometry.union_all()
    osm = read_osm_for(pbf, load_settings())
    lines = osm.lines
    buildings = osm.features.loc[osm.features["building"].notna(), ["geometry"]]
    plots = osm_parcel_proxies(
        lines.loc[lines["highway"].notna()].geometry,
        buildings,
        area,
        barriers=lines.loc[lines["railway"].notna() | lines["waterway"].notna()].geometry,
    )
    brk = gpd.GeoDataFrame(
        {
            "kadastrale_gemeente_code": "DLF01",
            "sectie": "A",
            "perceelnummer": range(1, len(plots) + 1),
        },
        geometry=plots.geometry.to_numpy(),
        crs=RD_NEW,
    )
    parcels_as_candidates(brk).to_file(target, layer="candidates", driver="GPKG")
    return target


def brk_inputs(pbf: Path, boundary: Path, candidates: Path) -> RankInputs:
    """A municipality ranked from BRK parcels, as the CLI's inputs from the data cache are."""
    from magicmix_geo.contract import RankInputs

    return RankInputs(
        osm=pbf,
        gm_code=GM_CODE,
        boundary=boundary,
        cbs=(KERNCIJFERS,),
        candidates=candidates,
        candidate_source="brk",
    )


def work_inputs(work: Path) -> RankInputs:
    """:func:`brk_inputs` of a built folder (``bench/_work/big-<n>``)."""
    return brk_inputs(work / "city.osm.pbf", work / "boundary.gpkg", work / PARCELS)


def child(pbf: Path, boundary: Path, candidates: Path, out: Path) -> int:
    """Rank and publish one municipality from BRK parcels, as the CLI does from the cache."""
    from magicmix_geo.cache import rank_cached
    from magicmix_geo.config import load_settings
    from magicmix_geo.publish.run import publish_run

    settings = load_settings()
    inputs = brk_inputs(pbf, boundary, candidates)
    started = datetime.now(UTC)
    result = rank_cached(inputs, settings, None).result
    publish_run([result], out, settings, started=started)
    # this process and the ones it waited for (QGIS, the workbook): CPU and the largest's peak
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime
    print(json.dumps({"cpu_s": cpu, "peak_bytes": max(mine.ru_maxrss, theirs.ru_maxrss) * 1024}))
    return 0


def rank(
    pbf: Path, boundary: Path, candidates: Path, out: Path
) -> tuple[float, float, int, dict[str, object]]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of the child (as it reports them), and
    its manifest entry."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, __file__, "--child", str(pbf), str(boundary), str(candidates)]
    clock = time.perf_counter()
    done = subprocess.run([*command, str(out)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - clock
    used = json.loads(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return wall, float(used["cpu_s"]), int(used["peak_bytes"]), manifest["municipalities"][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--child", nargs=4, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    if not KERNCIJFERS.is_file():
        print(f"{KERNCIJFERS}: not found (the team's shared data)", file=sys.stderr)
        return 2
    one: tuple[float, float, int] | None = None
    for copies in (1, args.copies):
        work = WORK / f"big-{copies}"
        pbf, boundary = build(copies, work)
        plots = parcels(pbf, boundary, work / PARCELS)
        count = len(gpd.read_file(plots, columns=["site_id"], ignore_geometry=True))
        wall, cpu, peak, entry = rank(pbf, boundary, plots, work / "out-brk")
        timings = entry["timings_s"]
        assert isinstance(timings, dict)
        print(
            f"{copies} cop{'y' if copies == 1 else 'ies'}: {node_count(pbf):,} nodes, "
            f"{count:,} parcels, {entry['ranked']} ranked; wall {wall:.1f} s, CPU {cpu:.1f} s, "
            f"peak {peak / 2**30:.2f} GiB; CPU per thousand parcels {cpu / count * 1e3:.2f} s"
        )
        print("  " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(timings.items())))
        # the municipality's own stages (ranking and its outputs), without the process's
        # start, imports and the run's national files and QGIS project (once per run)
        stages = sum(float(v) for v in timings.values())
        print(f"  stages {stages:.2f} s (wall, in the child)")
        if one is None:
            one = (cpu, stages, count)
        else:
            per = (cpu - one[0]) / (count - one[2])
            per_stage = (stages - one[1]) / (count - one[2])
            print(
                f"  marginal per parcel (n copies less one): CPU {per * 1e3:.3f} ms, "
                f"stages {per_stage * 1e3:.3f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
