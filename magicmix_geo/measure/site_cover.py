"""What a site itself is covered by: water, road or railway land (hard exclusions).

A candidate parcel that is mostly water, carriageway or track is no building land, whatever
its surroundings. Shares are of the site's own area; roads and railways mapped as lines count
as strips of a configured half width either side of the centre line. Pure computation,
EPSG:28992 metres.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def line_strips(
    lines: gpd.GeoDataFrame, half_width_m: Iterable[tuple[str, float]]
) -> gpd.GeoSeries:
    """Highway and railway lines as polygons: each line buffered by the half width of its kind.

    ``lines`` has ``highway`` and ``railway`` columns (OSM values); a kind (``primary``,
    ``rail`` ...) not in ``half_width_m`` is left out (footways, cycleways: not road land).
    """
    widths = dict(half_width_m)
    kind = pd.Series(None, index=lines.index, dtype=object)
    # a highway tag wins over a railway tag (a tram in a street)
    for column in ("railway", "highway"):
        if column in lines.columns:
            kind = lines[column].astype(object).where(lines[column].notna(), kind)
    width = kind.map(widths).astype("float64")
    keep = width.notna().to_numpy() & (width.to_numpy() > 0)
    geoms = lines.geometry.to_numpy()[keep]
    strips = shapely.buffer(geoms, width.to_numpy()[keep], cap_style="flat")
    return gpd.GeoSeries(strips, crs=lines.crs)


def covered_share(sites: gpd.GeoSeries, cover: gpd.GeoSeries) -> np.ndarray:
    """Share (0-1) of each site's area covered by the union of ``cover`` polygons."""
    out = np.zeros(len(sites))
    if len(sites) == 0 or len(cover) == 0:
        return out
    cover_geoms = shapely.make_valid(cover.to_numpy())
    cover_geoms = cover_geoms[shapely.get_dimensions(cover_geoms) == 2]
    if cover_geoms.size == 0:
        return out
    site_geoms = sites.to_numpy()
    tree = shapely.STRtree(cover_geoms)
    site_i, cover_i = tree.query(site_geoms, predicate="intersects")
    if site_i.size == 0:
        return out
    parts = shapely.intersection(site_geoms[site_i], cover_geoms[cover_i])
    order = np.argsort(site_i, kind="stable")
    site_i, parts = site_i[order], parts[order]
    starts = np.flatnonzero(np.r_[True, site_i[1:] != site_i[:-1]])
    ends = np.r_[starts[1:], site_i.size]
    area = shapely.area(site_geoms)
    for start, end in zip(starts, ends, strict=True):
        i = site_i[start]
        chunk = parts[start:end]
        merged = chunk[0] if end - start == 1 else shapely.union_all(chunk)
        covered = shapely.area(merged)
        out[i] = covered / area[i] if area[i] > 0 else 0.0
    return np.clip(out, 0.0, 1.0)
