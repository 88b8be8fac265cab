"""The files behind the typed candidates: plans, BAG panden, parcels or a candidates file, or
OSM parcel proxies; read here and typed by :func:`magicmix_geo.prepare.sites.typed_candidates`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd

from magicmix_geo.config import Settings
from magicmix_geo.prepare import candidates as candidate_files
from magicmix_geo.prepare.plans import read_plans
from magicmix_geo.prepare.sites import typed_candidates

OUTSIDE_ATTR = "outside"
# the rows a candidates file left out (count and reasons), for the manifest
DROPPED_ATTR = "candidate_rows"


def candidate_sites(
    area: Any,
    settings: Settings,
    *,
    osm_lines: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    candidates: Path | None = None,
    candidate_source: str = "file",
    plans: Path | None = None,
    panden: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, str]:
    """The typed candidates inside ``area`` and where the land candidates came from.

    Land candidates come from ``candidates`` (a file: ``candidate_source`` ``"file"``, kept as
    given, or ``"brk"``, Kadaster parcels tested for vacancy) or else from OSM parcel proxies
    (``"osm_proxy"``). The candidates outside the area (plans, BAG) are in
    ``attrs["outside"]``: reported, not ranked.
    """
    plan_frame = (
        read_plans(plans, settings.sites.columns, temporary_words=settings.sites.temporary_words)
        if plans is not None
        else None
    )
    dropped = None
    if candidates is not None:
        land = candidate_files.read_candidates(candidates, progress=candidate_files.print_progress)
        land = candidate_files.keep_inside(land, area, candidates)
        # every row left out of the file is said on stderr and counted for the manifest
        dropped = candidate_files.report_dropped(land, candidates)
        land_type = "vacant_land" if candidate_source == "brk" else "file"
        source = candidate_source
    else:
        streets = osm_lines.loc[osm_lines["highway"].notna()].geometry
        barriers = osm_lines.loc[
            osm_lines["railway"].notna() | osm_lines["waterway"].notna()
        ].geometry
        land = candidate_files.osm_parcel_proxies(
            streets, buildings[["geometry"]], area, barriers=barriers
        )
        land_type, source = "proxy", "osm_proxy"
    inside, outside = typed_candidates(
        area,
        settings.sites,
        plans=plan_frame,
        panden=panden,
        land=land,
        land_type=land_type,
        buildings=buildings,
    )
    inside.attrs[OUTSIDE_ATTR] = outside
    inside.attrs[DROPPED_ATTR] = dropped
    return inside, source
