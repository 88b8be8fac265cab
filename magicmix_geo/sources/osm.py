"""OpenStreetMap from Geofabrik: the Netherlands PBF (and province extracts).

Geofabrik publishes ``<file>.md5`` beside every extract ("<md5>  <name>"); a download is kept
only when its MD5 matches. Geofabrik republishes the file and its ``.md5`` daily, not
atomically: on a mismatch the ``.md5`` is fetched once more before the download is refused.
A download must also open as a PBF with a header (an HTML error page with a matching
``.md5`` does not replace the good file).

Per-municipality slices are not cut here but by the run, from one parse for all
municipalities (``magicmix_geo/prepare/extracts.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import osmium
import requests

from magicmix_geo.config import Settings
from magicmix_geo.sources._http import (
    RetryPolicy,
    SourceError,
    Validators,
    download,
    get_text,
)
from magicmix_geo.sources.cache import (
    DataCache,
    now_iso,
    source_location,
    source_option,
    source_url,
)

SOURCE = "osm"
MD5_LINE = re.compile(r"^\s*([0-9a-fA-F]{32})\b")


def osm_urls(settings: Settings) -> list[str]:
    """The national file first, then the configured province extracts."""
    urls = [source_url(settings, SOURCE)]
    template = source_location(settings, SOURCE, "province_url", "MAGICMIX_OSM_PROVINCE_URL")
    for province in source_option(settings, SOURCE, "provinces", []) or []:
        urls.append(template.format(province=province))
    return urls


def file_name(url: str) -> str:
    name = Path(urlsplit(url).path).name
    if not name:
        raise SourceError(SOURCE, f"cannot tell a file name from the URL {url!r}")
    return name


def acquire_osm(
    cache: DataCache,
    settings: Settings,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Any = None,
) -> dict[str, Any]:
    """Download or refresh the OSM file(s); return and write the source's manifest."""
    previous = cache.read_manifest(SOURCE) or {}
    previous_files: dict[str, Any] = previous.get("files", {})
    files: dict[str, Any] = {}
    for url in osm_urls(settings):
        name = file_name(url)
        target = cache.source_dir(SOURCE) / name

        def published_md5(md5_url: str = f"{url}.md5") -> str:
            text = get_text(md5_url, source=SOURCE, session=session, policy=policy)
            return parse_md5(text, md5_url)

        md5 = published_md5()
        before = previous_files.get(name, {})
        validators = Validators(before.get("etag"), before.get("last_modified"))
        result = download(
            url,
            target,
            source=SOURCE,
            session=session,
            policy=policy,
            previous=validators if before else None,
            expected_md5=md5,
            recheck_md5=published_md5,
            validate=validate_pbf,
        )
        if result.status == "not_modified" and result.md5 != md5:
            # the server says unchanged but Geofabrik's checksum moved on: fetch it again
            result = download(
                url,
                target,
                source=SOURCE,
                session=session,
                policy=policy,
                expected_md5=md5,
                recheck_md5=published_md5,
                validate=validate_pbf,
            )
        if log:
            log(
                f"{SOURCE}: {name} {result.status.replace('_', ' ')}"
                + (" (resumed)" if result.resumed else "")
            )
        changed = result.status == "downloaded"
        files[name] = {
            "url": url,
            "path": str(target.relative_to(cache.root)),
            "md5": result.md5,
            "sha256": result.sha256,
            "size_bytes": result.size_bytes,
            "etag": result.validators.etag,
            "last_modified": result.validators.last_modified,
            "version": pbf_timestamp(target) or result.validators.last_modified,
            "retrieved_at": now_iso() if changed else before.get("retrieved_at", now_iso()),
            "checked_at": now_iso(),
        }
    main = files[file_name(osm_urls(settings)[0])]
    src = settings.sources[SOURCE]
    manifest = {
        "source": SOURCE,
        "url": main["url"],
        "retrieved_at": main["retrieved_at"],
        "checked_at": main["checked_at"],
        "version": main["version"],
        "sha256": main["sha256"],
        "path": main["path"],
        # Geofabrik states no licence in machine-readable form; OSM data are ODbL
        "licence": src.licence,
        "licence_from": "config",
        "attribution": src.attribution,
        "files": files,
    }
    cache.write_manifest(SOURCE, manifest)
    return manifest


def parse_md5(text: str, where: str) -> str:
    match = MD5_LINE.match(text)
    if not match:
        raise SourceError(SOURCE, f"{where}: not an MD5 checksum file")
    return match.group(1).lower()


def validate_pbf(path: Path) -> None:
    """A downloaded OSM file must open as PBF (osmium reads its header blocks)."""
    with Path(path).open("rb") as fh:
        head = fh.read(64)
    # a PBF starts with a 4-byte length and a BlobHeader whose type is "OSMHeader"
    if b"OSMHeader" not in head:
        raise SourceError(
            SOURCE, f"{Path(path).name}: not an OSM PBF file (no OSMHeader); not used"
        )
    try:
        # the name ends in .part: say the format, osmium would guess it from the suffix
        reader = osmium.io.Reader(
            osmium.io.File(str(path), "pbf"), osmium.osm.osm_entity_bits.NOTHING
        )
        reader.header()
        reader.close()
    except RuntimeError as exc:
        raise SourceError(SOURCE, f"{Path(path).name}: unreadable PBF ({exc}); not used") from exc


def pbf_timestamp(path: Path) -> str | None:
    """The replication timestamp in the PBF header (Geofabrik writes one), or None."""
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
    except RuntimeError:
        return None
    try:
        value = reader.header().get("osmosis_replication_timestamp")
    finally:
        reader.close()
    return value or None


def cached_file(cache: DataCache) -> Path:
    """The OSM file of the data cache.

    Raises
    ------
    SourceError
        No OSM file in the cache (run ``magicmix-geo acquire --sources osm`` first).
    """
    manifest = cache.read_manifest(SOURCE)
    if not manifest or not (cache.root / manifest["path"]).is_file():
        raise SourceError(
            SOURCE,
            f"no OSM file in the data cache {cache.root}; "
            "run `magicmix-geo acquire --sources osm` first",
        )
    return cache.root / manifest["path"]
