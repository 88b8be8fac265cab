"""CBS statistics per municipality (gemeente) and neighbourhood (buurt), under our names.

CBS publishes the same figures under several spellings: the long Dutch labels of the
"kerncijfers" tables (``"Aantal inwoners"``), the camelCase names of the PDOK
wijkenbuurten service (``aantalInwoners``), the snake_case names of older PDOK releases
(``aantal_inwoners``) and the short names of the Wijk- en Buurtkaart shapefiles
(``AANT_INW``). The readers here find the column under any of these spellings and add it
under one name (``population``), keeping all original columns beside it. Names are compared
after lower-casing and removing everything that is not a letter or digit.

Everything returned is in EPSG:28992 (RD New, metres). CBS writes a suppressed or
unavailable figure as a negative code (-99997 "secret", -99999999 "not available");
:func:`null_suppressed` turns these into NaN.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.contract import GM_CODE, require_rd

RD_NEW_EPSG = 28992

# our name -> spellings in CBS files, in order of preference (compared by _key)
COMMON_COLUMNS: dict[str, tuple[str, ...]] = {
    "gm_code": ("GM_CODE", "gemeentecode"),
    "gm_name": ("GM_NAAM", "gemeentenaam"),
    "population": ("Aantal inwoners", "aantalInwoners", "AANT_INW"),
    "density_per_km2": (
        "Bevolkinsdichtheid (aantal inwoners per km2)",  # sic, in the 2020 kerncijfers
        "Bevolkingsdichtheid (aantal inwoners per km2)",
        "bevolkingsdichtheidInwonersPerKm2",
        "BEV_DICHTH",
    ),
    "urbanity": (
        "Stedelijkheid (1=zeer sterk stedelijk, 5=niet stedelijk)",
        "stedelijkheidAdressenPerKm2",  # PDOK's name for the 1-5 class
        "Stedelijkheid",
        "STED",
    ),
    "pct_non_western": (
        "Niet-westerse migratieachtergrond (% van aantal inwoners)",
        "percentageNietWesterseMigratieachtergrond",
        "P_N_W_AL",
    ),
    "pct_origin_outside_europe": (
        "percentageMetHerkomstlandBuitenEuropa",
        "Herkomstland buiten Europa (%)",
    ),
    "pct_corporation_rental": (
        "Woningen in bezit woningcorporatie (%)",
        "percHuurwoningenInBezitWoningcorporaties",
        "P_HUURCORP",
    ),
    "dwellings": ("woningvoorraad", "Aantal woningen", "WONINGEN"),
}
MUNICIPALITY_COLUMNS: dict[str, tuple[str, ...]] = {
    **COMMON_COLUMNS,
    # CBS gebiedsindelingen layers name the code and name statcode / statnaam
    "gm_code": (*COMMON_COLUMNS["gm_code"], "statcode"),
    "gm_name": (*COMMON_COLUMNS["gm_name"], "statnaam"),
}
BUURT_COLUMNS: dict[str, tuple[str, ...]] = {
    "bu_code": ("BU_CODE", "buurtcode", "statcode"),
    "bu_name": ("BU_NAAM", "buurtnaam", "statnaam"),
    "wk_code": ("WK_CODE", "wijkcode"),
    **COMMON_COLUMNS,
}
TEXT_COLUMNS = frozenset({"gm_code", "gm_name", "bu_code", "bu_name", "wk_code"})
# layer names preferred when a file holds several (PDOK wijkenbuurten downloads do)
MUNICIPALITY_LAYERS = ("gemeenten", "gemeente")
BUURT_LAYERS = ("buurten", "buurt")
# columns whose figures may truly be negative (household wealth can be a debt); in these only
# the CBS codes, at or below SENTINEL_MAX, are suppressed values
SIGNED_COLUMN_PATTERN = re.compile(r"vermogen", flags=re.IGNORECASE)
SENTINEL_MAX = -99990.0


def read_cbs_municipalities(path: Path, gm_code: str | None = None) -> gpd.GeoDataFrame:
    """Read CBS key figures per municipality (gemeente) with their polygons.

    Parameters
    ----------
    path
        A vector file (GeoPackage, GeoJSON, Shapefile) of CBS municipalities: the
        "kerncijfers" style (``GM_CODE``, ``"Aantal inwoners"`` ...) or the PDOK style
        (``gemeentecode``, ``aantalInwoners`` ...). In a file with several layers the layer
        ``gemeenten`` is read, else the first.
    gm_code
        Keep only this municipality, e.g. ``"GM0503"`` (``"0503"`` and ``"503"`` are read
        as the same code).

    Returns
    -------
    gpd.GeoDataFrame
        EPSG:28992, with ``gm_code``, ``gm_name``, ``population``, ``density_per_km2``,
        ``urbanity`` (stedelijkheid class, 1 = very strongly urban ... 5 = not urban),
        ``pct_non_western`` (migration background, CBS up to 2021),
        ``pct_origin_outside_europe`` (country of origin, CBS from 2022),
        ``pct_corporation_rental`` (% of dwellings owned by housing corporations),
        ``dwellings``, then all original columns. A figure missing from the file is an
        all-NaN column; suppressed values are NaN (:func:`null_suppressed`).
        ``attrs["columns_from"]`` maps each of our names to the original column or None.

    Raises
    ------
    InputError
        The file is missing, unreadable or without CRS, has no municipality code column,
        or does not hold ``gm_code``.
    """
    path = Path(path)
    gdf, found = _normalised_layer(path, "municipalities")
    if gm_code is not None:
        gdf = _only_municipality(path, gdf, gm_code, what="municipalities")
    return _finish(path, gdf, found)


def read_cbs_buurten(path: Path, gm_code: str | None = None) -> gpd.GeoDataFrame:
    """Read CBS key figures per neighbourhood (buurt) from the Wijk- en Buurtkaart.

    Parameters
    ----------
    path
        A vector file of CBS buurten (PDOK camelCase, snake_case or shapefile names). In a
        file with several layers the layer ``buurten`` is read, else the first.
    gm_code
        Keep only the buurten of this municipality, e.g. ``"GM0503"``. Files clipped to a
        municipal boundary carry slivers of the neighbours' buurten; this drops them.

    Returns
    -------
    gpd.GeoDataFrame
        EPSG:28992, with ``bu_code``, ``bu_name``, ``wk_code``, ``gm_code``, ``gm_name``,
        ``population``, ``density_per_km2``, ``urbanity``, ``pct_non_western``,
        ``pct_origin_outside_europe``, ``pct_corporation_rental``, ``dwellings``, then all
        original columns. Without a municipality code column ``gm_code`` is derived from
        the buurt code (``BU05032802`` lies in ``GM0503``). Suppressed values are NaN.
        ``attrs["columns_from"]`` maps each of our names to the original column or None.

    Raises
    ------
    InputError
        The file is missing, unreadable or without CRS, has no buurt code column, or has
        no buurt in ``gm_code``.
    """
    path = Path(path)
    gdf, found = _normalised_layer(path, "buurten")
    if gm_code is not None:
        gdf = _only_municipality(path, gdf, gm_code, what="buurten")
    return _finish(path, gdf, found)


def null_suppressed(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with CBS suppressed values in numeric columns set to NaN.

    CBS codes a secret or unavailable figure as a negative number (-99997, -99999999 ...),
    and no count, share, density or distance can be negative, so every negative value
    becomes NaN. The exception is a column that can truly be negative (household wealth,
    ``vermogen``: a median can be a debt, as on the TU Delft campus); there only the codes
    at or below -99990 become NaN. Boolean columns are left alone.
    """
    out = df.copy()
    numeric = [
        col
        for col, dtype in out.dtypes.items()
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    ]
    if not numeric:
        return out
    values = out[numeric].astype("float64").to_numpy()
    signed = np.array([bool(SIGNED_COLUMN_PATTERN.search(str(col))) for col in numeric])
    with np.errstate(invalid="ignore"):
        bad = np.where(signed, values <= SENTINEL_MAX, values < 0.0)  # NaN compares False
    hit = np.flatnonzero(bad.any(axis=0))
    if len(hit):
        # the columns holding a code become float64 with NaN there, in one assignment
        columns = [numeric[i] for i in hit]
        masked = np.where(bad[:, hit], np.nan, values[:, hit])
        out[columns] = pd.DataFrame(masked, index=out.index, columns=columns)
    return out


def join_buurt(
    sites_points: gpd.GeoDataFrame, buurten: gpd.GeoDataFrame, columns: list[str]
) -> pd.DataFrame:
    """Attach buurt figures to sites by the buurt their representative point lies within.

    Parameters
    ----------
    sites_points
        Sites, EPSG:28992; points are used as they are, polygons by their representative
        point (a point inside the polygon).
    buurten
        Buurten as from :func:`read_cbs_buurten`, EPSG:28992.
    columns
        The buurten columns to return, e.g. ``["bu_code", "population"]``.

    Returns
    -------
    pd.DataFrame
        ``columns`` for each site, indexed like ``sites_points``. A point on no buurt (or
        exactly on a buurt boundary) gets nulls; where buurten overlap the first is used.

    Raises
    ------
    ValueError
        An argument is not in EPSG:28992, or a column is not in ``buurten``.
    """
    require_rd(sites_points, "sites_points")
    require_rd(buurten, "buurten")
    missing = [c for c in columns if c not in buurten.columns]
    if missing:
        raise ValueError(f"columns: not in buurten: {', '.join(map(str, missing))}")
    geoms = np.asarray(sites_points.geometry.array, dtype=object)
    points = np.full(len(geoms), None, dtype=object)
    present = ~pd.isna(geoms)
    present[present] = ~shapely.is_empty(geoms[present])
    points[present] = shapely.point_on_surface(geoms[present])

    polys = np.asarray(buurten.geometry.array, dtype=object)
    site_i, buurt_i = shapely.STRtree(polys).query(points[present], predicate="within")
    site_i = np.flatnonzero(present)[site_i]
    # first buurt per site: sort by site then buurt position
    order = np.lexsort((buurt_i, site_i))
    site_i, buurt_i = site_i[order], buurt_i[order]
    first = np.ones(len(site_i), dtype=bool)
    first[1:] = site_i[1:] != site_i[:-1]
    site_i, buurt_i = site_i[first], buurt_i[first]

    values = pd.DataFrame(buurten[columns]).iloc[buurt_i]
    values.index = pd.Index(site_i)
    out = values.reindex(pd.RangeIndex(len(geoms)))
    out.index = sites_points.index
    return out


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def read_cbs_files(
    paths: Sequence[Path], gm_code: str
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """The municipality and its buurten from CBS files (either may be absent): a file with a
    buurt code column is read as buurten, any other as municipalities."""
    municipality = None
    buurten = None
    for path in paths:
        columns = set(pyogrio.read_info(path)["fields"])
        if columns & {"buurtcode", "BU_CODE", "bu_code"}:
            buurten = read_cbs_buurten(path, gm_code)
        else:
            municipality = read_cbs_municipalities(path, gm_code)
    return municipality, buurten


def municipality_name(municipality: gpd.GeoDataFrame | None, gm_code: str) -> str:
    """The municipality's CBS name, else its code."""
    if municipality is not None and len(municipality):
        return str(municipality["gm_name"].iloc[0])
    return gm_code


def _key(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _normalised_layer(path: Path, kind: str) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    """The file's municipalities or buurten under our column names, read once per process
    while the file's size and modification time hold (a national run ranks many
    municipalities from the same CBS file on each worker). Callers must not change the frame;
    they get their own ``found``."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not path.is_file():
        return _read_normalised(path, kind)  # the reader reports what is wrong
    gdf, found = _cached_normalised(str(path), stat.st_size, stat.st_mtime_ns, kind)
    return gdf, dict(found)


# a national CBS file, a buurten file: a few frames per process at most
_CACHED_FILES = 4


@functools.lru_cache(maxsize=_CACHED_FILES)
def _cached_normalised(
    path: str, size: int, mtime_ns: int, kind: str
) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    return _read_normalised(Path(path), kind)


def _read_normalised(path: Path, kind: str) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    if kind == "municipalities":
        gdf, found = _normalise(_read_layer(path, MUNICIPALITY_LAYERS), MUNICIPALITY_COLUMNS)
        if found["gm_code"] is None:
            raise InputError(
                f"{path}: no municipality code column (GM_CODE, gemeentecode or statcode)"
            )
        return gdf, found
    gdf, found = _normalise(_read_layer(path, BUURT_LAYERS), BUURT_COLUMNS)
    if found["bu_code"] is None:
        raise InputError(f"{path}: no buurt code column (buurtcode, BU_CODE or statcode)")
    if found["gm_code"] is None:
        derived = gdf["bu_code"].str.extract(r"^BU(\d{4})", expand=False)
        gdf["gm_code"] = ("GM" + derived).astype(object).where(derived.notna(), None)
        found["gm_code"] = "bu_code"
    return gdf, found


def _read_layer(path: Path, preferred: tuple[str, ...]) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    # GDAL reports problems through several exception types; all mean "cannot read"
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read ({_one_line(exc)})") from exc
    spatial = [str(name) for name, geom_type in layers if geom_type is not None]
    if not spatial:
        raise InputError(f"{path}: no layer with geometry")
    by_key = {n.lower(): n for n in spatial}
    layer = next((by_key[p] for p in preferred if p in by_key), spatial[0])
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InputError(f"{path}: cannot read layer {layer!r} ({_one_line(exc)})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{path}: layer {layer!r} has no geometry")
    if gdf.crs is None:
        raise InputError(f"{path}: no CRS; CBS files must declare their CRS")
    if len(gdf) == 0:
        raise InputError(f"{path}: no rows in layer {layer!r}")
    return gdf


def _normalise(
    gdf: gpd.GeoDataFrame, spellings: dict[str, tuple[str, ...]]
) -> tuple[gpd.GeoDataFrame, dict[str, str | None]]:
    """Add our columns beside the originals; return them and where each came from."""
    geom_col = gdf.geometry.name
    originals = [c for c in gdf.columns if c != geom_col]
    by_key: dict[str, str] = {}
    for col in originals:
        by_key.setdefault(_key(col), col)
    found: dict[str, str | None] = {}
    ours: dict[str, pd.Series] = {}
    for name, options in spellings.items():
        source = by_key.get(_key(name))
        if source is None:
            source = next((by_key[_key(o)] for o in options if _key(o) in by_key), None)
        found[name] = source
        if source is None:
            values = pd.Series(np.nan, index=gdf.index, dtype="float64")
        elif name in TEXT_COLUMNS:
            values = gdf[source].astype(object).map(_text)
        else:
            values = pd.to_numeric(gdf[source], errors="coerce").astype("float64")
        ours[name] = values
    kept = gdf[[c for c in originals if c not in ours]]
    out = pd.concat([pd.DataFrame(ours, index=gdf.index), kept], axis=1)
    out = gpd.GeoDataFrame(out, geometry=gdf.geometry.rename("geometry"), crs=gdf.crs)
    return out, found


def _text(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _normal_gm_code(path: Path, gm_code: str) -> str:
    code = str(gm_code).strip().upper()
    if code.isdigit() and len(code) <= 4:
        code = f"GM{int(code):04d}"
    if not GM_CODE.match(code):
        raise InputError(
            f"{path}: gm_code {gm_code!r} is not a CBS municipality code (GM + 4 digits)"
        )
    return code


def _only_municipality(
    path: Path, gdf: gpd.GeoDataFrame, gm_code: str, *, what: str
) -> gpd.GeoDataFrame:
    code = _normal_gm_code(path, gm_code)
    keep = gdf["gm_code"].astype(object).eq(code).to_numpy(dtype=bool)
    if not keep.any():
        codes = sorted({c for c in gdf["gm_code"] if isinstance(c, str)})
        sample = ", ".join(codes[:5]) + (", ..." if len(codes) > 5 else "")
        raise InputError(
            f"{path}: unknown municipality {code}; no {what} with that code "
            f"(the file has {len(codes)} codes: {sample})"
        )
    return gdf.loc[keep]


def _finish(path: Path, gdf: gpd.GeoDataFrame, found: dict[str, str | None]) -> gpd.GeoDataFrame:
    gdf = gdf.to_crs(RD_NEW_EPSG) if gdf.crs.to_epsg() != RD_NEW_EPSG else gdf
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    bad = ~pd.isna(geoms) & ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = [_polygonal_part(shapely.make_valid(g)) for g in geoms[bad]]
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=RD_NEW_EPSG))
    out = null_suppressed(gdf).reset_index(drop=True)
    out.attrs["columns_from"] = dict(found)
    return out


def _polygonal_part(geom: BaseGeometry) -> Polygon | MultiPolygon | None:
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon | MultiPolygon)]
    if not polys:
        return None
    merged = shapely.union_all(polys)
    return merged if isinstance(merged, Polygon | MultiPolygon) else None
