"""HTTP for the downloaders: resumable, conditional, verified, atomic; retries with backoff.

- :func:`download` fetches one file into the data cache. It resumes a partial download with
  ``Range`` (guarded by ``If-Range``), skips an unchanged file with ``If-None-Match`` /
  ``If-Modified-Since``, verifies an optional MD5, and moves the file into place with
  ``os.replace`` only when it is complete and verified, so the previous good copy stays until
  then.
- :func:`get_json` fetches a JSON document (an OGC API page, a landing page).

Both retry on 429 and 5xx answers and on dropped connections with exponential backoff (a
``Retry-After`` in seconds is honoured, capped). Every failure is a :class:`SourceError`
naming the source, which the command line turns into exit status 2.

Bounds (issue 16): every request and every body read stops at the policy's overall
``deadline`` (a server trickling one byte a second is cut off, not waited for); a body larger
than ``max_bytes`` is refused and its ``.part`` removed; a complete download is checked by the
caller's ``validate`` (it parses as what it claims to be) before it replaces the good copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3

from magicmix_geo import __version__
from magicmix_geo._errors import InputError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 16
USER_AGENT = f"magicmix-geo/{__version__} (+https://github.com/magicmix-geo)"
MAX_RETRY_AFTER_S = 60.0
# a JSON answer (an OGC API page, an OData page, a .md5) larger than this is refused
MAX_DOCUMENT_BYTES = 256 << 20
Validate = Callable[[Path], None]


class SourceError(InputError):
    """A source could not be acquired: HTTP failure, truncated file, bad checksum (exit 2)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class DeadlineError(SourceError):
    """The overall deadline of an acquire passed (``[sources.acquire] deadline_s``)."""


class TooLargeError(SourceError):
    """A body exceeded the size bound (``[sources.acquire] max_bytes``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request.

    ``attempts`` counts every try of one request; the wait before try ``n + 1`` is
    ``backoff_s * 2 ** (n - 1)`` seconds, at most ``max_backoff_s``.
    ``timeout_s`` bounds each connect and each read; ``deadline`` (a :func:`time.monotonic`
    instant, None = none) bounds everything, retries and waits included; ``max_bytes`` (None =
    none) bounds one downloaded body.
    """

    attempts: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    timeout_s: float = 120.0
    deadline: float | None = None
    max_bytes: int | None = None

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        delay = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER_S, self.max_backoff_s))
        return delay

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None without one; <= 0 when passed)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def request_timeout(self, source: str, url: str) -> float:
        """The timeout of the next request: ``timeout_s``, less when the deadline is near."""
        left = self.remaining()
        if left is None:
            return self.timeout_s
        if left <= 0:
            raise DeadlineError(source, f"deadline passed before requesting {url}")
        return max(min(self.timeout_s, left), 0.001)


@dataclass(frozen=True)
class Validators:
    """What a server said identifies a version of a file (for conditional requests)."""

    etag: str | None = None
    last_modified: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"etag": self.etag, "last_modified": self.last_modified}


@dataclass(frozen=True)
class DownloadResult:
    """One :func:`download`: ``status`` is ``"downloaded"`` or ``"not_modified"``."""

    path: Path
    url: str
    status: str
    validators: Validators
    size_bytes: int
    sha256: str
    md5: str
    resumed: bool = False


def make_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def download(
    url: str,
    target: Path,
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    previous: Validators | None = None,
    expected_md5: str | None = None,
    recheck_md5: Callable[[], str] | None = None,
    validate: Validate | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Download ``url`` to ``target``, resuming, conditionally, verified and atomically.

    Parameters
    ----------
    url
        What to fetch.
    target
        Where the complete file goes. A partial download lives beside it as
        ``.<name>.part`` (with ``.<name>.part.json`` holding its validators) until complete.
    source
        The source name for messages (``"osm"``).
    session, policy
        The HTTP session and the retry policy (with its deadline and size bound).
    previous
        Validators of the copy at ``target``; with them (and ``target`` present) the server
        is asked for the file only if it changed.
    expected_md5
        When given, the complete file must have this MD5 (hex) or it is discarded.
    recheck_md5
        Called once on an MD5 mismatch for the checksum as published now: a file and its
        ``.md5`` republished between our two requests (Geofabrik's daily race) then match.
    validate
        Called with the complete, verified ``.part`` before it replaces ``target``; it raises
        :class:`SourceError` when the content is not what it claims to be.

    Returns
    -------
    DownloadResult
        ``status == "not_modified"`` when the server answered 304 (``target`` untouched).

    Raises
    ------
    SourceError
        HTTP errors after the retries, a download still truncated after the retries, a
        checksum mismatch, content that fails ``validate``, a body above ``max_bytes``
        (:class:`TooLargeError`) or the deadline passed (:class:`DeadlineError`). The
        previous copy at ``target`` is kept in every case.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part_meta = target.with_name(f".{target.name}.part.json")
    resumed = False
    attempt = 0
    while True:
        attempt += 1
        headers: dict[str, str] = {}
        offset = part.stat().st_size if part.exists() else 0
        part_validators = _read_validators(part_meta) if offset else Validators()
        if offset and (part_validators.etag or part_validators.last_modified):
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = part_validators.etag or part_validators.last_modified or ""
        elif offset:
            # a partial file without validators cannot be resumed safely
            _discard(part, part_meta)
            offset = 0
        if not offset and previous is not None and target.exists():
            if previous.etag:
                headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                headers["If-Modified-Since"] = previous.last_modified
        timeout = policy.request_timeout(source, url)
        try:
            response = session.get(url, headers=headers, stream=True, timeout=timeout)
        except requests.RequestException as exc:
            _retry_or_fail(source, url, attempt, policy, sleep, f"request failed ({_short(exc)})")
            continue
        with contextlib.closing(response):
            status = response.status_code
            if status == 304:
                _discard(part, part_meta)
                assert previous is not None
                return _result(target, url, "not_modified", previous, resumed)
            if status in RETRY_STATUS:
                _retry_or_fail(
                    source,
                    url,
                    attempt,
                    policy,
                    sleep,
                    f"HTTP {status} {response.reason}",
                    retry_after=response.headers.get("Retry-After"),
                )
                continue
            if status == 416 and offset:
                _discard(part, part_meta)  # our partial file no longer fits the server's
                continue
            if status not in (200, 206):
                raise SourceError(source, f"HTTP {status} {response.reason} for {url}")
            validators = Validators(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
            if status == 206 and offset:
                resumed = True
                mode = "ab"
                expected_total = _content_range_total(response.headers.get("Content-Range"))
            else:
                mode = "wb"
                offset = 0
                length = response.headers.get("Content-Length")
                expected_total = int(length) if length and length.isdigit() else None
                _write_validators(part_meta, validators)
            _check_size(source, url, expected_total, policy, part, part_meta)
            try:
                with part.open(mode) as fh:
                    for chunk in body_chunks(
                        response, source=source, url=url, policy=policy, already=offset
                    ):
                        _write(fh, chunk, source, part)
            except (DeadlineError, TooLargeError) as exc:
                if isinstance(exc, TooLargeError):
                    _discard(part, part_meta)
                raise
            except _DROPPED as exc:
                _retry_or_fail(
                    source,
                    url,
                    attempt,
                    policy,
                    sleep,
                    f"connection dropped after {part.stat().st_size} bytes ({_short(exc)}); "
                    "download truncated",
                )
                continue
        size = part.stat().st_size
        if expected_total is not None and size != expected_total:
            _retry_or_fail(
                source,
                url,
                attempt,
                policy,
                sleep,
                f"download truncated: {size} of {expected_total} bytes",
            )
            continue
        md5 = _file_digest(part, "md5")
        if expected_md5 is not None and md5 != expected_md5.lower():
            republished = recheck_md5() if recheck_md5 is not None else None
            if republished is None or md5 != republished.lower():
                _discard(part, part_meta)
                kept = "the previous copy is kept" if target.exists() else "nothing was kept"
                again = f" (and {republished} on a second look)" if republished else ""
                raise SourceError(
                    source,
                    f"checksum mismatch for {url}: MD5 {md5}, expected {expected_md5}{again}; "
                    f"{kept}",
                )
        if validate is not None:
            try:
                validate(part)
            except SourceError as exc:
                _discard(part, part_meta)
                detail = str(exc).removeprefix(f"{exc.source}: ").replace(part.name, target.name)
                kept = "the previous copy is kept" if target.exists() else "nothing was kept"
                raise SourceError(source, f"{url}: {detail}; {kept}") from exc
        os.replace(part, target)
        with contextlib.suppress(FileNotFoundError):
            part_meta.unlink()
        return _result(target, url, "downloaded", validators, resumed, md5=md5)


def body_chunks(
    response: requests.Response,
    *,
    source: str,
    url: str,
    policy: RetryPolicy,
    already: int = 0,
    limit: int | None = None,
) -> Iterator[bytes]:
    """The body of a streamed response, in chunks as they arrive, within the policy's bounds.

    ``read1`` returns whatever bytes have arrived, so the deadline is checked between them
    even when a server trickles; the read timeout bounds each wait. ``already`` bytes (of a
    resumed file) count toward ``max_bytes`` (or ``limit`` when given).

    Raises
    ------
    DeadlineError, TooLargeError
        The deadline passed; the body grew past the bound.
    """
    bound = limit if limit is not None else policy.max_bytes
    total = already
    raw = response.raw
    while True:
        left = policy.remaining()
        if left is not None and left <= 0:
            raise DeadlineError(
                source, f"deadline passed while downloading {url} ({total} bytes received)"
            )
        chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        if not chunk:
            return
        total += len(chunk)
        if bound is not None and total > bound:
            raise TooLargeError(
                source, f"{url}: body larger than {bound} bytes; refused, nothing was kept"
            )
        yield chunk


def get_json(
    url: str,
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    params: dict[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Any, requests.structures.CaseInsensitiveDict[str]]:
    """GET a JSON document with retries; return it and the response headers."""
    body, headers, final_url = _get_ok(
        url,
        source=source,
        session=session,
        policy=policy,
        sleep=sleep,
        params=params,
        headers={"Accept": "application/geo+json, application/json"},
    )
    try:
        return json.loads(body), headers
    except ValueError as exc:
        raise SourceError(source, f"{final_url} did not answer JSON ({exc})") from exc


def get_text(
    url: str,
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """GET a small text document (a ``.md5`` file) with retries."""
    body, _, _ = _get_ok(url, source=source, session=session, policy=policy, sleep=sleep)
    return body.decode("utf-8", errors="replace")


def _get_ok(
    url: str,
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[bytes, requests.structures.CaseInsensitiveDict[str], str]:
    """GET with retries on connection errors, 429 and 5xx; any other non-200 is an error.

    Returns the body, the headers and the final URL; the body is read within the deadline
    and at most :data:`MAX_DOCUMENT_BYTES`.
    """
    attempt = 0
    while True:
        attempt += 1
        timeout = policy.request_timeout(source, url)
        try:
            response = session.get(
                url, params=params, timeout=timeout, headers=headers, stream=True
            )
        except requests.RequestException as exc:
            _retry_or_fail(source, url, attempt, policy, sleep, f"request failed ({_short(exc)})")
            continue
        with contextlib.closing(response):
            if response.status_code in RETRY_STATUS:
                _retry_or_fail(
                    source,
                    url,
                    attempt,
                    policy,
                    sleep,
                    f"HTTP {response.status_code} {response.reason}",
                    retry_after=response.headers.get("Retry-After"),
                )
                continue
            if response.status_code != 200:
                raise SourceError(
                    source, f"HTTP {response.status_code} {response.reason} for {response.url}"
                )
            try:
                body = b"".join(
                    body_chunks(
                        response,
                        source=source,
                        url=response.url,
                        policy=policy,
                        limit=MAX_DOCUMENT_BYTES,
                    )
                )
            except _DROPPED as exc:
                _retry_or_fail(
                    source, url, attempt, policy, sleep, f"connection dropped ({_short(exc)})"
                )
                continue
            return body, response.headers, response.url


def url_exists(
    url: str,
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Whether ``url`` is published: HEAD answers 200 (404, 403 and 410 mean no).

    A server that does not do HEAD (405, 501) is asked with a GET whose body is not read.
    """
    attempt = 0
    method = "HEAD"
    while True:
        attempt += 1
        timeout = policy.request_timeout(source, url)
        try:
            response = session.request(
                method, url, timeout=timeout, stream=True, allow_redirects=True
            )
        except requests.RequestException as exc:
            _retry_or_fail(source, url, attempt, policy, sleep, f"request failed ({_short(exc)})")
            continue
        with contextlib.closing(response):
            status = response.status_code
        if status == 200:
            return True
        if status in (403, 404, 410):
            return False
        if status in (405, 501) and method == "HEAD":
            method = "GET"
            continue
        if status in RETRY_STATUS:
            _retry_or_fail(
                source,
                url,
                attempt,
                policy,
                sleep,
                f"HTTP {status}",
                retry_after=response.headers.get("Retry-After"),
            )
            continue
        raise SourceError(source, f"HTTP {status} {response.reason} for {url}")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    return _file_digest(Path(path), algorithm)


# --------------------------------------------------------------------------------------------


# what a dropped, reset or timed-out connection raises while a body is read
_DROPPED = (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


def _check_size(
    source: str,
    url: str,
    announced: int | None,
    policy: RetryPolicy,
    part: Path,
    part_meta: Path,
) -> None:
    if announced is not None and policy.max_bytes is not None and announced > policy.max_bytes:
        _discard(part, part_meta)
        raise TooLargeError(
            source,
            f"{url}: announces {announced} bytes, more than the bound of "
            f"{policy.max_bytes}; refused, nothing was kept",
        )


def _write(fh: Any, chunk: bytes, source: str, part: Path) -> None:
    try:
        fh.write(chunk)
    except OSError as exc:
        raise SourceError(source, f"cannot write {part}: {exc}") from exc


def _retry_or_fail(
    source: str,
    url: str,
    attempt: int,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    problem: str,
    *,
    retry_after: str | None = None,
) -> None:
    if attempt >= policy.attempts:
        raise SourceError(source, f"{problem} for {url} (gave up after {attempt} attempts)")
    delay = policy.wait(attempt, retry_after)
    left = policy.remaining()
    if left is not None and left <= delay:
        raise DeadlineError(source, f"{problem} for {url}; the deadline leaves no time to retry")
    sleep(delay)


def _result(
    target: Path, url: str, status: str, validators: Validators, resumed: bool, md5: str = ""
) -> DownloadResult:
    return DownloadResult(
        path=target,
        url=url,
        status=status,
        validators=validators,
        size_bytes=target.stat().st_size,
        sha256=_file_digest(target, "sha256"),
        md5=md5 or _file_digest(target, "md5"),
        resumed=resumed,
    )


def _content_range_total(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _read_validators(path: Path) -> Validators:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Validators()
    return Validators(etag=data.get("etag"), last_modified=data.get("last_modified"))


def _write_validators(path: Path, validators: Validators) -> None:
    path.write_text(json.dumps(validators.as_dict()), encoding="utf-8")


def _discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
