"""The OSM store's renumbering of a sparse-id file, in ``osmium cat`` passes.

A national file's ids are sparse (up to ~1.3e10), so the store renumbers it to dense ids
before cutting its regions (``prepare/extracts._renumbered``). The renumbered copy is only cut
into regions, so it is written as :data:`~magicmix_geo.prepare.extracts.RENUMBERED_FORMAT`
(no zlib, no object metadata). This bench runs ``osmium renumber`` of one file with that
format and with osmium's default (zlib blocks, the metadata kept: the store before session
12), in turns, next to one ``osmium cat`` pass (as ``bench/country.py`` times it), and then
one read of each copy (what the region pass decodes)::

    .venv/bin/python bench/renumber.py bench/_work/nation-34x6/nation.osm.pbf --rounds 3

The figures are in bench/README.md, "Session 12".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from country import _children_cpu, _run, cat_pass

from magicmix_geo.prepare.extracts import RENUMBERED_FORMAT

FORMATS = {"osmium's default (zlib, metadata)": "pbf", "the store's": RENUMBERED_FORMAT}


def renumber(source: Path, target: Path, output_format: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``osmium renumber`` of nodes and ways into ``target``."""
    with tempfile.TemporaryDirectory(prefix="renumber-index.") as index:
        cpu = _children_cpu()
        command = ["osmium", "renumber", "--index-directory", index, "--overwrite"]
        command += ["--object-type=node", "--object-type=way", "--no-progress"]
        wall = _run([*command, "-f", output_format, "-o", str(target), str(source)])
        return wall, _children_cpu() - cpu


def read_once(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one osmium read of ``path`` (written nowhere)."""
    cpu = _children_cpu()
    wall = _run(["osmium", "fileinfo", "--extended", "--no-progress", str(path)])
    return wall, _children_cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if subprocess.run(["osmium", "--version"], capture_output=True).returncode != 0:
        raise SystemExit("osmium-tool is needed")
    with tempfile.TemporaryDirectory(prefix="renumber-bench.") as tmp:
        for round_ in range(1, args.rounds + 1):
            cat_s, cat_cpu = cat_pass(args.source)
            print(f"round {round_}: one `osmium cat` {cat_s:.1f} s wall ({cat_cpu:.1f} s CPU)")
            for name, output_format in FORMATS.items():
                target = Path(tmp) / f"{len(output_format)}.osm.pbf"
                wall, cpu = renumber(args.source, target, output_format)
                read_wall, read_cpu = read_once(target)
                print(
                    f"  renumber, {name}: {wall:.1f} s wall ({cpu:.1f} s CPU) = "
                    f"{wall / cat_s:.2f} `cat`; copy {target.stat().st_size / 2**20:.0f} MiB, "
                    f"read once {read_wall:.1f} s ({read_cpu:.1f} s CPU)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
