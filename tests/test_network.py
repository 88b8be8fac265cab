"""The CSR walking network and the distance engine on small hand-made graphs."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from magicmix_geo.measure.distances import SegmentIndex, counts_within, nearest_distance
from magicmix_geo.prepare.network import build_network, great_circle_m
from magicmix_geo.prepare.osm import WalkWays


def _ways(ways: list[tuple[int, list[tuple[int, float, float]]]]) -> WalkWays:
    """WalkWays from [(way_id, [(node_id, lon, lat), ...]), ...]; NaN lon = missing node."""
    ids, lengths, nodes, lons, lats = [], [], [], [], []
    for way_id, refs in ways:
        ids.append(way_id)
        lengths.append(len(refs))
        for node_id, lon, lat in refs:
            nodes.append(node_id)
            lons.append(lon)
            lats.append(lat)
    return WalkWays(
        way_ids=np.array(ids),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        node_ids=np.array(nodes),
        lon=np.array(lons, dtype=float),
        lat=np.array(lats, dtype=float),
    )


# a 3 x 3 grid of nodes about 100 m apart in Delft, ids 1..9 row by row
LON0, LAT0, DLON, DLAT = 4.37, 52.0, 0.00146, 0.0009
GRID = {1 + c + 3 * r: (LON0 + c * DLON, LAT0 + r * DLAT) for r in range(3) for c in range(3)}


def _grid_ways() -> WalkWays:
    rows = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    cols = [[1, 4, 7], [2, 5, 8], [3, 6, 9]]
    return _ways([(100 + i, [(n, *GRID[n]) for n in line]) for i, line in enumerate(rows + cols)])


def test_segment_lengths_are_osmnx_great_circle() -> None:
    from osmnx.distance import great_circle

    net = build_network(_grid_ways())
    assert net.n_nodes == 9
    assert net.n_segments == 12
    lon = {n: GRID[n][0] for n in GRID}
    lat = {n: GRID[n][1] for n in GRID}
    ids = net.osm_node_id
    expected = [
        great_circle(lat[ids[u]], lon[ids[u]], lat[ids[v]], lon[ids[v]])
        for u, v in zip(net.seg_u, net.seg_v, strict=True)
    ]
    np.testing.assert_allclose(net.seg_length, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(great_circle_m(52.0, 4.37, 52.0, 4.37), 0.0)


def test_missing_nodes_cut_the_way_and_repeats_collapse() -> None:
    nan = float("nan")
    ways = _ways(
        [(1, [(1, *GRID[1]), (1, *GRID[1]), (2, *GRID[2]), (99, nan, nan), (3, *GRID[3])])]
    )
    net = build_network(ways, largest_component_only=False)
    # 1-1 collapses, 2-99 and 99-3 vanish with the missing node
    assert net.n_segments == 1
    assert sorted(net.osm_node_id.tolist()) == [1, 2]


def test_parallel_segments_keep_the_shortest_and_largest_component_wins() -> None:
    far = (5.0, 52.5)
    ways = _ways(
        [
            (1, [(1, *GRID[1]), (2, *GRID[2])]),
            (2, [(1, *GRID[1]), (5, *GRID[5]), (2, *GRID[2])]),  # a detour between 1 and 2
            (3, [(50, *far), (51, far[0] + 0.001, far[1])]),  # an island
        ]
    )
    net = build_network(ways)
    assert 50 not in net.osm_node_id and 51 not in net.osm_node_id
    i1, i2 = (int(np.flatnonzero(net.osm_node_id == n)[0]) for n in (1, 2))
    direct = great_circle_m(GRID[1][1], GRID[1][0], GRID[2][1], GRID[2][0])
    assert net.adjacency[i1, i2] == pytest.approx(direct)
    assert net.adjacency[i2, i1] == pytest.approx(direct)


def _networkx_reference(net, site_xy, dest_xy) -> np.ndarray:
    """Split segments at the snapped points and run networkx Dijkstra (test oracle)."""
    import shapely

    graph = nx.Graph()
    for u, v, length in zip(net.seg_u, net.seg_v, net.seg_length, strict=True):
        a, b = ("n", int(u)), ("n", int(v))
        if not graph.has_edge(a, b) or graph[a][b]["weight"] > length:
            graph.add_edge(a, b, weight=float(length))  # parallel segments: the shortest
    lines = [
        shapely.LineString([(net.x[u], net.y[u]), (net.x[v], net.y[v])])
        for u, v in zip(net.seg_u, net.seg_v, strict=True)
    ]
    on_segment: dict[int, list[tuple[float, object]]] = {}
    for kind, points in (("s", site_xy), ("d", dest_xy)):
        for i, (x, y) in enumerate(points):
            p = shapely.Point(x, y)
            k = int(np.argmin([line.distance(p) for line in lines]))
            frac = lines[k].project(p, normalized=True) if lines[k].length else 0.0
            graph.add_edge((kind, i), ("foot", kind, i), weight=lines[k].distance(p))
            on_segment.setdefault(k, []).append((frac * net.seg_length[k], ("foot", kind, i)))
    for k, feet in on_segment.items():
        u, v = ("n", int(net.seg_u[k])), ("n", int(net.seg_v[k]))
        feet.sort(key=lambda item: item[0])
        chain = [(0.0, u), *feet, (float(net.seg_length[k]), v)]
        for (a_pos, a), (b_pos, b) in itertools.pairwise(chain):
            if graph.has_edge(a, b):
                graph[a][b]["weight"] = min(graph[a][b]["weight"], b_pos - a_pos)
            else:
                graph.add_edge(a, b, weight=b_pos - a_pos)
    if not len(dest_xy):
        return np.full(len(site_xy), np.nan)
    dists = nx.multi_source_dijkstra_path_length(
        graph, [("d", i) for i in range(len(dest_xy))], weight="weight"
    )
    return np.array([dists.get(("s", i), np.nan) for i in range(len(site_xy))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_distance_matches_split_graph_dijkstra(seed: int) -> None:
    net = build_network(_grid_ways())
    rng = np.random.default_rng(seed)
    lo_x, hi_x = net.x.min() - 30, net.x.max() + 30
    lo_y, hi_y = net.y.min() - 30, net.y.max() + 30
    sites = np.column_stack([rng.uniform(lo_x, hi_x, 40), rng.uniform(lo_y, hi_y, 40)])
    dests = np.column_stack([rng.uniform(lo_x, hi_x, 3), rng.uniform(lo_y, hi_y, 3)])
    index = SegmentIndex(net)
    s_snap = index.snap(sites[:, 0], sites[:, 1])
    d_snap = index.snap(dests[:, 0], dests[:, 1])
    ours = nearest_distance(net, s_snap, d_snap)
    oracle = _networkx_reference(net, sites, dests)
    np.testing.assert_allclose(ours, oracle, rtol=0, atol=1e-6)
    # counts agree with per-destination oracle distances
    per_dest = np.column_stack(
        [_networkx_reference(net, sites, dests[j : j + 1]) for j in range(3)]
    )
    counts = counts_within(net, s_snap, d_snap, [150, 300])
    for radius in (150, 300):
        np.testing.assert_array_equal(counts[float(radius)], (per_dest <= radius).sum(axis=1))


def test_same_segment_goes_straight_along_it() -> None:
    import shapely

    net = build_network(_ways([(1, [(1, *GRID[1]), (2, *GRID[2])])]))
    index = SegmentIndex(net)
    line = shapely.LineString(
        [(net.x[net.seg_u[0]], net.y[net.seg_u[0]]), (net.x[net.seg_v[0]], net.y[net.seg_v[0]])]
    )
    x0, y0 = line.coords[0]
    s_pt, d_pt = shapely.Point(x0 + 20, y0 + 5), shapely.Point(x0 + 60, y0 - 3)
    site = index.snap(np.array([s_pt.x]), np.array([s_pt.y]))
    dest = index.snap(np.array([d_pt.x]), np.array([d_pt.y]))
    ratio = net.seg_length[0] / line.length
    along = abs(line.project(d_pt) - line.project(s_pt)) * ratio
    expected = line.distance(s_pt) + along + line.distance(d_pt)
    # going round by a node would be longer: the direct way along the segment is taken
    assert nearest_distance(net, site, dest)[0] == pytest.approx(expected, abs=1e-9)


def test_no_destinations_gives_nan_and_zero_counts() -> None:
    net = build_network(_grid_ways())
    index = SegmentIndex(net)
    sites = index.snap(net.x[:3], net.y[:3])
    none = index.snap(np.array([]), np.array([]))
    assert np.isnan(nearest_distance(net, sites, none)).all()
    assert counts_within(net, sites, none, [400])[400.0].tolist() == [0, 0, 0]
