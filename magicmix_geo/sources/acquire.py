"""Fill and refresh the data cache, and turn it into the inputs of one municipality run.

Used by ``magicmix-geo acquire``, ``magicmix-geo rank --area GMxxxx`` (without ``--osm``) and
the Prefect flow ``flows/acquire.py``.

Order of work: the CBS map comes first, because the other area-bound sources need the
municipal boundaries (BRK and BAG query by its bounding box; the OSM extract is cut around
it). ``--offline`` touches no network: it checks that the cache holds what was asked for.

Each source is isolated: one that fails (a stalled CBS OData endpoint, a Geofabrik outage)
keeps its previous good copy in the cache and does not stop the others; when all have been
tried, :class:`AcquireError` names every failed source (exit 2). The whole run is bounded by
``[sources.acquire] deadline_s`` and each body by ``max_bytes``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyogrio
import requests
import shapely
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.contract import GM_CODE, RankInputs, parse_gm_codes
from magicmix_geo.formats.boundary import read_boundary
from magicmix_geo.sources import cbs as cbs_source
from magicmix_geo.sources import gtfs as gtfs_source
from magicmix_geo.sources import osm as osm_source
from magicmix_geo.sources import osm_updates, pdok
from magicmix_geo.sources._http import RetryPolicy, SourceError, make_session
from magicmix_geo.sources.cache import SOURCES, DataCache, source_option

# BRK and BAG are asked for the municipality's bounding box grown by this much, so that
# parcels and neighbours on the edge are complete
AREA_MARGIN_M = 250.0
AREA_SOURCES = frozenset({"brk", "bag"})
# defaults of [sources.acquire]: a night's budget, and a bound above the largest file we take
# (bag-light.gpkg is some 7 GB, the Geofabrik Netherlands PBF some 1.3 GB)
DEFAULT_DEADLINE_S = 6 * 3600.0
DEFAULT_MAX_BYTES = 20 * 1024**3
# the name under which a CBS OData failure is reported (the map itself may be fine)
ODATA = "odata"


class AcquireError(SourceError):
    """Some sources failed; the others were acquired and their manifests written (exit 2)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        self.source = ", ".join(failures)
        # each message already starts with its source's name
        detail = "; ".join(failures.values())
        InputError.__init__(
            self,
            f"{detail} [failed: {self.source}; the cache keeps their previous copies; any "
            "other sources asked for were acquired]",
        )


Log = Callable[[str], None]


def parse_sources(text: str | None) -> list[str]:
    """``"osm,cbs"`` -> ``["osm", "cbs"]`` in the order of :data:`SOURCES`; None = all."""
    if text is None or not text.strip():
        return list(SOURCES)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise InputError(
            f"--sources: unknown source(s) {', '.join(unknown)} (known: {', '.join(SOURCES)})"
        )
    return [n for n in SOURCES if n in names]


def parse_areas(text: str | None) -> list[str]:
    """``"GM0503,gm0363"`` -> ``["GM0503", "GM0363"]``; each must look like GM + 4 digits."""
    if text is None or not text.strip():
        return []
    return list(dict.fromkeys(parse_gm_codes(text)))


def retry_policy(settings: Settings, *, start: float | None = None) -> RetryPolicy:
    """The policy of ``[sources.acquire]``; its deadline counts from ``start`` (monotonic)."""
    deadline_s = float(source_option(settings, "acquire", "deadline_s", DEFAULT_DEADLINE_S))
    max_bytes = int(source_option(settings, "acquire", "max_bytes", DEFAULT_MAX_BYTES))
    return RetryPolicy(
        attempts=int(source_option(settings, "acquire", "attempts", 5)),
        backoff_s=float(source_option(settings, "acquire", "backoff_s", 2.0)),
        timeout_s=float(source_option(settings, "acquire", "timeout_s", 120.0)),
        deadline=(time.monotonic() if start is None else start) + deadline_s,
        max_bytes=max_bytes if max_bytes > 0 else None,
    )


def acquire(
    settings: Settings,
    *,
    sources: Sequence[str] = SOURCES,
    areas: Iterable[str] = (),
    all_areas: bool = False,
    data_dir: Path | None = None,
    offline: bool = False,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    log: Log | None = None,
) -> dict[str, dict[str, Any]]:
    """Download or refresh ``sources`` into the data cache; return their manifests.

    Parameters
    ----------
    sources
        Any of ``osm``, ``cbs``, ``brk``, ``bag``, ``gtfs``.
    areas, all_areas
        The municipalities (``GM0503``...) for the per-area work: CBS area files, BRK and BAG
        by bounding box, OSM extracts. ``all_areas`` takes every municipality of the CBS map.
        BRK and BAG are skipped without areas.
    data_dir
        The cache root (default :func:`~magicmix_geo.sources.cache.default_data_dir`).
    offline
        Use only the cache: nothing is downloaded, and a source or area not in the cache is
        an error.

    Raises
    ------
    AcquireError
        After every source was tried: naming each that failed (an HTTP failure, a truncated
        download, a checksum mismatch, content that is not what it claims, the deadline, or
        ``odata`` for CBS OData tables); the others' manifests are written.
    SourceError
        Offline, a source missing from the cache.
    """
    cache = DataCache.at(data_dir)
    codes = list(areas)
    if offline:
        return check_offline(cache, sources, codes, all_areas=all_areas)
    session = session or make_session()
    policy = policy or retry_policy(settings)
    if policy.deadline is None:
        policy = dataclasses.replace(policy, deadline=retry_policy(settings).deadline)
    manifests: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}

    def isolated(name: str, work: Callable[[], dict[str, Any] | None]) -> None:
        try:
            manifest = work()
        except SourceError as exc:
            failures[name] = str(exc)
            if log:
                log(f"{name}: FAILED: {exc}")
            return
        if manifest is not None:
            manifests[name] = manifest

    if "cbs" in sources:

        def cbs_work() -> dict[str, Any]:
            nonlocal codes
            if all_areas:
                # the map first, then all its municipalities
                cbs_source.acquire_cbs(cache, settings, [], session=session, policy=policy, log=log)
                codes = cbs_source.all_municipalities(cache)
            return cbs_source.acquire_cbs(
                cache, settings, codes, session=session, policy=policy, log=log
            )

        isolated("cbs", cbs_work)
        odata_errors = manifests.get("cbs", {}).get("odata_errors") or {}
        if odata_errors:
            failures[ODATA] = "; ".join(str(v) for v in odata_errors.values())
    if all_areas and not codes:
        try:
            codes = cbs_source.all_municipalities(cache)
        except SourceError as exc:
            failures.setdefault("cbs", str(exc))
    if "osm" in sources:
        # nightly: patch a cached national file with replication diffs, else download it
        isolated(
            "osm",
            lambda: osm_updates.refresh_osm(
                cache, settings, session=session, policy=policy, log=log
            ),
        )
    for source in ("brk", "bag"):
        if source not in sources:
            continue
        if not codes:
            if log:
                log(f"{source}: skipped (per municipality: give --areas or --all)")
            continue
        isolated(
            source,
            lambda s=source: _acquire_area_source(  # type: ignore[misc]
                s, cache, settings, codes, session, policy, log, national=all_areas
            ),
        )
    if "gtfs" in sources:
        isolated(
            "gtfs",
            lambda: gtfs_source.acquire_gtfs(
                cache, settings, session=session, policy=policy, log=log
            ),
        )
    if failures:
        raise AcquireError(failures)
    return manifests


def _acquire_area_source(
    source: str,
    cache: DataCache,
    settings: Settings,
    codes: Sequence[str],
    session: requests.Session,
    policy: RetryPolicy,
    log: Log | None,
    *,
    national: bool,
) -> dict[str, Any]:
    boxes = {gm: pdok.bbox_of(area_boundary(cache, settings, gm), AREA_MARGIN_M) for gm in codes}
    api_max = int(source_option(settings, "bag", "api_max_areas", pdok.API_MAX_AREAS))
    if source == "bag" and (national or len(boxes) > api_max):
        # national runs read PDOK's one-file bag-light.gpkg, not tens of thousands of pages
        return pdok.acquire_bag_light(
            cache, settings, boxes, session=session, policy=policy, log=log
        )
    return pdok.acquire_pdok(
        source, cache, settings, boxes, session=session, policy=policy, log=log
    )


def check_offline(
    cache: DataCache, sources: Sequence[str], areas: Sequence[str], *, all_areas: bool = False
) -> dict[str, dict[str, Any]]:
    """The manifests of ``sources``, after checking their files (and areas) are in the cache."""
    if all_areas:
        areas = cbs_source.all_municipalities(cache)
    manifests: dict[str, dict[str, Any]] = {}
    for source in sources:
        if source in AREA_SOURCES and not areas:
            continue
        manifest = cache.read_manifest(source)
        missing = _offline_missing(cache, source, manifest, areas)
        if missing:
            raise SourceError(
                source,
                f"offline, and {missing} is not in the data cache {cache.root}; run "
                f"`magicmix-geo acquire --sources {source}` with network access first",
            )
        assert manifest is not None
        manifests[source] = manifest
    return manifests


def area_boundary(cache: DataCache, settings: Settings, gm_code: str) -> BaseGeometry:
    """The municipal boundary from the cached CBS data, EPSG:28992."""
    path = cache.cbs_gemeente(gm_code)
    if not path.is_file():
        if not cache.cbs_map().is_file():
            raise SourceError(
                "cbs",
                f"no CBS boundary of {gm_code} in the data cache {cache.root}; "
                f"run `magicmix-geo acquire --sources cbs --areas {gm_code}` first",
            )
        cbs_source.prepare_area(cache, settings, gm_code)  # offline: no OData
    return read_boundary(path)


def cached_rank_inputs(
    settings: Settings,
    gm_code: str,
    *,
    data_dir: Path | None = None,
    profile: str = "singles",
    log: Log | None = None,
) -> tuple[RankInputs, dict[str, Any]]:
    """The inputs of ``rank --area GMxxxx`` from the data cache, and what was chosen.

    OSM is the cached national file (the run cuts the slices), boundary and
    CBS figures from the cached CBS area files, the grid, BAG and the GTFS departures table
    when cached. Candidates are
    the cached BRK parcels when ``[candidates] default = "brk"`` and the cache holds parcels
    inside the area; otherwise the pipeline builds OSM parcel proxies.

    Returns
    -------
    tuple
        The :class:`~magicmix_geo.contract.RankInputs` and a dict for the run manifest:
        ``candidates`` (``default``, ``used``, ``reason``) and ``sources`` (the cache
        manifests used, trimmed to url, version, sha256, licence, retrieved_at).
    """
    if not GM_CODE.match(gm_code):
        raise InputError(f"--area: {gm_code!r} is not a municipality code like GM0503")
    cache = DataCache.at(data_dir)
    boundary = area_boundary(cache, settings, gm_code)
    # the national file: the run parses it once for every municipality's slice
    # (prepare/extracts.py)
    osm = osm_source.cached_file(cache)
    grid = cache.cbs_area_grid(gm_code)
    bag = cache.bag_buildings(gm_code)
    gtfs = cache.gtfs_departures()
    candidates, choice = _choose_candidates(cache, settings, gm_code, boundary)
    inputs = RankInputs(
        osm=osm,
        gm_code=gm_code,
        boundary=cache.cbs_gemeente(gm_code),
        boundary_source="cbs",
        cbs=(cache.cbs_gemeente(gm_code), cache.cbs_buurten(gm_code)),
        grid=grid if grid.is_file() else None,
        candidates=candidates,
        bag=bag if bag.is_file() else None,
        profile=profile,
        gtfs=gtfs if gtfs.is_file() else None,
    )
    used = {}
    for source in SOURCES:
        manifest = cache.read_manifest(source)
        if manifest:
            used[source] = {
                k: manifest.get(k)
                for k in ("url", "version", "retrieved_at", "sha256", "licence", "licence_from")
            }
    return inputs, {"candidates": choice, "data_cache": str(cache.root), "sources": used}


# --------------------------------------------------------------------------------------------


def _choose_candidates(
    cache: DataCache, settings: Settings, gm_code: str, boundary: BaseGeometry
) -> tuple[Path | None, dict[str, Any]]:
    default = settings.default_candidates
    if default != "brk":
        return None, {"default": default, "used": "osm_proxy", "reason": "configured"}
    path = cache.brk_parcels(gm_code)
    if not path.is_file():
        return None, {
            "default": default,
            "used": "osm_proxy",
            "reason": f"no BRK parcels of {gm_code} in the data cache",
        }
    parcels = pyogrio.read_dataframe(path, layer="candidates")
    inside = (
        int(shapely.intersects(parcels.geometry.to_numpy(), boundary).sum()) if len(parcels) else 0
    )
    if inside == 0:
        return None, {
            "default": default,
            "used": "osm_proxy",
            "reason": f"the cached BRK parcels of {gm_code} lie outside its boundary",
        }
    return path, {
        "default": default,
        "used": "brk",
        "reason": f"{inside} cached BRK parcels",
        "path": str(path),
    }


def _offline_missing(
    cache: DataCache, source: str, manifest: dict[str, Any] | None, areas: Sequence[str]
) -> str | None:
    if manifest is None:
        return f"the {source} manifest"
    for entry in manifest.get("files", {}).values():
        for key in ("path", "gpkg"):
            if key in entry and not (cache.root / entry[key]).is_file():
                return entry[key]
    if "path" in manifest and not (cache.root / manifest["path"]).is_file():
        return manifest["path"]
    if source == "gtfs" and not cache.gtfs_departures().is_file():
        return str(cache.gtfs_departures())
    if source in AREA_SOURCES or source == "cbs":
        known = manifest.get("areas", {})
        for gm_code in areas:
            if source == "cbs" and cache.cbs_gemeente(gm_code).is_file():
                continue
            entry = known.get(gm_code)
            if entry is None or not (cache.root / entry.get("path", "")).is_file():
                return f"{source} data of {gm_code}"
    return None
