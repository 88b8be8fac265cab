"""Density surfaces with rasterio: the CBS 100 m grid and OSM building footprints as rasters,
focal sums over walking-scale radii, values sampled at the sites. Pure computation, no I/O
(publish/rasters.py writes the GeoTIFFs).

Everything is in EPSG:28992 (RD New, metres). Rasters are aligned to whole multiples of the
cell size, so that the CBS 100 m cells (``c28992r100`` = the cell's lower-left corner in
hectometres) fall exactly on one raster cell each.

- :func:`rasterise_cells` burns the CBS grid (one polygon per populated cell; CBS leaves out
  cells without residents) with ``rasterio.features.rasterize`` (sum of the values of the cells
  whose polygon covers a raster cell's centre). Suppressed values (-99997, already NaN here)
  are burnt into a separate "known" raster, so that focal sums can say how much is unknown.
- :func:`building_cover` puts the exact footprint area of the buildings in each cell.
- :func:`focal_sum` sums a raster over a disc (the cells whose centre lies within the radius
  of the cell's centre) with ``scipy.ndimage.correlate``; outside the raster counts as 0.
- :func:`sample` reads the raster at points (``rasterio.transform.rowcol``), NaN outside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import rasterio.transform
import shapely
from affine import Affine
from rasterio.enums import MergeAlg
from scipy import ndimage

from magicmix_geo.contract import Raster, require_rd
from magicmix_geo.prepare.overlap import intersecting_pairs, intersection_areas

# our name -> spellings of the CBS vierkantstatistieken (snake_case PDOK, 2023 release, shapefile)
GRID_COLUMNS: dict[str, tuple[str, ...]] = {
    "population": ("aantal_inwoners", "inwoner", "INWONER", "aantalInwoners"),
    "dwellings": ("aantal_woningen", "woning", "WONING", "aantalWoningen"),
    "pct_non_western": (
        "percentage_niet_westerse_migr_achtergr",
        "p_n_w_al",
        "P_N_W_AL",
        "percentageNietWesterseMigratieachtergrond",
    ),
    "pct_origin_outside_europe": (
        "percentage_herkomst_buiten_europa",
        "percentage_geb_nl_herkomst_buiten_europa",
        "p_herk_buiten_europa",
        "percentageMetHerkomstlandBuitenEuropa",
    ),
    "corporation_dwellings": (
        "aantal_huurwoningen_in_bezit_woningcorporaties",
        "w_corp",
        "WONING_CORP",
        "aantalHuurwoningenInBezitWoningcorporaties",
    ),
}


def aligned_frame(
    bounds: tuple[float, float, float, float], cell_m: float, margin_m: float = 0.0
) -> tuple[Affine, tuple[int, int]]:
    """Transform and shape of a raster covering ``bounds`` + ``margin_m``, cells on multiples of
    ``cell_m`` (so CBS cells align)."""
    xmin, ymin, xmax, ymax = bounds
    x0 = math.floor((xmin - margin_m) / cell_m) * cell_m
    y0 = math.floor((ymin - margin_m) / cell_m) * cell_m
    x1 = math.ceil((xmax + margin_m) / cell_m) * cell_m
    y1 = math.ceil((ymax + margin_m) / cell_m) * cell_m
    cols = max(1, round((x1 - x0) / cell_m))
    rows = max(1, round((y1 - y0) / cell_m))
    # north-up, square cells (rasterio.transform.from_origin, built directly: affine 3 warns
    # about its `*` operator there)
    return Affine(cell_m, 0.0, x0, 0.0, -cell_m, y1), (rows, cols)


def grid_values(grid: pd.DataFrame) -> pd.DataFrame:
    """The CBS grid's figures under our names (NaN where a figure or the column is missing)."""
    by_key = {_key(c): c for c in grid.columns}
    out = {}
    for name, spellings in GRID_COLUMNS.items():
        source = next((by_key[_key(s)] for s in spellings if _key(s) in by_key), None)
        if source is None:
            out[name] = np.full(len(grid), np.nan)
        else:
            values = pd.to_numeric(grid[source], errors="coerce").astype("float64")
            out[name] = values.mask(values < 0).to_numpy()  # CBS codes (-99997) are unknown
    return pd.DataFrame(out, index=grid.index)


def rasterise_cells(
    cells: gpd.GeoSeries,
    values: np.ndarray,
    transform: Affine,
    shape: tuple[int, int],
    *,
    description: str = "",
    units: str = "",
) -> tuple[Raster, Raster]:
    """Burn polygon values into a raster: the value and the "known" indicator.

    Returns the sum of the known values per cell (NaN values count 0) and the count of cells
    with an unknown value per raster cell, both as :class:`Raster`.
    """
    require_rd(cells)
    values = np.asarray(values, dtype=np.float64)
    geoms = cells.to_numpy()
    known = ~np.isnan(values)

    def burn(mask: np.ndarray, vals: np.ndarray) -> np.ndarray:
        shapes = [(g, float(v)) for g, v in zip(geoms[mask], vals[mask], strict=True)]
        if not shapes:
            return np.zeros(shape, dtype=np.float64)
        return rasterio.features.rasterize(
            shapes,
            out_shape=shape,
            transform=transform,
            fill=0.0,
            dtype="float64",
            merge_alg=MergeAlg.add,
        )

    total = burn(known, values)
    unknown = burn(~known, np.ones(values.size))
    return (
        Raster(total, transform, description, units),
        Raster(unknown, transform, f"{description}: CBS cells suppressed", "cells"),
    )


def building_cover(buildings: gpd.GeoSeries, transform: Affine, shape: tuple[int, int]) -> Raster:
    """Footprint area (m²) of ``buildings`` in each cell: exact polygon intersections (a
    convex clip to the cell, ``prepare.overlap``; GEOS for an invalid footprint)."""
    require_rd(buildings)
    out = np.zeros(shape, dtype=np.float64)
    geoms = buildings.to_numpy()
    geoms = geoms[~shapely.is_empty(geoms) & ~pd.isna(geoms)]
    if geoms.size == 0:
        return Raster(out, transform, "building footprint area", "m2")
    rows, cols = shape
    cell = transform.a
    x0, y1 = transform.c, transform.f
    boxes = shapely.box(*_cell_corners(x0, y1, cell, rows, cols))
    bld_idx, cell_idx = intersecting_pairs(geoms, shapely.STRtree(boxes), boxes)
    area = intersection_areas(geoms, boxes, bld_idx, cell_idx)
    np.add.at(out.reshape(-1), cell_idx, area)
    return Raster(out, transform, "building footprint area", "m2")


def disc_kernel(radius_m: float, cell_m: float) -> np.ndarray:
    """1 for the cells whose centre lies within ``radius_m`` of the centre cell's centre."""
    k = math.floor(radius_m / cell_m)
    offsets = np.arange(-k, k + 1) * cell_m
    dx, dy = np.meshgrid(offsets, offsets)
    return (dx**2 + dy**2 <= radius_m**2 + 1e-9).astype(np.float64)


def focal_sum(raster: Raster, radius_m: float, *, description: str = "") -> Raster:
    """Sum of the raster over a disc of ``radius_m`` around each cell (outside counts 0)."""
    kernel = disc_kernel(radius_m, raster.cell_m)
    data = np.nan_to_num(raster.data, nan=0.0)
    summed = ndimage.correlate(data, kernel, mode="constant", cval=0.0)
    return replace(raster, data=summed, description=description or raster.description)


def kernel_area_m2(radius_m: float, cell_m: float) -> float:
    """Area (m²) of the cells a focal sum of ``radius_m`` adds up."""
    return float(disc_kernel(radius_m, cell_m).sum() * cell_m * cell_m)


def sample(raster: Raster, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The value of the cell each point (EPSG:28992) lies in; NaN outside the raster."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return np.empty(0)
    rows, cols = rasterio.transform.rowcol(raster.transform, x, y)
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    inside = (rows >= 0) & (rows < raster.shape[0]) & (cols >= 0) & (cols < raster.shape[1])
    out = np.full(x.size, np.nan)
    out[inside] = raster.data[rows[inside], cols[inside]]
    return out


@dataclass(frozen=True)
class DensityResult:
    """Density indicators of the sites and the rasters behind them."""

    indicators: pd.DataFrame
    rasters: dict[str, Raster]


def density_indicators(
    points: gpd.GeoSeries,
    buildings: gpd.GeoSeries,
    grid: gpd.GeoDataFrame | None,
    radii_m: tuple[int, ...],
    cell_m: float = 100.0,
) -> DensityResult:
    """Residents, dwellings and building cover around each site.

    Columns (for each radius r): ``pop_<r>m`` and ``dwellings_<r>m`` (CBS grid, sum over the
    cells whose centre lies within r of the site's cell centre; NaN when there is no grid or
    the site lies outside its extent), ``pop_unknown_cells_<r>m`` (suppressed cells counted as
    0 in that sum), ``building_cover_<r>m`` (share 0-1 of the disc covered by building
    footprints, from OSM; always computed).

    Parameters
    ----------
    points
        The sites' representative points, EPSG:28992.
    buildings
        Building footprints (polygons), EPSG:28992.
    grid
        CBS 100 m grid cells (polygons, EPSG:28992) with population and dwellings, or None.
    """
    require_rd(points)
    radii = tuple(sorted(set(int(r) for r in radii_m)))
    reach = float(max(radii))
    bounds = tuple(points.total_bounds) if len(points) else (0.0, 0.0, cell_m, cell_m)
    transform, shape = aligned_frame(bounds, cell_m, margin_m=reach + cell_m)
    xs, ys = points.x.to_numpy(), points.y.to_numpy()
    columns: dict[str, np.ndarray] = {}
    rasters: dict[str, Raster] = {}

    cover = building_cover(buildings, transform, shape)
    rasters["building_cover_100m"] = replace(cover, description="building footprint m2 per cell")
    for r in radii:
        area = kernel_area_m2(r, cell_m)
        focal = focal_sum(cover, r)
        share = replace(
            focal, data=focal.data / area, description=f"building cover within {r} m", units="share"
        )
        rasters[f"building_cover_{r}m"] = share
        columns[f"building_cover_{r}m"] = sample(share, xs, ys)

    if grid is not None and len(grid):
        require_rd(grid)
        values = grid_values(grid)
        pop, pop_unknown = rasterise_cells(
            grid.geometry,
            values["population"].to_numpy(),
            transform,
            shape,
            description="CBS residents per 100 m cell",
            units="persons",
        )
        dwell, _ = rasterise_cells(
            grid.geometry,
            values["dwellings"].to_numpy(),
            transform,
            shape,
            description="CBS dwellings per 100 m cell",
            units="dwellings",
        )
        rasters["pop_100m"] = pop
        gx0, gy0, gx1, gy1 = grid.total_bounds
        on_grid = (xs >= gx0) & (xs <= gx1) & (ys >= gy0) & (ys <= gy1)
        for r in radii:
            p = focal_sum(pop, r, description=f"CBS residents within {r} m")
            d = focal_sum(dwell, r, description=f"CBS dwellings within {r} m")
            u = focal_sum(pop_unknown, r)
            rasters[f"pop_{r}m"] = p
            rasters[f"dwellings_{r}m"] = d
            columns[f"pop_{r}m"] = np.where(on_grid, sample(p, xs, ys), np.nan)
            columns[f"dwellings_{r}m"] = np.where(on_grid, sample(d, xs, ys), np.nan)
            columns[f"pop_unknown_cells_{r}m"] = np.where(on_grid, sample(u, xs, ys), np.nan)
    else:
        for r in radii:
            columns[f"pop_{r}m"] = np.full(len(points), np.nan)
            columns[f"dwellings_{r}m"] = np.full(len(points), np.nan)
            columns[f"pop_unknown_cells_{r}m"] = np.full(len(points), np.nan)
    return DensityResult(pd.DataFrame(columns, index=points.index), rasters)


def grid_shares_within(
    points: gpd.GeoSeries, grid: gpd.GeoDataFrame, radius_m: float, cell_m: float = 100.0
) -> pd.DataFrame:
    """Population-weighted CBS grid shares within ``radius_m`` of each point.

    Columns: ``grid_pct_migration`` (% of residents with a migration background outside
    Europe / non-western, weighted by the residents of the cells where it is known),
    ``grid_migration_known`` (share of residents in cells where it is known),
    ``grid_pct_corporation`` (% of dwellings owned by housing corporations) and
    ``grid_corporation_known`` (share of dwellings in cells where that is known).
    """
    require_rd(points)
    require_rd(grid)
    values = grid_values(grid)
    migration = values["pct_origin_outside_europe"].fillna(values["pct_non_western"])
    pop = values["population"].fillna(0.0)
    dwell = values["dwellings"].fillna(0.0)
    corp = values["corporation_dwellings"]
    layers: Mapping[str, np.ndarray] = {
        "pop": pop.to_numpy(),
        "pop_known": np.where(migration.notna(), pop, 0.0),
        "pop_x_pct": (migration * pop).fillna(0.0).to_numpy(),
        "dwell": dwell.to_numpy(),
        "dwell_known": np.where(corp.notna(), dwell, 0.0),
        "corp": corp.fillna(0.0).to_numpy(),
    }
    bounds = tuple(points.total_bounds)
    transform, shape = aligned_frame(bounds, cell_m, margin_m=radius_m + cell_m)
    xs, ys = points.x.to_numpy(), points.y.to_numpy()
    sums = {}
    for name, vals in layers.items():
        burnt, _ = rasterise_cells(grid.geometry, vals, transform, shape)
        sums[name] = sample(focal_sum(burnt, radius_m), xs, ys)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "grid_pct_migration": sums["pop_x_pct"] / sums["pop_known"],
                "grid_migration_known": sums["pop_known"] / sums["pop"],
                "grid_pct_corporation": 100.0 * sums["corp"] / sums["dwell_known"],
                "grid_corporation_known": sums["dwell_known"] / sums["dwell"],
            },
            index=points.index,
        )
    return out.replace([np.inf, -np.inf], np.nan)


def _cell_corners(
    x0: float, y1: float, cell: float, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, c = np.divmod(np.arange(rows * cols), cols)
    xmin = x0 + c * cell
    ymax = y1 - r * cell
    return xmin, ymax - cell, xmin + cell, ymax


def _key(name: object) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())
