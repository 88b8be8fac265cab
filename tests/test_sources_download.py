"""The resumable, conditional, verified downloader, through `magicmix-geo acquire --sources osm`.

Every test talks only to a server on 127.0.0.1 that it starts (tests/_sources_server.py),
serving the real sample PBF and its Geofabrik-style ``.md5``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from magicmix_geo.cli import main
from magicmix_geo.sources._http import RetryPolicy, SourceError, download, make_session
from tests._sources_server import SAMPLE, FakeServer, Resource

PBF = (SAMPLE / "tudelft.osm.pbf").read_bytes()
PBF_PATH = "/europe/netherlands-latest.osm.pbf"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    serve_pbf(srv, PBF)
    yield srv
    srv.stop()


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "fast.toml"
    path.write_text("[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\n")
    return path


def serve_pbf(srv: FakeServer, body: bytes, *, md5_of: bytes | None = None, **kw: object) -> None:
    md5 = hashlib.md5(md5_of if md5_of is not None else body).hexdigest()
    srv.routes[PBF_PATH] = Resource(body, **kw)  # type: ignore[arg-type]
    srv.routes[PBF_PATH + ".md5"] = Resource(f"{md5}  netherlands-latest.osm.pbf\n".encode())


def acquire_osm(
    srv: FakeServer, data: Path, config: Path, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> int:
    monkeypatch.setenv("MAGICMIX_OSM_URL", srv.url(PBF_PATH))
    return main(
        ["acquire", "--sources", "osm", "--data-dir", str(data), "--config", str(config), *extra]
    )


def test_full_download_then_not_modified(
    server: FakeServer, tmp_path: Path, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    cached = data / "osm" / "netherlands-latest.osm.pbf"
    assert cached.read_bytes() == PBF
    manifest = json.loads((data / "osm" / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(PBF).hexdigest()
    assert manifest["url"] == server.url(PBF_PATH)
    assert manifest["licence"] == "ODbL-1.0" and manifest["licence_from"] == "config"
    assert manifest["files"]["netherlands-latest.osm.pbf"]["etag"]
    first_retrieved = manifest["retrieved_at"]

    # second run: the server answers 304 to the conditional request; nothing is re-downloaded
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    assert server.count(PBF_PATH, 200) == 1
    assert server.count(PBF_PATH, 304) == 1
    conditional = [h for h in server.hits if h.path == PBF_PATH][-1].headers
    assert conditional.get("If-None-Match") and conditional.get("If-Modified-Since")
    again = json.loads((data / "osm" / "manifest.json").read_text())
    assert again["retrieved_at"] == first_retrieved
    assert cached.read_bytes() == PBF


def test_resume_after_dropped_connection(
    server: FakeServer, tmp_path: Path, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_pbf(server, PBF, drop_after=300_000)
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    assert (data / "osm" / "netherlands-latest.osm.pbf").read_bytes() == PBF
    statuses = [h.status for h in server.hits if h.path == PBF_PATH]
    assert statuses == [200, 206]
    resumed = [h for h in server.hits if h.path == PBF_PATH][1].headers
    offset = int(resumed["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 200_000 < offset <= 300_000  # what arrived before the drop, in whole chunks
    assert resumed["If-Range"]  # only resumed if the file is still the same
    assert not list((data / "osm").glob(".*part*"))


def test_503_then_success(
    server: FakeServer, tmp_path: Path, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_pbf(server, PBF, fail_first=2)
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    assert [h.status for h in server.hits if h.path == PBF_PATH] == [503, 503, 200]
    assert (data / "osm" / "netherlands-latest.osm.pbf").read_bytes() == PBF


def test_checksum_mismatch_exits_2_and_keeps_previous_copy(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    manifest_before = (data / "osm" / "manifest.json").read_text()
    # the server now has a changed file, but its .md5 does not match the bytes served
    changed = PBF[:-1000]
    serve_pbf(server, changed, md5_of=b"something else", etag='"v2"')
    capsys.readouterr()
    assert acquire_osm(server, data, fast_config, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("magicmix-geo: error: osm: checksum mismatch")
    assert "previous copy is kept" in err[-1]
    assert (data / "osm" / "netherlands-latest.osm.pbf").read_bytes() == PBF
    assert (data / "osm" / "manifest.json").read_text() == manifest_before
    assert not list((data / "osm").glob(".*part*"))


def test_truncated_download_gives_up_with_exit_2(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve_pbf(server, PBF, drop_always=True)
    assert acquire_osm(server, tmp_path / "cache", fast_config, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "error: osm:" in err and "truncated" in err and "gave up after 3 attempts" in err
    assert not (tmp_path / "cache" / "osm" / "netherlands-latest.osm.pbf").exists()


def test_http_error_names_the_source(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del server.routes[PBF_PATH + ".md5"]
    assert acquire_osm(server, tmp_path / "cache", fast_config, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "error: osm: HTTP 404" in err and ".md5" in err


def test_persistent_503_exits_2(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve_pbf(server, PBF, fail_first=10)
    assert acquire_osm(server, tmp_path / "cache", fast_config, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "osm: HTTP 503" in err and "gave up after 3 attempts" in err


def test_offline_uses_only_the_cache(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    hits = len(server.hits)
    capsys.readouterr()
    assert acquire_osm(server, data, fast_config, monkeypatch, "--offline") == 0
    assert len(server.hits) == hits  # no request at all
    assert "osm: version" in capsys.readouterr().out


def test_offline_with_an_empty_cache_exits_2_naming_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["acquire", "--sources", "gtfs,osm", "--offline", "--data-dir", str(tmp_path / "empty")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("magicmix-geo: error: osm: offline")
    assert str(tmp_path / "empty") in err


def test_data_dir_from_environment(
    server: FakeServer, tmp_path: Path, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAGICMIX_DATA_DIR", str(tmp_path / "envcache"))
    monkeypatch.setenv("MAGICMIX_OSM_URL", server.url(PBF_PATH))
    assert main(["acquire", "--sources", "osm", "--config", str(fast_config)]) == 0
    assert (tmp_path / "envcache" / "osm" / "netherlands-latest.osm.pbf").is_file()


def test_changed_file_is_fetched_whole_not_resumed(server: FakeServer, tmp_path: Path) -> None:
    """A partial file of an older version is not continued with bytes of a newer one."""
    target = tmp_path / "f.bin"
    serve_pbf(server, PBF, drop_after=100_000)
    policy = RetryPolicy(attempts=1, backoff_s=0.0)
    with pytest.raises(SourceError, match="truncated"):
        download(server.url(PBF_PATH), target, source="osm", session=make_session(), policy=policy)
    assert 0 < (tmp_path / ".f.bin.part").stat().st_size <= 100_000
    newer = PBF[::-1]
    serve_pbf(server, newer, etag='"newer"', last_modified="Tue, 02 Sep 2025 08:00:00 GMT")
    result = download(
        server.url(PBF_PATH),
        target,
        source="osm",
        session=make_session(),
        policy=policy,
        expected_md5=hashlib.md5(newer).hexdigest(),
    )
    assert target.read_bytes() == newer and not result.resumed


def test_md5_republished_between_requests_is_fetched_again(
    server: FakeServer, tmp_path: Path, fast_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Geofabrik's daily race: the .md5 we read belongs to the file before the republish.

    The first .md5 answer is the old file's checksum, the second the new one's: the download
    (the new file) is checked against the .md5 fetched once more, and kept.
    """
    newer = PBF[:-1] + b"\x00"
    old_md5 = f"{hashlib.md5(PBF).hexdigest()}  netherlands-latest.osm.pbf\n".encode()
    new_md5 = f"{hashlib.md5(newer).hexdigest()}  netherlands-latest.osm.pbf\n".encode()
    server.routes[PBF_PATH] = Resource(newer)
    server.routes[PBF_PATH + ".md5"] = Resource(old_md5, then=[new_md5])
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    assert (data / "osm" / "netherlands-latest.osm.pbf").read_bytes() == newer
    assert server.count(PBF_PATH + ".md5", 200) == 2
    assert server.count(PBF_PATH, 200) == 1  # the file itself was fetched once


def test_a_md5_that_stays_wrong_is_still_a_mismatch(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve_pbf(server, PBF, md5_of=b"another file")
    assert acquire_osm(server, tmp_path / "cache", fast_config, monkeypatch) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert server.count(PBF_PATH + ".md5", 200) == 2  # looked twice, then refused


def test_an_html_page_with_a_matching_md5_keeps_the_good_file(
    server: FakeServer,
    tmp_path: Path,
    fast_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16 #4: content is validated before it replaces the cached copy."""
    data = tmp_path / "cache"
    assert acquire_osm(server, data, fast_config, monkeypatch) == 0
    manifest_before = (data / "osm" / "manifest.json").read_text()
    page = b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>"
    serve_pbf(server, page, etag='"html"')
    capsys.readouterr()
    assert acquire_osm(server, data, fast_config, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "osm: " in err and "not an OSM PBF file" in err
    assert (data / "osm" / "netherlands-latest.osm.pbf").read_bytes() == PBF
    assert (data / "osm" / "manifest.json").read_text() == manifest_before
    assert not list((data / "osm").glob(".*part*"))


def test_a_trickling_server_is_cut_off_at_the_deadline(
    server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16 #5: one byte every 0.2 s never trips a 10 s read timeout; the deadline does."""
    serve_pbf(server, PBF, trickle_s=0.2)
    config = tmp_path / "deadline.toml"
    config.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\ndeadline_s = 2.0\n"
    )
    started = time.monotonic()
    assert acquire_osm(server, tmp_path / "cache", config, monkeypatch) == 2
    elapsed = time.monotonic() - started
    assert elapsed < 6.0, elapsed
    assert "deadline passed while downloading" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "osm" / "netherlands-latest.osm.pbf").exists()


def test_an_endless_body_is_refused_and_its_part_removed(
    server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16 #6: a body past max_bytes stops the download; no .part is left."""
    serve_pbf(server, PBF, endless=True)
    config = tmp_path / "bound.toml"
    config.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\nmax_bytes = 2000000\n"
    )
    assert acquire_osm(server, tmp_path / "cache", config, monkeypatch) == 2
    assert "body larger than 2000000 bytes" in capsys.readouterr().err
    osm = tmp_path / "cache" / "osm"
    assert not list(osm.glob(".*part*")) and not (osm / "netherlands-latest.osm.pbf").exists()


def test_an_announced_oversize_body_is_refused_before_reading(
    server: FakeServer, tmp_path: Path
) -> None:
    policy = RetryPolicy(attempts=1, backoff_s=0.0, max_bytes=1000)
    with pytest.raises(SourceError, match=r"announces .* more than the bound of 1000"):
        download(
            server.url(PBF_PATH),
            tmp_path / "f.bin",
            source="osm",
            session=make_session(),
            policy=policy,
        )
    assert not list(tmp_path.glob(".*part*"))
