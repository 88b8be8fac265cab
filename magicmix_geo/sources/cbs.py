"""CBS: the Wijk- en Buurtkaart, the 100 m vierkantstatistieken, and OData tables.

CBS publishes the Wijk- en Buurtkaart (layers ``gemeenten``, ``wijken``, ``buurten`` with
their kerncijfers and the nabijheid "afstand" figures) and the vierkantstatistieken as zipped
GeoPackages; both are downloaded whole (resumable, conditional, checked before they replace
the cached copy) and their GeoPackage is unpacked beside the zip. The map's URL is a template
(``WijkBuurtkaart_{year}_v{version}.zip``): the newest published year and version are found
at acquire time and named in the manifest, since CBS supersedes versions (2023 v1, v2, v3).

Per municipality, small files are then written for the pipeline: the gemeente, its buurten
(figures the map lacks filled from the CBS OData tables of ``[cbs] odata_tables``, see
:mod:`magicmix_geo.sources.odata`) and the grid cells around it. The map's water parts
(``water`` = ``"JA"``, and the one ``"B"`` row, Buitenland) are dropped first: they would
take lakes and sea into boundaries, bounding boxes and extracts. Suppressed values become
null (``formats.cbs.null_suppressed``).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import pyogrio
import requests

from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.formats import cbs as cbs_readers
from magicmix_geo.sources._http import (
    RetryPolicy,
    SourceError,
    Validators,
    download,
    url_exists,
)
from magicmix_geo.sources.cache import (
    DataCache,
    now_iso,
    source_location,
    source_option,
    source_url,
)
from magicmix_geo.sources.odata import ODataFiller, fill_from_odata

SOURCE = "cbs"
# grid cells this far around the municipality are kept (the grid indicators sum within 500 m)
GRID_MARGIN_M = 1000.0
GRID_COLUMNS = ("aantal_inwoners", "aantal_woningen")
# values of the map's water column whose rows are not land of the municipality
WATER_COLUMNS = ("water", "h2o")
NOT_LAND = frozenset({"JA", "B"})
# the newest map is looked for this many years back, versions 1 ... MAX_MAP_VERSION
DISCOVER_YEARS = 5
MAX_MAP_VERSION = 9
SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_ODATA_URL = "https://opendata.cbs.nl"


def acquire_cbs(
    cache: DataCache,
    settings: Settings,
    areas: Iterable[str],
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Download / refresh the map and the grid, then write the per-area files.

    OData is best-effort: a failing table is recorded under ``odata_errors`` in the manifest
    (the caller reports it) and the previous run's rows are used where cached.
    """
    previous = cache.read_manifest(SOURCE) or {}
    before = previous.get("files", {})
    files: dict[str, Any] = {}
    template = source_url(settings, SOURCE)
    map_url, checked = newest_map_url(template, session=session, policy=policy)
    files["map"] = _acquire_package(
        cache,
        "map",
        map_url,
        cache.cbs_map(),
        before.get("map", {}),
        session=session,
        policy=policy,
        log=log,
    )
    files["map"]["url_template"] = template
    files["map"]["versions_checked"] = checked
    grid_url = source_location(settings, SOURCE, "grid_url", "MAGICMIX_GRID_URL")
    if grid_url:
        files["grid"] = _acquire_package(
            cache,
            "grid",
            grid_url,
            cache.cbs_grid(),
            before.get("grid", {}),
            session=session,
            policy=policy,
            log=log,
        )
    filler = odata_filler(settings, session=session, policy=policy, log=log)
    area_entries = dict(previous.get("areas", {}))
    for gm_code in list(areas):
        area_entries[gm_code] = prepare_area(cache, settings, gm_code, odata=filler, log=log)
    src = settings.sources[SOURCE]
    manifest = {
        "source": SOURCE,
        "url": map_url,
        "url_template": template,
        "retrieved_at": files["map"]["retrieved_at"],
        "checked_at": now_iso(),
        "version": files["map"]["version"],
        "sha256": files["map"]["sha256"],
        "path": files["map"]["gpkg"],
        # CBS states the licence on its site, not in the download; CBS open data are CC-BY 4.0
        "licence": src.licence,
        "licence_from": "config",
        "attribution": src.attribution,
        "files": files,
        "areas": area_entries,
        "odata_errors": dict(filler.errors) if filler is not None else {},
    }
    cache.write_manifest(SOURCE, manifest)
    return manifest


def odata_filler(
    settings: Settings,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> ODataFiller | None:
    """The OData filler of ``[cbs] odata_*`` (``MAGICMIX_ODATA_URL`` overrides the base)."""
    tables = list(source_option(settings, SOURCE, "odata_tables", []) or [])
    base = source_location(settings, SOURCE, "odata_url", "MAGICMIX_ODATA_URL")
    if not tables or not base:
        return None
    return ODataFiller.bounded(
        base,
        tables,
        odata_measures(settings),
        session=session,
        policy=policy,
        timeout_s=float(source_option(settings, SOURCE, "odata_timeout_s", 30.0)),
        attempts=int(source_option(settings, SOURCE, "odata_attempts", 2)),
        log=log,
    )


def odata_measures(settings: Settings) -> dict[str, str]:
    """``[cbs.odata_measures]``: map column -> OData measure name stem."""
    table = source_option(settings, SOURCE, "odata_measures", {}) or {}
    return {str(k): str(v) for k, v in table.items()}


def newest_map_url(
    template: str,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    today: dt.date | None = None,
) -> tuple[str, list[str]]:
    """The newest published map of a URL template with ``{year}`` and ``{version}``.

    A URL without ``{year}`` is taken as given (pinned by an operator). Otherwise years from
    this one back :data:`DISCOVER_YEARS` are tried, newest first; in the first year with a
    published map, its highest version is taken. Returns the URL and the URLs checked.

    Raises
    ------
    SourceError
        No version published in those years (or the server could not be asked).
    """
    if "{year}" not in template:
        return template, []
    year = (today or dt.date.today()).year
    checked: list[str] = []
    for y in range(year, year - DISCOVER_YEARS, -1):
        best = None
        versions = range(1, MAX_MAP_VERSION + 1) if "{version}" in template else range(1, 2)
        for version in versions:
            url = template.format(year=y, version=version)
            checked.append(url)
            if url_exists(url, source=SOURCE, session=session, policy=policy):
                best = url
            elif best is not None or version >= 3:
                break  # versions are numbered on; none of v1-v3 means none that year
        if best is not None:
            return best, checked
    raise SourceError(
        SOURCE,
        f"no Wijk- en Buurtkaart published at {template} for {year - DISCOVER_YEARS + 1}"
        f"-{year} (checked {len(checked)} URLs)",
    )


def drop_water(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The rows of a CBS map layer that are land: ``water`` (or ``H2O``) not JA, not B.

    The Wijk- en Buurtkaart splits municipalities (and buurten) into a land row
    (``water`` = ``"NEE"``) and a water row (``"JA"``) under the same code; ``"B"`` marks the
    Buitenland row (GM0998). Frames without such a column are returned as they are.
    """
    by_lower = {str(c).lower(): c for c in frame.columns}
    column = next((by_lower[c] for c in WATER_COLUMNS if c in by_lower), None)
    if column is None:
        return frame
    flag = frame[column].astype(str).str.strip().str.upper()
    return frame.loc[~flag.isin(NOT_LAND)].reset_index(drop=True)


def all_municipalities(cache: DataCache) -> list[str]:
    """Every gm_code of the cached Wijk- en Buurtkaart (land rows; no GM0998 Buitenland)."""
    if not cache.cbs_map().is_file():
        raise SourceError(SOURCE, f"no Wijk- en Buurtkaart in the data cache {cache.root}")
    gemeenten = drop_water(cbs_readers.read_cbs_municipalities(cache.cbs_map()))
    return sorted({c for c in gemeenten["gm_code"] if isinstance(c, str) and c.startswith("GM")})


def prepare_area(
    cache: DataCache,
    settings: Settings,
    gm_code: str,
    *,
    odata: ODataFiller | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write gemeente.gpkg, buurten.gpkg (+ OData figures) and grid.gpkg of one municipality.

    Water rows of the map are dropped. With ``odata`` the tables are fetched and their rows
    cached as ``odata_<table>.csv``; without it (offline), or when a table fails, the rows
    cached by an earlier run fill the figures.
    """
    national = cache.cbs_map()
    if not national.is_file():
        raise SourceError(SOURCE, f"no Wijk- en Buurtkaart in the data cache {cache.root}")
    try:
        gemeente = drop_water(cbs_readers.read_cbs_municipalities(national, gm_code))
        buurten = drop_water(cbs_readers.read_cbs_buurten(national, gm_code))
    except InputError as exc:
        raise SourceError(SOURCE, str(exc)) from exc
    if gemeente.empty:
        raise SourceError(SOURCE, f"{national}: {gm_code} has only water rows")
    entry: dict[str, Any] = {"prepared_at": now_iso(), "odata": {}}
    tables = source_option(settings, SOURCE, "odata_tables", []) or []
    measures = odata_measures(settings)
    for table in tables:
        csv = cache.area_dir(SOURCE, gm_code) / f"odata_{table}.csv"
        frame, info = odata.rows(table, gm_code) if odata is not None else (None, {})
        if frame is not None:
            with atomic_path(csv) as tmp:
                frame.to_csv(tmp, index=False)
        elif csv.is_file():
            frame = pd.read_csv(csv, dtype={"statcode": str})
            info = {**info, "rows_from": str(csv.relative_to(cache.root))}
        if frame is None:
            entry["odata"][table] = info
            continue
        buurten, filled = fill_from_odata(buurten, frame, measures)
        entry["odata"][table] = {**info, "rows": len(frame), "values_filled": filled}
    _write_layer(gemeente, cache.cbs_gemeente(gm_code), "gemeenten")
    _write_layer(buurten, cache.cbs_buurten(gm_code), "buurten")
    entry["buurten"] = len(buurten)
    if cache.cbs_grid().is_file():
        boundary = gemeente.geometry.union_all()
        cells = _read_grid(cache.cbs_grid(), boundary.buffer(GRID_MARGIN_M))
        entry["grid_cells"] = 0 if cells is None else len(cells)
        if cells is not None and len(cells):
            _write_layer(cells, cache.cbs_area_grid(gm_code), "vierkanten")
    return entry


def validate_package(path: Path) -> None:
    """Check a downloaded map or grid: a zip holding a readable GeoPackage, or a GeoPackage.

    The GeoPackage member is read through (its CRC checked) and must start with the SQLite
    header; an HTML error page or a truncated archive fails here, before it replaces the
    cached copy.
    """
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(SQLITE_HEADER):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith(".gpkg")]
            if not members:
                raise SourceError(SOURCE, f"{path.name}: no GeoPackage in the archive")
            with zf.open(max(members, key=lambda m: m.file_size)) as member:
                if not member.read(16).startswith(SQLITE_HEADER):
                    raise SourceError(SOURCE, f"{path.name}: the GeoPackage is not SQLite")
                while member.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise SourceError(
            SOURCE, f"{path.name}: neither a zip archive nor a GeoPackage ({exc}); not used"
        ) from exc


# --------------------------------------------------------------------------------------------


def _acquire_package(
    cache: DataCache,
    kind: str,
    url: str,
    gpkg_target: Path,
    before: dict[str, Any],
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None,
) -> dict[str, Any]:
    name = Path(urlsplit(url).path).name or f"{kind}.zip"
    target = cache.source_dir(SOURCE) / name
    validators = Validators(before.get("etag"), before.get("last_modified"))
    same = before.get("url") == url
    result = download(
        url,
        target,
        source=SOURCE,
        session=session,
        policy=policy,
        previous=validators if same else None,
        validate=validate_package,
    )
    changed = result.status == "downloaded" or not gpkg_target.is_file()
    if changed:
        if target.suffix.lower() == ".zip":
            _unpack_gpkg(target, gpkg_target)
        else:
            with atomic_path(gpkg_target) as tmp:
                shutil.copyfile(target, tmp)
    old = cache.root / before["path"] if before.get("path") else None
    if old is not None and old != target and old.is_file():
        old.unlink()  # a superseded version
    if log:
        log(f"{SOURCE}: {name} {result.status.replace('_', ' ')}")
    stem = Path(name).stem
    year = re.search(r"(19|20)\d\d", stem)
    return {
        "url": url,
        "path": str(target.relative_to(cache.root)),
        "gpkg": str(gpkg_target.relative_to(cache.root)),
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "etag": result.validators.etag,
        "last_modified": result.validators.last_modified,
        "version": stem if year else (result.validators.last_modified or stem),
        "retrieved_at": now_iso()
        if result.status == "downloaded"
        else before.get("retrieved_at", now_iso()),
    }


def _unpack_gpkg(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith(".gpkg")]
            if not members:
                raise SourceError(SOURCE, f"{archive.name}: no GeoPackage in the archive")
            member = max(members, key=lambda m: m.file_size)
            with atomic_path(target) as tmp, zf.open(member) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SourceError(SOURCE, f"{archive.name}: not a readable zip archive ({exc})") from exc


def _read_grid(path: Path, around: Any) -> gpd.GeoDataFrame | None:
    info = pyogrio.read_info(path)
    fields = set(info["fields"])
    if not set(GRID_COLUMNS) <= fields:
        return None  # an older release with other names; the pipeline cannot use it
    crs = gpd.GeoSeries(crs=info["crs"]).crs
    if crs is None or crs.to_epsg() != 28992:
        raise SourceError(SOURCE, f"{path.name}: grid CRS {info['crs']}, expected EPSG:28992")
    cells = pyogrio.read_dataframe(path, bbox=tuple(around.bounds))
    cells = cells.loc[cells.intersects(around)]
    return cbs_readers.null_suppressed(cells).reset_index(drop=True)


def _write_layer(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    frame = gpd.GeoDataFrame(frame.copy())
    frame.attrs = {}
    # GeoPackage field names are case-insensitive: where the readers' names (gm_code) meet the
    # file's (GM_CODE), keep the file's, which come later; the readers find them again
    lower = pd.Series([str(c).lower() for c in frame.columns])
    frame = frame.loc[:, ~lower.duplicated(keep="last").to_numpy()]
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(frame, tmp, layer=layer)
