"""Benchmark: writing the national ranked list (gpkg, csv, xlsx) for many ranked sites.

The per-municipality benchmarks rank no site (the synthetic city has no buildings), so the
national list is measured here on a synthetic table with the real column set.
Usage: .venv/bin/python bench/national_list.py [--sites 300000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from magicmix_geo.config import load_settings
from magicmix_geo.publish.gpkg import write_municipality_gpkg
from magicmix_geo.publish.lists import _write_workbook, rank_national, ranking_table

WORK = Path(__file__).resolve().parent / "_work" / "national_list"


def synthetic_sites(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(0)
    x = rng.uniform(10_000, 270_000, n)
    y = rng.uniform(300_000, 610_000, n)
    settings = load_settings()
    columns: dict[str, object] = {
        "site_id": [f"P{i:07d}" for i in range(n)],
        "gm_code": [f"GM{i % 342:04d}" for i in range(n)],
        "score_total": rng.uniform(0, 1, n),
        "excluded": np.zeros(n, dtype=bool),
        "rank_gm": pd.array(np.arange(1, n + 1), dtype="Int64"),
        "area_m2": np.full(n, 1600.0),
        "bu_code": ["BU00000000"] * n,
        "bu_name": ["buurt"] * n,
        "reasons_en": ["For: transit 6 min; supermarket 300 m. Against: GP 1,900 m."] * n,
        "reasons_nl": ["Voor: ov 6 min; supermarkt 300 m. Tegen: huisarts 1.900 m."] * n,
    }
    for name in settings.criteria:
        columns[f"score_{name}"] = rng.uniform(0, 1, n)
    for name in settings.categories:
        columns[f"dist_{name}_m"] = rng.uniform(0, 3000, n)
    return gpd.GeoDataFrame(columns, geometry=shapely.box(x, y, x + 40, y + 40), crs="EPSG:28992")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=300_000)
    n = parser.parse_args().sites
    WORK.mkdir(parents=True, exist_ok=True)
    sites = synthetic_sites(n)
    clock = time.perf_counter()
    ranked = rank_national(sites)
    table = ranking_table(ranked)
    t_rank = time.perf_counter() - clock
    clock = time.perf_counter()
    table.to_csv(WORK / "national_ranking.csv", index=False)
    t_csv = time.perf_counter() - clock
    clock = time.perf_counter()
    _write_workbook(WORK / "national_ranking.xlsx", {"ranking": table})
    t_xlsx = time.perf_counter() - clock
    clock = time.perf_counter()
    write_municipality_gpkg(WORK / "national_ranking.gpkg", {"national_ranking": ranked}, {})
    t_gpkg = time.perf_counter() - clock
    print(
        f"{n:,} ranked sites: rank+table {t_rank:.1f} s, csv {t_csv:.1f} s, "
        f"xlsx {t_xlsx:.1f} s, gpkg {t_gpkg:.1f} s"
    )
    per_site = {"csv": t_csv / n, "xlsx": t_xlsx / n, "gpkg": t_gpkg / n, "rank": t_rank / n}
    national, xlsx_rows = 3_000_000, 1_048_575
    total = national * (per_site["csv"] + per_site["gpkg"] + per_site["rank"])
    total += xlsx_rows * per_site["xlsx"]
    print(
        f"extrapolated to {national:,} ranked sites (xlsx capped at {xlsx_rows:,} rows): "
        f"{total / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
