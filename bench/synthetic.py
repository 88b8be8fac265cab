"""Synthetic walking cities for the benchmarks: a jittered street grid with shape points.

``city_ways(n_nodes)`` gives the walkable ways as :class:`WalkWays` (what the OSM reader
returns); ``write_city_pbf`` writes the same kind of city, with amenities and building
blocks, as a real ``.osm.pbf`` with pyosmium's writer. Deterministic for a given seed.
Around 1/3 of the nodes are intersections and 2/3 shape points, as in Dutch OSM data.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from magicmix_geo.prepare.osm import WalkWays

LON0, LAT0 = 4.30, 51.90  # south-west corner, near Rotterdam
BLOCK_M = 80.0
M_PER_DEG_LAT = 111_200.0
M_PER_DEG_LON = 111_200.0 * np.cos(np.deg2rad(52.0))
SHAPE_POINTS = 3  # per block edge on average
WAY_BLOCKS = 6  # blocks per OSM way


@dataclass(frozen=True)
class City:
    """Nodes (id, lon, lat) and ways (id, node-id lists as offsets + refs)."""

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    way_id: np.ndarray
    offsets: np.ndarray
    refs: np.ndarray
    side: int

    def walk_ways(self) -> WalkWays:
        pos = np.searchsorted(self.node_id, self.refs)
        return WalkWays(
            way_ids=self.way_id,
            offsets=self.offsets,
            node_ids=self.refs,
            lon=self.lon[pos],
            lat=self.lat[pos],
        )

    def bounds_xy(self) -> tuple[float, float]:
        """Extent of the grid in metres (east, north)."""
        return self.side * BLOCK_M, self.side * BLOCK_M


def make_city(n_nodes: int, seed: int = 0) -> City:
    """A city of about ``n_nodes`` nodes (intersections + shape points)."""
    rng = np.random.default_rng(seed)
    # nodes ~= side^2 * (1 + 2 * SHAPE_POINTS * keep)
    keep = 0.9
    side = max(3, int(np.sqrt(n_nodes / (1 + 2 * SHAPE_POINTS * keep))))
    n_int = side * side
    gi, gj = np.divmod(np.arange(n_int), side)
    jitter = rng.normal(0, 6.0, (n_int, 2))
    ix = gi * BLOCK_M + jitter[:, 0]
    iy = gj * BLOCK_M + jitter[:, 1]
    # block edges, horizontal (i -> i+1) then vertical (j -> j+1)
    lines_x: list[np.ndarray] = []
    way_blocks: list[np.ndarray] = []
    node_x = [ix]
    node_y = [iy]
    next_id = n_int
    refs_parts: list[np.ndarray] = []
    way_len: list[int] = []
    for axis in (0, 1):
        for line in range(side):
            # the intersections along one street
            inter = np.arange(side) * side + line if axis == 0 else line * side + np.arange(side)
            present = rng.random(side - 1) < keep
            # split the street into ways of WAY_BLOCKS blocks, skipping missing blocks
            start = 0
            while start < side - 1:
                stop = min(start + WAY_BLOCKS, side - 1)
                seq: list[np.ndarray] = []
                for b in range(start, stop):
                    if not present[b]:
                        if len(seq) > 1:
                            refs_parts.append(np.concatenate(seq))
                            way_len.append(int(sum(s.size for s in seq)))
                        seq = []
                        continue
                    a, c = inter[b], inter[b + 1]
                    k = int(rng.poisson(SHAPE_POINTS))
                    f = np.sort(rng.uniform(0.05, 0.95, k))
                    sx = ix[a] + (ix[c] - ix[a]) * f + rng.normal(0, 1.5, k)
                    sy = iy[a] + (iy[c] - iy[a]) * f + rng.normal(0, 1.5, k)
                    ids = np.arange(next_id, next_id + k)
                    next_id += k
                    node_x.append(sx)
                    node_y.append(sy)
                    if not seq:
                        seq.append(np.array([a]))
                    seq.append(ids)
                    seq.append(np.array([c]))
                if len(seq) > 1:
                    refs_parts.append(np.concatenate(seq))
                    way_len.append(int(sum(s.size for s in seq)))
                start = stop
    del lines_x, way_blocks
    x = np.concatenate(node_x)
    y = np.concatenate(node_y)
    refs = np.concatenate(refs_parts).astype(np.int64) + 1  # OSM ids start at 1
    offsets = np.concatenate([[0], np.cumsum(way_len)]).astype(np.int64)
    lon = np.round(LON0 + x / M_PER_DEG_LON, 7)
    lat = np.round(LAT0 + y / M_PER_DEG_LAT, 7)
    return City(
        node_id=np.arange(1, x.size + 1, dtype=np.int64),
        lon=lon,
        lat=lat,
        way_id=np.arange(1, len(way_len) + 1, dtype=np.int64),
        offsets=offsets,
        refs=refs,
        side=side,
    )


def random_points_rd(
    city_net_x: np.ndarray, city_net_y: np.ndarray, count: int, seed: int
) -> np.ndarray:
    """``count`` uniform points (EPSG:28992) over the box of a network's nodes."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(city_net_x.min(), city_net_x.max(), count),
            rng.uniform(city_net_y.min(), city_net_y.max(), count),
        ]
    )


def write_city_pbf(
    city: City, path: Path, amenities: dict[str, tuple[str, str, int]] | None = None, seed: int = 0
) -> Path:
    """Write ``city`` as an ``.osm.pbf``: nodes, ``highway=residential`` ways, amenity nodes.

    ``amenities`` maps a name to (tag key, tag value, count); amenity nodes are placed at
    random in the city's box.
    """
    import osmium

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    rng = np.random.default_rng(seed)
    writer = osmium.SimpleWriter(str(path))
    try:
        node = osmium.osm.mutable.Node
        for i, lo, la in zip(
            city.node_id.tolist(), city.lon.tolist(), city.lat.tolist(), strict=True
        ):
            writer.add_node(node(id=i, location=(lo, la)))
        next_id = int(city.node_id[-1]) + 1
        for _name, (key, value, count) in (amenities or {}).items():
            lo = rng.uniform(city.lon.min(), city.lon.max(), count)
            la = rng.uniform(city.lat.min(), city.lat.max(), count)
            for a, b in zip(lo.tolist(), la.tolist(), strict=True):
                writer.add_node(node(id=next_id, location=(a, b), tags={key: value}))
                next_id += 1
        way = osmium.osm.mutable.Way
        tags = {"highway": "residential"}
        refs = city.refs.tolist()
        off = city.offsets.tolist()
        for w, (s, e) in enumerate(itertools.pairwise(off)):
            writer.add_way(way(id=int(city.way_id[w]), nodes=refs[s:e], tags=tags))
    finally:
        writer.close()
    return path
