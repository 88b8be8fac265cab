"""Nightly OSM update with one replication diff vs downloading the whole file again.

Builds a country-like PBF from ``--copies`` copies of the Delft sample (distinct ids, each
shifted east), gives it a Geofabrik replication header, derives one daily diff (``--moved``
nodes moved, every 10th of them with its ways retagged) with ``osmium derive-changes``, and
serves file, ``.md5``, ``state.txt`` and ``000/004/931.osc.gz`` from 127.0.0.1. Then times:

- ``full``: ``refresh_osm`` into an empty cache (the download path, MD5 + sha256);
- ``update``: ``refresh_osm`` on the cached file (fetch, apply, verify, changed area, replace);
- its parts: ``osmium apply-changes`` alone, pyosmium's ``MergeInputReader`` apply alone,
  ``osmium fileinfo -e`` (verification), and one ``osmium cat`` pass for scale;
- ``changed area``: the diff read and the changes record's locations computed from the old
  file (``read_diff`` + ``changed_locations``) alone, ``--repeat`` times, each in a fresh
  process (wall, CPU, peak RSS). Run with ``PYTHONPATH=<another checkout>`` to measure that
  checkout's code on the same files.

Run: ``.venv/bin/python bench/osm_updates.py [--copies 40] [--moved 20000] [--repeat 3]``;
files go to ``bench/_work/osm_updates/``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import http.server
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import osmium

from magicmix_geo.config import load_settings
from magicmix_geo.sources._http import RetryPolicy, make_session
from magicmix_geo.sources.cache import DataCache
from magicmix_geo.sources.osm_updates import DiffContent, changed_locations, read_diff, refresh_osm

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "tudelft.osm.pbf"
WORK = ROOT / "bench" / "_work" / "osm_updates"
# copies get ids 1.. (renumbered) plus k * ID_STEP: 40 copies reach ~1.3e10, the largest node
# ids of the real national file; osmium's id sets grow with the id range
ID_STEP = 325_000_000
SHIFT_DEG = 0.6
NAME = "netherlands-latest.osm.pbf"
BASE_SEQ = 4930
TIMES = {4930: "2026-10-06T20:21:06Z", 4931: "2026-10-07T20:20:58Z"}


def build_country(out: Path, copies: int) -> None:
    """``copies`` copies of the sample in one sorted PBF: nodes, then ways, then relations."""
    renumbered = out.with_name("sample-renumbered.osm.pbf")
    _run("osmium", "renumber", "--no-progress", str(SAMPLE), "-o", str(renumbered), "--overwrite")
    step = {"n": ID_STEP, "w": ID_STEP, "r": ID_STEP}
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for kind in (osmium.osm.NODE, osmium.osm.WAY, osmium.osm.RELATION):
            for k in range(copies):
                off = k * ID_STEP
                for obj in osmium.FileProcessor(str(renumbered), kind):
                    if isinstance(obj, osmium.osm.Node):
                        loc = obj.location
                        writer.add_node(
                            obj.replace(
                                id=obj.id + off,
                                location=osmium.osm.Location(loc.lon + k * SHIFT_DEG, loc.lat),
                            )
                        )
                    elif isinstance(obj, osmium.osm.Way):
                        writer.add_way(
                            obj.replace(id=obj.id + off, nodes=[r.ref + off for r in obj.nodes])
                        )
                    elif isinstance(obj, osmium.osm.Relation):
                        members = [(m.type, m.ref + k * step[m.type], m.role) for m in obj.members]
                        writer.add_relation(obj.replace(id=obj.id + off, members=members))


def edit(src: Path, out: Path, moved: int) -> None:
    """Move ``moved`` nodes spread over the file by ~70 m; retag the ways of every 10th."""
    total = int(
        json.loads(_run("osmium", "fileinfo", "-e", "-j", "--no-progress", str(src)))["data"][
            "count"
        ]["nodes"]
    )
    every = max(total // moved, 1)
    chosen: set[int] = set()
    retag: set[int] = set()
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        i = 0
        for obj in osmium.FileProcessor(str(src)):
            if isinstance(obj, osmium.osm.Node):
                i += 1
                if i % every == 0 and len(chosen) < moved:
                    chosen.add(obj.id)
                    loc = obj.location
                    writer.add_node(
                        obj.replace(
                            location=osmium.osm.Location(loc.lon + 0.001, loc.lat + 0.0005),
                            version=obj.version + 1,
                            timestamp="2026-10-07T09:00:00Z",
                        )
                    )
                    if len(chosen) % 10 == 0:
                        retag.add(obj.id)
                    continue
            elif isinstance(obj, osmium.osm.Way) and any(r.ref in retag for r in obj.nodes):
                tags = {**dict(obj.tags), "note": "bench"}
                writer.add_way(
                    obj.replace(
                        tags=tags, version=obj.version + 1, timestamp="2026-10-07T09:00:00Z"
                    )
                )
                continue
            writer.add(obj)


def with_header(src: Path, out: Path, seq: int, base_url: str) -> None:
    _run(
        "osmium",
        "cat",
        "--no-progress",
        str(src),
        "-o",
        str(out),
        "--overwrite",
        "--output-header",
        f"osmosis_replication_base_url={base_url}",
        "--output-header",
        f"osmosis_replication_sequence_number={seq}",
        "--output-header",
        f"osmosis_replication_timestamp={TIMES[seq]}",
    )


def state_text(seq: int) -> str:
    return (
        f"# original OSM minutely replication sequence number {7320604 + seq}\n"
        f"timestamp={TIMES[seq].replace(':', chr(92) + ':')}\nsequenceNumber={seq}\n"
    )


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def timed(label: str, fn: Callable[[], Any], results: dict[str, float]) -> Any:
    """Run ``fn``; print wall and CPU seconds (this process and its children: the machine is
    shared, so CPU time is the steadier figure)."""
    cpu0 = _cpu()
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    cpu = _cpu() - cpu0
    print(f"{label:<28} {results[label]:8.2f} s wall {cpu:8.2f} s cpu", flush=True)
    return value


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pyosmium_apply(base: Path, diff: Path, out: Path) -> None:
    reader = osmium.MergeInputReader()
    reader.add_file(str(diff))
    src = osmium.io.Reader(str(base))
    header = osmium.io.Header()
    header.set("osmosis_replication_sequence_number", "4931")
    writer = osmium.io.Writer(osmium.io.File(str(out)), header)
    reader.apply_to_reader(src, writer, False)
    src.close()
    writer.close()


def changed_area(base: Path, diff: Path) -> dict[str, float]:
    """``read_diff`` + ``changed_locations`` of ``diff`` on ``base`` (run in a fresh process):
    wall and CPU seconds, this process's peak RSS (MiB), and the locations found."""
    cpu0 = _cpu()
    start = time.perf_counter()
    content = DiffContent()
    read_diff(diff, content, where=diff.name)
    lons, _ = changed_locations(base, content)
    return {
        "wall": time.perf_counter() - start,
        "cpu": _cpu() - cpu0,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "locations": float(len(lons)),
    }


def time_changed_area(base: Path, diff: Path, repeat: int) -> None:
    """:func:`changed_area` ``repeat`` times, each in a new process (spawned: a clean RSS)."""
    context = multiprocessing.get_context("spawn")
    for turn in range(1, repeat + 1):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            got = pool.submit(changed_area, base, diff).result()
        print(
            f"changed area alone, turn {turn}  {got['wall']:8.2f} s wall {got['cpu']:8.2f} s cpu "
            f"{got['rss_mib']:7.0f} MiB peak, {int(got['locations']):,} locations",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--moved", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="turns of the changed area alone")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    site = WORK / "site"
    shutil.rmtree(site, ignore_errors=True)
    (site / "europe" / "netherlands-updates" / "000" / "004").mkdir(parents=True)
    results: dict[str, float] = {}
    httpd, base_url = serve(site)
    updates = f"{base_url}/europe/netherlands-updates"
    raw, edited = WORK / "country.osm.pbf", WORK / "edited.osm.pbf"
    built = WORK / "built.json"
    spec = {"copies": args.copies, "moved": args.moved}
    if not (built.is_file() and json.loads(built.read_text()) == spec and edited.is_file()):
        timed("build country", lambda: build_country(raw, args.copies), results)
        timed("edit (diff source)", lambda: edit(raw, edited, args.moved), results)
        built.write_text(json.dumps(spec))
    base = WORK / "base.osm.pbf"
    with_header(raw, base, BASE_SEQ, "https://download.geofabrik.de/europe/netherlands-updates")
    diff = site / "europe" / "netherlands-updates" / "000" / "004" / "931.osc.gz"
    _run(
        "osmium",
        "derive-changes",
        "--no-progress",
        str(base),
        str(edited),
        "-o",
        str(diff),
        "--overwrite",
    )
    (site / "europe" / "netherlands-updates" / "state.txt").write_text(state_text(4931))
    (site / "europe" / "netherlands-updates" / "000" / "004" / "931.state.txt").write_text(
        state_text(4931)
    )
    served = site / "europe" / NAME
    shutil.copyfile(base, served)
    md5 = hashlib.md5(served.read_bytes()).hexdigest()
    (site / "europe" / f"{NAME}.md5").write_text(f"{md5}  {NAME}\n")
    info = json.loads(_run("osmium", "fileinfo", "-e", "-j", "--no-progress", str(base)))
    print(
        f"file: {base.stat().st_size / 2**20:.1f} MiB, {info['data']['count']['nodes']:,} "
        f"nodes, {info['data']['count']['ways']:,} ways; diff {diff.stat().st_size / 1024:.0f} "
        f"KiB",
        flush=True,
    )

    os.environ["MAGICMIX_OSM_URL"] = f"{base_url}/europe/{NAME}"
    os.environ["MAGICMIX_OSM_UPDATES_URL"] = updates
    settings = load_settings()
    policy = RetryPolicy(attempts=2, backoff_s=0.1, timeout_s=60.0)
    cache_dir = WORK / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache = DataCache.at(cache_dir)
    full = timed(
        "full download (refresh)",
        lambda: refresh_osm(cache, settings, session=make_session(), policy=policy),
        results,
    )
    assert full["changes"]["kind"] == "full"
    (site / "europe" / NAME).unlink()  # the update must not download the file again
    updated = timed(
        "update, 1 diff (refresh)",
        lambda: refresh_osm(cache, settings, session=make_session(), policy=policy, fallback=False),
        results,
    )
    assert updated["changes"]["kind"] == "diffs", updated["changes"]
    print(
        f"changed: {updated['changes']['objects']}, {len(updated['changes']['boxes'])} boxes; "
        f"steps (s): {updated['changes']['steps_s']}",
        flush=True,
    )
    out = WORK / "apply.osm.pbf"
    timed(
        "osmium apply-changes",
        lambda: _run(
            "osmium",
            "apply-changes",
            "--no-progress",
            str(base),
            str(diff),
            "-o",
            str(out),
            "--overwrite",
        ),
        results,
    )
    out2 = WORK / "apply-pyosmium.osm.pbf"
    out2.unlink(missing_ok=True)
    timed("pyosmium MergeInputReader", lambda: pyosmium_apply(base, diff, out2), results)
    timed(
        "osmium fileinfo -e",
        lambda: _run("osmium", "fileinfo", "-e", "--no-progress", str(out)),
        results,
    )
    timed(
        "osmium cat (one pass)",
        lambda: _run(
            "osmium",
            "cat",
            "--no-progress",
            str(base),
            "-o",
            str(WORK / "cat.osm.pbf"),
            "--overwrite",
        ),
        results,
    )
    httpd.shutdown()
    time_changed_area(base, diff, args.repeat)
    print(
        "figures "
        + " ".join(
            f"{k.split(' (')[0].replace(' ', '_').replace(',', '')}={v:.2f}"
            for k, v in results.items()
        )
    )


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


if __name__ == "__main__":
    main()
