"""A real HTTP server on 127.0.0.1 for the acquisition tests, and the content it serves.

The handler honours ``Range`` (with ``If-Range``), ``If-None-Match`` / ``ETag`` and
``If-Modified-Since`` / ``Last-Modified`` and HEAD; a resource can answer 503 a number of
times first, drop the connection part-way through the body, reset the connection without
an answer, stall (accept and say nothing), trickle its body a byte at a time, serve an
endless body, or serve a sequence of bodies (a ``.md5`` republished between two requests).
Dynamic resources build OGC API Features pages (with ``next`` links) and CBS OData answers
from real sample data, in the services' own shapes (see docs/sources.md for the citations).
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import re
import socket
import struct
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import mapping

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TEST_DATA = Path(__file__).resolve().parent / "data"
RD_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
LAST_MODIFIED = "Mon, 01 Sep 2025 08:00:00 GMT"

Dynamic = Callable[[dict[str, list[str]], str], tuple[int, dict[str, str], bytes]]


@dataclass
class Resource:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    last_modified: str = LAST_MODIFIED
    etag: str | None = None
    fail_first: int = 0  # answer 503 this many times before serving
    drop_after: int | None = None  # send only this many body bytes, then close (once)
    drop_always: bool = False  # ... on every request
    dynamic: Dynamic | None = None
    reset: bool = False  # close the connection with a TCP reset, no answer
    stall_s: float = 0.0  # accept, then say nothing for this long (or until the server stops)
    trickle_s: float = 0.0  # send the body one byte every this many seconds
    endless: bool = False  # a body that never ends (no Content-Length)
    then: list[bytes] = field(default_factory=list)  # bodies served after the first, in turn

    def __post_init__(self) -> None:
        if self.etag is None and self.dynamic is None:
            self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


@dataclass
class Hit:
    path: str
    status: int
    headers: dict[str, str]


@dataclass
class FakeServer:
    routes: dict[str, Resource] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str, status: int | None = None, method: str = "GET") -> int:
        return sum(
            1
            for h in self.hits
            if h.path == path
            and (status is None or h.status == status)
            and h.headers.get("method", "GET") == method
        )

    def _handle(self, req: BaseHTTPRequestHandler, head: bool = False) -> None:
        parts = urlsplit(req.path)
        headers = {k: v for k, v in req.headers.items()}
        headers["method"] = "HEAD" if head else "GET"
        resource = self.routes.get(parts.path)
        if resource is None:
            self._send(req, parts.path, headers, 404, {}, b"not found", head=head)
            return
        if resource.reset:
            self.hits.append(Hit(parts.path, 0, headers))
            # SO_LINGER 0: close() sends a TCP RST ("connection reset by peer")
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.connection.close()
            req.close_connection = True
            return
        if resource.stall_s:
            self.hits.append(Hit(parts.path, 0, headers))
            self.stopping.wait(resource.stall_s)
            req.close_connection = True
            return
        if resource.endless or resource.trickle_s:
            self._stream(req, parts.path, headers, resource)
            return
        if resource.fail_first > 0:
            resource.fail_first -= 1
            self._send(req, parts.path, headers, 503, {"Retry-After": "0"}, b"busy")
            return
        if resource.dynamic is not None:
            status, extra, body = resource.dynamic(parse_qs(parts.query), self.base)
            self._send(req, parts.path, headers, status, extra, body)
            return
        body, etag = resource.body, resource.etag
        if resource.then:
            resource.body = resource.then.pop(0)
            resource.etag = '"' + hashlib.sha256(resource.body).hexdigest()[:20] + '"'
        validators = {"ETag": etag or "", "Last-Modified": resource.last_modified}
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        if (inm and inm == etag) or (
            not inm and ims and _http_date(ims) >= _http_date(resource.last_modified)
        ):
            self._send(req, parts.path, headers, 304, validators, b"")
            return
        start = 0
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-", req.headers.get("Range", ""))
        if_range = req.headers.get("If-Range")
        if match and (not if_range or if_range in (etag, resource.last_modified)):
            start = int(match.group(1))
            if start >= len(body):
                self._send(
                    req, parts.path, headers, 416, {"Content-Range": f"bytes */{len(body)}"}, b""
                )
                return
            status = 206
        extra = {**validators, "Content-Type": resource.content_type, "Accept-Ranges": "bytes"}
        if status == 206:
            extra["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        payload = body[start:]
        cut = None
        if resource.drop_always:
            cut = len(payload) // 2
        elif resource.drop_after is not None:
            cut, resource.drop_after = resource.drop_after, None
        self._send(req, parts.path, headers, status, extra, payload, cut=cut, head=head)

    def _stream(
        self,
        req: BaseHTTPRequestHandler,
        path: str,
        headers: dict[str, str],
        resource: Resource,
    ) -> None:
        self.hits.append(Hit(path, 200, headers))
        req.send_response(200)
        req.send_header("Content-Type", resource.content_type)
        if not resource.endless:
            req.send_header("Content-Length", str(len(resource.body)))
        req.end_headers()
        try:
            if resource.endless:
                block = b"\0" * 65536
                while not self.stopping.is_set():
                    req.wfile.write(block)
            else:
                for i in range(len(resource.body)):
                    if self.stopping.wait(resource.trickle_s):
                        break
                    req.wfile.write(resource.body[i : i + 1])
                    req.wfile.flush()
        except OSError:
            pass  # the client gave up, as it should
        req.close_connection = True

    def _send(
        self,
        req: BaseHTTPRequestHandler,
        path: str,
        headers: dict[str, str],
        status: int,
        extra: dict[str, str],
        body: bytes,
        *,
        cut: int | None = None,
        head: bool = False,
    ) -> None:
        self.hits.append(Hit(path, status, headers))
        req.send_response(status)
        for key, value in extra.items():
            req.send_header(key, value)
        if status != 304:
            req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if head:
            return
        if cut is not None:
            req.wfile.write(body[:cut])
            req.wfile.flush()
            req.close_connection = True
            return
        req.wfile.write(body)


def _http_date(text: str) -> float:
    parsed = email.utils.parsedate_to_datetime(text)
    return parsed.timestamp()


# ---------------------------------------------------------------------------------------------
# content built from the real samples
# ---------------------------------------------------------------------------------------------

# Kadaster BRK property names as the PDOK OGC API serves them, from the DKK GML names
BRK_NAMES = {
    "identificatie": "identificatie_lokaal_id",
    "beginGeldigheid": "begin_geldigheid",
    "sectie": "sectie",
    "perceelnummer": "perceelnummer",
    "kadastraleGemeenteCode": "kadastrale_gemeente_code",
    "kadastraleGemeenteWaarde": "kadastrale_gemeente_waarde",
    "AKRKadastraleGemeenteCode": "akr_kadastrale_gemeente_code",
    "kadastraleGrootteWaarde": "kadastrale_grootte_waarde",
    "soortGrootte": "soort_grootte_waarde",
}
BAG_PAND_COLUMNS = [
    "identificatie",
    "bouwjaar",
    "status",
    "gebruiksdoel",
    "oppervlakte_min",
    "oppervlakte_max",
    "aantal_verblijfsobjecten",
]


def brk_parcels() -> gpd.GeoDataFrame:
    """The 11 real Otterlo parcels under PDOK's property names (EPSG:28992)."""
    gdf = pyogrio.read_dataframe(TEST_DATA / "brk_perceel_otterlo.gpkg")
    return gdf[[*BRK_NAMES, "geometry"]].rename(columns=BRK_NAMES)


def bag_panden() -> gpd.GeoDataFrame:
    """The 60 real BAG panden of the Delft Wippolder sample (EPSG:28992)."""
    gdf = pyogrio.read_dataframe(SAMPLE / "bag_panden_delft_wippolder.gpkg")
    return gdf[[*BAG_PAND_COLUMNS, "geometry"]]


def ogc_items(frame: gpd.GeoDataFrame, path: str, *, id_column: str) -> Dynamic:
    """OGC API Features items of ``frame``: bbox filter (RD), paging by ``cursor``."""

    def handler(query: dict[str, list[str]], base: str) -> tuple[int, dict[str, str], bytes]:
        one = {k: v[0] for k, v in query.items()}
        if one.get("crs") != RD_URI or one.get("bbox-crs") != RD_URI:
            return 400, {}, b'{"detail": "this test server serves EPSG:28992 only"}'
        limit = int(one.get("limit", "10"))
        cursor = int(one.get("cursor", "0"))
        box = shapely.box(*[float(v) for v in one["bbox"].split(",")])
        hits = frame.loc[frame.intersects(box)]
        page = hits.iloc[cursor : cursor + limit]
        features = [
            {
                "type": "Feature",
                "id": str(row[id_column]),
                "geometry": mapping(row.geometry),
                "properties": {
                    k: _property(k, v, base)
                    for k, v in row.drop("geometry").items()
                    if not k.startswith("_")
                },
            }
            for _, row in page.iterrows()
        ]
        links = [{"rel": "self", "href": f"{base}{path}?{urlencode(one)}"}]
        if cursor + limit < len(hits):
            nxt = {**one, "cursor": str(cursor + limit)}
            links.append(
                {
                    "rel": "next",
                    "type": "application/geo+json",
                    "href": f"{base}{path}?{urlencode(nxt)}",
                }
            )
        doc = {
            "type": "FeatureCollection",
            "numberReturned": len(features),
            "features": features,
            "links": links,
        }
        return (
            200,
            {"Content-Type": "application/geo+json", "Content-Crs": f"<{RD_URI}>"},
            json.dumps(doc).encode(),
        )

    return handler


def landing_page(title: str, licence: str, href: str) -> Resource:
    doc = {
        "title": title,
        "links": [
            {"rel": "self", "type": "application/json", "href": "?f=json"},
            {"rel": "license", "type": "text/html", "title": licence, "href": href},
        ],
    }
    return Resource(json.dumps(doc).encode(), "application/json")


# a water part of Delft west of the land (in the real map: Delft's water row, and the water
# buurten whose codes end in 9997 / 9998); far enough to grow every bounding box if kept
DELFT_WATER = shapely.box(76_000, 443_000, 81_000, 447_000)
DELFT_WATER_BUURT = "BU05039997"


def cbs_map_layers(*, lacking: str = "gemiddeldeWoningwaarde") -> dict[str, gpd.GeoDataFrame]:
    """The layers ``gemeenten``, ``wijken``, ``buurten`` of a Wijk- en Buurtkaart GeoPackage.

    Real rows: the Delft-area buurten of the 2023 map (its column names: ``buurtcode``,
    ``wijkcode``, ``gemeentecode``, ``gemeentenaam``, ``water`` ...); wijken and gemeenten are
    their dissolves, as CBS derives them. As in the real map, the municipality has a land row
    (``water`` = "NEE") and a water row ("JA") under the same ``gemeentecode``, the water row
    first (so ``.iloc[0]`` would pick it), and a water buurt (code ending in 9997). The figure
    ``lacking`` is set to -99995 ("not yet available"), as in a first release of the map, so
    that the OData table has something to fill.
    """
    buurten = pyogrio.read_dataframe(SAMPLE / "cbs_buurten_2023_delft.gpkg")
    buurten[lacking] = -99995
    water = buurten.iloc[[0]].copy()
    water["buurtcode"] = DELFT_WATER_BUURT
    water["buurtnaam"] = "Water"
    water["water"] = "JA"
    water["aantalInwoners"] = 0
    water = water.set_geometry([DELFT_WATER], crs=buurten.crs)
    buurten = pd.concat([water, buurten], ignore_index=True)
    keep = {"gemeentecode": "first", "gemeentenaam": "first", "aantalInwoners": "sum"}
    wijken = buurten.dissolve(by=["wijkcode", "water"], aggfunc=keep, as_index=False)
    gemeenten = buurten.dissolve(
        by=["gemeentecode", "water"],
        as_index=False,
        aggfunc={"gemeentenaam": "first", "aantalInwoners": "sum"},
    )
    gemeenten = gemeenten.sort_values(["gemeentecode", "water"]).reset_index(drop=True)
    gemeenten["geometry"] = gemeenten.geometry.map(
        lambda g: g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
    )
    return {"gemeenten": gemeenten, "wijken": wijken, "buurten": buurten}


def cbs_map_zip(
    *, year: int = 2023, version: int = 1, lacking: str = "gemiddeldeWoningwaarde"
) -> bytes:
    """A Wijk- en Buurtkaart zip as CBS publishes it at geodata.cbs.nl/files/Wijkenbuurtkaart.

    ``WijkBuurtkaart_<year>_v<n>/wijkenbuurten_<year>_v<n>.gpkg`` with the layers of
    :func:`cbs_map_layers`.
    """
    buf = io.BytesIO()
    stem = f"wijkenbuurten_{year}_v{version}"
    with _tmp_dir() as tmp:
        gpkg = tmp / f"{stem}.gpkg"
        for i, (name, layer) in enumerate(cbs_map_layers(lacking=lacking).items()):
            pyogrio.write_dataframe(layer, gpkg, layer=name, append=i > 0)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(gpkg, f"WijkBuurtkaart_{year}_v{version}/{stem}.gpkg")
            zf.writestr(f"WijkBuurtkaart_{year}_v{version}/leesmij.txt", "Bron: CBS, Kadaster")
    return buf.getvalue()


# measure keys of the kerncijfers tables: 85618NED (2023) as issue 13 quotes them, and the
# numbering of the 2020-2022 tables (the same measures, other suffixes)
ODATA_KEYS_2023 = {
    "aantalInwoners": "AantalInwoners_5",
    "bevolkingsdichtheidInwonersPerKm2": "Bevolkingsdichtheid_34",
    "woningvoorraad": "Woningvoorraad_35",
    "gemiddeldeWoningwaarde": "GemiddeldeWOZWaardeVanWoningen_36",
    "percHuurwoningenInBezitWoningcorporaties": "InBezitWoningcorporatie_43",
    "stedelijkheidAdressenPerKm2": "MateVanStedelijkheid_125",
}
ODATA_KEYS_2022 = {
    "aantalInwoners": "AantalInwoners_5",
    "bevolkingsdichtheidInwonersPerKm2": "Bevolkingsdichtheid_33",
    "woningvoorraad": "Woningvoorraad_34",
    "gemiddeldeWoningwaarde": "GemiddeldeWOZWaardeVanWoningen_35",
    "percHuurwoningenInBezitWoningcorporaties": "InBezitWoningcorporatie_42",
    "stedelijkheidAdressenPerKm2": "MateVanStedelijkheid_116",
}
ODATA_TITLES = {
    "aantalInwoners": "Aantal inwoners",
    "bevolkingsdichtheidInwonersPerKm2": "Bevolkingsdichtheid",
    "woningvoorraad": "Woningvoorraad",
    "gemiddeldeWoningwaarde": "Gemiddelde WOZ-waarde van woningen",
    "percHuurwoningenInBezitWoningcorporaties": "In bezit woningcorporatie",
    "stedelijkheidAdressenPerKm2": "Mate van stedelijkheid",
}
ODATA_PAGE = 40


def _pad(code: str, width: int = 10) -> str:
    return f"{code:<{width}}"  # CBS v3 pads region codes: "GM0503    "


def odata_routes(table: str, keys: dict[str, str] | None = None) -> dict[str, Resource]:
    """CBS OData v3 ``ODataFeed`` answers for a kerncijfers wijken en buurten table.

    ``TableInfos``, ``DataProperties`` (``Type`` "GeoDimension" for ``WijkenEnBuurten``,
    "Topic" for measures, keys such as ``AantalInwoners_5``) and ``TypedDataSet``: one row
    per region (NL00, the gemeenten, wijken and buurten of the map sample), codes
    space-padded as in v3, suppressed values null; ``$filter`` (startswith), ``$select`` and
    paging by ``odata.nextLink`` (``ODATA_PAGE`` rows a page) as the service does.
    """
    keys = keys or ODATA_KEYS_2023
    buurten = pyogrio.read_dataframe(SAMPLE / "cbs_buurten_2023_delft.gpkg", read_geometry=False)
    regions: list[dict[str, Any]] = [{"code": "NL00", "kind": "Land", "name": "Nederland"}]
    for code, group in buurten.groupby("gemeentecode"):
        regions.append({"code": code, "kind": "Gemeente", "name": group["gemeentenaam"].iloc[0]})
    for code, group in buurten.groupby("wijkcode"):
        regions.append({"code": code, "kind": "Wijk", "name": group["gemeentenaam"].iloc[0]})
    by_code = buurten.set_index("buurtcode")
    rows = []
    for i, region in enumerate(
        regions
        + [
            {"code": c, "kind": "Buurt", "name": by_code.loc[c, "gemeentenaam"]}
            for c in by_code.index
        ]
    ):
        row: dict[str, Any] = {
            "ID": i,
            "WijkenEnBuurten": _pad(region["code"]),
            "Gemeentenaam_1": f"{region['name']:<40}",
            "SoortRegio_2": _pad(region["kind"]),
            "Codering_3": _pad(region["code"]),
        }
        for column, key in keys.items():
            value = by_code.loc[region["code"], column] if region["kind"] == "Buurt" else None
            row[key] = None if value is None or value < 0 else _json_value(value)
        rows.append(row)
    properties = [
        {
            "odata.type": "Cbs.OData.GeoDimension",
            "ID": 0,
            "Position": None,
            "ParentID": None,
            "Type": "GeoDimension",
            "Key": "WijkenEnBuurten",
            "Title": "Wijken en buurten",
        }
    ]
    properties += [
        {
            "odata.type": "Cbs.OData.Topic",
            "ID": n + 1,
            "Position": n,
            "ParentID": None,
            "Type": "Topic",
            "Key": key,
            "Title": ODATA_TITLES[column],
            "Datatype": "Long",
        }
        for n, (column, key) in enumerate(keys.items())
    ]
    prefix = f"/ODataFeed/odata/{table}"

    def data(query: dict[str, list[str]], base: str) -> tuple[int, dict[str, str], bytes]:
        flt = query.get("$filter", [""])[0]
        wanted = re.findall(r"startswith\(WijkenEnBuurten,'([^']+)'\)", flt)
        selected = [
            r for r in rows if not wanted or any(r["WijkenEnBuurten"].startswith(w) for w in wanted)
        ]
        select = query.get("$select", [""])[0]
        if select:
            names = select.split(",")
            unknown = [n for n in names if n not in rows[0]]
            if unknown:
                return (
                    400,
                    {},
                    json.dumps(
                        {
                            "odata.error": {
                                "message": {
                                    "value": f"Could not find a property named '{unknown[0]}'"
                                }
                            }
                        }
                    ).encode(),
                )
            selected = [{n: r[n] for n in names} for r in selected]
        skip = int(query.get("$skip", ["0"])[0])
        page = selected[skip : skip + ODATA_PAGE]
        doc: dict[str, Any] = {
            "odata.metadata": f"{base}{prefix}/$metadata#Cbs.OData.TypedData",
            "value": page,
        }
        if skip + ODATA_PAGE < len(selected):
            nxt = {k: v[0] for k, v in query.items()} | {"$skip": str(skip + ODATA_PAGE)}
            doc["odata.nextLink"] = f"{base}{prefix}/TypedDataSet?{urlencode(nxt)}"
        return (
            200,
            {"Content-Type": "application/json;odata=minimalmetadata"},
            json.dumps(doc).encode(),
        )

    def fixed(value: list[dict[str, Any]]) -> Resource:
        return Resource(
            json.dumps({"odata.metadata": "", "value": value}).encode(), "application/json"
        )

    return {
        f"{prefix}/TableInfos": fixed(
            [
                {
                    "ID": 0,
                    "Title": "Kerncijfers wijken en buurten 2023",
                    "Identifier": table,
                    "Modified": "2025-06-30T02:00:00",
                    "Period": "2023",
                }
            ]
        ),
        f"{prefix}/DataProperties": fixed(properties),
        f"{prefix}/TypedDataSet": Resource(dynamic=data),
    }


BAG = "/kadaster/bag/ogc/v2"


def feature_uuid(kind: str, identificatie: str) -> str:
    """A stable UUID feature id, as the PDOK OGC API v2 gives every feature."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bag/{kind}/{identificatie}"))


def bag_verblijfsobjecten(panden: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One verblijfsobject per real sample pand that has units, at a point inside it.

    Generated (no real verblijfsobject sample is kept): ``identificatie`` in the BAG's
    16-digit form, the pand's ``gebruiksdoel``, status "Verblijfsobject in gebruik", and the
    link to the pand both ways it is published: ``pand_identificatie`` (bag-light) and
    ``pand.href`` (the OGC API v2 item URL ending in the pand's UUID feature id).
    """
    rows = panden.loc[pd.to_numeric(panden["aantal_verblijfsobjecten"]) > 0]
    return gpd.GeoDataFrame(
        {
            "identificatie": [f"0503010{i:09d}" for i in range(1, len(rows) + 1)],
            "status": "Verblijfsobject in gebruik",
            "gebruiksdoel": rows["gebruiksdoel"].to_numpy(),
            "pand_identificatie": rows["identificatie"].to_numpy(),
            "pand.href": [
                [f"{BAG}/collections/pand/items/{feature_uuid('pand', p)}"]
                for p in rows["identificatie"]
            ],
        },
        geometry=rows.geometry.representative_point().to_numpy(),
        crs=panden.crs,
    )


@dataclass
class BagScenario:
    """The real sample panden with generated verblijfsobjecten, some lives ended.

    - ``demolished``: residential panden set to "Pand gesloopt" / "Niet gerealiseerd pand";
      they are no buildings and must be dropped.
    - ``vacant``: the kantoorfunctie pand whose only unit is "Verblijfsobject buiten gebruik"
      (found through ``pand.href`` / ``pand_identificatie``), and the winkelfunctie pand whose
      unit is out of use and which also carries a "Verblijfsobject ingetrokken" unit (ended:
      it must not keep the pand from counting as vacant).
    """

    panden: gpd.GeoDataFrame
    verblijfsobjecten: gpd.GeoDataFrame
    demolished: set[str]
    vacant: set[str]


def bag_scenario() -> BagScenario:
    panden = bag_panden()
    vbo = bag_verblijfsobjecten(panden)
    homes = panden.loc[panden["gebruiksdoel"] == "woonfunctie", "identificatie"].iloc[:2]
    panden.loc[panden["identificatie"] == homes.iloc[0], "status"] = "Pand gesloopt"
    panden.loc[panden["identificatie"] == homes.iloc[1], "status"] = "Niet gerealiseerd pand"
    office = panden.loc[panden["gebruiksdoel"] == "kantoorfunctie", "identificatie"].iloc[0]
    shop = panden.loc[panden["gebruiksdoel"] == "winkelfunctie", "identificatie"].iloc[0]
    for pand in (office, shop):
        vbo.loc[vbo["pand_identificatie"] == pand, "status"] = "Verblijfsobject buiten gebruik"
    ended = vbo.loc[vbo["pand_identificatie"] == shop].copy()
    ended["identificatie"] = "0503010999999999"
    ended["status"] = "Verblijfsobject ingetrokken"
    vbo = gpd.GeoDataFrame(pd.concat([vbo, ended], ignore_index=True), crs=panden.crs)
    panden.insert(0, "_fid", [feature_uuid("pand", p) for p in panden["identificatie"]])
    vbo.insert(0, "_fid", [feature_uuid("verblijfsobject", v) for v in vbo["identificatie"]])
    return BagScenario(panden, vbo, set(homes), {office, shop})


def bag_api_routes(scenario: BagScenario) -> dict[str, Resource]:
    """The PDOK BAG OGC API v2: landing page, pand and verblijfsobject items.

    Feature ids are UUIDs; properties as the v2 schema lists them (pand: identificatie,
    bouwjaar, status, gebruiksdoel, aantal_verblijfsobjecten; verblijfsobject: identificatie,
    status, gebruiksdoel and the relation ``pand.href``; no ``pand_identificatie``).
    """
    panden = scenario.panden.drop(columns=["oppervlakte_min", "oppervlakte_max"])
    vbo = scenario.verblijfsobjecten.drop(columns=["pand_identificatie"])
    return {
        BAG: landing_page(
            "Basisregistratie Adressen en Gebouwen (OGC API)",
            "Public Domain Mark 1.0",
            "https://creativecommons.org/publicdomain/mark/1.0/deed.nl",
        ),
        f"{BAG}/collections/pand/items": Resource(
            dynamic=ogc_items(panden, f"{BAG}/collections/pand/items", id_column="_fid")
        ),
        f"{BAG}/collections/verblijfsobject/items": Resource(
            dynamic=ogc_items(vbo, f"{BAG}/collections/verblijfsobject/items", id_column="_fid")
        ),
    }


def bag_light_gpkg(scenario: BagScenario) -> bytes:
    """``bag-light.gpkg`` as PDOK publishes it: layers ``pand`` and ``verblijfsobject``.

    The light schema (as the PDOK BAG v1 API served it): the pand's ``identificatie``,
    ``status``, ``gebruiksdoel``, ``oppervlakte_min/max``, ``aantal_verblijfsobjecten``; the
    verblijfsobject's ``pand_identificatie`` (no UUIDs, no hrefs).
    """
    with _tmp_dir() as tmp:
        path = tmp / "bag-light.gpkg"
        pyogrio.write_dataframe(scenario.panden.drop(columns=["_fid"]), path, layer="pand")
        pyogrio.write_dataframe(
            scenario.verblijfsobjecten.drop(columns=["_fid", "pand.href"]),
            path,
            layer="verblijfsobject",
            append=True,
        )
        return path.read_bytes()


def gtfs_zip(
    start: str = "20250901",
    end: str = "20250930",
    extra_dates: tuple[str, ...] = ("20250902", "20250903"),
) -> bytes:
    """A small GTFS feed: real Maastricht stops and routes, generated service and trips.

    stops.txt and routes.txt are the real OVapi rows of tests/data (Maastricht); agency.txt,
    calendar.txt, calendar_dates.txt, trips.txt, stop_times.txt and feed_info.txt are made
    here (see :data:`GTFS_EXPECTED` for what they imply).
    """
    stops = pd.read_csv(TEST_DATA / "gtfs_stops_maastricht.csv", dtype=str, keep_default_na=False)
    stops = stops.drop(columns=["clean_stop_id"])
    routes = pd.read_csv(TEST_DATA / "gtfs_routes_maastricht.csv", dtype=str, keep_default_na=False)
    agency = pd.DataFrame({"agency_id": sorted(routes["agency_id"].unique())})
    agency["agency_name"] = agency["agency_id"]
    agency["agency_url"] = "http://127.0.0.1/"
    agency["agency_timezone"] = "Europe/Amsterdam"
    a, b, c = GTFS_STOPS
    route = routes["route_id"].iloc[0]
    calendar = pd.DataFrame(
        [
            {
                "service_id": "WD",
                "monday": 1,
                "tuesday": 1,
                "wednesday": 1,
                "thursday": 1,
                "friday": 1,
                "saturday": 0,
                "sunday": 0,
                "start_date": start,
                "end_date": end,
            }
        ]
    )
    calendar_dates = pd.DataFrame(
        [{"service_id": "EXTRA", "date": d, "exception_type": 1} for d in extra_dates]
    )
    trips, times = [], []
    # 12 weekday trips a -> b -> c leaving a at 07:15 ... 18:15, one early trip at 06:15
    for hour in range(6, 19):
        trip = f"wd{hour:02d}"
        trips.append({"route_id": route, "service_id": "WD", "trip_id": trip})
        for seq, (stop, minute) in enumerate(((a, 15), (b, 25), (c, 35))):
            t = f"{hour:02d}:{minute:02d}:00"
            times.append(
                {
                    "trip_id": trip,
                    "arrival_time": t,
                    "departure_time": t,
                    "stop_id": stop,
                    "stop_sequence": seq + 1,
                    "pickup_type": 1 if stop == c else 0,
                }
            )
    # Maastricht station (stoparea:17969): trips from two of its platforms (1 and 2) at
    # hh:45 and hh:50, to Randwyck (no boarding there), 7 ... 18 h
    for platform, minute in zip(GTFS_PLATFORMS, (45, 50), strict=True):
        for hour in range(7, 19):
            trip = f"p{platform}-{hour:02d}"
            trips.append({"route_id": route, "service_id": "WD", "trip_id": trip})
            for seq, (stop, m, pickup) in enumerate(((platform, minute, 0), (c, 59, 1))):
                t = f"{hour:02d}:{m:02d}:00"
                times.append(
                    {
                        "trip_id": trip,
                        "arrival_time": t,
                        "departure_time": t,
                        "stop_id": stop,
                        "stop_sequence": seq + 1,
                        "pickup_type": pickup,
                    }
                )
    # two extra trips on 2 Sep only, from b at 08:05 and 26:05 (after midnight)
    for trip, hour in (("x08", 8), ("x26", 26)):
        trips.append({"route_id": route, "service_id": "EXTRA", "trip_id": trip})
        t = f"{hour:02d}:05:00"
        times.append(
            {
                "trip_id": trip,
                "arrival_time": t,
                "departure_time": t,
                "stop_id": b,
                "stop_sequence": 1,
                "pickup_type": 0,
            }
        )
    feed_info = pd.DataFrame(
        [
            {
                "feed_publisher_name": "magicmix-geo tests",
                "feed_publisher_url": "http://127.0.0.1/",
                "feed_lang": "nl",
                "feed_version": "20250901-test",
            }
        ]
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, frame in (
            ("agency", agency),
            ("stops", stops),
            ("routes", routes),
            ("calendar", calendar),
            ("calendar_dates", calendar_dates),
            ("trips", pd.DataFrame(trips)),
            ("stop_times", pd.DataFrame(times)),
            ("feed_info", feed_info),
        ):
            zf.writestr(f"{name}.txt", frame.to_csv(index=False))
    return buf.getvalue()


# real Maastricht stop ids used by the generated trips: Koningin Emmaplein (no parent
# station), a platform of Maastricht Noord (parent stoparea:30382), one of Maastricht Randwyck
# (stoparea:17938); platforms 1 and 2 of Maastricht station (stoparea:17969)
GTFS_STOPS = ("2485741", "2511622", "2511628")
GTFS_PLATFORMS = ("2511607", "2511608")
# on Tuesday 2 Sep 2025 between 7 and 19 h, per stop place: a has 12 departures
# (07:15...18:15), Noord 12 + 1 (the 08:05 extra; the 26:05 one is outside), Randwyck none
# (pickup_type 1: no boarding), Maastricht station 12 + 12 from its two platforms
GTFS_EXPECTED = {
    "2485741": 12 / 12,
    "stoparea:30382": 13 / 12,
    "stoparea:17938": 0.0,
    "stoparea:17969": 24 / 12,
}


def _property(key: str, value: Any, base: str) -> Any:
    if key.endswith(".href") and isinstance(value, list):
        return [base + v for v in value]  # relations link to the item URL of the other feature
    return _json_value(value)


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


class _tmp_dir:  # noqa: N801
    def __enter__(self) -> Path:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        return Path(self._dir.name)

    def __exit__(self, *exc: Any) -> None:
        self._dir.cleanup()
