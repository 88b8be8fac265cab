"""Candidate sites: a municipality's own file of sites, or parcel proxies built from OSM.

Both entry points return one polygon per candidate site in EPSG:28992 (RD New, metres) with
the columns ``site_id``, ``source``, ``is_proxy`` and ``temporary``, so the two kinds can be
concatenated and scored alike.

- :func:`read_candidates` reads a GeoPackage, GeoJSON, Shapefile or CSV with WKT.
- :func:`osm_parcel_proxies` cuts street blocks into plots around buildings when no
  Kadaster parcels are available.
"""

from __future__ import annotations

import csv
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from magicmix_geo._errors import InputError
from magicmix_geo.contract import require_rd
from magicmix_geo.prepare.tessellation import block_cells, clipped

RD_NEW_EPSG = 28992
# CSV files without an ``epsg`` column are read as RD New
DEFAULT_CSV_EPSG = RD_NEW_EPSG
CANDIDATE_LAYER = "candidates"
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp")
CSV_SUFFIXES = (".csv",)
CSV_WKT_COLUMNS = ("wkt", "geometry")
CSV_EPSG_COLUMN = "epsg"
ID_COLUMNS = ("site_id", "id")
TRUE_WORDS = frozenset({"yes", "true", "1", "ja"})
FALSE_WORDS = frozenset({"no", "false", "0", "nee", ""})
POLYGONAL = ("Polygon", "MultiPolygon")
# bounding box of EPSG:28992's area of use, with a margin (metres)
RD_NEW_BOUNDS = (-10_000.0, 280_000.0, 310_000.0, 640_000.0)
# why a row of a candidates file is left out (attrs["dropped"], the run's messages)
DROP_NO_GEOMETRY = "no geometry"
DROP_EMPTY = "empty geometry"
DROP_NOT_FINITE = "coordinate not finite (inf or NaN)"
DROP_NOT_DEGREES = "coordinates are not degrees though the file declares a geographic CRS"
DROP_OUTSIDE_RD = "outside the Netherlands (EPSG:28992 area of use; degrees in a metre file?)"
DROP_NO_AREA = "no area (zero-area or degenerate outline)"
DROP_OUTSIDE_AREA = "outside the study area"
DROP_EXAMPLES = 5  # rows named per reason in the summary
# a CSV is read this many rows at a time; files from this size on report progress
CSV_CHUNK_ROWS = 200_000
PROGRESS_MIN_BYTES = 20_000_000
# dropped rows are reported through logging: without a logging set-up Python prints the
# message alone on stderr
LOG = logging.getLogger("magicmix_geo.candidates")

# a building piece takes part in its block's tessellation when it holds this share of the
# building (momepy's enclosed_tessellation threshold)
TESS_THRESHOLD = 0.05
# a building piece is merged with another when they overlap by this share of the smaller one
BUILDING_MERGE_OVERLAP = 0.1
# lines are clipped to the area grown by this much, so that ends on the boundary still node
CLIP_MARGIN_M = 1.0


# --------------------------------------------------------------------------------------------
# reading a file of candidate sites
# --------------------------------------------------------------------------------------------


def read_candidates(
    path: Path, *, progress: Callable[[str], None] | None = None
) -> gpd.GeoDataFrame:
    """Read candidate sites from a file and normalise them.

    Parameters
    ----------
    path
        A GeoPackage (the layer named ``candidates`` if there is one, else the first layer
        with geometry), GeoJSON, Shapefile or CSV. A CSV needs a ``wkt`` or ``geometry``
        column with the outline as WKT; it is comma-, semicolon- or tab-separated (the
        separator is taken from the header line) and UTF-8. Its CRS comes from an optional
        ``epsg`` column (an EPSG code per row, e.g. ``4326`` or ``EPSG:4326``); without that
        column the coordinates are taken to be EPSG:28992, and a file whose coordinates all
        look like degrees is refused rather than misplaced. Other formats must declare their
        CRS (GeoJSON is WGS84 by definition).
    progress
        Called with a line of text after each chunk of a large CSV (rows and MB read so
        far), e.g. :func:`print_progress`.

    Returns
    -------
    gpd.GeoDataFrame
        One row per usable site in EPSG:28992 (metres), polygons and multipolygons only,
        invalid outlines repaired with ``shapely.make_valid`` (polygonal parts kept), Z
        dropped. All columns of the file are kept (a CSV's WKT column becomes the geometry;
        a ``source`` column of the file is kept as ``source_in_file``), and these are added:

        - ``site_id``: the file's ``site_id`` column, else its ``id`` column, if all values
          are present and unique (as text); otherwise ``C`` + the 1-based row number of the
          file, zero-padded (``C000001``). A replaced ``site_id`` column is kept as
          ``site_id_in_file``.
        - ``source``: ``"file"``; ``is_proxy``: False.
        - ``temporary``: bool from a ``temporary`` column (yes/true/1/ja are True,
          no/false/0/nee/empty are False, case-insensitive); False without the column.

        ``attrs["dropped"]`` lists the rows left out, as ``{"row": i, "reason": ...}`` with
        ``i`` the 0-based row number in the file (for a CSV: the line number minus 2);
        ``attrs["repaired"]`` lists the 0-based rows whose geometry was repaired;
        ``attrs["site_id_from"]`` says where the ids came from (``site_id``, ``id`` or
        ``generated``); ``attrs["rows_in_file"]`` counts the file's rows and
        ``attrs["file_rows"]`` (an array) holds each kept site's row. Rows are dropped for
        no or empty geometry, coordinates that are not finite, outside the Netherlands
        (EPSG:28992's area of use: ``1e300``, or degrees in a metre file), not degrees in a
        geographic file, or an outline with no area; :func:`drop_summary` counts them.

    Raises
    ------
    InputError
        The file is missing, empty, unreadable, of an unknown type, has no CRS (except
        CSV as above), no rows, rows that are points or lines, unparseable WKT, bad
        ``epsg`` or ``temporary`` values, or no usable geometry left.
    """
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        gdf = _read_csv(path, progress)
    elif suffix in VECTOR_SUFFIXES:
        gdf = _read_vector(path)
    else:
        kinds = ", ".join((*VECTOR_SUFFIXES, *CSV_SUFFIXES))
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected {kinds}")
    if len(gdf) == 0:
        raise InputError(f"{path}: no rows; the file holds no candidate sites")

    n_rows = len(gdf)
    gdf = gdf.reset_index(drop=True)
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    dropped: list[dict[str, Any]] = []

    is_null = pd.isna(geoms)
    is_empty = ~is_null & shapely.is_empty(geoms)
    # inf/NaN make GEOS fail (GEOSException) in every later step: out before anything else
    finite = ~is_null & ~is_empty & _finite(geoms)
    for i in np.flatnonzero(is_null):
        dropped.append({"row": int(i), "reason": DROP_NO_GEOMETRY})
    for i in np.flatnonzero(is_empty):
        dropped.append({"row": int(i), "reason": DROP_EMPTY})
    for i in np.flatnonzero(~is_null & ~is_empty & ~finite):
        dropped.append({"row": int(i), "reason": DROP_NOT_FINITE})
    present = finite

    # points and lines are not sites; refuse rather than guess a buffer size
    types = shapely.get_type_id(geoms)  # -1 for a missing geometry
    unsure = np.flatnonzero(present & ~np.isin(types, (3, 6)))  # not (multi)polygons
    wrong = [i for i in unsure if not _has_area_type(geoms[i])]
    if wrong:
        names = Counter(geoms[i].geom_type for i in wrong)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(names.items()))
        raise InputError(
            f"{path}: {len(wrong)} of {n_rows} rows are not polygons ({detail}); "
            "candidates must be polygons or multipolygons (site outlines)"
        )

    rows = np.flatnonzero(present)
    gdf = gdf.iloc[rows].copy()
    flat2d = np.asarray(gdf.geometry.array, dtype=object)
    # force_2d copies every geometry: only when some have a z (or m) to drop
    if (shapely.get_coordinate_dimension(flat2d) > 2).any():
        flat2d = shapely.force_2d(flat2d)
    gdf[gdf.geometry.name] = gpd.GeoSeries(flat2d, index=gdf.index, crs=gdf.crs)
    if gdf.crs.to_epsg() != RD_NEW_EPSG:
        degrees = _degree_rows(path, gdf)
        for j in np.flatnonzero(~degrees):
            dropped.append({"row": int(rows[j]), "reason": DROP_NOT_DEGREES})
        gdf, rows = gdf.loc[degrees].to_crs(RD_NEW_EPSG), rows[degrees]
    # a row far from the Netherlands (1e300, lon/lat in a metre file) is out, with its reason
    placed = _inside_rd(np.asarray(gdf.geometry.array, dtype=object))
    for j in np.flatnonzero(~placed):
        dropped.append({"row": int(rows[j]), "reason": DROP_OUTSIDE_RD})
    gdf, rows = gdf.loc[placed], rows[placed]

    # repair after reprojection: transforming can itself break a ring
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    invalid = ~shapely.is_valid(geoms)
    repaired: list[int] = []
    lost = np.zeros(len(geoms), dtype=bool)
    for j in np.flatnonzero(invalid | ~np.isin(shapely.get_type_id(geoms), (3, 6))):
        fixed = _polygonal_part(shapely.make_valid(geoms[j]) if invalid[j] else geoms[j])
        if fixed is None:
            lost[j] = True
            dropped.append({"row": int(rows[j]), "reason": DROP_NO_AREA})
        else:
            geoms[j] = fixed
            if invalid[j]:
                repaired.append(int(rows[j]))
    gdf[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=RD_NEW_EPSG)
    gdf = gdf.loc[~lost]
    rows = rows[~lost]
    if len(gdf) == 0:
        raise InputError(
            f"{path}: no usable candidate geometry; all {n_rows} rows were dropped "
            f"({_reasons(dropped)})"
        )

    gdf, id_from = _assign_site_ids(gdf, rows)
    if "source" in gdf.columns:
        gdf = gdf.rename(columns={"source": "source_in_file"})
    gdf["source"] = "file"
    gdf["is_proxy"] = False
    gdf["temporary"] = _parse_temporary(path, gdf, rows)

    front = ["site_id", "source", "is_proxy", "temporary"]
    geom_col = gdf.geometry.name
    rest = [c for c in gdf.columns if c not in front and c != geom_col]
    gdf = gdf[[*front, *rest, geom_col]].reset_index(drop=True)
    if geom_col != "geometry":
        gdf = gdf.rename_geometry("geometry")
    gdf.attrs["dropped"] = sorted(dropped, key=lambda d: d["row"])
    gdf.attrs["repaired"] = sorted(repaired)
    gdf.attrs["site_id_from"] = id_from
    gdf.attrs["rows_in_file"] = n_rows
    gdf.attrs["file_rows"] = rows.astype(np.int64)  # an array: pandas copies attrs often
    return gdf


def keep_inside(sites: gpd.GeoDataFrame, area: BaseGeometry, path: Path) -> gpd.GeoDataFrame:
    """The sites of :func:`read_candidates` whose representative point lies in ``area``
    (EPSG:28992). The others are counted in ``attrs["dropped_outside_area"]`` (``count`` and
    the first ``examples`` rows): a national file may leave a million rows outside one
    municipality, too many for a per-row list that pandas copies with every operation.

    Raises
    ------
    InputError
        No site lies inside ``area``; the message names every reason rows were dropped.
    """
    inside = sites.geometry.representative_point().within(area).to_numpy()
    attrs = dict(sites.attrs)
    rows = attrs.pop("file_rows", None)
    where = np.asarray(rows) if rows is not None else np.arange(len(sites))
    outside = where[~inside]
    attrs["dropped_outside_area"] = {
        "count": len(outside),
        "examples": [int(r) for r in np.sort(outside)[:DROP_EXAMPLES]],
    }
    if not inside.any():
        nothing = gpd.GeoDataFrame(geometry=[], crs=sites.crs)
        nothing.attrs = attrs
        summary = drop_summary(nothing)
        reasons = ", ".join(f"{k}: {v}" for k, v in summary["reasons"].items())
        raise InputError(
            f"{path}: no candidate site lies inside the area; all "
            f"{attrs.get('rows_in_file', len(sites))} rows were dropped ({reasons})"
        )
    kept = sites.loc[inside].reset_index(drop=True)
    kept.attrs = attrs
    return kept


def drop_summary(sites: gpd.GeoDataFrame) -> dict[str, Any]:
    """What :func:`read_candidates` (and :func:`keep_inside`) left out, for the manifest:
    ``rows_in_file``, ``rows_used``, ``rows_dropped``, ``reasons`` (reason -> count) and
    ``examples`` (reason -> the first 0-based rows)."""
    dropped = sites.attrs.get("dropped", [])
    reasons = Counter(d["reason"] for d in dropped)
    examples: dict[str, list[int]] = {}
    for d in dropped:
        rows = examples.setdefault(d["reason"], [])
        if len(rows) < DROP_EXAMPLES:
            rows.append(int(d["row"]))
    outside = sites.attrs.get("dropped_outside_area") or {"count": 0}
    if outside["count"]:
        reasons[DROP_OUTSIDE_AREA] = outside["count"]
        examples[DROP_OUTSIDE_AREA] = list(outside["examples"])
    n_dropped = len(dropped) + outside["count"]
    return {
        "rows_in_file": int(sites.attrs.get("rows_in_file", len(sites) + n_dropped)),
        "rows_used": len(sites),
        "rows_dropped": n_dropped,
        "reasons": dict(sorted(reasons.items())),
        "examples": examples,
    }


def drop_message(path: Path, summary: dict[str, Any]) -> str | None:
    """One line for stderr when rows were left out, else None."""
    if not summary["rows_dropped"]:
        return None
    parts = [
        f"{reason}: {n} (row {_rows_text(summary['examples'][reason], DROP_EXAMPLES)}"
        + (", ..." if n > len(summary["examples"][reason]) else "")
        + ")"
        for reason, n in summary["reasons"].items()
    ]
    return (
        f"{path}: {summary['rows_dropped']:,} of {summary['rows_in_file']:,} candidate rows "
        f"left out; {'; '.join(parts)} (0-based rows; counts in manifest.json)"
    )


def report_dropped(sites: gpd.GeoDataFrame, path: Path) -> dict[str, Any]:
    """:func:`drop_summary` of ``sites``, with a warning line on stderr when rows were left
    out (see :func:`drop_message`)."""
    summary = drop_summary(sites)
    message = drop_message(path, summary)
    if message:
        LOG.warning("magicmix-geo: warning: %s", message)
    return summary


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_vector(path: Path) -> gpd.GeoDataFrame:
    # GDAL reports problems through several exception types; all mean "cannot read"
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read ({_one_line(exc)})") from exc
    spatial = [str(name) for name, geom_type in layers if geom_type is not None]
    if not spatial:
        raise InputError(f"{path}: no layer with geometry")
    layer = CANDIDATE_LAYER if CANDIDATE_LAYER in spatial else spatial[0]
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:
        raise InputError(f"{path}: cannot read layer {layer!r} ({_one_line(exc)})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{path}: layer {layer!r} has no geometry")
    if gdf.crs is None:
        raise InputError(f"{path}: no CRS; candidates must declare their CRS (EPSG:28992 expected)")
    return gdf


def _read_csv_chunks(
    path: Path,
    sep: str,
    wkt_col: str,
    as_text: set[str],
    progress: Callable[[str], None] | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The attribute columns and the parsed outlines of a CSV, read ``CSV_CHUNK_ROWS`` rows
    at a time: the WKT text of one chunk at most is held (memory stays near the size of the
    geometries), and ``progress`` hears after each chunk."""
    total = path.stat().st_size
    clock = time.perf_counter()
    frames: list[pd.DataFrame] = []
    parts: list[np.ndarray] = []
    bad: list[int] = []
    rows = 0
    try:
        with path.open("rb") as fh:
            chunks = pd.read_csv(
                fh,
                sep=sep,
                encoding="utf-8-sig",
                dtype={c: str for c in as_text},
                chunksize=CSV_CHUNK_ROWS,
            )
            for chunk in chunks:
                chunk.columns = [str(c).strip() for c in chunk.columns]
                text = chunk[wkt_col.strip()].astype(object)
                blank = (
                    text.isna() | text.map(lambda v: isinstance(v, str) and not v.strip())
                ).to_numpy()
                with np.errstate(invalid="ignore"):  # "nan" in WKT: reported below
                    geoms = shapely.from_wkt(np.where(blank, None, text), on_invalid="ignore")
                bad += (rows + np.flatnonzero(~blank & pd.isna(geoms))).tolist()
                # a blank cell is an empty geometry, dropped later with a reason
                parts.append(np.where(blank, shapely.from_wkt("POLYGON EMPTY"), geoms))
                frames.append(chunk.drop(columns=[wkt_col.strip()]))
                rows += len(chunk)
                if progress is not None and total >= PROGRESS_MIN_BYTES:
                    done = min(fh.tell(), total)
                    progress(
                        f"reading {path.name}: {rows:,} rows, {done / 1e6:,.0f} of "
                        f"{total / 1e6:,.0f} MB, {time.perf_counter() - clock:.0f} s"
                    )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as CSV ({_one_line(exc)})") from exc
    if rows == 0:
        raise InputError(f"{path}: no rows; the file holds no candidate sites")
    if bad:
        raise InputError(
            f"{path}: cannot parse WKT in column {wkt_col.strip()!r} on {len(bad)} row(s), "
            f"first at row {_rows_text(bad)} (0-based, header excluded)"
        )
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df, np.concatenate(parts)


def print_progress(message: str) -> None:
    """A progress line on stderr (``magicmix-geo: ...``), for :func:`read_candidates`."""
    print(f"magicmix-geo: {message}", file=sys.stderr, flush=True)


def _read_csv(path: Path, progress: Callable[[str], None] | None = None) -> gpd.GeoDataFrame:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = fh.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({_one_line(exc)})") from exc
    if not header.strip():
        raise InputError(f"{path}: file is empty (no header line)")
    sep, names = _csv_header(header)
    lower = {n.strip().lower(): n for n in names}
    wkt_col = next((lower[c] for c in CSV_WKT_COLUMNS if c in lower), None)
    if wkt_col is None:
        raise InputError(
            f"{path}: no WKT column; a CSV of candidates needs a 'wkt' or 'geometry' column "
            f"with polygons as WKT (header: {', '.join(names)})"
        )
    as_text = {lower[c] for c in (*ID_COLUMNS, "temporary", CSV_EPSG_COLUMN) if c in lower}
    as_text.add(wkt_col)
    df, geoms = _read_csv_chunks(path, sep, wkt_col, as_text, progress)

    epsg_col = next((c for c in df.columns if c.lower() == CSV_EPSG_COLUMN), None)
    if epsg_col is None:
        gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=DEFAULT_CSV_EPSG))
        _refuse_degrees(path, geoms)
        return gdf
    codes = df[epsg_col].map(_epsg_code)
    if codes.isna().any():
        bad = np.flatnonzero(codes.isna().to_numpy())
        raise InputError(
            f"{path}: column {epsg_col!r} needs an EPSG code on every row (e.g. 28992 or "
            f"EPSG:4326); missing or unreadable on row {_rows_text(bad)} (0-based)"
        )
    out = np.empty(len(geoms), dtype=object)
    for code in sorted(set(codes)):
        mask = (codes == code).to_numpy()
        try:
            part = gpd.GeoSeries(geoms[mask], crs=int(code)).to_crs(RD_NEW_EPSG)
        except Exception as exc:  # pyproj raises its own CRSError for unknown codes
            raise InputError(
                f"{path}: column {epsg_col!r}: EPSG:{code} cannot be used ({_one_line(exc)})"
            ) from exc
        out[mask] = np.asarray(part.array, dtype=object)
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(out, crs=RD_NEW_EPSG))


def _csv_header(header: str) -> tuple[str, list[str]]:
    # choose the separator that turns the header into a list holding a WKT column
    for sep in (",", ";", "\t"):
        names = next(csv.reader([header.rstrip("\r\n")], delimiter=sep))
        if any(n.strip().lower() in CSV_WKT_COLUMNS for n in names):
            return sep, names
    return ",", next(csv.reader([header.rstrip("\r\n")]))


def _epsg_code(value: object) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    match = re.fullmatch(r"\s*(?:epsg:)?\s*(\d{4,6})(?:\.0)?\s*", str(value), flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def _refuse_degrees(path: Path, geoms: np.ndarray) -> None:
    present = geoms[~shapely.is_empty(geoms)]
    if len(present) == 0:
        return
    xmin, ymin, xmax, ymax = shapely.total_bounds(present)
    if xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90:
        raise InputError(
            f"{path}: coordinates look like degrees (lon/lat) but there is no 'epsg' column; "
            "add one (e.g. 4326) or give EPSG:28992 metres"
        )


def _rows_text(rows: Sequence[int] | np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in list(rows)[:limit])
    return shown + (", ..." if len(rows) > limit else "")


def _reasons(dropped: list[dict[str, Any]]) -> str:
    counts = Counter(d["reason"] for d in dropped)
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))


def _has_area_type(geom: BaseGeometry) -> bool:
    if geom.geom_type in POLYGONAL:
        return True
    if geom.geom_type == "GeometryCollection":
        return any(_has_area_type(g) for g in geom.geoms)
    return False


def _polygonal_part(geom: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """The polygons of ``geom`` (e.g. of a ``make_valid`` collection), or None if it has none."""
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    polys: list[Polygon] = []
    stack = [geom]
    while stack:
        g = stack.pop()
        if isinstance(g, Polygon):
            if not g.is_empty:
                polys.append(g)
        elif hasattr(g, "geoms"):
            stack.extend(g.geoms)
    if not polys:
        return None
    if len(polys) == 1:
        return polys[0]
    merged = shapely.union_all(polys)
    return merged if isinstance(merged, Polygon | MultiPolygon) else _polygonal_part(merged)


def _polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """:func:`_polygonal_part` of each geometry; polygons pass as they are (no Python call)."""
    out = np.asarray(geoms, dtype=object).copy()
    plain = np.isin(shapely.get_type_id(out), (3, 6)) & ~shapely.is_empty(out)
    out[~plain] = [_polygonal_part(g) for g in out[~plain]]
    return out


def _id_text(series: pd.Series) -> pd.Series:
    def text(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        s = str(v).strip()
        return s or None

    return series.astype(object).map(text)


def _assign_site_ids(gdf: gpd.GeoDataFrame, rows: np.ndarray) -> tuple[gpd.GeoDataFrame, str]:
    lower = {str(c).lower(): c for c in gdf.columns}
    for name in ID_COLUMNS:
        col = lower.get(name)
        if col is None:
            continue
        ids = _id_text(gdf[col])
        if ids.notna().all() and ids.is_unique:
            if "site_id" in gdf.columns and col != "site_id":
                gdf = gdf.rename(columns={"site_id": "site_id_in_file"})
            gdf["site_id"] = ids.astype(str)
            return gdf, name
    if "site_id" in gdf.columns:
        gdf = gdf.rename(columns={"site_id": "site_id_in_file"})
    width = max(6, len(str(int(rows.max()) + 1)))
    gdf["site_id"] = [f"C{int(r) + 1:0{width}d}" for r in rows]
    return gdf, "generated"


def _parse_temporary(path: Path, gdf: gpd.GeoDataFrame, rows: np.ndarray) -> pd.Series:
    col = next((c for c in gdf.columns if str(c).lower() == "temporary"), None)
    if col is None:
        return pd.Series(False, index=gdf.index, dtype=bool)

    def flag(v: object) -> bool | None:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return False
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, int | float | np.integer | np.floating):
            return True if v == 1 else False if v == 0 else None
        word = str(v).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return None

    flags = gdf[col].astype(object).map(flag)
    bad = np.flatnonzero(flags.isna().to_numpy())
    if len(bad):
        sample = gdf[col].iloc[bad[0]]
        raise InputError(
            f"{path}: column {col!r} has {len(bad)} value(s) that are not yes/true/1/ja or "
            f"no/false/0/nee, e.g. {sample!r} on row {int(rows[bad[0]])} (0-based)"
        )
    if col != "temporary":
        gdf.drop(columns=[col], inplace=True)
    return flags.astype(bool)


# --------------------------------------------------------------------------------------------
# parcel proxies from OSM
# --------------------------------------------------------------------------------------------


def osm_parcel_proxies(
    streets: gpd.GeoSeries,
    buildings: gpd.GeoDataFrame,
    area: Polygon | MultiPolygon,
    *,
    barriers: gpd.GeoSeries | None = None,
    min_area_m2: float = 20.0,
) -> gpd.GeoDataFrame:
    """Plots that stand in for cadastral parcels, from OSM streets and buildings.

    Street blocks are the enclosures of the street lines, the barriers and the boundary of
    ``area`` (``momepy.enclosures``); each block is cut into one plot per building with
    an enclosed tessellation (:mod:`magicmix_geo.prepare.tessellation`: the space is shared
    out to the nearest building outline). A block without buildings stays whole: vacant land
    is a real candidate.

    Parameters
    ----------
    streets
        Street centre lines, EPSG:28992 (metres). Polygons count by their outline.
    buildings
        Building footprints, EPSG:28992. Non-polygonal rows are ignored, invalid ones are
        repaired, and footprints that overlap by 10 % or more of the smaller one are
        treated as one building. A building crossing a block edge gives a plot in each
        block that holds at least 5 % of its footprint.
    area
        The study area, EPSG:28992. Only plots whose representative point lies in it are
        returned (the boundary is itself a block edge, so plots never cross it).
    barriers
        Further block edges, EPSG:28992: railways, waterways. Lines cut blocks; polygons
        (water, rail yards) cut along their outline, and blocks lying inside them are left
        out, as they are not building land.
    min_area_m2
        Plots smaller than this are slivers and are dropped.

    Returns
    -------
    gpd.GeoDataFrame
        EPSG:28992, one row per plot, ordered by the x then y of the representative point:
        ``site_id`` (``P000001``...), ``source`` = ``"osm_proxy"``, ``is_proxy`` = True,
        ``block_id`` (``B000001``..., same ordering), ``has_building``, ``temporary`` =
        False, ``geometry`` (polygons or multipolygons, valid, non-overlapping).
        ``attrs["dropped_slivers"]`` counts the plots under ``min_area_m2``.

    Raises
    ------
    ValueError
        An argument is not in EPSG:28992 or ``area`` is not a polygon in RD New metres.
    """
    require_rd(streets, "streets")
    require_rd(buildings, "buildings")
    if barriers is not None:
        require_rd(barriers, "barriers")
    area = _check_area(area)
    clip = area.buffer(CLIP_MARGIN_M)

    lines = [_edges(streets.geometry, clip)]
    no_build: np.ndarray = np.empty(0, dtype=object)
    if barriers is not None:
        lines.append(_edges(barriers.geometry, clip))
        bar = np.asarray(barriers.geometry.array, dtype=object)
        bar = bar[np.isin(shapely.get_type_id(bar), (3, 6)) & ~shapely.is_empty(bar)]
        no_build = bar
    edges = np.concatenate(lines)

    blocks = _blocks(edges, area, no_build)
    blds = _building_pieces(buildings.geometry, blocks, area)

    cells, block, owned = _tessellate(blocks, blds)

    cells = np.array([_polygonal_part(shapely.make_valid(c)) for c in cells], dtype=object)
    ok = np.array([c is not None for c in cells])
    cells, block, owned = cells[ok], block[ok], owned[ok]
    reps = shapely.point_on_surface(cells)
    inside = shapely.contains(area, reps)
    cells, block, owned, reps = cells[inside], block[inside], owned[inside], reps[inside]
    big = shapely.area(cells) >= min_area_m2
    n_slivers = int((~big).sum())
    cells, block, owned, reps = cells[big], block[big], owned[big], reps[big]

    order = np.lexsort((shapely.get_y(reps), shapely.get_x(reps)))
    cells, block, owned = cells[order], block[order], owned[order]
    width = max(6, len(str(len(cells))))
    bwidth = max(6, len(str(len(blocks))))
    out = gpd.GeoDataFrame(
        {
            "site_id": [f"P{i + 1:0{width}d}" for i in range(len(cells))],
            "source": "osm_proxy",
            "is_proxy": True,
            "block_id": [f"B{b + 1:0{bwidth}d}" for b in block],
            "has_building": owned.astype(bool),
            "temporary": False,
        },
        geometry=gpd.GeoSeries(cells, crs=RD_NEW_EPSG),
    )
    out.attrs["dropped_slivers"] = n_slivers
    return out


def _check_area(area: BaseGeometry) -> Polygon | MultiPolygon:
    if not isinstance(area, Polygon | MultiPolygon) or area.is_empty:
        raise ValueError(f"area: expected a non-empty Polygon or MultiPolygon, got {area!r:.60}")
    xmin, ymin, xmax, ymax = area.bounds
    bx0, by0, bx1, by1 = RD_NEW_BOUNDS
    if xmin < bx0 or ymin < by0 or xmax > bx1 or ymax > by1:
        raise ValueError(
            f"area: bounds {area.bounds} are outside the Netherlands in EPSG:28992; "
            "expected RD New metres"
        )
    if not area.is_valid:
        fixed = _polygonal_part(shapely.make_valid(area))
        if fixed is None:
            raise ValueError("area: invalid polygon with no area after repair")
        area = fixed
    return area


def _edges(geoms: gpd.GeoSeries, clip: BaseGeometry) -> np.ndarray:
    """Line work of ``geoms`` (polygons by their outline) within ``clip``."""
    arr = np.asarray(geoms.array, dtype=object)
    arr = arr[~pd.isna(arr)]
    arr = arr[~shapely.is_empty(arr)]
    is_poly = np.isin(shapely.get_type_id(arr), (3, 6))
    arr = np.where(is_poly, shapely.boundary(arr), arr)
    is_line = np.isin(shapely.get_type_id(arr), (1, 2, 5))
    arr = arr[is_line]
    tree = shapely.STRtree(arr)
    near = tree.query(clip, predicate="intersects")
    cut = clipped(arr[np.sort(near)], clip)
    return cut[~shapely.is_empty(cut)]


def _blocks(edges: np.ndarray, area: BaseGeometry, no_build: np.ndarray) -> np.ndarray:
    """Street blocks: polygons enclosed by the edges and the area's boundary, inside area."""
    # imported here: momepy brings libpysal, scipy.stats and sqlalchemy (~2 s per process),
    # which the Kadaster parcel path (the national default) never needs
    import momepy

    limit = gpd.GeoSeries([area], crs=RD_NEW_EPSG)
    enc = momepy.enclosures(gpd.GeoSeries(edges, crs=RD_NEW_EPSG), limit=limit, clip=False)
    polys = np.asarray(enc.geometry.array, dtype=object)
    polys = polys[~shapely.is_empty(polys)]
    reps = shapely.point_on_surface(polys)
    keep = shapely.contains(area, reps)
    if len(no_build):
        # blocks inside a barrier polygon (water, rail yard) are not building land
        tree = shapely.STRtree(no_build)
        hit, _ = tree.query(reps, predicate="within")
        keep[np.unique(hit)] = False
    polys, reps = polys[keep], reps[keep]
    order = np.lexsort((shapely.get_y(reps), shapely.get_x(reps)))
    return polys[order]


def _building_pieces(geoms: gpd.GeoSeries, blocks: np.ndarray, area: BaseGeometry) -> pd.DataFrame:
    """Building footprints cut by area and block, overlapping ones merged.

    Columns ``geometry`` and ``block`` (position in ``blocks``).
    """
    arr = np.asarray(geoms.array, dtype=object)
    arr = arr[~pd.isna(arr)]
    arr = arr[~shapely.is_empty(arr)]
    bad = ~shapely.is_valid(arr)
    if bad.any():
        arr = arr.copy()
        arr[bad] = [_polygonal_part(shapely.make_valid(g)) for g in arr[bad]]
        arr = arr[~pd.isna(arr)]
    arr = arr[np.isin(shapely.get_type_id(arr), (3, 6))]
    # a building straddling the area counts by its part inside
    arr = _polygonal_parts(clipped(arr[shapely.intersects(area, arr)], area))
    arr = arr[~pd.isna(arr)]
    if len(arr) == 0 or len(blocks) == 0:
        return pd.DataFrame({"geometry": np.empty(0, dtype=object), "block": np.empty(0, int)})

    block_i, bld_i = shapely.STRtree(arr).query(blocks, predicate="intersects")
    cut = _polygonal_parts(clipped(arr[bld_i], blocks[block_i]))
    has = ~pd.isna(cut)
    cut, block_i, bld_i = cut[has], block_i[has], bld_i[has]
    big = shapely.area(cut) > TESS_THRESHOLD * shapely.area(arr[bld_i])
    cut, block_i = cut[big], block_i[big]

    # merge footprints that overlap substantially (a building drawn inside another)
    a, b = shapely.STRtree(cut).query(cut, predicate="intersects")
    pair = (a < b) & (block_i[a] == block_i[b])
    a, b = a[pair], b[pair]
    if len(a):
        shared = shapely.area(shapely.intersection(cut[a], cut[b]))
        smaller = np.minimum(shapely.area(cut[a]), shapely.area(cut[b]))
        merge = shared >= BUILDING_MERGE_OVERLAP * smaller
        a, b = a[merge], b[merge]
    if len(a):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = len(cut)
        graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        frame = pd.DataFrame({"label": label, "block": block_i})
        groups = frame.groupby("label", sort=True).indices
        merged = [_polygonal_part(shapely.union_all(cut[idx])) for idx in groups.values()]
        blocks_of = [int(block_i[idx[0]]) for idx in groups.values()]
        cut = np.array(merged, dtype=object)
        block_i = np.array(blocks_of, dtype=int)
    return pd.DataFrame({"geometry": cut, "block": block_i.astype(int)})


def _tessellate(
    blocks: np.ndarray, pieces: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells, their block positions and whether each holds a building.

    A block with no building or one building stays whole; only blocks with two or more
    are tessellated, so the tessellation never has to guess which block a lone building
    belongs to.
    """
    n_in_block = np.bincount(pieces["block"].to_numpy(), minlength=len(blocks))
    whole = np.flatnonzero(n_in_block < 2)
    cells = [blocks[whole]]
    block = [whole]
    owned = [n_in_block[whole] == 1]
    split = np.flatnonzero(n_in_block >= 2)
    if len(split):
        mine = pieces[np.isin(pieces["block"].to_numpy(), split)].reset_index(drop=True)
        tess, tblock, piece = block_cells(
            blocks, mine["geometry"].to_numpy(), mine["block"].to_numpy()
        )
        cells.append(tess)
        block.append(tblock)
        owned.append(piece >= 0)
    return np.concatenate(cells), np.concatenate(block), np.concatenate(owned)


def _degree_rows(path: Path, gdf: gpd.GeoDataFrame) -> np.ndarray:
    """True for rows that may be transformed: all of a projected CRS; of a geographic one,
    those within +-180/+-90. When no row is, metres are labelled as degrees: refuse."""
    if gdf.crs is None or not gdf.crs.is_geographic:
        return np.ones(len(gdf), dtype=bool)
    b = shapely.bounds(np.asarray(gdf.geometry.array, dtype=object))
    ok = (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)
    if not ok.any():
        minx, miny, maxx, maxy = gdf.total_bounds
        raise InputError(
            f"{path}: coordinates ({minx:.0f}, {miny:.0f}) - ({maxx:.0f}, {maxy:.0f}) are not "
            f"degrees but the file declares {gdf.crs.to_string()} (wrong CRS?)"
        )
    return np.asarray(ok)


def _finite(geoms: np.ndarray) -> np.ndarray:
    """True for geometries whose coordinates are all finite (missing ones count as finite)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.zeros(len(geoms), dtype=bool)
    bad[index[~np.isfinite(coords).all(axis=1)]] = True
    return ~bad


def _inside_rd(geoms: np.ndarray) -> np.ndarray:
    """True for geometries inside EPSG:28992's area of use (``RD_NEW_BOUNDS``, finite)."""
    bx0, by0, bx1, by1 = RD_NEW_BOUNDS
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        ok = (b[:, 0] >= bx0) & (b[:, 1] >= by0) & (b[:, 2] <= bx1) & (b[:, 3] <= by1)
    return np.asarray(ok & np.isfinite(b).all(axis=1))
