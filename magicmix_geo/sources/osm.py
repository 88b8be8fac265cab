"""OpenStreetMap from Geofabrik: the Netherlands PBF (and province extracts), per-area extracts.

Geofabrik publishes ``<file>.md5`` beside every extract ("<md5>  <name>"); a download is kept
only when its MD5 matches. Geofabrik republishes the file and its ``.md5`` daily, not
atomically: on a mismatch the ``.md5`` is fetched once more before the download is refused.
A download must also open as a PBF with a header (an HTML error page with a matching
``.md5`` does not replace the good file).

Per-municipality extracts are cut with pyosmium around the CBS boundary grown by
``extract_buffer_m`` and cached under a name that holds the source's
sha256, so a new national file yields new extracts and an old one is never reused by mistake.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import osmium
import requests
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo._atomic import atomic_path
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
# nodes are tested against the area in blocks of this many
NODE_BLOCK = 200_000
# relations completed into an extract (areas such as parks and landuse); routes and national
# boundaries would drag in far-away members
AREA_RELATION_TYPES = frozenset({"multipolygon"})


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
            url, target, source=SOURCE, session=session, policy=policy,
            previous=validators if before else None, expected_md5=md5,
            recheck_md5=published_md5, validate=validate_pbf,
        )
        if result.status == "not_modified" and result.md5 != md5:
            # the server says unchanged but Geofabrik's checksum moved on: fetch it again
            result = download(
                url, target, source=SOURCE, session=session, policy=policy, expected_md5=md5,
                recheck_md5=published_md5, validate=validate_pbf,
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


def validate_pbf(path: Path) -> None:
    """A downloaded OSM file must open as PBF (osmium reads its header blocks)."""
    with Path(path).open("rb") as fh:
        head = fh.read(64)
    # a PBF starts with a 4-byte length and a BlobHeader whose type is "OSMHeader"
    if b"OSMHeader" not in head:
        raise SourceError(SOURCE, f"{Path(path).name}: not an OSM PBF file (no OSMHeader); "
                          "not used")
    try:
        # the name ends in .part: say the format, osmium would guess it from the suffix
        reader = osmium.io.Reader(osmium.io.File(str(path), "pbf"),
                                  osmium.osm.osm_entity_bits.NOTHING)
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


def area_extract(
    cache: DataCache,
    gm_code: str,
    boundary_rd: BaseGeometry,
    *,
    buffer_m: float,
    log: Any = None,
) -> Path:
    """The cached OSM extract of one municipality, cut once per source version.

    Parameters
    ----------
    boundary_rd
        The municipal boundary, EPSG:28992 (metres).
    buffer_m
        The extract covers the boundary grown by this many metres.

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
    src = cache.root / manifest["path"]
    key = f"{gm_code}-{manifest['sha256'][:16]}-b{int(buffer_m)}"
    out = cache.area_dir(SOURCE, gm_code) / f"{key}.osm.pbf"
    if out.is_file():
        return out
    if log:
        log(f"{SOURCE}: cutting the extract of {gm_code} from {src.name}")
    area = gpd.GeoSeries([boundary_rd.buffer(buffer_m)], crs=28992).to_crs(4326).iloc[0]
    for stale in out.parent.glob(f"{gm_code}-*.osm.pbf"):
        stale.unlink()
    cut_extract(src, area, out)
    return out


def cut_extract(src: Path, area_wgs84: BaseGeometry, out: Path) -> None:
    """Write the OSM objects of ``src`` that lie in ``area_wgs84`` to ``out``, atomically.

    Ways with a node inside are kept whole (with all their nodes), as are multipolygon
    relations with a member inside (with their member ways), like ``osmium extract
    --strategy complete_ways``. ``area_wgs84`` is in EPSG:4326 (lon, lat).
    """
    tracker = osmium.IdTracker()
    minx, miny, maxx, maxy = area_wgs84.bounds
    shapely.prepare(area_wgs84)
    ids: list[int] = []
    xs: list[float] = []
    ys: list[float] = []

    def flush() -> None:
        if not ids:
            return
        inside = shapely.contains_xy(area_wgs84, np.asarray(xs), np.asarray(ys))
        for node_id in np.asarray(ids, dtype=np.int64)[inside]:
            tracker.add_node(int(node_id))
        ids.clear()
        xs.clear()
        ys.clear()

    for node in osmium.FileProcessor(str(src), osmium.osm.NODE):
        loc = node.location  # type: ignore[union-attr]  # NODE only
        if not loc.valid():
            continue
        lon, lat = loc.lon, loc.lat
        if minx <= lon <= maxx and miny <= lat <= maxy:
            ids.append(node.id)
            xs.append(lon)
            ys.append(lat)
            if len(ids) >= NODE_BLOCK:
                flush()
    flush()
    # a PBF lists ways before relations, so member ways are tracked when a relation comes
    for obj in osmium.FileProcessor(str(src), osmium.osm.WAY | osmium.osm.RELATION):
        if obj.is_way():  # type: ignore[union-attr]  # ways and relations only
            if tracker.contains_any_references(obj):
                tracker.add_way(obj.id)
        elif obj.tags.get("type") in AREA_RELATION_TYPES and tracker.contains_any_references(obj):
            tracker.add_relation(obj.id)
    tracker.complete_backward_references(str(src), relation_depth=0)
    with atomic_path(out) as tmp, osmium.SimpleWriter(str(tmp)) as writer:
        for obj in osmium.FileProcessor(str(src)).with_filter(tracker.id_filter()):
            writer.add(obj)
