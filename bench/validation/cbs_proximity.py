"""Validation against CBS: mean walking distance from homes to five facilities per buurt, compared
with CBS's published "gemiddelde afstand" (nabijheidsstatistiek) of the Wijk- en Buurtkaart.

    .venv/bin/python bench/validation/cbs_proximity.py [--margin 200] [--min-buildings 10]
                                                       [--csv DIR]

For each buurt of the sample whose residential buildings lie well inside the OSM extract's core
box (the median building at least ``--margin`` m inside its edge, at least ``--min-buildings``
residential buildings), the walking distance over the OSM walk network (the pipeline's exact
distances) from every residential building (OSM building tags, or a BAG woonfunctie) to the
nearest GP, supermarket, primary school, childcare and train station is averaged and set against
the CBS figure (road distance from all residential addresses, km, one decimal; negative =
suppressed). Reports, per category, the Spearman rank correlation over the buurten and the median
ratio walking / CBS. docs/methodology.md discusses the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from magicmix_geo.config import Settings, load_settings  # noqa: E402
from magicmix_geo.formats.cbs import read_cbs_buurten  # noqa: E402
from magicmix_geo.measure.distances import SegmentIndex, nearest_distance  # noqa: E402
from magicmix_geo.prepare.bag import read_bag_panden  # noqa: E402
from magicmix_geo.prepare.destinations import select_destinations  # noqa: E402
from magicmix_geo.prepare.layers import buildings_layer  # noqa: E402
from magicmix_geo.prepare.network import build_network  # noqa: E402
from magicmix_geo.prepare.osm import read_osm_for  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
# the core box of the sample extract (osmium extract -b), lon/lat
CORE_BOX = (4.355, 51.995, 4.386, 52.005)
# our category -> CBS column (Wijk- en Buurtkaart 2023, PDOK camelCase)
CBS_COLUMNS = {
    "gp": "huisartsenpraktijkGemiddeldeAfstandInKm",
    "supermarket": "groteSupermarktGemiddeldeAfstandInKm",
    "primary_school": "basisonderwijsGemiddeldeAfstandInKm",
    "childcare": "kinderdagverblijfGemiddeldeAfstandInKm",
    "train_station": "treinstationGemiddeldeAfstandInKm",
}


@dataclass(frozen=True)
class Validation:
    per_buurt: pd.DataFrame
    summary: pd.DataFrame
    seconds: float


def core_box_rd(box: tuple[float, float, float, float] = CORE_BOX) -> shapely.Polygon:
    return gpd.GeoSeries([shapely.box(*box)], crs="EPSG:4326").to_crs("EPSG:28992").iloc[0]


def validate(
    osm_path: Path = SAMPLE / "tudelft.osm.pbf",
    buurten_path: Path = SAMPLE / "cbs_buurten_2023_delft.gpkg",
    bag_path: Path | None = SAMPLE / "bag_panden_delft_wippolder.gpkg",
    gm_code: str = "GM0503",
    *,
    margin_m: float = 200.0,
    min_buildings: int = 10,
    settings: Settings | None = None,
) -> Validation:
    """Per-buurt mean walking distances vs CBS, and Spearman / median ratio per category."""
    clock = time.perf_counter()
    settings = settings or load_settings()
    osm = read_osm_for(osm_path, settings)
    # one town, no boundary: the largest component only, as osmnx (the figures were made so)
    net = build_network(osm.walk, largest_component_only=True)
    buildings = buildings_layer(osm, settings, read_bag_panden(bag_path) if bag_path else None)
    homes = buildings.loc[buildings["residential"]].copy()
    homes["geometry"] = homes.geometry.representative_point()
    buurten = read_cbs_buurten(buurten_path, gm_code)
    joined = gpd.sjoin(
        homes[["geometry"]], buurten[["bu_code", "bu_name", "geometry"]], predicate="within"
    )
    box = core_box_rd()
    pts = joined.geometry.to_numpy()
    edge = shapely.distance(box.exterior, pts)
    joined["inside_m"] = np.where(shapely.contains(box, pts), edge, -edge)

    index = SegmentIndex(net)
    snap = index.snap(joined.geometry.x.to_numpy(), joined.geometry.y.to_numpy())
    dests = select_destinations(osm.features, settings.categories)
    for category in CBS_COLUMNS:
        d = dests.loc[dests["category"] == category]
        d_snap = index.snap(d.geometry.x.to_numpy(), d.geometry.y.to_numpy())
        walk = nearest_distance(net, snap, d_snap)
        joined[f"walk_{category}_m"] = walk
        # every walk that leaves the box is at least as long as the straight line to its edge,
        # so a distance no longer than that is exact; a longer one is only an upper bound
        joined[f"exact_{category}"] = walk <= joined["inside_m"].to_numpy()

    grouped = joined.groupby(["bu_code", "bu_name"])
    per_buurt = grouped.agg(buildings=("inside_m", "size"), median_inside_m=("inside_m", "median"))
    for category in CBS_COLUMNS:
        col = f"walk_{category}_m"
        per_buurt[f"walk_{category}_km"] = grouped[col].mean() / 1000.0
        per_buurt[f"reached_{category}"] = grouped[col].apply(lambda s: float(s.notna().mean()))
        per_buurt[f"exact_{category}"] = grouped[f"exact_{category}"].mean()
    per_buurt = per_buurt.reset_index()
    cbs = buurten.set_index("bu_code")
    for category, column in CBS_COLUMNS.items():
        values = pd.to_numeric(cbs[column], errors="coerce")
        per_buurt[f"cbs_{category}_km"] = per_buurt["bu_code"].map(values.where(values >= 0))
    per_buurt["used"] = (per_buurt["buildings"] >= min_buildings) & (
        per_buurt["median_inside_m"] >= margin_m
    )
    summary = _summary(per_buurt.loc[per_buurt["used"]])
    return Validation(per_buurt, summary, time.perf_counter() - clock)


def _summary(used: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for category in CBS_COLUMNS:
        walk = used[f"walk_{category}_km"]
        cbs = used[f"cbs_{category}_km"]
        ok = walk.notna() & cbs.notna() & (cbs > 0)
        n = int(ok.sum())
        rho = np.nan
        if n >= 3 and walk[ok].nunique() > 1 and cbs[ok].nunique() > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = float(stats.spearmanr(walk[ok], cbs[ok]).statistic)
        ratio = float(np.median(walk[ok] / cbs[ok])) if n else np.nan
        rows.append(
            {
                "category": category,
                "buurten": n,
                "spearman": rho,
                "median_ratio_walk_to_cbs": ratio,
                "mean_walk_km": float(walk[ok].mean()) if n else np.nan,
                "mean_cbs_km": float(cbs[ok].mean()) if n else np.nan,
                "share_homes_reaching": float(
                    np.average(used[f"reached_{category}"], weights=used["buildings"])
                )
                if len(used)
                else np.nan,
                "share_homes_exact": float(
                    np.average(used[f"exact_{category}"], weights=used["buildings"])
                )
                if len(used)
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--margin",
        type=float,
        default=200.0,
        help="median residential building at least this far inside the box (m)",
    )
    parser.add_argument("--min-buildings", type=int, default=10)
    parser.add_argument("--csv", type=Path, default=None, help="write per_buurt.csv, summary.csv")
    args = parser.parse_args(argv)
    result = validate(margin_m=args.margin, min_buildings=args.min_buildings)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 40)
    used = result.per_buurt.loc[result.per_buurt["used"]]
    cols = ["bu_name", "buildings", "median_inside_m"] + [
        f"{kind}_{c}_km" for c in CBS_COLUMNS for kind in ("walk", "cbs")
    ]
    print(f"buurten used ({len(used)} of {len(result.per_buurt)} with residential buildings):")
    print(used[cols].round(2).to_string(index=False))
    print("\nper category (walking over OSM vs CBS road distance, mean per buurt):")
    print(result.summary.round(3).to_string(index=False))
    print(f"\n{result.seconds:.1f} s")
    if args.csv is not None:
        args.csv.mkdir(parents=True, exist_ok=True)
        result.per_buurt.to_csv(args.csv / "per_buurt.csv", index=False)
        result.summary.to_csv(args.csv / "summary.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
