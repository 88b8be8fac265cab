"""The per-municipality GeoPackage: all layers, a QGIS ``layer_styles`` table and the manifest.

The file is built under a temporary name in the target folder and moved into place only when
complete, so an analyst never opens a half-written GeoPackage.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import shapely

from magicmix_geo.language import check_lang, words_in
from magicmix_geo.publish._common import MAP_ATTRIBUTION, output_path, require_rd
from magicmix_geo.publish.manifest import manifest_json
from magicmix_geo.publish.qgis_styles import packaged_style, run_style

GeometryKind = Literal["point", "line", "polygon"]

# the layers' descriptions (English, Dutch), shown by QGIS as their abstracts
LAYER_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "sites": (
        "Candidate housing sites ranked for Magic Mix housing: walking distances"
        " (dist_*_m), criterion scores (score_*), score_total, exclusions with reasons and"
        " rank_gm (1 = best in the municipality), EPSG:28992",
        "Kandidaatlocaties gerangschikt voor Magic Mix-woningen: loopafstanden (dist_*_m),"
        " scores per criterium (score_*), score_total, uitsluitingen met redenen en rank_gm"
        " (1 = beste van de gemeente), EPSG:28992",
    ),
    "national_ranking": (
        "All ranked sites of the run, ordered by rank_nl (1 = best in the country), EPSG:28992",
        "Alle gerangschikte locaties van de run, op volgorde van rank_nl (1 = beste van het"
        " land), EPSG:28992",
    ),
    "stops": (
        "Public transport stops and train stations used for the distances, EPSG:28992",
        "Ov-haltes en treinstations voor de loopafstanden, EPSG:28992",
    ),
    "transit_stops": (
        "Public transport stops by mode with departures per hour and average"
        " wait (GTFS, else assumed by mode), EPSG:28992",
        "Ov-haltes per vervoerwijze met vertrekken per uur en gemiddelde wachttijd (GTFS,"
        " anders aangenomen per vervoerwijze), EPSG:28992",
    ),
    "amenities": (
        "Destinations used for the walking distances, by category, EPSG:28992",
        "Bestemmingen voor de loopafstanden, per categorie, EPSG:28992",
    ),
    "boundary": (
        "The study area (municipal boundary), EPSG:28992",
        "Het onderzoeksgebied (gemeentegrens), EPSG:28992",
    ),
    "buildings": (
        "Building footprints (OpenStreetMap), flagged residential, EPSG:28992",
        "Gebouwen (OpenStreetMap), met hun woonfunctie, EPSG:28992",
    ),
    "streets": (
        "Streets and paths (OpenStreetMap highway=*), EPSG:28992",
        "Straten en paden (OpenStreetMap highway=*), EPSG:28992",
    ),
    "water": ("Water areas (OpenStreetMap), EPSG:28992", "Water (OpenStreetMap), EPSG:28992"),
}
# the other words QGIS shows of a GeoPackage (English, Dutch)
_GPKG_WORDS: dict[str, tuple[str, str]] = {
    "provenance": (
        "magicmix-geo {version}, run {run_id} started {started}, config {config}."
        " Data: {attribution}. The full run manifest (inputs, checksums, licences) is"
        " stored in this file's gpkg_metadata table.",
        "magicmix-geo {version}, run {run_id} gestart {started}, configuratie {config}."
        " Gegevens: {attribution}. Het volledige run-manifest (invoer, controlegetallen,"
        " licenties) staat in de tabel gpkg_metadata van dit bestand.",
    ),
    "style": (
        "magicmix-geo default style for {layer}",
        "standaardstijl van magicmix-geo voor {layer}",
    ),
    "styles_table": ("QGIS layer styles", "QGIS-laagstijlen"),
}

STYLES_TABLE = "layer_styles"
GPKG_VERSION = "1.2"
MANIFEST_MIME_TYPE = "application/json"
MANIFEST_STANDARD_URI = "urn:magicmix-geo:run-manifest"
_METADATA_EXTENSION = "http://www.geopackage.org/spec120/#extension_metadata"
_RESERVED = re.compile(r"^(gpkg_|rtree_|sqlite_|layer_styles$)", re.IGNORECASE)
_KIND_BY_GPKG_TYPE: dict[str, GeometryKind] = {
    "POINT": "point",
    "MULTIPOINT": "point",
    "LINESTRING": "line",
    "MULTILINESTRING": "line",
    "POLYGON": "polygon",
    "MULTIPOLYGON": "polygon",
}
# QGIS's Qgis::GeometryType numbering, as written in <layerGeometryType>
_KIND_BY_QGIS_CODE: dict[str, GeometryKind] = {"0": "point", "1": "line", "2": "polygon"}
_OGR_TYPE_BY_KIND: dict[GeometryKind, str] = {
    "point": "Point",
    "line": "LineString",
    "polygon": "Polygon",
}

_STYLES_DDL = """
CREATE TABLE layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  f_table_catalog TEXT,
  f_table_schema TEXT,
  f_table_name TEXT,
  f_geometry_column TEXT,
  styleName TEXT,
  styleQML TEXT,
  styleSLD TEXT,
  useAsDefault BOOLEAN,
  description TEXT,
  owner TEXT,
  ui TEXT,
  update_time DATETIME
)
"""
# the GeoPackage metadata extension tables, as the 1.2 specification defines them
_METADATA_DDL = (
    """
    CREATE TABLE IF NOT EXISTS gpkg_metadata (
      id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL,
      md_scope TEXT NOT NULL DEFAULT 'dataset',
      md_standard_uri TEXT NOT NULL,
      mime_type TEXT NOT NULL DEFAULT 'text/xml',
      metadata TEXT NOT NULL DEFAULT ''
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
      reference_scope TEXT NOT NULL,
      table_name TEXT,
      column_name TEXT,
      row_id_value INTEGER,
      timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      md_file_id INTEGER NOT NULL,
      md_parent_id INTEGER,
      CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
      CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS gpkg_extensions (
      table_name TEXT,
      column_name TEXT,
      extension_name TEXT NOT NULL,
      definition TEXT NOT NULL,
      scope TEXT NOT NULL,
      CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
    )
    """,
)
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


def write_municipality_gpkg(
    path: Path,
    layers: dict[str, gpd.GeoDataFrame],
    metadata: dict[str, Any],
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    lang: str = "nl",
    category_labels: Mapping[str, str] | None = None,
) -> None:
    """Write one municipality's layers, default QGIS styles and run manifest to a GeoPackage.

    Parameters
    ----------
    path
        The target ``.gpkg``; replaced atomically if it exists.
    layers
        Layer name to frame, each in EPSG:28992 (metres): typically ``sites``, ``stops``,
        ``amenities``, ``boundary`` and context layers such as ``buildings`` or ``streets``.
        Written in the given order.
    metadata
        The run manifest, stored as JSON in the GeoPackage metadata extension
        (``gpkg_metadata``, scope ``dataset``, referenced at ``geopackage`` scope).
    tables
        Optional attribute tables without geometry (e.g. a summary, the method), written
        after the layers; QGIS opens them as tables.
    lang
        The language (``nl`` or ``en``) of what QGIS shows of the file: the styles' map
        tips, label rules and legends (:func:`~magicmix_geo.publish.qgis_styles.run_style`),
        the layers' descriptions.
    category_labels
        Destination category -> its label in ``lang``, for the legends and map tips of the
        amenities and stops; without them they keep the styles' English labels.

    Raises
    ------
    ValueError
        If there are no layers, a name is reserved or repeated, or a layer is not in
        EPSG:28992 (the message names the layer). Nothing is written then.
    OutputError
        If the target folder cannot be written.
    """
    tables = dict(tables or {})
    check_lang(lang)
    _validate_layers(layers)
    for name in tables:
        if not name or _RESERVED.match(name) or name.lower() in {n.lower() for n in layers}:
            raise ValueError(f"table name {name!r} is empty, reserved or a layer name")
    manifest_text = manifest_json(metadata)  # fail on unserialisable values before writing
    kinds = {name: _layer_kind(name, frame) for name, frame in layers.items()}
    with output_path(Path(path)) as tmp, unsynced_sqlite():
        for name, frame in layers.items():
            _write_layer(tmp, name, frame, kinds[name])
        for name, table in tables.items():
            pyogrio.write_dataframe(pd.DataFrame(table), tmp, layer=name, driver="GPKG")
        texts = (lang, tuple(sorted((category_labels or {}).items())))
        _finish_gpkg(tmp, kinds, manifest_text, texts)


# GDAL's config option for the SQLite ``synchronous`` pragma of the files it writes
SQLITE_SYNC_OPTION = "OGR_SQLITE_SYNCHRONOUS"


@contextlib.contextmanager
def unsynced_sqlite() -> Iterator[None]:
    """Let GDAL write SQLite files without a disk flush per transaction, then restore the
    option as it was (also after an error).

    A GeoPackage here is built under a temporary name and moved into place only when
    complete, so the flushes guard nothing (a crash leaves a temporary file, never a half
    GeoPackage under its name); they made the wall time of a municipality's GeoPackage three
    times its CPU time on a busy disk (1.3 s wall for 0.3 s CPU, bench/publish.py).
    """
    before = pyogrio.get_gdal_config_option(SQLITE_SYNC_OPTION)
    pyogrio.set_gdal_config_options({SQLITE_SYNC_OPTION: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({SQLITE_SYNC_OPTION: before})


def _validate_layers(layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Check names and CRS of all layers before anything touches the disk."""
    if not layers:
        raise ValueError("no layers to write")
    seen: set[str] = set()
    for name, frame in layers.items():
        if not name or _RESERVED.match(name):
            raise ValueError(f"layer name {name!r} is empty or reserved in a GeoPackage")
        if name.lower() in seen:
            raise ValueError(f"layer name {name!r} is given twice (names ignore case)")
        seen.add(name.lower())
        if not isinstance(frame, gpd.GeoDataFrame):
            raise ValueError(f"layer {name!r} is not a GeoDataFrame")
        require_rd(frame, name)


def _write_layer(path: Path, name: str, frame: gpd.GeoDataFrame, kind: GeometryKind) -> None:
    """Add one layer to the (possibly new) GeoPackage at ``path``."""
    options: dict[str, Any] = {}
    if not path.exists():
        # GeoPackage 1.2 (what the metadata extension here follows): GDAL < 3.7, as in QGIS
        # 3.22 on Debian bookworm, warns about the 1.4 files newer GDAL writes by default
        options["VERSION"] = GPKG_VERSION
    if not frame.geometry.notna().any():
        # an empty layer still gets a proper geometry type, so QGIS can style it
        options["geometry_type"] = _OGR_TYPE_BY_KIND[kind]
    _writable(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio", **options)


def _writable(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` with list and dict cells encoded as JSON text (OGR has no such type)."""
    # the geometry's name and the dtypes once: each frame[col] of a GeoDataFrame costs ~50 us
    geometry = frame.geometry.name
    nested = [
        col
        for col, dtype in frame.dtypes.items()
        if col != geometry
        and pd.api.types.is_object_dtype(dtype)
        and any(isinstance(v, _NESTED) for v in frame[col].to_numpy())
    ]
    if not nested:
        return frame
    out = frame.copy()
    for col in nested:
        out[col] = out[col].map(_json_cell)
    return out


_NESTED = (list, tuple, dict, set)


def _json_cell(value: Any) -> Any:
    if isinstance(value, set):
        value = sorted(value, key=str)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


# the language of a GeoPackage's texts, and the destination categories' labels in it
_Texts = tuple[str, tuple[tuple[str, str], ...]]


def _finish_gpkg(
    path: Path, kinds: Mapping[str, GeometryKind], manifest_text: str, texts: _Texts
) -> None:
    """Add the styles table and the manifest to a GeoPackage OGR has written and closed."""
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("PRAGMA synchronous = OFF")  # a temporary file: see unsynced_sqlite
        columns = _geometry_columns(con)
        rows = [
            (name, columns[name.lower()], _style_for(name, kind, texts))
            for name, kind in kinds.items()
        ]
        _add_layer_styles(con, rows, texts[0])
        _add_manifest(con, manifest_text)
        _describe_layers(con, list(kinds), json.loads(manifest_text), texts[0])


def _describe_layers(
    con: sqlite3.Connection, names: list[str], manifest: dict[str, Any], lang: str
) -> None:
    """Title and abstract of each layer (``gpkg_contents``), as QGIS shows them in its metadata.

    QGIS reads the identifier as the layer title and the description as its abstract; the
    abstract names the run, so a layer opened on its own still says where it comes from.
    """
    software = manifest.get("software")
    version = (
        software.get("version") if isinstance(software, dict) else manifest.get("software_version")
    )
    words = words_in(_GPKG_WORDS, lang)
    provenance = words["provenance"].format(
        version=version or "?",
        run_id=manifest.get("run_id", "?"),
        started=manifest.get("started_at") or manifest.get("started") or "?",
        config=str(manifest.get("config_hash", "?"))[:12],
        attribution=MAP_ATTRIBUTION,
    )
    descriptions = words_in(LAYER_DESCRIPTIONS, lang)
    for name in names:
        about = descriptions.get(name.lower(), f"{name}, EPSG:28992")
        con.execute(
            "UPDATE gpkg_contents SET identifier = ?, description = ? WHERE lower(table_name) = ?",
            (name, f"{about}. {provenance}", name.lower()),
        )


def _geometry_columns(con: sqlite3.Connection) -> dict[str, str]:
    """Map lower-case table name to its geometry column, as OGR named it (``geom``)."""
    cursor = con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns")
    return {table.lower(): column for table, column in cursor}


def _layer_kind(name: str, frame: gpd.GeoDataFrame) -> GeometryKind:
    """What a layer holds: from its geometries, else from its packaged style, else polygons."""
    for gtype in frame.geometry.dropna().geom_type.str.upper().unique():
        if gtype in _KIND_BY_GPKG_TYPE:
            return _KIND_BY_GPKG_TYPE[gtype]
    own = packaged_style(name.lower())
    kind = None if own is None else _qml_kind(own)
    return kind or "polygon"


def _style_for(layer: str, kind: GeometryKind, texts: _Texts) -> str:
    """The QML for a layer in the file's language: its own style if one ships for that
    geometry, else the default."""
    lang, labels = texts
    own = packaged_style(layer.lower())
    style = layer.lower() if own is not None and _qml_kind(own) == kind else f"default_{kind}"
    qml = run_style(style, lang, dict(labels))
    if qml is None:  # pragma: no cover - package data missing from the install
        raise FileNotFoundError(f"style {style}.qml is missing from the package")
    return qml


@cache
def _qml_kind(qml: str) -> GeometryKind | None:
    """The geometry kind a QML style was made for (its ``layerGeometryType``)."""
    element = ET.fromstring(qml).find("layerGeometryType")
    if element is None or element.text is None:
        return None
    return _KIND_BY_QGIS_CODE.get(element.text.strip())


def _add_layer_styles(con: sqlite3.Connection, rows: list[tuple[str, str, str]], lang: str) -> None:
    """Create QGIS's ``layer_styles`` table with one default style per (layer, column, qml),
    described in ``lang``."""
    words = words_in(_GPKG_WORDS, lang)
    con.execute(_STYLES_DDL)
    con.executemany(
        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name,"
        " f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description,"
        f" owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, {_NOW})",
        [
            (layer, column, layer, qml, words["style"].format(layer=layer))
            for layer, column, qml in rows
        ],
    )
    # registered as an attributes table, so it is a proper GeoPackage table that OGR lists
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description,"
        f" last_change) VALUES (?, 'attributes', ?, ?, {_NOW})",
        (STYLES_TABLE, STYLES_TABLE, words["styles_table"]),
    )
    if _table_exists(con, "gpkg_ogr_contents"):
        con.execute(
            "INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, ?)",
            (STYLES_TABLE, len(rows)),
        )


def _add_manifest(con: sqlite3.Connection, manifest_text: str) -> None:
    """Store the manifest JSON with the GeoPackage metadata extension, for the whole file."""
    for ddl in _METADATA_DDL:
        con.execute(ddl)
    for table in ("gpkg_metadata", "gpkg_metadata_reference"):
        registered = con.execute(
            "SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = ?",
            (table, "gpkg_metadata"),
        ).fetchone()
        if registered is None:
            con.execute(
                "INSERT INTO gpkg_extensions (table_name, column_name, extension_name,"
                " definition, scope) VALUES (?, NULL, 'gpkg_metadata', ?, 'read-write')",
                (table, _METADATA_EXTENSION),
            )
    cursor = con.execute(
        "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata)"
        " VALUES ('dataset', ?, ?, ?)",
        (MANIFEST_STANDARD_URI, MANIFEST_MIME_TYPE, manifest_text),
    )
    con.execute(
        "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name,"
        f" row_id_value, timestamp, md_file_id, md_parent_id)"
        f" VALUES ('geopackage', NULL, NULL, NULL, {_NOW}, ?, NULL)",
        (cursor.lastrowid,),
    )


def _table_exists(con: sqlite3.Connection, table: str) -> bool:
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return row is not None


def read_manifest(path: Path) -> dict[str, Any] | None:
    """Read back the run manifest stored by :func:`write_municipality_gpkg`.

    Parameters
    ----------
    path
        A GeoPackage written by this module.

    Returns
    -------
    dict or None
        The manifest, or None if the file holds none.
    """
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as con:
        if not _table_exists(con, "gpkg_metadata"):
            return None
        row = con.execute(
            "SELECT metadata FROM gpkg_metadata WHERE md_standard_uri = ? AND mime_type = ?"
            " ORDER BY id DESC LIMIT 1",
            (MANIFEST_STANDARD_URI, MANIFEST_MIME_TYPE),
        ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


# --- reading our GeoPackages back (the national files of a run), with SQLite alone ------------
# Opening a GeoPackage with GDAL costs about 10 ms; a national run reads 355 of them several
# times, so the plain reads below go through sqlite3 (read-only) instead, several reads on one
# connection (SQLite reads a file's schema once per connection).

# the envelope's size in bytes by the envelope indicator of a GeoPackage geometry's flags
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def _crs(srs_id: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(srs_id)


class GpkgReader:
    """Plain reads of a GeoPackage written by :func:`write_municipality_gpkg`, on one
    read-only SQLite connection; use as a context manager.

    Parameters
    ----------
    path
        The GeoPackage.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self._con = sqlite3.connect(uri, uri=True)
        rows = self._con.execute(
            "SELECT g.table_name, g.column_name, g.srs_id FROM gpkg_geometry_columns g"
            " JOIN sqlite_master m ON m.name = g.table_name AND m.type = 'table'"
            " ORDER BY m.rowid"
        ).fetchall()
        self._geometry = {str(t).lower(): (str(c), int(srs)) for t, c, srs in rows}
        self._spatial = [str(t) for t, _c, _s in rows]

    def __enter__(self) -> GpkgReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._con.close()

    def spatial_layers(self) -> list[str]:
        """The layers with a geometry column, in the order they were written."""
        return list(self._spatial)

    def fields(self, layer: str) -> list[str]:
        """The attribute columns of ``layer`` (neither the feature id nor the geometry)."""
        geometry = self._geometry.get(layer.lower(), ("", 0))[0]
        rows = self._con.execute(f"PRAGMA table_info({_quoted(layer)})").fetchall()
        # (cid, name, type, notnull, default, pk): the primary key is the feature id
        return [str(r[1]) for r in rows if not r[5] and r[1] != geometry]

    def attributes(self, layer: str, columns: list[str], where: str) -> pd.DataFrame:
        """``columns`` of the rows of ``layer`` matching the SQL condition ``where`` (written
        by the caller, never from data), in feature order, without geometry. Booleans come
        as 0/1 (SQLite's integers), missing values as None."""
        select = ", ".join(_quoted(c) for c in columns)
        rows = self._con.execute(
            f"SELECT {select} FROM {_quoted(layer)} WHERE {where} ORDER BY rowid"
        ).fetchall()
        return pd.DataFrame.from_records(rows, columns=columns)

    def geometries(self, layer: str) -> gpd.GeoSeries:
        """The geometries of ``layer`` in feature order, in the layer's CRS.

        GeoPackage geometry blobs are a small header (``GP``, version, flags, SRS id, an
        optional envelope; GeoPackage 1.2, clause 2.1.3) followed by standard WKB.

        Raises
        ------
        ValueError
            If a geometry is not a GeoPackage geometry blob (the message names the file).
        """
        column, srs = self._geometry[layer.lower()]
        cursor = self._con.execute(f"SELECT {_quoted(column)} FROM {_quoted(layer)} ORDER BY rowid")
        wkb: list[bytes | None] = []
        for (blob,) in cursor:
            if blob is None:
                wkb.append(None)
                continue
            envelope = (blob[3] >> 1) & 7 if len(blob) > 8 else -1
            if bytes(blob[:2]) != b"GP" or envelope not in _ENVELOPE_BYTES:
                raise ValueError(
                    f"{self.path}: layer {layer!r} holds a geometry that is no GeoPackage blob"
                )
            empty = blob[3] & 0b10000
            wkb.append(None if empty else bytes(blob[8 + _ENVELOPE_BYTES[envelope] :]))
        return gpd.GeoSeries(shapely.from_wkb(wkb), crs=_crs(srs))


def spatial_layers(path: Path) -> list[str]:
    """The layers of a GeoPackage that have a geometry column, in the order they were written.

    Parameters
    ----------
    path
        A GeoPackage.
    """
    with GpkgReader(path) as reader:
        return reader.spatial_layers()
