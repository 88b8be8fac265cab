"""The types every stage shares: what one municipality run reads and what it produces.

The bottom of the package: it imports no stage (acquire -> prepare -> measure -> score ->
publish all import it, never the other way round). Everything geometric is EPSG:28992 (RD New,
metres).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
from affine import Affine

from magicmix_geo._errors import InputError

if TYPE_CHECKING:
    from magicmix_geo.config import Settings

# a CBS municipality code
GM_CODE = re.compile(r"^GM\d{4}$")
# the keys of a municipality in an areas file or sample.toml (RankInputs' file fields)
INPUT_KEYS = frozenset(
    {"gm_code", "osm", "boundary", "cbs", "bag", "grid", "candidates", "profile", "plans"}
)
RD_NEW = "EPSG:28992"
# a GTFS stop service table (sources/gtfs.py writes it, measure/transit.py reads it)
GTFS_COLUMNS = ("stop_id", "stop_name", "lat", "lon", "departures_per_hour")


def require_rd(data: gpd.GeoSeries | gpd.GeoDataFrame, name: str = "data") -> None:
    """Raise ValueError unless ``data`` is in EPSG:28992 (we never reproject silently)."""
    crs = getattr(data, "crs", None)
    if crs is None:
        raise ValueError(f"{name}: no CRS; expected EPSG:28992 (RD New, metres)")
    if crs.to_epsg() != 28992:
        raise ValueError(f"{name}: CRS is {crs.to_string()}; expected EPSG:28992 (RD New, metres)")


@dataclass(frozen=True)
class RankInputs:
    """The local files of one municipality run."""

    osm: Path
    gm_code: str
    boundary: Path | None = None
    cbs: tuple[Path, ...] = ()
    grid: Path | None = None
    candidates: Path | None = None
    bag: Path | None = None
    profile: str = "singles"
    # what a candidates file is, for the manifest: "file", or "brk" for cached Kadaster parcels
    candidate_source: str = "file"
    # a GTFS stop service table (stop_id, stop_name, lat, lon, departures_per_hour), optional
    gtfs: Path | None = None
    # a plans file (plancapaciteit): its projects are `plan` candidates
    plans: Path | None = None
    # what the boundary file is, for the manifest: "cbs" for a CBS boundary (acquired, or the
    # bundled sample's area), "file" for a user's own (licence "user-supplied")
    boundary_source: str = "file"


def validate_inputs(inputs: RankInputs, settings: Settings) -> None:
    """Cheap checks before any work, so bad input fails fast with a clear message (here, low,
    so that a national run checks every municipality without importing the pipeline)."""
    if not GM_CODE.match(inputs.gm_code):
        raise InputError(f"--area: {inputs.gm_code!r} is not a municipality code like GM0503")
    settings.weights(inputs.profile)  # raises ConfigError for an unknown profile
    optional = (
        inputs.boundary,
        inputs.grid,
        inputs.candidates,
        inputs.bag,
        inputs.gtfs,
        inputs.plans,
    )
    for path in (*optional, *inputs.cbs):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{path}: file not found")


@dataclass(frozen=True)
class Raster:
    """A single-band raster in EPSG:28992: ``data[row, col]``, row 0 at the north edge."""

    data: np.ndarray
    transform: Affine
    description: str = ""
    units: str = ""
    crs: str = RD_NEW

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))

    @property
    def cell_m(self) -> float:
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax), metres."""
        rows, cols = self.shape
        xmin, ymax = self.transform.c, self.transform.f
        return (xmin, ymax - rows * self.cell_m, xmin + cols * self.cell_m, ymax)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of every cell centre, each of ``shape``."""
        rows, cols = self.shape
        xs = self.transform.c + (np.arange(cols) + 0.5) * self.cell_m
        ys = self.transform.f - (np.arange(rows) + 0.5) * self.cell_m
        xx, yy = np.meshgrid(xs, ys)
        return xx, yy


@dataclass
class MunicipalityResult:
    """What one municipality run produced, ready to publish."""

    gm_code: str
    gm_name: str
    layers: dict[str, gpd.GeoDataFrame]
    network: dict[str, int]
    inputs: list[dict[str, Any]]
    candidate_source: str
    timings: dict[str, float] = field(default_factory=dict)
    # density and accessibility surfaces, written as rasters/<GM>_<name>.tif
    rasters: dict[str, Raster] = field(default_factory=dict)

    @property
    def sites(self) -> gpd.GeoDataFrame:
        return self.layers["sites"]


def parse_gm_codes(text: str | None, option: str = "--areas") -> list[str]:
    """``"GM0503, gm0363"`` -> ``["GM0503", "GM0363"]``; each must look like GM + 4 digits."""
    codes = [c.strip().upper() for c in (text or "").split(",") if c.strip()]
    if not codes:
        raise InputError(f"{option}: no municipality code given")
    bad = [c for c in codes if not GM_CODE.match(c)]
    if bad:
        raise InputError(f"{option}: {', '.join(bad)} is not a code like GM0503")
    return codes
