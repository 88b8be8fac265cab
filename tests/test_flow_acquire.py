"""The acquire flow (flows/acquire.py) when a source fails, run as an analyst runs it:
``python -m flows.acquire`` against a Prefect test server and the local source server
(tests/_sources_server.py, 127.0.0.1 only).

A source answering HTTP 500 or 404, or cutting its download short, must fail the flow with
a message naming the source, exit status 2 (as ``magicmix-geo acquire``), keep the cached
copy from before, and put no partial file in the cache; the other sources are still acquired.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL

from magicmix_geo.config import load_settings
from magicmix_geo.sources.acquire import acquire
from magicmix_geo.sources.cache import DataCache
from tests._prefect import prefect_server
from tests._sources_server import SAMPLE, FakeServer, Resource, gtfs_zip

ROOT = Path(__file__).resolve().parents[1]
PBF = (SAMPLE / "tudelft.osm.pbf").read_bytes()
OSM = "/europe/netherlands-latest.osm.pbf"
GTFS = "/nl/gtfs-nl.zip"
FEED = gtfs_zip()
# a newer feed, so that the conditional request of the cached one does not end in a 304
NEWER_FEED = gtfs_zip(end="20251031")
# the resume state of an interrupted download (sources/_http.download): hidden, beside the
# file it will become, never in the manifest; the next acquire continues from it
RESUME_STATE = re.compile(r"(^|/)\.[^/]+\.part(\.json)?$")


def _server_error(_query: dict[str, list[str]], _base: str) -> tuple[int, dict[str, str], bytes]:
    return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"


# how the GTFS source fails, and what the message must say about it
FAILURES: dict[str, tuple[Resource | None, str]] = {
    "http_500": (Resource(dynamic=_server_error), "HTTP 500"),
    "http_404": (None, "HTTP 404"),  # no route: the test server answers 404
    "truncated": (Resource(NEWER_FEED, "application/zip", drop_always=True), GTFS),
}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary Prefect server and PREFECT_HOME for this module."""
    with prefect_server(tmp_path_factory.mktemp("prefect_home")) as home:
        yield home


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    srv.routes[OSM] = Resource(PBF)
    srv.routes[OSM + ".md5"] = Resource(
        f"{hashlib.md5(PBF).hexdigest()}  netherlands-latest.osm.pbf\n".encode()
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flow_config") / "test.toml"
    path.write_text("[sources.acquire]\nattempts = 2\nbackoff_s = 0.01\ntimeout_s = 10.0\n")
    return path


@pytest.fixture(scope="module")
def seeded(server: FakeServer, config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding a good GTFS feed from an earlier acquire."""
    data = tmp_path_factory.mktemp("seeded") / "cache"
    server.routes[GTFS] = Resource(FEED, "application/zip")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAGICMIX_GTFS_URL", server.url(GTFS))
        acquire(load_settings(config), sources=["gtfs"], data_dir=data)
    del server.routes[GTFS]
    return data


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run_flow(server: FakeServer, harness: Path, data: Path, config: Path) -> Any:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(harness),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MAGICMIX_OSM_URL": server.url(OSM),
        "MAGICMIX_GTFS_URL": server.url(GTFS),
    }
    command = [sys.executable, "-m", "flows.acquire", "--sources", "osm,gtfs"]
    command += ["--data-dir", str(data), "--config", str(config)]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=240, check=False
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failing_source_fails_the_flow_by_name_and_keeps_the_cache_whole(
    failure: str,
    harness: Path,
    server: FakeServer,
    config: Path,
    seeded: Path,
    tmp_path: Path,
) -> None:
    resource, says = FAILURES[failure]
    data = tmp_path / "cache"
    shutil.copytree(seeded, data)
    before = _files(DataCache.at(data).source_dir("gtfs"))
    if resource is None:
        server.routes.pop(GTFS, None)
    else:
        server.routes[GTFS] = resource
    try:
        started = time.monotonic()
        done = _run_flow(server, harness, data, config)
        took = time.monotonic() - started
    finally:
        server.routes.pop(GTFS, None)
    # exit status 2 and one line naming the source and what went wrong
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-3000:])
    errors = [line for line in done.stderr.splitlines() if "magicmix-geo: error:" in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert errors[0].startswith("magicmix-geo: error: acquire flow: gtfs: "), errors[0]
    assert says in errors[0], errors[0]
    assert "osm" not in errors[0].split("acquire flow: ", 1)[1].split(":", 1)[0]
    # Prefect logs the task's traceback; the run ends with our line, so it is what one reads
    assert done.stderr.strip().splitlines()[-1] == errors[0]
    # the library retried the request; Prefect did not retry the failed source on top
    # (its retry delays are 2 + 5 + 15 s)
    assert took < 60, took
    # the GTFS cache entry is exactly as before: its manifest and the file it names; a cut
    # download leaves only its hidden resume state, shorter than the feed, for the next run
    cache = DataCache.at(data)
    after = _files(cache.source_dir("gtfs"))
    kept = {name: sha for name, sha in after.items() if not RESUME_STATE.search(name)}
    assert kept == before
    resume = sorted(set(after) - set(kept))
    assert all(RESUME_STATE.search(name) for name in resume)
    if failure != "truncated":
        assert resume == []
    for name in resume:
        if name.endswith(".part"):
            assert (cache.source_dir("gtfs") / name).stat().st_size < len(NEWER_FEED)
    # the other source was acquired in full
    osm = cache.read_manifest("osm")
    assert osm is not None
    assert any(
        h == hashlib.sha256(PBF).hexdigest() for h in _files(cache.source_dir("osm")).values()
    )
