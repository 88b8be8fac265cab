# ruff: noqa: N806
# (osmnx-style graph names G, H and hand-named points A, B, ... are intentional)
"""Self-checks of the independent reference implementation (tests/reference.py).

Tiny hand-made OSM files with distances computed by hand (haversine), plus a
smoke/consistency run on the real sample extract.
"""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path

import numpy as np
import pyproj
import pytest

try:
    from reference import (
        parse_overpass_filter,
        reference_distances,
        reference_walk_graph,
        tags_pass_filter,
        walk_filter,
    )
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.reference import (
        parse_overpass_filter,
        reference_distances,
        reference_walk_graph,
        tags_pass_filter,
        walk_filter,
    )

SAMPLE_PBF = Path(__file__).resolve().parents[1] / "data" / "sample" / "tudelft.osm.pbf"
EARTH_RADIUS_M = 6_371_009  # osmnx's radius for great-circle edge lengths

_TO_RD = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)


def hav(lonlat1: tuple[float, float], lonlat2: tuple[float, float]) -> float:
    """Great-circle distance in metres, written out by hand."""
    lon1, lat1 = map(math.radians, lonlat1)
    lon2, lat2 = map(math.radians, lonlat2)
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def rd(lonlat: tuple[float, float]) -> np.ndarray:
    return np.array(_TO_RD.transform(*lonlat))


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def perp(v: np.ndarray) -> np.ndarray:
    return np.array([-v[1], v[0]])


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list) -> Path:
    """Write OSM XML. nodes: id -> (lon, lat); ways: (id, [refs], {tags})."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in nodes.items():
        lines.append(f'  <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


FOOT = {"highway": "footway"}


# ---------------------------------------------------------------------------
# filter evaluator
# ---------------------------------------------------------------------------


def test_walk_filter_evaluator_matches_overpass_semantics():
    clauses = parse_overpass_filter(walk_filter())
    assert clauses[0] == ("has", "highway", None, False)
    yes = [
        {"highway": "footway"},
        {"highway": "residential", "oneway": "yes"},
        {"highway": "service", "service": "driveway"},
        {"highway": "primary", "sidewalk": "both"},
        {"highway": "path", "foot": "designated", "bicycle": "designated"},
    ]
    no = [
        {"building": "yes"},  # no highway key
        {"highway": "cycleway"},
        {"highway": "footway", "foot": "no"},
        {"highway": "motorway_link"},  # regex search: "motor" anywhere
        {"highway": "pedestrian", "area": "yes"},
        {"highway": "service", "service": "private"},
        {"highway": "residential", "access": "private"},
        {"highway": "primary", "sidewalk": "separate"},
        {"highway": "primary", "sidewalk:left": "separate"},
        {"highway": "construction"},
    ]
    for tags in yes:
        assert tags_pass_filter(tags, clauses), tags
    for tags in no:
        assert not tags_pass_filter(tags, clauses), tags


def test_filter_parser_all_operators():
    cl = parse_overpass_filter('["a"]  [!"b"]["c"="x"]["d"!="y"]["e"~"^p"]["f"!~"q",i]')
    ok = {"a": "1", "c": "x", "e": "pz", "f": "r"}
    assert tags_pass_filter(ok, cl)
    assert tags_pass_filter({**ok, "d": "z"}, cl)
    assert not tags_pass_filter({**ok, "d": "y"}, cl)
    assert not tags_pass_filter({**ok, "b": "1"}, cl)
    assert not tags_pass_filter({k: v for k, v in ok.items() if k != "a"}, cl)
    assert not tags_pass_filter({**ok, "c": "xx"}, cl)
    assert not tags_pass_filter({**ok, "e": "zp"}, cl)
    assert not tags_pass_filter({**ok, "f": "Q"}, cl)  # case-insensitive
    with pytest.raises(ValueError):
        parse_overpass_filter('["a"](poly:"1 2 3")')


# ---------------------------------------------------------------------------
# tiny hand-made networks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".osm", ".osm.gz"])
def test_straight_footway_end_snaps(tmp_path, suffix):
    # A --- B --- C, with a kink at B; site beyond A, destination beyond C, so
    # both project onto the end nodes and connectors are hand-computable.
    A, B, C = (4.3600, 52.0000), (4.3610, 52.0000), (4.3620, 52.0005)
    osm = write_osm(tmp_path / f"line{suffix}", {1: A, 2: B, 3: C}, [(10, [1, 2, 3], FOOT)])
    G = reference_walk_graph(osm)
    assert G.graph["crs"] == "EPSG:28992"
    assert len(G) == 2  # B simplified away
    assert len(G.edges) == 2  # one edge, both directions

    ab = unit(rd(B) - rd(A))
    bc = unit(rd(C) - rd(B))
    site = rd(A) - 15 * ab + 10 * perp(ab)  # projects onto A: connector hypot(15, 10)
    dest = rd(C) + 20 * bc  # projects onto C: connector 20
    expected = math.hypot(15, 10) + hav(A, B) + hav(B, C) + 20
    got = reference_distances(G, site[None], dest[None])
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, abs=1e-6)
    # symmetric
    back = reference_distances(G, dest[None], site[None])
    assert back[0] == pytest.approx(expected, abs=1e-6)


def test_excluded_ways_are_not_walked(tmp_path):
    # U-shaped footway A-B-C-D; shortcuts A-D that the walk filter must reject.
    A, B, C, D = (4.360, 52.000), (4.360, 52.002), (4.362, 52.002), (4.362, 52.000)
    M, N, P = (4.361, 51.9999), (4.361, 51.9998), (4.361, 51.9997)
    nodes = {1: A, 2: B, 3: C, 4: D, 5: M, 6: N, 7: P}
    shortcuts = [
        (21, [1, 4], {"highway": "cycleway"}),
        (22, [1, 5, 4], {"highway": "residential", "foot": "no"}),
        (23, [1, 6, 4], {"highway": "primary", "sidewalk": "separate"}),
        (24, [1, 7, 4], {"highway": "service", "access": "private"}),
    ]
    osm = write_osm(tmp_path / "u.osm", nodes, [(10, [1, 2, 3, 4], FOOT), *shortcuts])
    G = reference_walk_graph(osm)
    assert {d["osmid"] for _, _, d in G.edges(data=True)} == {10}
    got = reference_distances(G, rd(A)[None], rd(D)[None])[0]
    assert got == pytest.approx(hav(A, B) + hav(B, C) + hav(C, D), abs=1e-6)

    # positive control: a walkable shortcut is used.  Stubs at A and D keep
    # both as graph nodes: a bare ring would be deleted by osmnx's
    # simplify_graph, and with D simplified away the destination would sit
    # mid-edge on an A-...-A self-loop where the length/geometry ratio rule
    # only approximates the haversine partial length (~0.2 % here).
    stubs = {8: (4.359, 52.000), 9: (4.363, 52.000)}
    osm2 = write_osm(
        tmp_path / "u2.osm",
        {**nodes, **stubs},
        [
            (10, [1, 2, 3, 4], FOOT),
            (21, [1, 4], {"highway": "path"}),
            (25, [8, 1], FOOT),
            (26, [4, 9], FOOT),
        ],
    )
    G2 = reference_walk_graph(osm2)
    got2 = reference_distances(G2, rd(A)[None], rd(D)[None])[0]
    assert got2 == pytest.approx(hav(A, D), abs=1e-6)


def test_same_edge_goes_directly_between_projections(tmp_path):
    # one long straight footway A-B-C-D (simplified to a single edge A-D)
    A, B, C, D = (4.360, 52.0), (4.362, 52.0), (4.364, 52.0), (4.366, 52.0)
    osm = write_osm(tmp_path / "s.osm", {1: A, 2: B, 3: C, 4: D}, [(10, [1, 2, 3, 4], FOOT)])
    G = reference_walk_graph(osm)
    assert len(G.edges) == 2
    bc = unit(rd(C) - rd(B))
    site = rd(B) + 10 * perp(bc)
    dest = (rd(B) + rd(C)) / 2 + 5 * perp(bc)
    got = reference_distances(G, site[None], dest[None])[0]
    # along-edge part is half of B-C; projected vs great-circle scale differ
    # by ~1e-4 relative, hence the tolerance
    expected = 10 + hav(B, C) / 2 + 5
    assert got == pytest.approx(expected, rel=1e-3)
    assert got < hav(B, C)  # not via an end node

    # several sites and destinations on the same edge: chained correctly
    t = np.array([0.05, 0.3, 0.45, 0.8, 0.95])
    pts = rd(A)[None] + t[:, None] * (rd(D) - rd(A))[None]
    sites, dests = pts[[0, 2, 4]], pts[[1, 3]]
    L = hav(A, B) + hav(B, C) + hav(C, D)
    got = reference_distances(G, sites, dests)
    expected = np.array([0.25, 0.15, 0.15]) * L
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    per_dest = np.column_stack([reference_distances(G, sites, d[None]) for d in dests])
    np.testing.assert_allclose(got, per_dest.min(axis=1), rtol=0, atol=1e-9)


def test_missing_node_splits_way(tmp_path):
    # way 10 = A, B, X, C, D with X absent from the file; way 11 = A-D.
    # Runs [A,B] and [C,D] are kept; B and C must NOT be connected directly.
    A, B, C, D = (4.360, 52.000), (4.360, 52.001), (4.361, 52.001), (4.361, 52.000)
    osm = write_osm(
        tmp_path / "m.osm",
        {1: A, 2: B, 3: C, 4: D},
        [(10, [1, 2, 99, 3, 4], FOOT), (11, [1, 4], FOOT)],
    )
    G = reference_walk_graph(osm)
    assert 99 not in G
    detour = hav(A, B) + hav(A, D) + hav(D, C)
    # after simplification B..C is one edge B-A-D-C; there is no direct B-C edge
    for u, v in [(2, 3), (3, 2)]:
        for data in G.get_edge_data(u, v, default={}).values():
            assert data["length"] == pytest.approx(detour, abs=1e-6)
    got = reference_distances(G, rd(B)[None], rd(C)[None])[0]
    assert got == pytest.approx(detour, abs=1e-6)


def test_isolated_ring_is_removed_by_osmnx(tmp_path):
    # documents osmnx behaviour: simplify_graph(remove_rings=True) drops a
    # component that is a pure ring, so a file with only a ring has no graph
    A, B, C = (4.360, 52.000), (4.361, 52.000), (4.3605, 52.001)
    osm = write_osm(tmp_path / "r.osm", {1: A, 2: B, 3: C}, [(10, [1, 2, 3, 1], FOOT)])
    with pytest.raises(ValueError, match="empty"):
        reference_walk_graph(osm)


def test_no_destinations_or_sites(tmp_path):
    A, B = (4.360, 52.0), (4.361, 52.0)
    G = reference_walk_graph(write_osm(tmp_path / "e.osm", {1: A, 2: B}, [(10, [1, 2], FOOT)]))
    got = reference_distances(G, np.array([rd(A), rd(B)]), np.empty((0, 2)))
    assert got.shape == (2,) and np.isnan(got).all()
    assert reference_distances(G, np.empty((0, 2)), rd(A)[None]).shape == (0,)


# ---------------------------------------------------------------------------
# real sample
# ---------------------------------------------------------------------------


def test_sample_extract_smoke():
    t0 = time.perf_counter()
    G = reference_walk_graph(SAMPLE_PBF)
    t_graph = time.perf_counter() - t0
    assert len(G) > 1000

    rng = np.random.default_rng(20240601)

    def random_rd(k: int) -> np.ndarray:
        lon = rng.uniform(4.355, 4.386, k)
        lat = rng.uniform(51.995, 52.005, k)
        return np.column_stack(_TO_RD.transform(lon, lat))

    sites, dests = random_rd(300), random_rd(20)
    t0 = time.perf_counter()
    d = reference_distances(G, sites, dests)
    t_dist = time.perf_counter() - t0
    print(
        f"\nreference sample: {len(G)} nodes, {len(G.edges)} edges; "
        f"graph {t_graph:.2f} s; distances (300 sites x 20 dests) {t_dist:.2f} s; "
        f"min/median/max {d.min():.1f}/{np.median(d):.1f}/{d.max():.1f} m"
    )

    assert np.isfinite(d).all()  # retain_all=False: one component
    euclid = np.linalg.norm(sites[:, None, :] - dests[None, :, :], axis=2).min(axis=1)
    # walking can't beat the straight line (allowing for RD vs great-circle scale)
    assert (d >= 0.999 * euclid).all()

    # multi-source result == min over single destinations (5 of them)
    sub = dests[:5]
    multi = reference_distances(G, sites, sub)
    singles = np.column_stack([reference_distances(G, sites, q[None]) for q in sub])
    np.testing.assert_allclose(multi, singles.min(axis=1), rtol=0, atol=1e-9)

    # symmetry site <-> destination
    a, b = sites[:3], dests[:3]
    for p, q in zip(a, b, strict=True):
        pq = reference_distances(G, p[None], q[None])[0]
        qp = reference_distances(G, q[None], p[None])[0]
        assert pq == pytest.approx(qp, abs=1e-6)
