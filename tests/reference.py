# ruff: noqa: N803, N806
# (osmnx-style graph names G, H and hand-named points A, B, ... are intentional)
"""Independent reference implementation of walking distances (osmnx + networkx).

Used by tests to check the product's own routing engine.  It deliberately does
NOT import anything from ``magicmix_geo``: the network comes from osmnx (with
osmnx's own ``network_type="walk"`` filter) and the routing from networkx.
It is written to be obviously correct, not fast.

Contract implemented (the product's definition of "walking distance"):

* Network: the OSM ways passing osmnx's walk filter
  (``osmnx._overpass._get_network_filter("walk")``), built by
  ``ox.graph_from_xml(bidirectional=True, simplify=True, retain_all=False)``
  and projected to EPSG:28992.
* Each site and each destination point is joined to its NEAREST network edge
  (``ox.distance.nearest_edges``, Euclidean in EPSG:28992, using the edge
  geometries) by a straight connector whose length is the Euclidean distance
  from the point to that edge.
* distance = connector(site) + network path + connector(dest), where the
  network path starts and ends at the projection points on the edges.  A site
  and a destination on the same edge go directly along the edge between their
  projection points.
* Edge lengths are osmnx's ``length`` attribute (great-circle metres).  The
  position of a projection point along an edge is found on the edge's projected
  geometry (``line.project(point)``); the partial length up to it is the sum of
  the great-circle lengths of the geometry's straight pieces before it plus the
  same fraction of the piece it falls on (osmnx's ``length`` is exactly that sum
  over all pieces).  A single ratio for a whole bent edge would be off by up to
  0.3 %, because the sphere's and RD's scales differ between north-south and
  east-west pieces.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
from shapely.geometry import LineString, Point

__all__ = [
    "parse_overpass_filter",
    "reference_distances",
    "reference_walk_graph",
    "tags_pass_filter",
    "walk_filter",
]

TARGET_CRS = "EPSG:28992"

# ---------------------------------------------------------------------------
# Overpass QL tag-filter evaluator
# ---------------------------------------------------------------------------

# One clause: ["k"], [!"k"], ["k"="v"], ["k"!="v"], ["k"~"re"], ["k"!~"re"],
# optionally with a trailing ",i" (case-insensitive regex).
_CLAUSE_RE = re.compile(
    r'\[\s*(?P<neg>!)?\s*"(?P<key>[^"]*)"\s*'
    r'(?:(?P<op>!=|!~|=|~)\s*"(?P<val>[^"]*)"\s*(?P<ci>,\s*i)?\s*)?\]'
)


def parse_overpass_filter(filter_str: str) -> list[tuple[str, str | None, str | None, bool]]:
    """Parse an Overpass tag filter string into ``(op, key, value, case_insensitive)``.

    ``op`` is one of ``"has"``, ``"not_has"``, ``"="``, ``"!="``, ``"~"``, ``"!~"``.
    Raises ``ValueError`` on anything it does not understand (so a change in
    osmnx's filter syntax fails loudly instead of silently filtering wrongly).
    """
    clauses: list[tuple[str, str | None, str | None, bool]] = []
    pos = 0
    s = filter_str.strip()
    while pos < len(s):
        if s[pos].isspace():
            pos += 1
            continue
        m = _CLAUSE_RE.match(s, pos)
        if m is None:
            raise ValueError(f"cannot parse Overpass filter at {pos}: {s[pos : pos + 40]!r}")
        key, op, val = m.group("key"), m.group("op"), m.group("val")
        if op is None:
            op = "not_has" if m.group("neg") else "has"
        elif m.group("neg"):
            raise ValueError(f"unsupported negated key with operator: {m.group(0)!r}")
        clauses.append((op, key, val, m.group("ci") is not None))
        pos = m.end()
    return clauses


def tags_pass_filter(tags: Mapping[str, str], clauses: Iterable[tuple]) -> bool:
    """Evaluate parsed Overpass clauses against a tag dict (all clauses ANDed).

    Overpass semantics: ``["k"]`` key present; ``[!"k"]`` key absent;
    ``["k"="v"]`` present and equal; ``["k"!="v"]`` absent or different;
    ``["k"~"re"]`` present and regex found anywhere in the value (re.search);
    ``["k"!~"re"]`` absent or regex not found.
    """
    for op, key, val, ci in clauses:
        present = key in tags
        value = tags.get(key)
        flags = re.IGNORECASE if ci else 0
        if op == "has":
            ok = present
        elif op == "not_has":
            ok = not present
        elif op == "=":
            ok = present and value == val
        elif op == "!=":
            ok = (not present) or value != val
        elif op == "~":
            ok = present and re.search(val, value, flags) is not None
        elif op == "!~":
            ok = (not present) or re.search(val, value, flags) is None
        else:  # pragma: no cover - parse_overpass_filter only yields the above
            raise ValueError(op)
        if not ok:
            return False
    return True


def walk_filter() -> str:
    """osmnx's own Overpass filter string for ``network_type="walk"``."""
    from osmnx import _overpass

    return _overpass._get_network_filter("walk")


# ---------------------------------------------------------------------------
# Graph construction
# ---------------------------------------------------------------------------


def _write_filtered_osm_xml(osm_path: Path, out_path: Path) -> tuple[int, int]:
    """Write walk-filtered ways (and the nodes they use) of ``osm_path`` as OSM XML.

    Two passes with pyosmium: (1) ways, filtered with osmnx's walk filter;
    (2) locations of the nodes those ways reference.

    Missing nodes: extracts (e.g. a clipped .pbf) contain ways whose node refs
    point to nodes absent from the file.  osmnx would create location-less graph
    nodes for them and then fail when computing edge lengths.  We therefore
    split each such way into runs of *consecutive present* nodes; each run with
    >= 2 nodes is written as its own way (same tags) with a synthetic negative
    id (below any id in the file, so no collisions).  We never bridge over a
    missing node, because we do not know where the way went in between.  Runs of
    a single node give no edge and are dropped.  Ways without missing nodes keep
    their original id and node list untouched.

    Returns ``(n_ways_written, n_nodes_written)``.
    """
    clauses = parse_overpass_filter(walk_filter())

    ways: list[tuple[int, list[int], dict[str, str]]] = []
    needed: set[int] = set()
    for w in osmium.FileProcessor(str(osm_path), osmium.osm.WAY):
        tags = {t.k: t.v for t in w.tags}
        if not tags_pass_filter(tags, clauses):
            continue
        refs = [nr.ref for nr in w.nodes]
        ways.append((w.id, refs, tags))
        needed.update(refs)

    locs: dict[int, tuple[float, float]] = {}
    for n in osmium.FileProcessor(str(osm_path), osmium.osm.NODE):
        if n.id in needed and n.location.valid():
            locs[n.id] = (n.location.lon, n.location.lat)

    next_id = min([0, *(wid for wid, _, _ in ways)]) - 1
    out_ways: list[tuple[int, list[int], dict[str, str]]] = []
    for wid, refs, tags in ways:
        if all(r in locs for r in refs):
            out_ways.append((wid, refs, tags))
            continue
        run: list[int] = []
        for r in [*refs, None]:  # None flushes the last run
            if r is not None and r in locs:
                run.append(r)
                continue
            if len(run) >= 2:
                out_ways.append((next_id, run, tags))
                next_id -= 1
            run = []
    out_ways = [w for w in out_ways if len(w[1]) >= 2]

    used = sorted({r for _, refs, _ in out_ways for r in refs})
    with out_path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<osm version="0.6" generator="magicmix tests/reference.py">\n')
        for nid in used:
            lon, lat = locs[nid]
            f.write(f'  <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for wid, refs, tags in out_ways:
            f.write(f'  <way id="{wid}">\n')
            for r in refs:
                f.write(f'    <nd ref="{r}"/>\n')
            for k, v in tags.items():
                f.write(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
            f.write("  </way>\n")
        f.write("</osm>\n")
    return len(out_ways), len(used)


def reference_walk_graph(osm_path: Path) -> nx.MultiDiGraph:
    """osmnx walk graph of an OSM file (.osm.pbf/.osm/.osm.gz/.osm.bz2), projected to EPSG:28992.

    osmnx 2.x ``graph_from_xml`` does not filter by network type, so the file is
    first reduced with pyosmium to the ways passing osmnx's walk filter (see
    ``_write_filtered_osm_xml`` for the handling of missing nodes), then loaded
    with ``graph_from_xml(bidirectional=True, simplify=True, retain_all=False)``.
    """
    osm_path = Path(osm_path)
    with tempfile.TemporaryDirectory(prefix="mm_ref_") as tmp:
        xml_path = Path(tmp) / "walk_filtered.osm"
        n_ways, _ = _write_filtered_osm_xml(osm_path, xml_path)
        if n_ways == 0:
            raise ValueError(f"{osm_path}: no ways pass the osmnx walk filter")
        G = ox.graph_from_xml(xml_path, bidirectional=True, simplify=True, retain_all=False)
    if len(G) == 0:
        # osmnx's simplify_graph (remove_rings=True) deletes isolated
        # self-contained rings; if the largest component is one, nothing is left.
        raise ValueError(f"{osm_path}: osmnx walk graph is empty (isolated ring removed?)")
    # keep each edge's unprojected vertices, to measure partial lengths per straight piece
    for u, v, data in G.edges(data=True):
        geom = data.get("geometry")
        if geom is None:
            coords = ((G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"]))
        else:
            coords = tuple(geom.coords)
        data["lonlat"] = coords
    return ox.project_graph(G, to_crs=TARGET_CRS)


def _haversine(lon1, lat1, lon2, lat2):
    return ox.distance.great_circle(lat1, lon1, lat2, lon2)


def _partial_length(line: LineString, lonlat: list, t: float) -> float:
    """Great-circle length from the start of ``line`` to the point at ``t`` metres (RD)."""
    xy = np.asarray(line.coords)
    ll = np.asarray(lonlat)
    piece_rd = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    piece_gc = np.array([_haversine(*ll[i], *ll[i + 1]) for i in range(len(ll) - 1)], dtype=float)
    cum_rd = np.concatenate([[0.0], np.cumsum(piece_rd)])
    i = int(np.clip(np.searchsorted(cum_rd, t, side="right") - 1, 0, len(piece_rd) - 1))
    frac = (t - cum_rd[i]) / piece_rd[i] if piece_rd[i] > 0 else 0.0
    return float(piece_gc[:i].sum() + np.clip(frac, 0.0, 1.0) * piece_gc[i])


# ---------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------


def _edge_line(G: nx.MultiDiGraph, u, v, data: Mapping) -> LineString:
    """Edge geometry oriented from u to v (straight segment if osmnx stored none)."""
    pu = (G.nodes[u]["x"], G.nodes[u]["y"])
    pv = (G.nodes[v]["x"], G.nodes[v]["y"])
    geom = data.get("geometry")
    if geom is None:
        return LineString([pu, pv])
    coords = list(geom.coords)
    if u != v:
        d_start_u = Point(coords[0]).distance(Point(pu))
        d_start_v = Point(coords[0]).distance(Point(pv))
        if d_start_v < d_start_u:
            coords.reverse()
    return LineString(coords)


def _physical_key(u, v, line: LineString) -> tuple:
    """Direction-independent identity of an edge: osmnx stores every walk edge
    twice, (u, v, k) and (v, u, k'), with reversed geometries.  Both map to the
    same key ``(a, b, coords oriented a->b)`` with ``a <= b``."""
    coords = tuple((round(x, 3), round(y, 3)) for x, y in line.coords)
    if u < v:
        return (u, v, coords)
    if u > v:
        return (v, u, coords[::-1])
    return (u, u, min(coords, coords[::-1]))


def reference_distances(
    G_projected: nx.MultiDiGraph, sites_xy: np.ndarray, dests_xy: np.ndarray
) -> np.ndarray:
    """For each site (n,2 array, EPSG:28992 metres), the shortest walking distance in metres
    to the nearest destination (m,2 array). NaN where unreachable or m == 0.

    Method: every directed osmnx edge is mapped to a *physical* (undirected)
    edge, merging the two directions of the same edge (parallel edges with a
    different geometry stay distinct physical edges).  Each point is snapped
    with ``ox.distance.nearest_edges``; the snapped (u, v, key) identifies the
    specific physical edge, which is split at the projection points of all
    points snapped to it (sorted along the edge and chained).  Unsplit physical
    edges go into an undirected ``nx.Graph`` (minimum length over parallel
    unsplit edges between the same node pair, which is exact for shortest
    paths).  Each point gets its own node, joined to its projection node by the
    connector length.  One ``multi_source_dijkstra_path_length`` from all
    destination points gives every site's distance.
    """
    sites = np.asarray(sites_xy, dtype=float).reshape(-1, 2)
    dests = np.asarray(dests_xy, dtype=float).reshape(-1, 2)
    n, m = len(sites), len(dests)
    out = np.full(n, np.nan)
    if n == 0 or m == 0:
        return out

    # physical edges --------------------------------------------------------
    phys: dict[tuple, dict] = {}
    dir_to_phys: dict[tuple, tuple] = {}
    for u, v, k, data in G_projected.edges(keys=True, data=True):
        line = _edge_line(G_projected, u, v, data)
        key = _physical_key(u, v, line)
        a, b = key[0], key[1]
        length = float(data["length"])
        if key not in phys:
            lonlat = list(data["lonlat"])
            raw = data.get("geometry")
            if raw is not None and next(iter(raw.coords)) != next(iter(line.coords)):
                lonlat.reverse()  # _edge_line reversed the stored geometry
            if (u, v) != (a, b):
                oriented = LineString(line.coords[::-1])
                lonlat.reverse()
            else:
                oriented = line
            phys[key] = {"a": a, "b": b, "line": oriented, "length": length, "lonlat": lonlat}
        else:
            phys[key]["length"] = min(phys[key]["length"], length)
        dir_to_phys[(u, v, k)] = key

    # snap points -----------------------------------------------------------
    pts = np.vstack([sites, dests])
    ne = ox.distance.nearest_edges(G_projected, X=pts[:, 0], Y=pts[:, 1])
    labels = [("site", i) for i in range(n)] + [("dest", j) for j in range(m)]
    splits: dict[tuple, list[tuple[float, tuple]]] = defaultdict(list)
    connectors: dict[tuple, float] = {}
    for label, (x, y), e in zip(labels, pts, ne, strict=True):
        key = dir_to_phys[tuple(e)]
        edge = phys[key]
        line: LineString = edge["line"]
        p = Point(x, y)
        t = line.project(p)
        s = min(max(_partial_length(line, edge["lonlat"], t), 0.0), edge["length"])
        splits[key].append((s, label))
        connectors[label] = p.distance(line)

    # routing graph ---------------------------------------------------------
    H = nx.Graph()
    H.add_nodes_from(G_projected.nodes)
    for key, edge in phys.items():
        a, b, length = edge["a"], edge["b"], edge["length"]
        if key in splits:
            chain = [(0.0, a)]
            chain += [(s, ("on", label)) for s, label in sorted(splits[key], key=lambda z: z[0])]
            chain.append((length, b))
            for (s0, n0), (s1, n1) in itertools.pairwise(chain):
                # consecutive chain nodes are distinct (projection nodes are unique per
                # point); on a split self-loop the first and last piece join the same pair
                # (a, point) twice: keep the shorter way round
                w = max(s1 - s0, 0.0)
                if H.has_edge(n0, n1):
                    w = min(w, H[n0][n1]["weight"])
                H.add_edge(n0, n1, weight=w)
        elif a != b:
            if H.has_edge(a, b):
                H[a][b]["weight"] = min(H[a][b]["weight"], length)
            else:
                H.add_edge(a, b, weight=length)
    for label, c in connectors.items():
        H.add_edge(label, ("on", label), weight=c)

    dist = nx.multi_source_dijkstra_path_length(
        H, sources={("dest", j) for j in range(m)}, weight="weight"
    )
    for i in range(n):
        out[i] = dist.get(("site", i), np.nan)
    return out
