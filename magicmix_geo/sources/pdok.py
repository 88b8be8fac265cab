"""Kadaster BRK parcels and BAG buildings through the PDOK OGC API Features.

Items are requested per municipality bounding box in EPSG:28992 (``bbox-crs`` and ``crs``
parameters of OGC API Features Part 2) and paged by following the ``next`` links. The licence
is read from the API's landing page (its ``license`` link). Per area the results go to
``brk/areas/<GM>/percelen.gpkg`` (layer ``candidates``, ready as candidate sites) and
``bag/areas/<GM>/<collection>.gpkg`` (``pand.gpkg`` with flags, ``verblijfsobject.gpkg``).

For many areas (``--all``, or more than ``[bag] api_max_areas``) BAG comes from PDOK's
national ``bag-light.gpkg`` (layers ``pand`` and ``verblijfsobject``), one conditional
download, cut per area by bounding box, instead of tens of thousands of API pages.

BAG objects whose life has ended (``Pand gesloopt``, ``Niet gerealiseerd pand``,
``Verblijfsobject ingetrokken``, ...) are dropped: a demolished pand is no building.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import pyogrio
import requests
import shapely
from shapely.geometry import shape

from magicmix_geo._atomic import atomic_path
from magicmix_geo.config import Settings
from magicmix_geo.formats.bag import ENDED_VBO, drop_ended, flag_panden
from magicmix_geo.sources._http import (
    RetryPolicy,
    SourceError,
    Validators,
    download,
    file_digest,
    get_json,
)
from magicmix_geo.sources.cache import (
    DataCache,
    now_iso,
    source_location,
    source_option,
    source_url,
)

RD_NEW_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
RD_NEW_EPSG = 28992
# a runaway pager (a server that links a page to itself) stops here
MAX_PAGES = 100_000

# the API is used for at most this many areas; more take the national bag-light.gpkg
API_MAX_AREAS = 10
BAG_LIGHT_LAYERS = ("pand", "verblijfsobject")
SQLITE_HEADER = b"SQLite format 3\x00"


def fetch_collection(
    base_url: str,
    collection: str,
    bbox_rd: tuple[float, float, float, float],
    *,
    source: str,
    session: requests.Session,
    policy: RetryPolicy,
    limit: int = 1000,
) -> gpd.GeoDataFrame:
    """All items of ``collection`` intersecting ``bbox_rd``, EPSG:28992.

    Parameters
    ----------
    base_url
        The OGC API landing page, e.g. ``https://api.pdok.nl/kadaster/bag/ogc/v2``.
    bbox_rd
        (minx, miny, maxx, maxy) in EPSG:28992, metres.
    limit
        Items per page.

    Returns
    -------
    gpd.GeoDataFrame
        One row per feature (``id`` plus the feature's properties; list values as text),
        EPSG:28992. Features that appear on two pages are kept once.

    Raises
    ------
    SourceError
        HTTP failures after the retries, a page that is not a FeatureCollection, or a
        server that answers in another CRS than asked.
    """
    url: str | None = f"{base_url.rstrip('/')}/collections/{collection}/items"
    params: dict[str, Any] | None = {
        "f": "json",
        "limit": limit,
        "bbox": ",".join(f"{v:.3f}" for v in bbox_rd),
        "bbox-crs": RD_NEW_URI,
        "crs": RD_NEW_URI,
    }
    records: list[dict[str, Any]] = []
    geoms: list[Any] = []
    seen: set[Any] = set()
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise SourceError(source, f"{collection}: more than {MAX_PAGES} pages; stopped")
        page, headers = get_json(url, source=source, session=session, policy=policy, params=params)
        content_crs = headers.get("Content-Crs")
        if content_crs and "28992" not in content_crs:
            raise SourceError(source, f"{collection}: answered in {content_crs}, not EPSG:28992")
        if not isinstance(page, dict) or page.get("type") != "FeatureCollection":
            raise SourceError(source, f"{url}: not a GeoJSON FeatureCollection")
        for feature in page.get("features") or []:
            fid = feature.get("id")
            if fid is not None:
                if fid in seen:
                    continue
                seen.add(fid)
            props = {k: _flat(v) for k, v in (feature.get("properties") or {}).items()}
            records.append({"id": fid, **props})
            geometry = feature.get("geometry")
            geoms.append(shape(geometry) if geometry else None)
        url = next(
            (link.get("href") for link in page.get("links") or [] if link.get("rel") == "next"),
            None,
        )
        params = None  # a next link carries all parameters
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({"id": []})
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=RD_NEW_EPSG)


def service_licence(
    base_url: str, *, source: str, session: requests.Session, policy: RetryPolicy
) -> dict[str, str] | None:
    """The licence an OGC API states on its landing page (``rel="license"``), or None."""
    page, _ = get_json(
        base_url.rstrip("/"), source=source, session=session, policy=policy, params={"f": "json"}
    )
    for link in (page.get("links") or []) if isinstance(page, dict) else []:
        if link.get("rel") == "license":
            return {
                "name": str(link.get("title") or link.get("href")),
                "href": str(link.get("href") or ""),
            }
    return None


def acquire_pdok(
    source: str,
    cache: DataCache,
    settings: Settings,
    areas: dict[str, tuple[float, float, float, float]],
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fetch BRK (``source="brk"``) or BAG (``"bag"``) for each area's bbox; write manifest."""
    base = source_url(settings, source)
    collections = list(source_option(settings, source, "collections", []) or [])
    if not collections:
        raise SourceError(source, f"sources.{source}.collections names no collection")
    limit = int(source_option(settings, "acquire", "page_limit", 1000))
    licence = service_licence(base, source=source, session=session, policy=policy)
    previous = cache.read_manifest(source) or {}
    entries = dict(previous.get("areas", {}))
    for gm_code, bbox in areas.items():
        frames = {
            name: fetch_collection(
                base, name, bbox, source=source, session=session, policy=policy, limit=limit
            )
            for name in collections
        }
        if source == "brk":
            path = cache.brk_parcels(gm_code)
            parcels = parcels_as_candidates(frames[collections[0]])
            _write_layers(path, {"candidates": parcels})
            counts = {collections[0]: len(parcels)}
        else:
            if "verblijfsobject" in frames:
                frames["verblijfsobject"] = drop_ended(frames["verblijfsobject"], ENDED_VBO)
            if "pand" in frames:
                frames["pand"] = flag_panden(frames["pand"], frames.get("verblijfsobject"))
            # one file per collection: readers of a one-layer file need not name the layer
            for name, frame in frames.items():
                _write_layers(cache.bag_layer(gm_code, name), {name: frame})
            path = cache.bag_layer(gm_code, collections[0])
            counts = {k: len(v) for k, v in frames.items()}
        if log:
            log(f"{source}: {gm_code}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        entries[gm_code] = {
            "path": str(path.relative_to(cache.root)),
            "sha256": file_digest(path),
            "bbox_rd": list(bbox),
            "features": counts,
            "retrieved_at": now_iso(),
        }
    src = settings.sources[source]
    manifest = {
        "source": source,
        "url": base,
        "collections": collections,
        "retrieved_at": now_iso(),
        # the API serves the current state; the day of retrieval is its version
        "version": now_iso()[:10],
        "sha256": _combined_sha(entries),
        "licence": licence["name"] if licence else src.licence,
        "licence_url": licence["href"] if licence else None,
        "licence_from": "service" if licence else "config",
        "attribution": src.attribution,
        "areas": entries,
    }
    cache.write_manifest(source, manifest)
    return manifest


def parcels_as_candidates(parcels: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """BRK percelen as candidate sites: polygons with a unique ``site_id``.

    ``site_id`` is the parcel's kadastrale aanduiding (``<gemeente code>-<sectie>-<nummer>``,
    e.g. ``OTL02-B-2298``) when the properties have it, else its ``identificatie_lokaal_id``,
    else the feature id.
    """
    out = parcels.copy()
    out = out.loc[out.geometry.notna() & ~out.geometry.is_empty]
    out = out.loc[out.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    ids = None
    cols = ("kadastrale_gemeente_code", "sectie", "perceelnummer")
    if all(c in out.columns for c in cols):
        ids = (
            out[cols[0]].astype(str)
            + "-"
            + out[cols[1]].astype(str)
            + "-"
            + out[cols[2]].astype(str)
        )
    for col in ("identificatie_lokaal_id", "identificatie", "id"):
        if (ids is None or ids.duplicated().any()) and col in out.columns:
            ids = out[col].astype(str)
    if ids is None or ids.duplicated().any():
        ids = pd.Series([f"K{i:06d}" for i in range(1, len(out) + 1)], index=out.index)
    out.insert(0, "site_id", ids.to_numpy())
    return out.reset_index(drop=True)


def acquire_bag_light(
    cache: DataCache,
    settings: Settings,
    areas: dict[str, tuple[float, float, float, float]],
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """National BAG: download ``bag-light.gpkg`` (conditionally), cut each area's bbox.

    The file is checked (a GeoPackage with layers ``pand`` and ``verblijfsobject``) before
    it replaces the cached one. An area already cut from the same file is not cut again.
    """
    source = "bag"
    url = source_location(settings, source, "light_url", "MAGICMIX_BAG_LIGHT_URL")
    if not url:
        raise SourceError(source, "sources.bag.light_url is empty; national BAG needs it")
    previous = cache.read_manifest(source) or {}
    before = previous.get("light", {}) if previous.get("mode") == "bag-light" else {}
    target = cache.source_dir(source) / (Path(urlsplit(url).path).name or "bag-light.gpkg")
    validators = Validators(before.get("etag"), before.get("last_modified"))
    result = download(
        url,
        target,
        source=source,
        session=session,
        policy=policy,
        previous=validators if before.get("url") == url else None,
        validate=validate_bag_light,
    )
    if log:
        log(f"{source}: {target.name} {result.status.replace('_', ' ')}")
    entries = dict(previous.get("areas", {})) if before else {}
    for gm_code, bbox in areas.items():
        done = entries.get(gm_code, {})
        if done.get("light_sha256") == result.sha256 and cache.bag_layer(gm_code, "pand").is_file():
            continue
        frames = {
            layer: pyogrio.read_dataframe(target, layer=layer, bbox=bbox)
            for layer in BAG_LIGHT_LAYERS
        }
        frames = {
            k: gpd.GeoDataFrame(v).to_crs(RD_NEW_EPSG)
            if v.crs and v.crs.to_epsg() != RD_NEW_EPSG
            else v
            for k, v in frames.items()
        }
        frames["verblijfsobject"] = drop_ended(frames["verblijfsobject"], ENDED_VBO)
        frames["pand"] = flag_panden(frames["pand"], frames["verblijfsobject"])
        for name, frame in frames.items():
            _write_layers(cache.bag_layer(gm_code, name), {name: frame})
        path = cache.bag_layer(gm_code, "pand")
        counts = {k: len(v) for k, v in frames.items()}
        if log:
            log(f"{source}: {gm_code}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        entries[gm_code] = {
            "path": str(path.relative_to(cache.root)),
            "sha256": file_digest(path),
            "bbox_rd": list(bbox),
            "features": counts,
            "light_sha256": result.sha256,
            "retrieved_at": now_iso(),
        }
    src = settings.sources[source]
    retrieved = (
        now_iso() if result.status == "downloaded" else str(before.get("retrieved_at") or now_iso())
    )
    light: dict[str, Any] = {
        "url": url,
        "path": str(target.relative_to(cache.root)),
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "etag": result.validators.etag,
        "last_modified": result.validators.last_modified,
        "retrieved_at": retrieved,
    }
    manifest = {
        "source": source,
        "mode": "bag-light",
        "url": url,
        "path": light["path"],
        "retrieved_at": retrieved,
        "checked_at": now_iso(),
        "version": result.validators.last_modified or retrieved[:10],
        "sha256": result.sha256,
        "licence": src.licence,
        "licence_from": "config",
        "attribution": src.attribution,
        "light": light,
        "areas": entries,
    }
    cache.write_manifest(source, manifest)
    return manifest


def validate_bag_light(path: Path) -> None:
    """A downloaded bag-light.gpkg must be a GeoPackage with layers pand and verblijfsobject."""
    with Path(path).open("rb") as fh:
        if not fh.read(16).startswith(SQLITE_HEADER):
            raise SourceError("bag", f"{Path(path).name}: not a GeoPackage; not used")
    try:
        # the GeoPackage's own table of contents (GDAL would warn about the .part suffix)
        with contextlib.closing(sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)) as db:
            layers = {str(row[0]) for row in db.execute("SELECT table_name FROM gpkg_contents")}
    except sqlite3.Error as exc:
        raise SourceError("bag", f"{Path(path).name}: unreadable GeoPackage ({exc})") from exc
    missing = [layer for layer in BAG_LIGHT_LAYERS if layer not in layers]
    if missing:
        raise SourceError("bag", f"{Path(path).name}: no layer {', '.join(missing)}; not used")


def bbox_of(boundary_rd: Any, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """The bounding box of a geometry in EPSG:28992, grown by ``margin_m``."""
    minx, miny, maxx, maxy = shapely.bounds(boundary_rd)
    return (
        float(minx - margin_m),
        float(miny - margin_m),
        float(maxx + margin_m),
        float(maxy + margin_m),
    )


# --------------------------------------------------------------------------------------------


def _flat(value: Any) -> Any:
    # GeoPackage columns hold scalars; lists (several gebruiksdoelen, pand.href) become text
    if isinstance(value, list):
        return ", ".join(str(_flat(v)) for v in value)
    if isinstance(value, dict):
        return str(value.get("href", value))
    return value


def _write_layers(path: Any, layers: dict[str, gpd.GeoDataFrame]) -> None:
    with atomic_path(path) as tmp:
        for i, (name, frame) in enumerate(layers.items()):
            frame = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=RD_NEW_EPSG)
            frame.attrs = {}
            # GDAL needs a geometry type for an empty layer
            kind = None if len(frame) else "Polygon"
            pyogrio.write_dataframe(frame, tmp, layer=name, append=i > 0, geometry_type=kind)


def _combined_sha(entries: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for code in sorted(entries):
        digest.update(f"{code}:{entries[code].get('sha256', '')}\n".encode())
    return digest.hexdigest()
