"""Tests of magicmix_geo.prepare.candidates on real data (BAG panden, OSM Delft) and small files."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from magicmix_geo._errors import InputError
from magicmix_geo.prepare.candidates import osm_parcel_proxies, read_candidates

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
OSM_PBF = SAMPLE / "tudelft.osm.pbf"
BAG_GPKG = SAMPLE / "bag_panden_delft_wippolder.gpkg"
# the dense core of the OSM extract (lon/lat); the file reaches further for completed relations
CORE_BOX = (4.355, 51.995, 4.386, 52.005)
# highway values that do not bound a street block (or are not built yet)
NOT_STREETS = frozenset(
    {"footway", "path", "cycleway", "steps", "track", "bridleway", "corridor", "elevator",
     "platform", "bus_stop", "proposed", "construction"}
)  # fmt: skip
PROXY_COLUMNS = [
    "site_id", "source", "is_proxy", "block_id", "has_building", "temporary", "geometry",
]  # fmt: skip

SQUARE = "POLYGON ((85000 447000, 85100 447000, 85100 447100, 85000 447100, 85000 447000))"
BOWTIE = "POLYGON ((85000 447000, 85100 447100, 85100 447000, 85000 447100, 85000 447000))"


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


def _load_osm(path: Path) -> tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]:
    """Streets and buildings of the OSM extract in EPSG:28992, and the core box."""
    wkb = osmium.geom.WKBFactory()
    streets: list[bytes] = []
    buildings: list[bytes] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas()
        .with_filter(osmium.filter.KeyFilter("highway", "building"))
    )
    for obj in processor:
        tags = obj.tags
        if obj.is_way() and "highway" in tags:
            underground = any(tags.get(k, "no") != "no" for k in ("tunnel", "covered", "indoor"))
            if tags["highway"] in NOT_STREETS or tags.get("area") == "yes" or underground:
                continue
            streets.append(wkb.create_linestring(obj))
        elif obj.is_area() and "building" in tags:
            buildings.append(wkb.create_multipolygon(obj))
    street_lines = gpd.GeoSeries(shapely.from_wkb(streets), crs=4326).to_crs(28992)
    footprints = gpd.GeoDataFrame(
        geometry=gpd.GeoSeries(shapely.from_wkb(buildings), crs=4326).to_crs(28992)
    )
    core = gpd.GeoSeries([box(*CORE_BOX)], crs=4326).to_crs(28992).iloc[0]
    return street_lines, footprints, core


@pytest.fixture(scope="module")
def osm_delft() -> tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]:
    return _load_osm(OSM_PBF)


@pytest.fixture(scope="module")
def proxies(osm_delft: tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]) -> gpd.GeoDataFrame:
    streets, buildings, core = osm_delft
    start = time.perf_counter()
    out = osm_parcel_proxies(streets, buildings, core)
    seconds = time.perf_counter() - start
    print(f"osm_parcel_proxies on the TU Delft core box: {len(out)} plots in {seconds:.1f} s")
    assert seconds < 60, f"took {seconds:.0f} s; expected seconds, not minutes"
    return out


def _write(gdf: gpd.GeoDataFrame, path: Path, **kwargs: object) -> Path:
    pyogrio.write_dataframe(gdf, path, **kwargs)
    return path


def _squares(n: int, crs: int = 28992) -> gpd.GeoDataFrame:
    polys = [box(85000 + 200 * i, 447000, 85100 + 200 * i, 447100) for i in range(n)]
    return gpd.GeoDataFrame({"name": [f"site {i}" for i in range(n)]}, geometry=polys, crs=crs)


# --------------------------------------------------------------------------------------------
# read_candidates
# --------------------------------------------------------------------------------------------


def test_reads_real_bag_geopackage() -> None:
    gdf = read_candidates(BAG_GPKG)
    assert len(gdf) == 60
    assert gdf.crs.to_epsg() == 28992
    assert list(gdf.columns[:4]) == ["site_id", "source", "is_proxy", "temporary"]
    assert gdf["site_id"].iloc[0] == "C000001"
    assert gdf["site_id"].is_unique
    assert (gdf["source"] == "file").all()
    assert not gdf["temporary"].any()
    assert {"identificatie", "bouwjaar", "gebruiksdoel"} <= set(gdf.columns)
    assert gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert gdf.is_valid.all()
    assert gdf.attrs["dropped"] == []
    assert gdf.attrs["site_id_from"] == "generated"


def test_geojson_in_wgs84_is_reprojected(tmp_path: Path) -> None:
    bag = pyogrio.read_dataframe(BAG_GPKG)
    path = _write(bag.to_crs(4326), tmp_path / "sites.geojson")
    gdf = read_candidates(path)
    assert gdf.crs.to_epsg() == 28992
    np.testing.assert_allclose(gdf.area.to_numpy(), bag.area.to_numpy(), rtol=1e-3)
    assert gdf.geometry.centroid.distance(bag.geometry.centroid).max() < 0.5


def test_geopackage_layer_named_candidates_wins(tmp_path: Path) -> None:
    path = tmp_path / "plan.gpkg"
    _write(_squares(3), path, layer="other")
    _write(_squares(2).assign(id=["a", "b"]), path, layer="candidates", append=False)
    gdf = read_candidates(path)
    assert len(gdf) == 2
    assert gdf["site_id"].tolist() == ["a", "b"]
    assert gdf.attrs["site_id_from"] == "id"


def test_csv_without_epsg_is_rd_new(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    frame = pd.DataFrame(
        {"id": [7, 8, 9], "wkt": [SQUARE] * 3, "temporary": ["Ja", "no", ""], "units": [40, 12, 3]}
    )
    frame.to_csv(path, index=False)
    gdf = read_candidates(path)
    assert gdf.crs.to_epsg() == 28992
    assert gdf["site_id"].tolist() == ["7", "8", "9"]
    assert gdf["temporary"].tolist() == [True, False, False]
    assert gdf["units"].tolist() == [40, 12, 3]
    assert "wkt" not in gdf.columns
    assert gdf.geometry.iloc[0].equals(shapely.from_wkt(SQUARE))


def test_csv_with_epsg_column_and_semicolons(tmp_path: Path) -> None:
    lonlat = gpd.GeoSeries([shapely.from_wkt(SQUARE)], crs=28992).to_crs(4326).iloc[0]
    path = tmp_path / "sites.csv"
    path.write_text(
        f"site_id;geometry;epsg\nA-1;{lonlat.wkt};EPSG:4326\nA-2;{SQUARE};28992\n", encoding="utf-8"
    )
    gdf = read_candidates(path)
    assert gdf["site_id"].tolist() == ["A-1", "A-2"]
    assert gdf.crs.to_epsg() == 28992
    assert gdf.geometry.iloc[0].symmetric_difference(gdf.geometry.iloc[1]).area < 1.0


def test_csv_in_degrees_without_epsg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text('wkt\n"POLYGON ((4.37 52, 4.38 52, 4.38 52.01, 4.37 52))"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"look like degrees"):
        read_candidates(path)


def test_csv_bad_wkt_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(f'wkt\n"{SQUARE}"\nnot a polygon\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot parse WKT .* row 1") as info:
        read_candidates(path)
    assert str(info.value).startswith(str(path))


def test_points_are_refused_with_a_count(tmp_path: Path) -> None:
    pts = gpd.GeoDataFrame(geometry=[Point(85000, 447000), Point(85010, 447000)], crs=28992)
    pts = pd.concat([pts, _squares(1)], ignore_index=True)
    path = _write(pts, tmp_path / "points.gpkg")
    with pytest.raises(InputError, match=r"2 of 3 rows are not polygons \(Point: 2\)") as info:
        read_candidates(path)
    assert "must be polygons" in str(info.value)
    assert str(info.value).startswith(str(path))


def test_invalid_repaired_and_empty_dropped(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        f'name,wkt\nok,"{SQUARE}"\nbowtie,"{BOWTIE}"\nblank,\nempty,POLYGON EMPTY\n'
        'flat,"POLYGON ((85000 447000, 85100 447000, 85050 447000, 85000 447000))"\n',
        encoding="utf-8",
    )
    gdf = read_candidates(path)
    assert gdf["name"].tolist() == ["ok", "bowtie"]
    assert gdf["site_id"].tolist() == ["C000001", "C000002"]
    assert gdf.is_valid.all()
    assert gdf.geom_type.tolist() == ["Polygon", "MultiPolygon"]
    assert gdf.geometry.iloc[1].area == pytest.approx(5000.0)
    assert gdf.attrs["repaired"] == [1]
    assert [d["row"] for d in gdf.attrs["dropped"]] == [2, 3, 4]
    assert gdf.attrs["dropped"][2]["reason"] == "no area (zero-area or degenerate outline)"


def test_duplicate_site_ids_are_replaced(tmp_path: Path) -> None:
    path = _write(_squares(3).assign(site_id=["x", "x", "y"]), tmp_path / "dup.gpkg")
    gdf = read_candidates(path)
    assert gdf["site_id"].tolist() == ["C000001", "C000002", "C000003"]
    assert gdf["site_id_in_file"].tolist() == ["x", "x", "y"]


def test_unknown_temporary_value_is_an_error(tmp_path: Path) -> None:
    path = _write(_squares(2).assign(temporary=["ja", "misschien"]), tmp_path / "t.gpkg")
    with pytest.raises(InputError, match=r"'temporary' .* 'misschien' on row 1"):
        read_candidates(path)


def test_shapefile_without_crs_is_refused(tmp_path: Path) -> None:
    path = _write(_squares(2), tmp_path / "sites.shp")
    path.with_suffix(".prj").unlink()  # a shapefile keeps its CRS only in the .prj
    with pytest.raises(InputError) as info:
        read_candidates(path)
    assert str(info.value) == (
        f"{path}: no CRS; candidates must declare their CRS (EPSG:28992 expected)"
    )


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.gpkg", None, "file not found"),
        ("empty.gpkg", b"", "file is empty"),
        ("garbage.gpkg", b"this is not a geopackage\n" * 10, "cannot read"),
        ("header.csv", b"id,wkt\n", "no rows"),
        ("none.geojson", b'{"type": "FeatureCollection", "features": []}', "no rows"),
        ("sites.xlsx", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_name_the_file(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_candidates(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


# --------------------------------------------------------------------------------------------
# osm_parcel_proxies: real OSM, Delft
# --------------------------------------------------------------------------------------------


def test_proxy_columns_and_ids(proxies: gpd.GeoDataFrame) -> None:
    assert list(proxies.columns) == PROXY_COLUMNS
    assert proxies.crs.to_epsg() == 28992
    assert len(proxies) > 1000
    assert proxies["site_id"].is_unique
    assert proxies["site_id"].iloc[0] == "P000001"
    assert (proxies["source"] == "osm_proxy").all()
    assert proxies["is_proxy"].all()
    assert not proxies["temporary"].any()
    assert proxies["has_building"].dtype == bool
    # ordered by x, then y, of the representative point
    x = proxies.representative_point().x.to_numpy()
    assert (np.diff(x) >= 0).all()


def test_proxy_cells_are_valid_and_do_not_overlap(
    proxies: gpd.GeoDataFrame, osm_delft: tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]
) -> None:
    core = osm_delft[2]
    assert proxies.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert proxies.is_valid.all()
    assert (proxies.area >= 20.0).all()
    union = proxies.union_all()
    assert proxies.area.sum() == pytest.approx(union.area, rel=0.01)
    # the plots tile the area up to the dropped slivers
    assert union.area == pytest.approx(core.area, rel=0.01)
    assert union.difference(core.buffer(0.01)).area < 1.0


def test_every_building_lies_in_the_cell_that_has_it(
    proxies: gpd.GeoDataFrame, osm_delft: tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]
) -> None:
    _, buildings, core = osm_delft
    cells = np.asarray(proxies.geometry.array)
    has = proxies["has_building"].to_numpy()
    cell_tree = shapely.STRtree(cells)
    blocks = proxies.dissolve("block_id").geometry.to_numpy()
    block_tree = shapely.STRtree(blocks)

    footprints = np.asarray(buildings.geometry.array)
    footprints = shapely.intersection(footprints[shapely.intersects(core, footprints)], core)
    checked = 0
    for footprint in footprints[shapely.area(footprints) >= 20.0]:
        near = block_tree.query(footprint, predicate="intersects")
        shares = shapely.area(shapely.intersection(blocks[near], footprint)) / footprint.area
        if (shares > 0.01).sum() != 1:
            continue  # crosses a street: one plot per block, checked by area below
        # momepy shrinks outlines by 0.4 m before sharing out space, so test the core
        inner = footprint.buffer(-0.5)
        holders = [
            i
            for i in cell_tree.query(inner, predicate="intersects")
            if cells[i].buffer(0.01).covers(inner)
        ]
        assert len(holders) == 1, footprint.wkt[:80]
        assert has[holders[0]], footprint.wkt[:80]
        checked += 1
    assert checked > 1500

    # a plot said to have a building overlaps one; a vacant plot holds none of note
    tree = shapely.STRtree(footprints)
    for i, cell in enumerate(cells):
        near = tree.query(cell, predicate="intersects")
        inside = shapely.area(shapely.intersection(footprints[near], cell)) if len(near) else [0.0]
        if has[i]:
            assert max(inside) > 0.0
        else:
            assert max(inside) < 20.0


def test_vacant_blocks_are_whole_plots(proxies: gpd.GeoDataFrame) -> None:
    per_block = proxies.groupby("block_id")["has_building"].agg(["size", "any"])
    vacant = per_block[~per_block["any"]]
    assert len(vacant) > 0
    assert (vacant["size"] == 1).all()


def test_proxies_are_deterministic(
    proxies: gpd.GeoDataFrame, osm_delft: tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]
) -> None:
    streets, buildings, core = osm_delft
    rng = np.random.default_rng(28992)
    again = osm_parcel_proxies(
        streets.iloc[rng.permutation(len(streets))],
        buildings.iloc[rng.permutation(len(buildings))],
        core,
    )
    assert again["site_id"].tolist() == proxies["site_id"].tolist()
    assert again["block_id"].tolist() == proxies["block_id"].tolist()
    assert again["has_building"].tolist() == proxies["has_building"].tolist()
    assert shapely.equals(
        np.asarray(again.geometry.array), np.asarray(proxies.geometry.array)
    ).all()


# --------------------------------------------------------------------------------------------
# osm_parcel_proxies: small synthetic layout
# --------------------------------------------------------------------------------------------


def test_synthetic_blocks_barriers_and_water() -> None:
    x0, y0 = 85000.0, 447000.0
    area = box(x0, y0, x0 + 200, y0 + 200)
    streets = gpd.GeoSeries([LineString([(x0 + 100, y0 - 10), (x0 + 100, y0 + 210)])], crs=28992)
    pond = box(x0 + 140, y0 + 140, x0 + 180, y0 + 180)
    barriers = gpd.GeoSeries(
        [LineString([(x0 - 10, y0 + 100), (x0 + 210, y0 + 100)]), pond], crs=28992
    )
    houses = gpd.GeoDataFrame(
        geometry=[
            box(x0 + 10, y0 + 10, x0 + 30, y0 + 30),
            box(x0 + 60, y0 + 10, x0 + 80, y0 + 30),
            box(x0 + 62, y0 + 12, x0 + 70, y0 + 20),  # drawn inside the previous one
            box(x0 + 150, y0 + 10, x0 + 170, y0 + 30),
        ],
        crs=28992,
    )
    out = osm_parcel_proxies(streets, houses, area, barriers=barriers)
    # SW: two houses -> two plots; SE: one house; NW vacant; NE vacant with the pond cut out
    assert out["block_id"].nunique() == 4
    assert len(out) == 5
    assert out["has_building"].sum() == 3
    assert out.area.sum() == pytest.approx(200 * 200 - 40 * 40, abs=0.5)
    assert not out.intersects(pond.buffer(-0.1)).any()


def test_crs_is_asserted(osm_delft: tuple[gpd.GeoSeries, gpd.GeoDataFrame, Polygon]) -> None:
    streets, buildings, core = osm_delft
    with pytest.raises(ValueError, match=r"^streets: CRS is EPSG:4326"):
        osm_parcel_proxies(streets.to_crs(4326), buildings, core)
    with pytest.raises(ValueError, match=r"^buildings: no CRS"):
        osm_parcel_proxies(streets, buildings.set_crs(None, allow_override=True), core)
    with pytest.raises(ValueError, match=r"^barriers: "):
        osm_parcel_proxies(streets, buildings, core, barriers=streets.to_crs(3857))
    with pytest.raises(ValueError, match=r"^area: "):
        osm_parcel_proxies(streets, buildings, box(4.355, 51.995, 4.386, 52.005))


def test_z_and_m_are_dropped_and_2d_kept_as_read(tmp_path: Path) -> None:
    # z (heights in a 3D BAG export) and m are dropped from every row; a file without them
    # keeps its coordinates exactly
    path = tmp_path / "sites.csv"
    path.write_text(
        f'name,wkt\nflat,"{SQUARE}"\n'
        'high,"POLYGON Z ((85000 447000 3, 85100 447000 4, 85100 447100 5, 85000 447000 3))"\n'
        'measured,"POLYGON M ((85200 447000 1, 85300 447000 2, 85300 447100 3, 85200 447000 1))"\n',
        encoding="utf-8",
    )
    gdf = read_candidates(path)
    assert gdf["name"].tolist() == ["flat", "high", "measured"]
    assert (shapely.get_coordinate_dimension(gdf.geometry.to_numpy()) == 2).all()
    assert gdf.geometry.iloc[1].area == pytest.approx(5000.0)
    flat = tmp_path / "flat.csv"
    flat.write_text(f'name,wkt\nflat,"{SQUARE}"\n', encoding="utf-8")
    assert read_candidates(flat).geometry.iloc[0].equals_exact(shapely.from_wkt(SQUARE), 0.0)
