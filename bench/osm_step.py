"""The whole OSM step of a national run: the OSM store, then every municipality's read of its
part, for the municipalities of an areas file that share one OSM file.

The store runs into a temporary folder (under bench/_work); then every part is read with
``read_osm_for`` in this process, as the workers would. With the slices (this checkout) the
parts are slices; run from an older checkout (``PYTHONPATH=<checkout>``, before session 9)
they are the store's osmium extracts, so old and new can be run side by side. Prints wall and
CPU seconds (this process and its children: osmium, the slicing programs) of both phases and
the parts' size on disk. Run::

    PYTHONPATH=$PWD .venv/bin/python bench/osm_step.py bench/_work/country-355/areas.toml
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from magicmix_geo.config import load_settings
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.national import read_areas_file
from magicmix_geo.prepare import extracts
from magicmix_geo.prepare.clip import CLIP_MARGIN_M
from magicmix_geo.prepare.osm import read_osm_for

WORK = Path(__file__).resolve().parent / "_work"


def cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("areas", type=Path, help="an areas file whose municipalities share OSM")
    args = parser.parse_args()
    inputs = read_areas_file(args.areas)
    source = Path(inputs[0].osm).resolve()
    extents = [
        extracts.Extent(i.gm_code, read_boundary(i.boundary))
        for i in inputs
        if i.boundary is not None
    ]
    settings = load_settings()
    buffer_m = settings.walk.clip_buffer_m + CLIP_MARGIN_M + extracts.EXTRACT_SLACK_M
    WORK.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK, prefix="osm-step.") as tmp:
        start_cpu, start = cpu(), time.perf_counter()
        if hasattr(extracts, "slice_areas"):
            from magicmix_geo.prepare.osm import reader_keys

            keys = reader_keys(settings)
            run = extracts.slice_areas(source, extents, buffer_m, Path(tmp), keys)
            kind = "slices"
        else:  # a checkout before session 9
            run = extracts.extract_areas(source, extents, buffer_m, Path(tmp))  # type: ignore[attr-defined]
            kind = "extracts"
        store_cpu, store_s = cpu() - start_cpu, time.perf_counter() - start
        size = sum(p.stat().st_size for p in run.paths.values())
        start_cpu, start = cpu(), time.perf_counter()
        for path in run.paths.values():
            read_osm_for(path, settings)
        read_cpu, read_s = cpu() - start_cpu, time.perf_counter() - start
    print(
        f"{kind}: store {store_s:.1f} s wall, {store_cpu:.1f} s CPU ({size / 1e6:.0f} MB); "
        f"reads of {len(run.paths)} {kind} {read_s:.1f} s wall, {read_cpu:.1f} s CPU (one "
        f"process); store + reads {store_cpu + read_cpu:.1f} s CPU"
    )


if __name__ == "__main__":
    main()
