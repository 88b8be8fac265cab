"""The data cache: where acquired sources live on disk, and one manifest per source.

Layout under the cache root (``--data-dir``, else ``MAGICMIX_DATA_DIR``, else
``$XDG_CACHE_HOME/magicmix-geo`` or ``~/.cache/magicmix-geo``)::

    osm/netherlands-latest.osm.pbf           the Geofabrik file(s), as downloaded
    cbs/<wijkbuurtkaart>.zip, cbs/wijkbuurtkaart.gpkg, cbs/<vk100>.zip, cbs/vierkant_100m.gpkg
    cbs/areas/GM0503/{gemeente,buurten,grid}.gpkg, odata_<table>.csv
    brk/areas/GM0503/percelen.gpkg           layer "candidates" (one row per parcel)
    bag/areas/GM0503/pand.gpkg, verblijfsobject.gpkg   one layer each; panden with flags
    gtfs/gtfs-nl.zip, gtfs/departures_per_hour.csv
    <source>/manifest.json

A manifest says where the source came from (``url``), when (``retrieved_at``, ``checked_at``),
which version (``version``), its checksum (``sha256``), its licence and where the licence was
read (``licence_from``: ``"service"`` or ``"config"``), and per file or per area the details.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from magicmix_geo._atomic import write_text_atomic
from magicmix_geo.config import Settings

DATA_DIR_ENV = "MAGICMIX_DATA_DIR"
SOURCES = ("osm", "cbs", "brk", "bag", "gtfs")


def default_data_dir() -> Path:
    """``MAGICMIX_DATA_DIR``, else the user's cache folder + ``magicmix-geo``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "magicmix-geo"


def source_url(settings: Settings, name: str) -> str:
    """The URL of source ``name``: ``MAGICMIX_<NAME>_URL`` if set, else ``sources.<name>.url``."""
    env = os.environ.get(f"MAGICMIX_{name.upper()}_URL")
    return env if env else settings.sources[name].url


def source_location(settings: Settings, name: str, key: str, env: str) -> str:
    """A further location of source ``name`` (``[<name>] <key>``), overridden by ``env``.

    An ``env`` that is set wins even when empty: ``MAGICMIX_GRID_URL=""`` means "no grid".
    """
    value = os.environ.get(env)
    if value is not None:
        return value.strip()
    return str(source_option(settings, name, key, "") or "")


def source_option(settings: Settings, name: str, key: str, default: Any = None) -> Any:
    """A further key of ``[<name>]`` in sources.toml (``provinces``, ``collections`` ...)."""
    table = settings.raw.get("sources", {}).get(name, {})
    return table.get(key, default)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DataCache:
    """Paths and manifests of the data cache at ``root``."""

    root: Path

    @classmethod
    def at(cls, data_dir: Path | None = None) -> DataCache:
        return cls(Path(data_dir) if data_dir is not None else default_data_dir())

    def source_dir(self, source: str) -> Path:
        return self.root / source

    def area_dir(self, source: str, gm_code: str) -> Path:
        return self.root / source / "areas" / gm_code

    def manifest_path(self, source: str) -> Path:
        return self.source_dir(source) / "manifest.json"

    def read_manifest(self, source: str) -> dict[str, Any] | None:
        path = self.manifest_path(source)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a broken manifest is treated as no manifest
        return data if isinstance(data, dict) else None

    def write_manifest(self, source: str, manifest: dict[str, Any]) -> Path:
        path = self.manifest_path(source)
        text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        write_text_atomic(path, text + "\n")
        return path

    # well-known files ------------------------------------------------------------------------

    def cbs_map(self) -> Path:
        return self.source_dir("cbs") / "wijkbuurtkaart.gpkg"

    def cbs_grid(self) -> Path:
        return self.source_dir("cbs") / "vierkant_100m.gpkg"

    def cbs_gemeente(self, gm_code: str) -> Path:
        return self.area_dir("cbs", gm_code) / "gemeente.gpkg"

    def cbs_buurten(self, gm_code: str) -> Path:
        return self.area_dir("cbs", gm_code) / "buurten.gpkg"

    def cbs_area_grid(self, gm_code: str) -> Path:
        return self.area_dir("cbs", gm_code) / "grid.gpkg"

    def brk_parcels(self, gm_code: str) -> Path:
        return self.area_dir("brk", gm_code) / "percelen.gpkg"

    def bag_buildings(self, gm_code: str) -> Path:
        """BAG panden with flags (the file ``rank --bag`` takes)."""
        return self.bag_layer(gm_code, "pand")

    def bag_layer(self, gm_code: str, collection: str) -> Path:
        return self.area_dir("bag", gm_code) / f"{collection}.gpkg"

    def gtfs_departures(self) -> Path:
        return self.source_dir("gtfs") / "departures_per_hour.csv"
