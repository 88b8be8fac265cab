"""Municipality clipping keeps amenities across the border within the buffer, exactly."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from magicmix_geo._errors import ConfigError
from magicmix_geo.config import load_settings
from magicmix_geo.measure.distances import SegmentIndex, nearest_distance
from magicmix_geo.prepare.clip import clip_network, clip_to_area
from magicmix_geo.prepare.network import build_network
from tests.test_network import _ways

TO_LONLAT = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
X0, Y0 = 85_000.0, 446_000.0  # Delft, RD New


def _street_grid() -> tuple:
    """East-west streets 0..8 km long every 200 m, north-south streets every 500 m."""
    ways = []
    node = {}

    def nid(x: float, y: float) -> tuple[int, float, float]:
        key = (round(x), round(y))
        if key not in node:
            lon, lat = TO_LONLAT.transform(X0 + x, Y0 + y)
            node[key] = (len(node) + 1, lon, lat)
        return node[key]

    xs = np.arange(0, 8001, 100.0)
    for i, y in enumerate(np.arange(0, 1001, 200.0)):
        ways.append((1000 + i, [nid(x, y) for x in xs]))
    for i, x in enumerate(np.arange(0, 8001, 500.0)):
        ways.append((2000 + i, [nid(x, y) for y in np.arange(0, 1001, 100.0)]))
    return build_network(_ways(ways))


def test_site_near_border_reaches_supermarket_across_it() -> None:
    net = _street_grid()
    area = shapely.box(X0 - 10, Y0 - 10, X0 + 3000, Y0 + 1010)  # the municipality: x <= 3 km
    site = np.array([[X0 + 2950, Y0 + 610]])
    markets = gpd.GeoDataFrame(
        {"category": ["supermarket", "supermarket", "supermarket"]},
        geometry=gpd.points_from_xy(
            [X0 + 500, X0 + 3800, X0 + 7900], [Y0 + 405, Y0 + 590, Y0 + 600]
        ),
        crs="EPSG:28992",
    )

    def distance(network, dests):  # type: ignore[no-untyped-def]
        index = SegmentIndex(network)
        s = index.snap(site[:, 0], site[:, 1])
        d = index.snap(dests.geometry.x.to_numpy(), dests.geometry.y.to_numpy())
        return nearest_distance(network, s, d)[0]

    whole = distance(net, markets)
    clipped_net, kept = clip_to_area(net, markets, area, 2000.0)
    assert clipped_net.n_nodes < net.n_nodes  # the far east is gone
    assert len(kept) == 2  # the supermarket 4.9 km beyond the border is dropped
    # the nearest supermarket lies outside the municipality, within the buffer
    assert not area.contains(shapely.Point(X0 + 3800, Y0 + 590))
    assert 800 < whole < 1000
    assert distance(clipped_net, kept) == pytest.approx(whole, abs=1e-9)
    # without a buffer the site would only see the supermarket inside the municipality
    tight_net, tight = clip_to_area(net, markets, area, 0.0)
    assert len(tight) == 1
    assert distance(tight_net, tight) > 2000


def test_clip_keeps_a_segment_crossing_the_zone_with_both_ends_outside() -> None:
    net = build_network(
        _ways([(1, [(1, *TO_LONLAT.transform(X0, Y0)), (2, *TO_LONLAT.transform(X0 + 9000, Y0))])]),
        largest_component_only=False,
    )
    area = shapely.box(X0 + 4000, Y0 + 20, X0 + 4100, Y0 + 200)  # 20 m north of it
    assert clip_network(net, area, 50.0, margin_m=0.0).n_segments == 1
    assert clip_network(net, shapely.box(X0, Y0 + 5000, X0 + 10, Y0 + 5010), 50.0).n_segments == 0


def test_clip_buffer_is_validated(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[walk]\nclip_buffer_m = 500\n")
    with pytest.raises(ConfigError, match=r"walk\.clip_buffer_m"):
        load_settings(user)
    user.write_text("[walk]\nclip_buffer_m = 3000\n")
    assert load_settings(user).walk.clip_buffer_m == 3000
