"""A real HTTP server on 127.0.0.1 for the acquisition tests, and the content it serves.

The handler honours ``Range`` (with ``If-Range``), ``If-None-Match`` / ``ETag`` and
``If-Modified-Since`` / ``Last-Modified``; a resource can answer 503 a number of times first,
or drop the connection part-way through the body. Dynamic resources build OGC API Features
pages (with ``next`` links) and CBS OData answers from real sample data.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import re
import threading
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

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str, status: int | None = None) -> int:
        return sum(
            1 for h in self.hits if h.path == path and (status is None or h.status == status)
        )

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        headers = {k: v for k, v in req.headers.items()}
        resource = self.routes.get(parts.path)
        if resource is None:
            self._send(req, parts.path, headers, 404, {}, b"not found")
            return
        if resource.fail_first > 0:
            resource.fail_first -= 1
            self._send(req, parts.path, headers, 503, {"Retry-After": "0"}, b"busy")
            return
        if resource.dynamic is not None:
            status, extra, body = resource.dynamic(parse_qs(parts.query), self.base)
            self._send(req, parts.path, headers, status, extra, body)
            return
        body = resource.body
        validators = {"ETag": resource.etag or "", "Last-Modified": resource.last_modified}
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        if (inm and inm == resource.etag) or (
            not inm and ims and _http_date(ims) >= _http_date(resource.last_modified)
        ):
            self._send(req, parts.path, headers, 304, validators, b"")
            return
        start = 0
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-", req.headers.get("Range", ""))
        if_range = req.headers.get("If-Range")
        if match and (not if_range or if_range in (resource.etag, resource.last_modified)):
            start = int(match.group(1))
            if start >= len(body):
                self._send(req, parts.path, headers, 416,
                           {"Content-Range": f"bytes */{len(body)}"}, b"")
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
        self._send(req, parts.path, headers, status, extra, payload, cut=cut)

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
    ) -> None:
        self.hits.append(Hit(path, status, headers))
        req.send_response(status)
        for key, value in extra.items():
            req.send_header(key, value)
        if status != 304:
            req.send_header("Content-Length", str(len(body)))
        req.end_headers()
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
    "identificatie", "bouwjaar", "status", "gebruiksdoel", "oppervlakte_min", "oppervlakte_max",
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
        page = hits.iloc[cursor: cursor + limit]
        features = [
            {
                "type": "Feature",
                "id": str(row[id_column]),
                "geometry": mapping(row.geometry),
                "properties": {k: _json_value(v) for k, v in row.drop("geometry").items()},
            }
            for _, row in page.iterrows()
        ]
        links = [{"rel": "self", "href": f"{base}{path}?{urlencode(one)}"}]
        if cursor + limit < len(hits):
            nxt = {**one, "cursor": str(cursor + limit)}
            links.append({"rel": "next", "type": "application/geo+json",
                          "href": f"{base}{path}?{urlencode(nxt)}"})
        doc = {"type": "FeatureCollection", "numberReturned": len(features),
               "features": features, "links": links}
        return 200, {"Content-Type": "application/geo+json",
                     "Content-Crs": f"<{RD_URI}>"}, json.dumps(doc).encode()

    return handler


def landing_page(title: str, licence: str, href: str) -> Resource:
    doc = {"title": title, "links": [
        {"rel": "self", "type": "application/json", "href": "?f=json"},
        {"rel": "license", "type": "text/html", "title": licence, "href": href},
    ]}
    return Resource(json.dumps(doc).encode(), "application/json")


def cbs_map_zip(*, lacking: str = "gemiddeldeWoningwaarde") -> bytes:
    """A Wijk- en Buurtkaart-shaped zip: one GeoPackage with layers gemeenten and buurten.

    Real rows: the CBS gemeente Delft (2020 kerncijfers) and the Delft buurten of the 2023
    map. The figure ``lacking`` is set to -99995 ("not yet available"), as in a first
    release of the map, so that the OData table has something to fill.
    """
    gemeenten = pyogrio.read_dataframe(SAMPLE / "cbs_gemeenten_2020_gm0503.gpkg")
    buurten = pyogrio.read_dataframe(SAMPLE / "cbs_buurten_2023_delft.gpkg")
    buurten[lacking] = -99995
    buf = io.BytesIO()
    with _tmp_dir() as tmp:
        gpkg = tmp / "wijkenbuurten_2023_v1.gpkg"
        pyogrio.write_dataframe(gemeenten, gpkg, layer="gemeenten")
        pyogrio.write_dataframe(buurten, gpkg, layer="buurten", append=True)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(gpkg, "WijkBuurtkaart_2023_v1/wijkenbuurten_2023_v1.gpkg")
            zf.writestr("WijkBuurtkaart_2023_v1/leesmij.txt", "Bron: CBS, Kadaster")
    return buf.getvalue()


def odata_routes(table: str) -> dict[str, Resource]:
    """CBS OData v3 answers (as cbsodata reads them) for a kerncijfers-like table.

    Rows are the real Delft buurten of the 2023 map: ``Codering_3``, ``AantalInwoners_5`` and
    ``GemiddeldeWoningwaarde_35`` (values as in the map; CBS's suppressed -99997 as null, as
    in the TypedDataSet).
    """
    buurten = pyogrio.read_dataframe(SAMPLE / "cbs_buurten_2023_delft.gpkg", read_geometry=False)
    buurten = buurten.loc[buurten["gemeentecode"] == "GM0503"]
    rows = []
    for i, row in enumerate(buurten.itertuples()):
        value = row.gemiddeldeWoningwaarde
        rows.append({
            "ID": i,
            "WijkenEnBuurten": row.buurtcode,
            "Gemeentenaam_1": "Delft",
            "SoortRegio_2": "Buurt",
            "Codering_3": f"{row.buurtcode}  ",
            "AantalInwoners_5": int(row.aantalInwoners),
            "GemiddeldeWoningwaarde_35": None if value < 0 else float(value),
        })
    regions = [{"Key": r["WijkenEnBuurten"], "Title": str(r["WijkenEnBuurten"])} for r in rows]
    prefix = f"/ODataFeed/odata/{table}"

    def data(query: dict[str, list[str]], base: str) -> tuple[int, dict[str, str], bytes]:
        flt = query.get("$filter", [""])[0]
        wanted = re.findall(r"startswith\(WijkenEnBuurten,'([^']+)'\)", flt)
        selected = [r for r in rows if not wanted or any(
            r["WijkenEnBuurten"].startswith(w) for w in wanted)]
        return 200, {"Content-Type": "application/json"}, json.dumps({"value": selected}).encode()

    def listing(names: list[str]) -> Dynamic:
        def handler(query: dict[str, list[str]], base: str) -> tuple[int, dict[str, str], bytes]:
            value = [{"name": n, "url": f"{base}{prefix}/{n}"} for n in names]
            return 200, {"Content-Type": "application/json"}, json.dumps({"value": value}).encode()
        return handler

    def fixed(value: list[dict[str, Any]]) -> Resource:
        return Resource(json.dumps({"value": value}).encode(), "application/json")

    names = ["TableInfos", "UntypedDataSet", "TypedDataSet", "DataProperties", "WijkenEnBuurten"]
    return {
        f"{prefix}/": Resource(dynamic=listing(names)),
        f"{prefix}/TableInfos": fixed([{"Title": "Kerncijfers wijken en buurten 2023 (test)",
                                         "Identifier": table, "Modified": "2025-06-30T02:00:00"}]),
        f"{prefix}/TypedDataSet": Resource(dynamic=data),
        f"{prefix}/UntypedDataSet": Resource(dynamic=data),
        f"{prefix}/DataProperties": fixed([]),
        f"{prefix}/WijkenEnBuurten": fixed(regions),
    }


def gtfs_zip() -> bytes:
    """A small GTFS feed: real Maastricht stops and routes, generated service and trips.

    stops.txt and routes.txt are the real OVapi rows of tests/data (Maastricht); agency.txt,
    calendar.txt, calendar_dates.txt, trips.txt, stop_times.txt and feed_info.txt are made
    here (see :data:`GTFS_EXPECTED` for what they imply).
    """
    stops = pd.read_csv(TEST_DATA / "gtfs_stops_maastricht.csv", dtype=str, keep_default_na=False)
    stops = stops.drop(columns=["clean_stop_id"])
    routes = pd.read_csv(TEST_DATA / "gtfs_routes_maastricht.csv", dtype=str,
                         keep_default_na=False)
    agency = pd.DataFrame({"agency_id": sorted(routes["agency_id"].unique())})
    agency["agency_name"] = agency["agency_id"]
    agency["agency_url"] = "http://127.0.0.1/"
    agency["agency_timezone"] = "Europe/Amsterdam"
    a, b, c = GTFS_STOPS
    route = routes["route_id"].iloc[0]
    calendar = pd.DataFrame([{
        "service_id": "WD", "monday": 1, "tuesday": 1, "wednesday": 1, "thursday": 1,
        "friday": 1, "saturday": 0, "sunday": 0, "start_date": "20250901",
        "end_date": "20250930",
    }])
    calendar_dates = pd.DataFrame([
        {"service_id": "EXTRA", "date": "20250902", "exception_type": 1},
        {"service_id": "EXTRA", "date": "20250903", "exception_type": 1},
    ])
    trips, times = [], []
    # 12 weekday trips a -> b -> c leaving a at 07:15 ... 18:15, one early trip at 06:15
    for hour in range(6, 19):
        trip = f"wd{hour:02d}"
        trips.append({"route_id": route, "service_id": "WD", "trip_id": trip})
        for seq, (stop, minute) in enumerate(((a, 15), (b, 25), (c, 35))):
            t = f"{hour:02d}:{minute:02d}:00"
            times.append({"trip_id": trip, "arrival_time": t, "departure_time": t,
                          "stop_id": stop, "stop_sequence": seq + 1,
                          "pickup_type": 1 if stop == c else 0})
    # two extra trips on 2 Sep only, from b at 08:05 and 26:05 (after midnight)
    for trip, hour in (("x08", 8), ("x26", 26)):
        trips.append({"route_id": route, "service_id": "EXTRA", "trip_id": trip})
        t = f"{hour:02d}:05:00"
        times.append({"trip_id": trip, "arrival_time": t, "departure_time": t, "stop_id": b,
                      "stop_sequence": 1, "pickup_type": 0})
    feed_info = pd.DataFrame([{"feed_publisher_name": "magicmix-geo tests",
                               "feed_publisher_url": "http://127.0.0.1/", "feed_lang": "nl",
                               "feed_version": "20250901-test"}])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, frame in (("agency", agency), ("stops", stops), ("routes", routes),
                            ("calendar", calendar), ("calendar_dates", calendar_dates),
                            ("trips", pd.DataFrame(trips)), ("stop_times", pd.DataFrame(times)),
                            ("feed_info", feed_info)):
            zf.writestr(f"{name}.txt", frame.to_csv(index=False))
    return buf.getvalue()


# real Maastricht stop ids used by the generated trips: Koningin Emmaplein, Maastricht Noord,
# Maastricht Randwyck
GTFS_STOPS = ("2485741", "2511622", "2511628")
# on Tuesday 2 Sep 2025 between 7 and 19 h: a has 12 departures (07:15...18:15), b 12 + 1
# (the 08:05 extra; the 26:05 one is outside), c none (pickup_type 1: no boarding)
GTFS_EXPECTED = {"2485741": 12 / 12, "2511622": 13 / 12, "2511628": 0.0}


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
