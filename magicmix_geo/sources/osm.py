"""OpenStreetMap from Geofabrik: the Netherlands PBF (and province extracts).

Geofabrik publishes ``<file>.md5`` beside every extract ("<md5>  <name>"); a download is kept
only when its MD5 matches. Per-municipality extracts are not cut here but by the run, in one
pass for all municipalities (``magicmix_geo/prepare/extracts.py``).
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
from magicmix_geo.sources.cache import DataCache, now_iso, source_option, source_url

SOURCE = "osm"
MD5_LINE = re.compile(r"^\s*([0-9a-fA-F]{32})\b")


def osm_urls(settings: Settings) -> list[str]:
    """The national file first, then the configured province extracts."""
    urls = [source_url(settings, SOURCE)]
    template = source_option(settings, SOURCE, "province_url", "")
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
        md5 = parse_md5(get_text(f"{url}.md5", source=SOURCE, session=session, policy=policy),
                        f"{url}.md5")
        before = previous_files.get(name, {})
        validators = Validators(before.get("etag"), before.get("last_modified"))
        result = download(
            url, target, source=SOURCE, session=session, policy=policy,
            previous=validators if before else None, expected_md5=md5,
        )
        if result.status == "not_modified" and result.md5 != md5:
            # the server says unchanged but Geofabrik's checksum moved on: fetch it again
            result = download(
                url, target, source=SOURCE, session=session, policy=policy, expected_md5=md5
            )
        if log:
            log(f"{SOURCE}: {name} {result.status.replace('_', ' ')}"
                + (" (resumed)" if result.resumed else ""))
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
            SOURCE, f"no OSM file in the data cache {cache.root}; "
            "run `magicmix-geo acquire --sources osm` first"
        )
    return cache.root / manifest["path"]
