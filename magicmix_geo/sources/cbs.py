"""CBS: the Wijk- en Buurtkaart, the 100 m vierkantstatistieken, and OData tables (cbsodata).

CBS publishes the Wijk- en Buurtkaart (gemeenten, wijken and buurten with their kerncijfers and
the nabijheid "afstand" figures) and the vierkantstatistieken as zipped GeoPackages; both are
downloaded whole (resumable, conditional) and their GeoPackage is unpacked beside the zip.
Per municipality, small files are then written for the pipeline: the gemeente, its buurten
(figures the map lacks filled from the CBS OData tables named in ``[cbs] odata_tables``) and
the grid cells around it. Suppressed values become null (``prepare.cbs.null_suppressed``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cbsodata
import geopandas as gpd
import pandas as pd
import pyogrio
import requests

from magicmix_geo._atomic import atomic_path
from magicmix_geo._errors import InputError
from magicmix_geo.config import Settings
from magicmix_geo.prepare import cbs as cbs_readers
from magicmix_geo.sources._http import (
    RETRY_STATUS,
    RetryPolicy,
    SourceError,
    Validators,
    download,
)
from magicmix_geo.sources.cache import DataCache, now_iso, source_option, source_url

SOURCE = "cbs"
# grid cells this far around the municipality are kept (the grid indicators sum within 500 m)
GRID_MARGIN_M = 1000.0
GRID_COLUMNS = ("aantal_inwoners", "aantal_woningen")
ODATA_SUFFIX = re.compile(r"_\d+$")
ODATA_CODE_COLUMNS = ("Codering_3", "Codering", "WijkenEnBuurten")


def acquire_cbs(
    cache: DataCache,
    settings: Settings,
    areas: Iterable[str],
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Download / refresh the map and the grid, then write the per-area files."""
    previous = cache.read_manifest(SOURCE) or {}
    files: dict[str, Any] = {}
    map_url = source_url(settings, SOURCE)
    files["map"] = _acquire_package(
        cache, "map", map_url, cache.cbs_map(), previous.get("files", {}).get("map", {}),
        session=session, policy=policy, log=log,
    )
    grid_url = source_option(settings, SOURCE, "grid_url", "")
    if grid_url:
        files["grid"] = _acquire_package(
            cache, "grid", grid_url, cache.cbs_grid(),
            previous.get("files", {}).get("grid", {}), session=session, policy=policy, log=log,
        )
    area_entries = dict(previous.get("areas", {}))
    codes = list(areas)
    for gm_code in codes:
        area_entries[gm_code] = prepare_area(
            cache, settings, gm_code, session=session, policy=policy, log=log
        )
    src = settings.sources[SOURCE]
    manifest = {
        "source": SOURCE,
        "url": map_url,
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
    }
    cache.write_manifest(SOURCE, manifest)
    return manifest


def all_municipalities(cache: DataCache) -> list[str]:
    """Every gm_code of the cached Wijk- en Buurtkaart."""
    if not cache.cbs_map().is_file():
        raise SourceError(SOURCE, f"no Wijk- en Buurtkaart in the data cache {cache.root}")
    gemeenten = cbs_readers.read_cbs_municipalities(cache.cbs_map())
    return sorted({c for c in gemeenten["gm_code"] if isinstance(c, str) and c.startswith("GM")})


def prepare_area(
    cache: DataCache,
    settings: Settings,
    gm_code: str,
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write gemeente.gpkg, buurten.gpkg (+ OData figures) and grid.gpkg of one municipality.

    Without a session the OData tables are not fetched (offline use).
    """
    national = cache.cbs_map()
    if not national.is_file():
        raise SourceError(SOURCE, f"no Wijk- en Buurtkaart in the data cache {cache.root}")
    try:
        gemeente = cbs_readers.read_cbs_municipalities(national, gm_code)
        buurten = cbs_readers.read_cbs_buurten(national, gm_code)
    except InputError as exc:
        raise SourceError(SOURCE, str(exc)) from exc
    entry: dict[str, Any] = {"prepared_at": now_iso(), "odata": {}}
    tables = source_option(settings, SOURCE, "odata_tables", []) or []
    if session is not None and policy is not None:
        for table in tables:
            frame, info = fetch_odata(
                settings, table, gm_code, session=session, policy=policy, log=log
            )
            csv = cache.area_dir(SOURCE, gm_code) / f"odata_{table}.csv"
            with atomic_path(csv) as tmp:
                frame.to_csv(tmp, index=False)
            buurten, filled = fill_from_odata(buurten, frame)
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


def fetch_odata(
    settings: Settings,
    table: str,
    gm_code: str,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows of CBS OData table ``table`` for the buurten and the gemeente ``gm_code``.

    Uses ``cbsodata`` against ``[cbs] odata_url``. Returns the rows (typed; CBS's suppressed
    values are null) with a ``statcode`` column, and the table's info for the manifest.
    """
    base = source_option(settings, SOURCE, "odata_url", "https://opendata.cbs.nl")
    parts = urlsplit(base)
    digits = gm_code[2:]
    where = (
        f"startswith(WijkenEnBuurten,'BU{digits}') or startswith(WijkenEnBuurten,'{gm_code}')"
    )
    attempt = 0
    while True:
        attempt += 1
        try:
            with _odata_scheme(parts.scheme != "http"):
                rows = cbsodata.get_data(table, filters=where, catalog_url=parts.netloc)
                info = cbsodata.get_info(table, catalog_url=parts.netloc) or {}
            break
        except (requests.HTTPError, requests.ConnectionError, requests.Timeout) as exc:
            status = _status_of(exc)
            retry = status in RETRY_STATUS or status is None
            if not retry or attempt >= policy.attempts:
                raise SourceError(
                    SOURCE, f"OData table {table} at {base}: {exc} (after {attempt} attempts)"
                ) from exc
            sleep(policy.wait(attempt))
        except (KeyError, ValueError) as exc:
            raise SourceError(SOURCE, f"OData table {table} at {base}: bad answer ({exc})") from exc
    frame = pd.DataFrame(rows)
    code_col = next((c for c in ODATA_CODE_COLUMNS if c in frame.columns), None)
    if code_col is None and len(frame):
        raise SourceError(SOURCE, f"OData table {table}: no region code column")
    frame.insert(0, "statcode", frame[code_col].astype(str).str.strip() if code_col else [])
    if log:
        log(f"{SOURCE}: OData {table}: {len(frame)} rows for {gm_code}")
    return frame, {
        "table": table,
        "url": f"{base.rstrip('/')}/ODataFeed/odata/{table}",
        "title": info.get("Title"),
        "version": info.get("Modified"),
        "retrieved_at": now_iso(),
    }


def fill_from_odata(
    buurten: gpd.GeoDataFrame, odata: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, int]:
    """Fill figures the map lacks (null or absent) from OData rows, matched on ``bu_code``.

    OData measure names carry a numeric suffix (``AantalInwoners_5``); without it they are
    matched to the map's columns the way ``prepare.cbs`` matches spellings (case and
    punctuation ignored). A measure with no map column is added under its name without suffix.
    Returns the frame and how many values were filled.
    """
    if odata.empty or "statcode" not in odata.columns:
        return buurten, 0
    rows = odata.loc[odata["statcode"].str.startswith("BU")].drop_duplicates("statcode")
    rows = rows.set_index("statcode")
    by_key = {_key(c): c for c in buurten.columns if c != buurten.geometry.name}
    out = buurten.copy()
    filled = 0
    codes = out["bu_code"]
    for column in rows.columns:
        values = pd.to_numeric(rows[column], errors="coerce")
        if values.notna().sum() == 0:
            continue  # a text column (names, codes) or an empty measure
        name = ODATA_SUFFIX.sub("", str(column))
        target = by_key.get(_key(name), name)
        mapped = codes.map(values).astype("float64")
        mapped = mapped.mask(mapped < cbs_readers.SENTINEL_MAX)
        if target not in out.columns:
            out[target] = mapped
            filled += int(mapped.notna().sum())
            continue
        current = pd.to_numeric(out[target], errors="coerce")
        gap = current.isna() & mapped.notna()
        if gap.any():
            out[target] = current.where(~gap, mapped)
            filled += int(gap.sum())
    return out, filled


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
    result = download(
        url, target, source=SOURCE, session=session, policy=policy,
        previous=validators if before else None,
    )
    changed = result.status == "downloaded" or not gpkg_target.is_file()
    if changed:
        if target.suffix.lower() == ".zip":
            _unpack_gpkg(target, gpkg_target)
        else:
            with atomic_path(gpkg_target) as tmp:
                shutil.copyfile(target, tmp)
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
        "retrieved_at": now_iso() if result.status == "downloaded"
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


def _key(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _status_of(exc: BaseException) -> int | None:
    for candidate in (exc, exc.__cause__):
        response = getattr(candidate, "response", None)
        if response is not None:
            return int(response.status_code)
    return None


@contextlib.contextmanager
def _odata_scheme(https: bool) -> Any:
    # cbsodata keeps the scheme in a module-wide option
    old = cbsodata.options.use_https
    cbsodata.options.use_https = https
    try:
        yield
    finally:
        cbsodata.options.use_https = old
