"""Acquiring every source from a local server, and ranking a municipality from the cache.

The server (tests/_sources_server.py) runs on 127.0.0.1 and serves real content in the
services' formats: the sample PBF with a Geofabrik-style .md5, Wijk- en Buurtkaart zips of the
real Delft CBS rows (several published versions, water rows), CBS OData v3 answers (real
measure keys, padded region codes, paging), PDOK OGC API Features pages of the real Otterlo
parcels and Delft BAG panden (UUID ids, ``pand.href``, ended statuses), bag-light.gpkg, and a
GTFS zip of real Maastricht stops and routes (parent stations, platforms) with generated trips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from magicmix_geo.cli import main
from magicmix_geo.config import load_settings
from magicmix_geo.formats.bag import flag_panden
from magicmix_geo.formats.cbs import read_cbs_buurten
from magicmix_geo.prepare.candidates import read_candidates
from magicmix_geo.sources import pdok
from magicmix_geo.sources._http import RetryPolicy, make_session
from magicmix_geo.sources.acquire import cached_rank_inputs
from magicmix_geo.sources.cache import DataCache
from magicmix_geo.sources.cbs import odata_measures, prepare_area
from magicmix_geo.sources.gtfs import departures_per_hour, dutch_public_holidays, read_departures
from magicmix_geo.sources.odata import ODataFiller, fill_from_odata
from tests._sources_server import (
    BAG,
    DELFT_WATER,
    DELFT_WATER_BUURT,
    GTFS_EXPECTED,
    ODATA_KEYS_2022,
    ODATA_KEYS_2023,
    SAMPLE,
    TEST_DATA,
    FakeServer,
    Resource,
    bag_api_routes,
    bag_light_gpkg,
    bag_panden,
    bag_scenario,
    brk_parcels,
    cbs_map_layers,
    cbs_map_zip,
    gtfs_zip,
    landing_page,
    odata_routes,
    ogc_items,
)

PBF = (SAMPLE / "tudelft.osm.pbf").read_bytes()
TABLE = "85618NED"
FAST = RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=10.0)
BRK = "/kadaster/brk-kadastrale-kaart/ogc/v1"
MAPS = "/files/Wijkenbuurtkaart"
MAP_TEMPLATE = MAPS + "/WijkBuurtkaart_{year}_v{version}.zip"
# published versions on the test server; the newest is 2024 v2 (2025 and 2026 have none yet)
PUBLISHED_MAPS = ((2023, 1), (2023, 2), (2023, 3), (2024, 1), (2024, 2))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    srv = FakeServer().start()
    md5 = hashlib.md5(PBF).hexdigest()
    srv.routes["/europe/netherlands-latest.osm.pbf"] = Resource(PBF)
    srv.routes["/europe/netherlands-latest.osm.pbf.md5"] = Resource(
        f"{md5}  netherlands-latest.osm.pbf\n".encode()
    )
    for year, version in PUBLISHED_MAPS:
        srv.routes[MAP_TEMPLATE.format(year=year, version=version)] = Resource(
            cbs_map_zip(year=year, version=version), "application/zip"
        )
    srv.routes.update(odata_routes(TABLE))
    srv.routes[BRK] = landing_page(
        "Kadastrale Kaart (OGC API)", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"
    )
    srv.routes[f"{BRK}/collections/perceel/items"] = Resource(
        dynamic=ogc_items(
            brk_parcels(), f"{BRK}/collections/perceel/items", id_column="identificatie_lokaal_id"
        )
    )
    srv.routes.update(bag_api_routes(bag_scenario()))
    srv.routes["/nl/gtfs-nl.zip"] = Resource(gtfs_zip(), "application/zip")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def config(server: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "test.toml"
    path.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\npage_limit = 7\n"
        '[sources.cbs]\ngrid_url = ""\n'
    )
    return path


def point_at(server: FakeServer, mp: pytest.MonkeyPatch) -> None:
    """Every source location at the test server, through the environment variables."""
    mp.setenv("MAGICMIX_OSM_URL", server.url("/europe/netherlands-latest.osm.pbf"))
    mp.setenv("MAGICMIX_CBS_URL", server.url(MAP_TEMPLATE))
    mp.setenv("MAGICMIX_ODATA_URL", server.base)
    mp.setenv("MAGICMIX_BRK_URL", server.url(BRK))
    mp.setenv("MAGICMIX_BAG_URL", server.url(BAG))
    mp.setenv("MAGICMIX_GTFS_URL", server.url("/nl/gtfs-nl.zip"))


@pytest.fixture
def urls(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(server, monkeypatch)


@pytest.fixture(scope="module")
def acquired(server: FakeServer, config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`magicmix-geo acquire --areas GM0503` of every source into a fresh cache."""
    data = tmp_path_factory.mktemp("acquired") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        point_at(server, mp)
        code = main(
            ["acquire", "--areas", "GM0503", "--data-dir", str(data), "--config", str(config)]
        )
    assert code == 0
    return data


def manifest(data: Path, source: str) -> dict:
    return json.loads((data / source / "manifest.json").read_text())


def test_acquire_all_sources_writes_manifests(acquired: Path, server: FakeServer) -> None:
    for source in ("osm", "cbs", "brk", "bag", "gtfs"):
        m = manifest(acquired, source)
        assert m["url"].startswith(server.base), source
        assert m["retrieved_at"] and m["version"] and len(m["sha256"]) == 64, source
        assert m["licence"], source
    assert manifest(acquired, "brk")["licence"] == "CC BY 4.0"  # read from the landing page
    assert manifest(acquired, "brk")["licence_from"] == "service"
    assert manifest(acquired, "bag")["licence"] == "Public Domain Mark 1.0"
    assert manifest(acquired, "gtfs")["version"] == "20250901-test"  # feed_info.txt
    assert manifest(acquired, "cbs")["version"] == "WijkBuurtkaart_2024_v2"
    # acquire only downloads: the run cuts the municipal extracts, all in one osmium pass
    # (prepare/extracts.py)
    assert not (acquired / "osm" / "areas").exists()


def test_bag_per_area_with_flags(acquired: Path) -> None:
    """The API v2 shapes: UUID ids, pand.href links, ended lives dropped, vacancy found."""
    scenario = bag_scenario()
    m = manifest(acquired, "bag")
    # two panden ended (gesloopt, niet gerealiseerd), one verblijfsobject ingetrokken
    assert m["areas"]["GM0503"]["features"] == {
        "pand": len(scenario.panden) - 2,
        "verblijfsobject": len(scenario.verblijfsobjecten) - 1,
    }
    path = acquired / m["areas"]["GM0503"]["path"]
    assert path.name == "pand.gpkg" and (path.parent / "verblijfsobject.gpkg").is_file()
    panden = gpd.read_file(path)
    assert panden.crs.to_epsg() == 28992
    assert set(panden["identificatie"]) == set(scenario.panden["identificatie"]) - (
        scenario.demolished
    )
    assert set(panden["id"]) <= set(scenario.panden["_fid"])  # the UUID feature ids
    # the office and the shop: every unit out of use, found by pand.href (the shop's
    # ingetrokken unit is ended and does not count)
    assert set(panden.loc[panden["vacant_non_residential"], "identificatie"]) == scenario.vacant
    kept = scenario.panden.loc[~scenario.panden["identificatie"].isin(scenario.demolished)]
    assert panden["residential"].sum() == kept["gebruiksdoel"].str.contains("woon").sum()
    assert not panden["new_build"].any()  # every sample pand is in use
    vbo = gpd.read_file(path.parent / "verblijfsobject.gpkg")
    assert "Verblijfsobject ingetrokken" not in set(vbo["status"])


def test_water_rows_are_dropped(acquired: Path, server: FakeServer) -> None:
    """The map's water parts (water = JA) stay out of the boundary, the buurten and the boxes."""
    gemeente = gpd.read_file(acquired / "cbs" / "areas" / "GM0503" / "gemeente.gpkg")
    assert len(gemeente) == 1 and set(gemeente["water"]) == {"NEE"}
    assert not gemeente.geometry.iloc[0].intersects(DELFT_WATER)
    buurten = read_cbs_buurten(acquired / "cbs" / "areas" / "GM0503" / "buurten.gpkg")
    assert len(buurten) == 91 and DELFT_WATER_BUURT not in set(buurten["bu_code"])
    # the BRK and BAG queries asked for the land's box (grown by 250 m), not the lake's
    box = [float(v) for v in manifest(acquired, "brk")["areas"]["GM0503"]["bbox_rd"]]
    assert box[0] == pytest.approx(gemeente.total_bounds[0] - 250)
    assert box[0] > DELFT_WATER.bounds[2]


def test_newest_map_version_is_picked(acquired: Path, server: FakeServer) -> None:
    m = manifest(acquired, "cbs")
    newest = server.url(MAP_TEMPLATE.format(year=2024, version=2))
    assert m["url"] == newest and m["url_template"] == server.url(MAP_TEMPLATE)
    checked = m["files"]["map"]["versions_checked"]
    assert checked[-1] == server.url(MAP_TEMPLATE.format(year=2024, version=3))
    assert newest in checked and not any("2023" in u for u in checked)
    heads = [h for h in server.hits if h.headers.get("method") == "HEAD"]
    assert heads and all(h.path.startswith(MAPS) for h in heads)
    assert (acquired / "cbs" / "WijkBuurtkaart_2024_v2.zip").is_file()


def test_brk_outside_the_area_is_empty(acquired: Path) -> None:
    """The Otterlo parcels lie in Ede, not Delft: Delft's box query finds none."""
    m = manifest(acquired, "brk")
    assert m["areas"]["GM0503"]["features"] == {"perceel": 0}
    assert len(pyogrio.read_dataframe(acquired / m["areas"]["GM0503"]["path"])) == 0


def test_cbs_area_files_with_odata_fill(acquired: Path, server: FakeServer) -> None:
    m = manifest(acquired, "cbs")
    odata = m["areas"]["GM0503"]["odata"][TABLE]
    # the gemeente and its 91 buurten (the wijken, NL00 and other municipalities filtered out)
    assert odata["rows"] == 92 and odata["values_filled"] > 0
    assert odata["measures"]["gemiddeldewozwaardevanwoningen"] == (
        "GemiddeldeWOZWaardeVanWoningen_36"
    )
    assert m["odata_errors"] == {}
    cached = pd.read_csv(
        acquired / "cbs" / "areas" / "GM0503" / f"odata_{TABLE}.csv", dtype={"statcode": str}
    )
    assert "GM0503" in set(cached["statcode"])  # the padding ("GM0503    ") stripped
    # the measures were selected by the keys DataProperties gave, paged by nextLink
    pages = [h for h in server.hits if h.path.endswith(f"{TABLE}/TypedDataSet")]
    assert len(pages) >= 3
    buurten = read_cbs_buurten(acquired / "cbs" / "areas" / "GM0503" / "buurten.gpkg")
    assert len(buurten) == 91 and set(buurten["gm_code"]) == {"GM0503"}
    value = buurten.set_index("bu_code")["gemiddeldeWoningwaarde"]
    # the map lacked the figure (-99995); OData filled the real values, suppressed stay null
    real = pyogrio.read_dataframe(SAMPLE / "cbs_buurten_2023_delft.gpkg", read_geometry=False)
    real = real.loc[real["gemeentecode"] == "GM0503"].set_index("buurtcode")
    real_value = real["gemiddeldeWoningwaarde"].where(real["gemiddeldeWoningwaarde"] >= 0)
    pd.testing.assert_series_equal(
        value.sort_index(), real_value.astype(float).sort_index(), check_names=False
    )
    assert value["BU05032902"] == 719.0
    # a suppressed value of the map itself is null too (near-empty buurten have -99997)
    gp = "huisartsenpraktijkGemiddeldeAfstandInKm"
    assert buurten[gp].isna().sum() == (real[gp] < 0).sum() > 0


def test_gtfs_departures_table(acquired: Path) -> None:
    table = read_departures(acquired / "gtfs" / "departures_per_hour.csv")
    assert list(table.columns) == ["stop_id", "stop_name", "lat", "lon", "departures_per_hour"]
    got = table.set_index("stop_id")["departures_per_hour"]
    for stop, expected in GTFS_EXPECTED.items():
        assert got[stop] == pytest.approx(expected)
    assert (got.drop(list(GTFS_EXPECTED)) == 0).all()
    # platforms are folded into their station: no platform id of stoparea:17969 is left
    assert "2511607" not in got.index and "2511622" not in got.index
    assert manifest(acquired, "gtfs")["service_date"] == "2025-09-02"


def test_rank_from_the_cache(acquired: Path, config: Path, tmp_path: Path) -> None:
    """`rank --area GM0503` without --osm: OSM, CBS, BAG and GTFS from the cache.

    The study area is narrowed with --boundary to a 600 m box in the sample's area (the
    sample PBF covers only the TU campus and Wippolder, not all of Delft; a small area keeps
    the test fast), which also shows that a file given on the command line wins over the
    cached one; the cached CBS boundary is used by the extract
    (test_acquire_all_sources_writes_manifests) and the BRK test below.
    """
    area = gpd.read_file(SAMPLE / "area_tudelft_wippolder.gpkg")
    centre = area.geometry.iloc[0].centroid
    small = area.geometry.iloc[0].intersection(centre.buffer(300, cap_style="square"))
    boundary = tmp_path / "boundary.gpkg"
    gpd.GeoDataFrame({"gm_code": ["GM0503"]}, geometry=[small], crs=28992).to_file(boundary)
    out = tmp_path / "run"
    assert (
        main(
            [
                "rank",
                "--area",
                "GM0503",
                "--data-dir",
                str(acquired),
                "--out",
                str(out),
                "--boundary",
                str(boundary),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    run = json.loads((out / "manifest.json").read_text())
    assert run["acquired"]["data_cache"] == str(acquired)
    chosen = run["acquired"]["candidates"]
    assert chosen["default"] == "brk" and chosen["used"] == "osm_proxy"
    assert "outside" in chosen["reason"]
    assert run["municipalities"][0]["candidate_source"] == "osm_proxy"
    assert set(run["acquired"]["sources"]) == {"osm", "cbs", "brk", "bag", "gtfs"}
    assert run["municipalities"][0]["gm_name"] == "Delft"
    sites = gpd.read_file(next(out.glob("GM0503_*.gpkg")), layer="sites")
    assert len(sites) and sites["bu_code"].notna().any()


def test_offline_after_acquire(
    acquired: Path, server: FakeServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hits = len(server.hits)
    assert (
        main(
            [
                "acquire",
                "--offline",
                "--areas",
                "GM0503",
                "--data-dir",
                str(acquired),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    assert len(server.hits) == hits
    # an area never acquired is missing offline: exit 2 naming the source
    assert (
        main(
            [
                "acquire",
                "--offline",
                "--sources",
                "brk",
                "--areas",
                "GM0363",
                "--data-dir",
                str(acquired),
                "--config",
                str(config),
            ]
        )
        == 2
    )
    assert "error: brk: offline, and brk data of GM0363" in capsys.readouterr().err


def test_rerun_downloads_nothing_again(
    acquired: Path, server: FakeServer, config: Path, urls: None
) -> None:
    before = {
        p: server.count(p, 200)
        for p in (
            "/europe/netherlands-latest.osm.pbf",
            MAP_TEMPLATE.format(year=2024, version=2),
            "/nl/gtfs-nl.zip",
        )
    }
    assert (
        main(
            [
                "acquire",
                "--sources",
                "osm,cbs,gtfs",
                "--data-dir",
                str(acquired),
                "--config",
                str(config),
            ]
        )
        == 0
    )
    for path, n in before.items():
        assert server.count(path, 200) == n, path
        assert server.count(path, 304) >= 1, path


def test_brk_paging_and_crs(server: FakeServer) -> None:
    original = brk_parcels()
    box = pdok.bbox_of(shapely.box(*original.total_bounds), 10)
    got = pdok.fetch_collection(
        server.url(BRK), "perceel", box, source="brk", session=make_session(), policy=FAST, limit=4
    )
    items = f"{BRK}/collections/perceel/items"
    pages = [h for h in server.hits if h.path == items and h.status == 200]
    assert len(pages) >= 3  # 11 parcels, 4 a page, followed by next links
    assert got.crs.to_epsg() == 28992 and len(got) == 11
    merged = got.merge(original, on="identificatie_lokaal_id", suffixes=("", "_orig"))
    assert np.allclose(merged.geometry.area, gpd.GeoSeries(merged["geometry_orig"]).area)


def test_brk_parcels_become_the_default_candidates(server: FakeServer, tmp_path: Path) -> None:
    """With parcels of the area cached, `rank --area` takes them as candidates ("brk").

    The area GM0228 (Ede) is given a synthetic boundary here: the box around the 11 real
    Otterlo parcels grown by 200 m; OSM is the sample PBF (it has no data there, which is
    fine for choosing inputs).
    """
    settings = load_settings()
    cache = DataCache(tmp_path / "cache")
    parcels = brk_parcels()
    boundary = shapely.box(*parcels.total_bounds).buffer(200)
    gemeente = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0228"], "gemeentenaam": ["Ede"]}, geometry=[boundary], crs=28992
    )
    cache.cbs_gemeente("GM0228").parent.mkdir(parents=True)
    gemeente.to_file(cache.cbs_gemeente("GM0228"), layer="gemeenten")
    (cache.root / "osm").mkdir()
    (cache.root / "osm" / "nl.osm.pbf").write_bytes(PBF)
    cache.write_manifest(
        "osm", {"path": "osm/nl.osm.pbf", "sha256": hashlib.sha256(PBF).hexdigest()}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAGICMIX_BRK_URL", server.url(BRK))
        pdok.acquire_pdok(
            "brk",
            cache,
            settings,
            {"GM0228": pdok.bbox_of(boundary)},
            session=make_session(),
            policy=FAST,
        )
    inputs, chosen = cached_rank_inputs(settings, "GM0228", data_dir=cache.root)
    assert chosen["candidates"]["used"] == "brk"
    assert inputs.candidates == cache.brk_parcels("GM0228")
    sites = read_candidates(inputs.candidates)
    assert len(sites) == 11 and "761-B-2298" in set(sites["site_id"])
    assert inputs.boundary == cache.cbs_gemeente("GM0228") and inputs.bag is None


def test_flag_panden_new_build_and_vacant() -> None:
    """Real sample panden, three of them given another status to exercise the flags."""
    panden = bag_panden()
    church = panden.index[panden["gebruiksdoel"] == "bijeenkomstfunctie"][0]
    homes = panden.index[panden["gebruiksdoel"] == "woonfunctie"][:3]
    panden.loc[homes[0], "status"] = "Bouw gestart"
    panden.loc[homes[1], "status"] = "Bouwvergunning verleend"
    panden.loc[homes[2], "status"] = "Pand buiten gebruik"  # residential: not a transformation
    panden.loc[church, "status"] = "Pand buiten gebruik"
    office = panden.index[panden["gebruiksdoel"].str.contains("kantoorfunctie")][0]
    vbo = pd.DataFrame(
        {
            "identificatie": ["v1", "v2"],
            "pand_identificatie": [panden.loc[office, "identificatie"]] * 2,
            "status": ["Verblijfsobject buiten gebruik"] * 2,
        }
    )
    flagged = flag_panden(panden, vbo)
    assert set(flagged.index[flagged["new_build"]]) == {homes[0], homes[1]}
    assert set(flagged.index[flagged["vacant_non_residential"]]) == {church, office}


def test_departures_per_hour_on_a_given_day(tmp_path: Path) -> None:
    feed = tmp_path / "feed.zip"
    feed.write_bytes(gtfs_zip())
    tuesday = departures_per_hour(feed)
    assert tuesday.attrs["service_date"] == "2025-09-02"
    # Saturday 6 Sep has no service at all
    saturday = departures_per_hour(feed, date=dt.date(2025, 9, 6))
    assert (saturday["departures_per_hour"] == 0).all()
    # over 0-30 h the early 06:15 trip and the 26:05 extra count too
    wide = departures_per_hour(feed, date=dt.date(2025, 9, 2), start_hour=0, end_hour=30)
    counts = wide.set_index("stop_id")["departures_per_hour"] * 30
    assert counts["2485741"] == pytest.approx(13) and counts["stoparea:30382"] == pytest.approx(15)
    # one row per stop place: a boarding point's parent station, or the point itself
    with zipfile.ZipFile(feed) as zf:
        stops = pd.read_csv(zf.open("stops.txt"), dtype=str, keep_default_na=False)
    stations = set(stops.loc[stops["location_type"] == "1", "stop_id"])
    boarding = stops.loc[stops["location_type"].isin(["0", ""])]
    places = boarding["parent_station"].where(
        boarding["parent_station"].isin(stations), boarding["stop_id"]
    )
    assert set(tuesday["stop_id"]) == set(places)
    # the OVapi stop areas carry dummy coordinates (0.02, 0.002): a place is where its
    # platforms are
    station = tuesday.set_index("stop_id").loc["stoparea:17969"]
    assert 50.84 < station["lat"] < 50.86 and 5.70 < station["lon"] < 5.71


def test_a_public_holiday_is_not_the_service_day(tmp_path: Path) -> None:
    """Tuesday 5 May 2026 is Bevrijdingsdag: the first ordinary Tuesday is 12 May."""
    feed = tmp_path / "feed.zip"
    feed.write_bytes(gtfs_zip(start="20260504", end="20260531", extra_dates=("20260505",)))
    table = departures_per_hour(feed)
    assert table.attrs["service_date"] == "2026-05-12"
    assert table.set_index("stop_id").loc["stoparea:30382", "departures_per_hour"] == 1.0
    assert dt.date(2027, 4, 27) in dutch_public_holidays(2027)  # Koningsdag on a Tuesday
    assert dt.date(2025, 4, 26) in dutch_public_holidays(2025)  # 27 April 2025 was a Sunday
    assert dt.date(2024, 5, 9) in dutch_public_holidays(2024)  # Hemelvaartsdag


def test_cbs_area_grid_from_real_vierkanten(tmp_path: Path) -> None:
    """The cells around Ermelo are cut from the 100 m grid; suppressed values become null.

    The real 2021 layer has 17 Ermelo buurten, one of them water (``water`` = "JA", the
    Veluwemeer part): 16 land buurten are kept.
    """
    cache = DataCache(tmp_path / "cache")
    cache.source_dir("cbs").mkdir(parents=True)
    (cache.cbs_map()).write_bytes((TEST_DATA / "cbs_ermelo_2021.gpkg").read_bytes())
    (cache.cbs_grid()).write_bytes((TEST_DATA / "cbs_vk100_ermelo_oost.gpkg").read_bytes())
    entry = prepare_area(cache, load_settings(), "GM0233")
    assert entry["grid_cells"] == 126 and entry["buurten"] == 16
    grid = gpd.read_file(cache.cbs_area_grid("GM0233"))
    assert grid["aantal_woningen"].isna().sum() == 20
    assert (grid["aantal_inwoners"] >= 0).all()


def test_flow_task_passes_paths_and_hashes(
    server: FakeServer, tmp_path: Path, config: Path, urls: None
) -> None:
    """The Prefect task of flows/acquire.py, run as plain Python (no Prefect server)."""
    from flows.acquire import acquire_flow, acquire_source

    data = tmp_path / "cache"
    got = acquire_source.fn("gtfs", [], str(data), config=str(config))
    assert got["manifest"] == str(data / "gtfs" / "manifest.json")
    assert got["sha256"] == hashlib.sha256(server.routes["/nl/gtfs-nl.zip"].body).hexdigest()
    again = acquire_source.fn("gtfs", [], str(data), offline=True, config=str(config))
    assert again == got
    assert acquire_flow.name == "magicmix-acquire"


def _copy_cache(acquired: Path, tmp_path: Path) -> Path:
    data = tmp_path / "cache"
    shutil.copytree(acquired, data)
    return data


@pytest.mark.parametrize("failure", ["stalled", "resetting"])
def test_odata_down_the_other_sources_finish_and_exit_2_names_odata(
    failure: str,
    acquired: Path,
    server: FakeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stalled (accepts, never answers) or resetting OData endpoint costs its own timeout
    budget once, the other sources are acquired, the exit is 2 naming odata, and the cache
    keeps the previous OData rows (the buurten stay filled from them)."""
    data = _copy_cache(acquired, tmp_path)
    for source in ("osm", "gtfs", "cbs"):
        m = manifest(data, source)
        m["checked_at"] = "before"
        (data / source / "manifest.json").write_text(json.dumps(m))
    csv = data / "cbs" / "areas" / "GM0503" / f"odata_{TABLE}.csv"
    rows_before = csv.read_bytes()
    bad = FakeServer().start()
    for name in ("TableInfos", "DataProperties", "TypedDataSet"):
        bad.routes[f"/ODataFeed/odata/{TABLE}/{name}"] = (
            Resource(stall_s=60) if failure == "stalled" else Resource(reset=True)
        )
    config = tmp_path / "odata.toml"
    config.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\n"
        '[sources.cbs]\ngrid_url = ""\nodata_timeout_s = 1.0\nodata_attempts = 2\n'
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            point_at(server, mp)
            mp.setenv("MAGICMIX_ODATA_URL", bad.base)
            started = time.monotonic()
            code = main(
                ["acquire", "--areas", "GM0503", "--data-dir", str(data), "--config", str(config)]
            )
            elapsed = time.monotonic() - started
    finally:
        bad.stop()
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("magicmix-geo: error: odata: ") and "[failed: odata;" in last
    assert elapsed < 30, elapsed  # 2 attempts of 1 s, not 5 x 120 s per municipality
    # tried once per table for the run (2 attempts), then given up
    assert len([h for h in bad.hits if h.path.endswith("TableInfos")]) == 2
    for source in ("osm", "gtfs", "cbs"):
        assert manifest(data, source)["checked_at"] != "before", source
    assert manifest(data, "bag")["areas"]["GM0503"]["features"]["pand"] > 0
    assert csv.read_bytes() == rows_before
    entry = manifest(data, "cbs")["areas"]["GM0503"]["odata"][TABLE]
    assert "odata:" in entry["error"] and entry["rows_from"].endswith(f"odata_{TABLE}.csv")
    assert manifest(data, "cbs")["odata_errors"][TABLE]
    buurten = read_cbs_buurten(data / "cbs" / "areas" / "GM0503" / "buurten.gpkg")
    assert buurten.set_index("bu_code").loc["BU05032902", "gemiddeldeWoningwaarde"] == 719.0


def test_odata_measures_are_matched_by_stem_in_any_years_table(
    server: FakeServer, tmp_path: Path
) -> None:
    """The 2022 table numbers the same measures otherwise (_35 for the WOZ value, not _36)."""
    older = "85318NED"  # kerncijfers wijken en buurten 2022
    server.routes.update(odata_routes(older, keys=ODATA_KEYS_2022))
    settings = load_settings()
    filler = ODataFiller.bounded(
        server.base,
        [TABLE, older],
        odata_measures(settings),
        session=make_session(),
        policy=FAST,
        timeout_s=5.0,
        attempts=2,
    )
    new_rows, new_info = filler.rows(TABLE, "GM0503")
    old_rows, old_info = filler.rows(older, "GM0503")
    assert new_rows is not None and old_rows is not None and not filler.errors
    assert set(new_info["measures"].values()) == set(ODATA_KEYS_2023.values())
    assert set(old_info["measures"].values()) == set(ODATA_KEYS_2022.values())
    assert new_info["measures_missing"] == [] == old_info["measures_missing"]
    path = tmp_path / "buurten.gpkg"
    pyogrio.write_dataframe(cbs_map_layers()["buurten"], path, layer="buurten")
    buurten = read_cbs_buurten(path, "GM0503")
    filled_new, n_new = fill_from_odata(buurten, new_rows, odata_measures(settings))
    filled_old, n_old = fill_from_odata(buurten, old_rows, odata_measures(settings))
    assert n_new == n_old > 0
    pd.testing.assert_frame_equal(
        filled_new.drop(columns="geometry"), filled_old.drop(columns="geometry")
    )


def test_national_bag_comes_from_bag_light(
    acquired: Path, server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """More areas than [bag] api_max_areas: PDOK's bag-light.gpkg, conditional, validated."""
    scenario = bag_scenario()
    light = "/lv/bag/atom/downloads/bag-light.gpkg"
    server.routes[light] = Resource(bag_light_gpkg(scenario), "application/geopackage+sqlite3")
    data = _copy_cache(acquired, tmp_path)
    config = tmp_path / "light.toml"
    config.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\n"
        "[sources.bag]\napi_max_areas = 0\n"
    )
    items = sum(1 for h in server.hits if "/collections/" in h.path and BAG in h.path)
    with pytest.MonkeyPatch.context() as mp:
        point_at(server, mp)
        mp.setenv("MAGICMIX_BAG_LIGHT_URL", server.url(light))
        run = [
            "acquire",
            "--sources",
            "bag",
            "--areas",
            "GM0503",
            "--data-dir",
            str(data),
            "--config",
            str(config),
        ]
        assert main(run) == 0
        m = manifest(data, "bag")
        assert m["mode"] == "bag-light" and m["url"] == server.url(light)
        assert m["areas"]["GM0503"]["features"] == {
            "pand": len(scenario.panden) - 2,
            "verblijfsobject": len(scenario.verblijfsobjecten) - 1,
        }
        panden = gpd.read_file(data / m["areas"]["GM0503"]["path"])
        # joined by pand_identificatie (bag-light has no hrefs), ended lives dropped
        assert set(panden.loc[panden["vacant_non_residential"], "identificatie"]) == (
            scenario.vacant
        )
        assert not set(panden["identificatie"]) & scenario.demolished
        assert sum(1 for h in server.hits if "/collections/" in h.path and BAG in h.path) == items
        # again: 304, and the area is not cut again
        stamp = (data / m["areas"]["GM0503"]["path"]).stat().st_mtime_ns
        assert main(run) == 0
        assert server.count(light, 304) == 1
        assert (data / m["areas"]["GM0503"]["path"]).stat().st_mtime_ns == stamp
        # a changed file that is an HTML page: refused, the good one kept
        good = (data / "bag" / "bag-light.gpkg").read_bytes()
        server.routes[light] = Resource(b"<html>maintenance</html>", "text/html")
        capsys.readouterr()
        assert main(run) == 2
        err = capsys.readouterr().err
        assert "bag-light.gpkg: not a GeoPackage" in err and "previous copy is kept" in err
        assert (data / "bag" / "bag-light.gpkg").read_bytes() == good
    del server.routes[light]


def test_an_empty_grid_url_in_the_environment_means_no_grid(
    acquired: Path, server: FakeServer, tmp_path: Path
) -> None:
    data = _copy_cache(acquired, tmp_path)
    config = tmp_path / "grid.toml"
    grid = "/vierkant/100/cbs_vk100_2023_v1.zip"
    config.write_text(
        "[sources.acquire]\nattempts = 3\nbackoff_s = 0.01\ntimeout_s = 10.0\n"
        f'[sources.cbs]\ngrid_url = "{server.url(grid)}"\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        point_at(server, mp)
        mp.setenv("MAGICMIX_GRID_URL", "")
        assert (
            main(["acquire", "--sources", "cbs", "--data-dir", str(data), "--config", str(config)])
            == 0
        )
    assert server.count(grid) == 0 and "grid" not in manifest(data, "cbs")["files"]


def test_flag_panden_joins_verblijfsobjecten_by_pand_href() -> None:
    """API v2 shapes: the pand's feature id is a UUID; the unit links to its item URL."""
    scenario = bag_scenario()
    panden = scenario.panden.rename(columns={"_fid": "id"})
    vbo = scenario.verblijfsobjecten.drop(columns=["pand_identificatie", "_fid"])
    base = "https://api.pdok.nl"
    vbo["pand.href"] = [", ".join(f"{base}{h}?f=json" for h in refs) for refs in vbo["pand.href"]]
    flagged = flag_panden(panden, vbo)
    assert set(flagged.loc[flagged["vacant_non_residential"], "identificatie"]) == (scenario.vacant)
    assert not set(flagged["identificatie"]) & scenario.demolished
    # the old join (pand_identificatie) never fired on API v2 data: without the href the
    # office is not found vacant
    no_link = flag_panden(panden, vbo.drop(columns=["pand.href"]))
    assert not no_link["vacant_non_residential"].any()
