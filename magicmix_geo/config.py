"""Typed settings loaded from ``config/*.toml``; unknown keys and out-of-range values are errors.

The defaults live in the repository's ``config/`` folder: ``network.toml`` (the walking network),
``categories.toml`` (OSM tag sets per destination category), ``criteria.toml`` (indicators,
exclusions, criteria, profiles) and ``sources.toml`` (where the data come from). A user file
given with ``--config`` is layered over them with the same section names::

    [exclusions]
    industrial_within_m = 300
    [profiles.singles]
    transit = 4.0
    [categories.supermarket]
    match = ["shop=supermarket|convenience"]
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from magicmix_geo._errors import ConfigError
from magicmix_geo.tags import TagRule, WayFilter, parse_rules

# config/ of the checkout, installed as the package data magicmix_geo._config
DEFAULT_CONFIG_DIR = Path(str(resources.files("magicmix_geo._config")))
REQUIRED_CATEGORIES = (
    "pt_stop",
    "train_station",
    "supermarket",
    "gp",
    "primary_school",
    "childcare",
    "library",
    "community_centre",
    "social_support",
    "park",
)
DIRECTIONS = ("lower_is_better", "higher_is_better")
# "brk": Kadaster parcels from the data cache when there, else "osm_proxy" (see sources.acquire)
CANDIDATE_SOURCES = ("brk", "osm_proxy")
# tables of sources.toml that are settings, not sources
SOURCE_SETTINGS_TABLES = ("candidates", "acquire")


@dataclass(frozen=True)
class CapacitySettings:
    """See config/capacity.toml for the meaning and the sources of every number."""

    reserve_share: float
    min_homes: int
    max_homes: int
    homes_per_ha: dict[int, float]
    cluster_min: int
    cluster_max: int
    max_sites_per_buurt: int
    min_distance_m: float
    # floor area per home of a building to repurpose (m2)
    m2_per_home: float = 50.0


@dataclass(frozen=True)
class WalkSettings:
    way_filter: str
    largest_component_only: bool
    # network and destinations kept within this distance of the municipality (prepare/clip.py)
    clip_buffer_m: float = 2000.0
    # other components than the largest are kept when they reach into the area with this
    # many nodes (islands, separate villages; prepare/network.area_components)
    min_component_nodes: int = 100
    # a site farther than this from every kept street is not joined to one (another island)
    max_snap_m: float = 500.0


@dataclass(frozen=True)
class Category:
    name: str
    label_en: str
    label_nl: str
    match: tuple[TagRule, ...]
    exclude: tuple[TagRule, ...]


@dataclass(frozen=True)
class ContextSettings:
    neighbour_radius_m: float
    residential_share_radius_m: float
    residential_building_tags: tuple[TagRule, ...]
    industrial_tags: tuple[TagRule, ...]
    residential_landuse_tags: tuple[TagRule, ...]
    water_tags: tuple[TagRule, ...] = ()
    infrastructure_tags: tuple[TagRule, ...] = ()
    road_half_width_m: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Exclusions:
    industrial_within_m: float
    min_neighbour_buildings: int
    max_walk_to_pt_stop_m: float
    min_area_m2: float
    max_area_m2: float
    exclude_temporary: bool
    max_share_water: float = 1.0
    max_share_infrastructure: float = 1.0


@dataclass(frozen=True)
class Fallback:
    """A second indicator scored where a criterion's own indicator is null."""

    indicator: str
    best: float
    worst: float


@dataclass(frozen=True)
class Criterion:
    name: str
    indicator: str
    direction: str
    best: float
    worst: float
    missing: float
    label_en: str = ""
    label_nl: str = ""
    fallback: Fallback | None = None


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    licence: str
    attribution: str


@dataclass(frozen=True)
class Settings:
    walk: WalkSettings
    categories: dict[str, Category]
    counts: dict[str, tuple[int, ...]]
    context: ContextSettings
    exclusions: Exclusions
    criteria: dict[str, Criterion]
    profiles: dict[str, dict[str, float]]
    sources: dict[str, Source]
    default_candidates: str
    raw: dict[str, Any]
    model: ModelSettings
    capacity: CapacitySettings
    sites: SiteSettings = field(default_factory=lambda: SiteSettings())
    site_preference: dict[str, float] = field(default_factory=dict)
    # persons per home per household profile (config/capacity.toml [persons_per_home]): the
    # published taakstelling counts persons, the sites offer homes
    persons_per_home: dict[str, float] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        """A content hash of the effective configuration (for manifests and caching)."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def weights(self, profile: str) -> dict[str, float]:
        """Normalised criterion weights of ``profile`` (they sum to 1)."""
        if profile not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"unknown profile {profile!r} (known: {known})")
        raw = self.profiles[profile]
        total = sum(raw.values())
        return {name: w / total for name, w in raw.items()}


def load_settings(
    user_file: Path | Sequence[Path] | None = None, config_dir: Path = DEFAULT_CONFIG_DIR
) -> Settings:
    """Load the default configuration and layer ``user_file`` over it (several files: each over
    the ones before, e.g. the sample's own settings, then the user's).

    Raises
    ------
    ConfigError
        Naming the file and the key, for an unreadable file, an unknown key, a wrong type or an
        out-of-range value.
    """
    merged = _read_defaults(config_dir)
    origin = str(config_dir)
    files = [user_file] if isinstance(user_file, str | Path) else list(user_file or [])
    for path in files:
        user = _read_toml(Path(path))
        _merge_checked(merged, user, str(path), path=())
        origin = str(path)
    return _build(merged, origin)


def _read_defaults(config_dir: Path) -> dict[str, Any]:
    network = _read_toml(config_dir / "network.toml")
    criteria = _read_toml(config_dir / "criteria.toml")
    merged: dict[str, Any] = {}
    merged.update(network)
    merged["categories"] = _read_toml(config_dir / "categories.toml")
    merged.update(criteria)
    merged["sources"] = _read_toml(config_dir / "sources.toml")
    merged["capacity"] = _read_toml(config_dir / "capacity.toml")
    merged.update(_read_toml(config_dir / "sites.toml"))
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


# sections whose keys a user file may extend with new entries (a new category, a new profile)
_OPEN_SECTIONS = {
    ("categories",),
    ("profiles",),
    ("counts",),
    ("capacity", "persons_per_home"),
}


def _merge_checked(
    base: dict[str, Any], over: dict[str, Any], origin: str, path: tuple[str, ...]
) -> None:
    for key, value in over.items():
        key_path = (*path, key)
        dotted = ".".join(key_path)
        if key not in base:
            if path in _OPEN_SECTIONS:
                base[key] = copy.deepcopy(value)
                continue
            raise ConfigError(f"{origin}: unknown configuration key {dotted!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: key {dotted!r} must be a table")
            _merge_checked(base[key], value, origin, key_path)
        else:
            base[key] = value


def _build(raw: dict[str, Any], origin: str) -> Settings:
    reader = _Reader(raw, origin)
    way_filter = reader.string(("walk", "way_filter"))
    try:
        WayFilter(way_filter)
    except ValueError as exc:
        raise ConfigError(f"{origin}: key 'walk.way_filter': {exc}") from exc
    walk = WalkSettings(
        way_filter=way_filter,
        largest_component_only=reader.boolean(("walk", "largest_component_only")),
        clip_buffer_m=reader.number(("walk", "clip_buffer_m"), low=2000, high=50_000),
        min_component_nodes=int(reader.number(("walk", "min_component_nodes"), low=1, high=1e6)),
        max_snap_m=reader.number(("walk", "max_snap_m"), low=1, high=10_000),
    )
    categories = {name: _category(reader, name) for name in reader.table(("categories",))}
    for name in REQUIRED_CATEGORIES:
        if name not in categories:
            raise ConfigError(f"{origin}: category {name!r} is required (categories.{name})")
    counts: dict[str, tuple[int, ...]] = {}
    for name in reader.table(("counts",)):
        if name not in categories:
            raise ConfigError(f"{origin}: counts.{name} names an unknown category")
        values = reader.value(("counts", name))
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: counts.{name} must be a non-empty list of metres")
        counts[name] = tuple(
            int(reader.number(("counts", name), low=1, high=10_000, value=v)) for v in values
        )
    context = ContextSettings(
        neighbour_radius_m=reader.number(("context", "neighbour_radius_m"), low=1, high=2000),
        residential_share_radius_m=reader.number(
            ("context", "residential_share_radius_m"), low=10, high=5000
        ),
        residential_building_tags=reader.rules(("context", "residential_building_tags")),
        industrial_tags=reader.rules(("context", "industrial_tags")),
        residential_landuse_tags=reader.rules(("context", "residential_landuse_tags")),
        water_tags=reader.rules(("context", "water_tags")),
        infrastructure_tags=reader.rules(("context", "infrastructure_tags")),
        road_half_width_m=tuple(
            (kind, reader.number(("context", "road_half_width_m", kind), low=0.0, high=100.0))
            for kind in reader.table(("context", "road_half_width_m"))
        ),
    )
    exclusions = Exclusions(
        industrial_within_m=reader.number(
            ("exclusions", "industrial_within_m"), low=0, high=10_000
        ),
        min_neighbour_buildings=int(
            reader.number(("exclusions", "min_neighbour_buildings"), low=0, high=10_000)
        ),
        max_walk_to_pt_stop_m=reader.number(
            ("exclusions", "max_walk_to_pt_stop_m"), low=1, high=50_000
        ),
        min_area_m2=reader.number(("exclusions", "min_area_m2"), low=0, high=1e7),
        max_area_m2=reader.number(("exclusions", "max_area_m2"), low=1, high=1e8),
        exclude_temporary=reader.boolean(("exclusions", "exclude_temporary")),
        max_share_water=reader.number(("exclusions", "max_share_water"), low=0.0, high=1.0),
        max_share_infrastructure=reader.number(
            ("exclusions", "max_share_infrastructure"), low=0.0, high=1.0
        ),
    )
    if exclusions.min_area_m2 >= exclusions.max_area_m2:
        raise ConfigError(f"{origin}: exclusions.min_area_m2 must be below exclusions.max_area_m2")
    criteria = {name: _criterion(reader, name) for name in reader.table(("criteria",))}
    profiles: dict[str, dict[str, float]] = {}
    for profile in reader.table(("profiles",)):
        weights = {}
        for criterion in reader.table(("profiles", profile)):
            key = ("profiles", profile, criterion)
            if criterion not in criteria:
                raise ConfigError(f"{origin}: unknown criterion in key {'.'.join(key)!r}")
            weights[criterion] = reader.number(key, low=0.0, high=100.0)
        if sum(weights.values()) <= 0:
            raise ConfigError(f"{origin}: profiles.{profile} has no positive weight")
        profiles[profile] = weights
    if not profiles:
        raise ConfigError(f"{origin}: at least one profile is required")
    sources = {}
    for name in reader.table(("sources",)):
        if name in SOURCE_SETTINGS_TABLES:
            continue
        sources[name] = Source(
            name=name,
            url=reader.string(("sources", name, "url")),
            licence=reader.string(("sources", name, "licence")),
            attribution=reader.string(("sources", name, "attribution")),
        )
    default_candidates = reader.string(("sources", "candidates", "default"))
    if default_candidates not in CANDIDATE_SOURCES:
        raise ConfigError(
            f"{origin}: sources.candidates.default must be one of {CANDIDATE_SOURCES}, "
            f"got {default_candidates!r}"
        )
    return Settings(
        walk=walk,
        categories=categories,
        counts=counts,
        context=context,
        exclusions=exclusions,
        criteria=criteria,
        profiles=profiles,
        sources=sources,
        default_candidates=default_candidates,
        raw=raw,
        model=_model_settings(reader, categories),
        capacity=_capacity_settings(reader),
        sites=_site_settings(reader),
        site_preference=_site_preference(reader),
        persons_per_home=_persons_per_home(reader, profiles),
    )


def _persons_per_home(reader: _Reader, profiles: dict[str, dict[str, float]]) -> dict[str, float]:
    """``capacity.persons_per_home``: one number in [1, 15] for every profile, no other keys."""
    base = ("capacity", "persons_per_home")
    values = {}
    for profile in reader.table(base):
        if profile not in profiles:
            raise ConfigError(
                f"{reader.origin}: unknown configuration key 'capacity.persons_per_home."
                f"{profile}' (profiles: {', '.join(sorted(profiles))})"
            )
        values[profile] = reader.number((*base, profile), low=1.0, high=15.0)
    missing = sorted(set(profiles) - set(values))
    if missing:
        raise ConfigError(
            f"{reader.origin}: capacity.persons_per_home needs a value for profile(s) "
            f"{', '.join(missing)}"
        )
    return values


def _capacity_settings(reader: _Reader) -> CapacitySettings:
    base = ("capacity",)
    reader.only_keys(
        base,
        {
            "reserve_share",
            "min_homes",
            "max_homes",
            "cluster_min",
            "cluster_max",
            "max_sites_per_buurt",
            "min_distance_m",
            "homes_per_ha",
            "m2_per_home",
            "persons_per_home",
        },
    )

    def number(key: str, low: float, high: float) -> float:
        return reader.number((*base, key), low=low, high=high)

    norms = {}
    for cls in reader.table((*base, "homes_per_ha")):
        if cls not in {"1", "2", "3", "4", "5"}:
            raise ConfigError(
                f"{reader.origin}: unknown configuration key 'capacity.homes_per_ha.{cls}' "
                "(urbanity classes are 1 to 5)"
            )
        norms[int(cls)] = reader.number((*base, "homes_per_ha", cls), low=1, high=1000)
    if set(norms) != {1, 2, 3, 4, 5}:
        raise ConfigError(f"{reader.origin}: capacity.homes_per_ha needs classes 1 to 5")
    settings = CapacitySettings(
        reserve_share=number("reserve_share", 0.001, 1.0),
        min_homes=int(number("min_homes", 1, 10_000)),
        max_homes=int(number("max_homes", 1, 100_000)),
        homes_per_ha=norms,
        cluster_min=int(number("cluster_min", 1, 100)),
        cluster_max=int(number("cluster_max", 1, 100)),
        max_sites_per_buurt=int(number("max_sites_per_buurt", 1, 1000)),
        min_distance_m=number("min_distance_m", 0, 10_000),
        m2_per_home=number("m2_per_home", 10, 1000),
    )
    if settings.min_homes > settings.max_homes:
        raise ConfigError(f"{reader.origin}: capacity.min_homes must not exceed capacity.max_homes")
    if settings.cluster_min > settings.cluster_max:
        raise ConfigError(
            f"{reader.origin}: capacity.cluster_min must not exceed capacity.cluster_max"
        )
    return settings


def _category(reader: _Reader, name: str) -> Category:
    base = ("categories", name)
    reader.only_keys(base, {"label_en", "label_nl", "match", "exclude"})
    if not name.isidentifier() or name != name.lower():
        raise ConfigError(f"{reader.origin}: category name {name!r} must be lowercase snake_case")
    return Category(
        name=name,
        label_en=reader.string((*base, "label_en")),
        label_nl=reader.string((*base, "label_nl")),
        match=reader.rules((*base, "match")),
        exclude=reader.rules((*base, "exclude"), allow_empty=True),
    )


def _criterion(reader: _Reader, name: str) -> Criterion:
    base = ("criteria", name)
    reader.only_keys(
        base,
        {"indicator", "direction", "best", "worst", "missing", "label_en", "label_nl", "fallback"},
    )
    direction = reader.string((*base, "direction"))
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"{reader.origin}: key {'.'.join((*base, 'direction'))!r} must be one of {DIRECTIONS}"
        )
    best = reader.number((*base, "best"), low=-1e9, high=1e9)
    worst = reader.number((*base, "worst"), low=-1e9, high=1e9)
    if best == worst or (direction == "lower_is_better") != (best < worst):
        raise ConfigError(
            f"{reader.origin}: criteria.{name}: with direction {direction!r}, best ({best}) and "
            f"worst ({worst}) are the wrong way round or equal"
        )
    fallback = None
    if "fallback" in reader.table(base):
        fb = (*base, "fallback")
        reader.only_keys(fb, {"indicator", "best", "worst"})
        fb_best = reader.number((*fb, "best"), low=-1e9, high=1e9)
        fb_worst = reader.number((*fb, "worst"), low=-1e9, high=1e9)
        if fb_best == fb_worst or (direction == "lower_is_better") != (fb_best < fb_worst):
            raise ConfigError(
                f"{reader.origin}: criteria.{name}.fallback: with direction {direction!r}, best "
                f"({fb_best}) and worst ({fb_worst}) are the wrong way round or equal"
            )
        fallback = Fallback(reader.string((*fb, "indicator")), fb_best, fb_worst)
    labels = set(reader.table(base))
    return Criterion(
        name=name,
        indicator=reader.string((*base, "indicator")),
        direction=direction,
        best=best,
        worst=worst,
        missing=reader.number((*base, "missing"), low=0.0, high=1.0),
        label_en=reader.string((*base, "label_en")) if "label_en" in labels else name,
        label_nl=reader.string((*base, "label_nl")) if "label_nl" in labels else name,
        fallback=fallback,
    )


# --------------------------------------------------------------------------------------------
# candidate sites: the plans file's columns and the typing rules (config/sites.toml), the
# preference of each site type (criteria.toml [site_preference])
# --------------------------------------------------------------------------------------------

# our plan fields; `name` and `homes` are required in a plans file
PLAN_FIELDS = (
    "name",
    "homes",
    "status",
    "period",
    "type",
    "rent",
    "buy",
    "social",
    "temporary",
    "municipality",
)
REQUIRED_PLAN_FIELDS = ("name", "homes")
# what site_preference rates: the site types plus plans that repurpose or lie at the edge
SITE_PREFERENCE_KEYS = (
    "transformation",
    "plan_repurpose",
    "plan",
    "new_build",
    "file",
    "vacant_land",
    "proxy",
    "plan_edge",
)


@dataclass(frozen=True)
class SiteSettings:
    """See config/sites.toml: the plans file's columns and the rules that type candidates."""

    plan_columns: tuple[tuple[str, str], ...] = tuple((f, f) for f in PLAN_FIELDS)
    temporary_words: tuple[str, ...] = ("tijdelijk", "flexwon", "modulair")
    repurpose_types: tuple[str, ...] = ("pand transformatie", "transformatiegebied")
    edge_types: tuple[str, ...] = ("uitbreiding uitleg",)
    transformation_uses: tuple[str, ...] = (
        "kantoorfunctie",
        "onderwijsfunctie",
        "gezondheidszorgfunctie",
        "bijeenkomstfunctie",
    )
    max_building_cover: float = 0.05
    residential_context_m: float = 100.0
    min_residential_buildings: int = 3

    @property
    def columns(self) -> dict[str, str]:
        """Our plan field -> the plans file's column."""
        return dict(self.plan_columns)


def _site_settings(reader: _Reader) -> SiteSettings:
    reader.only_keys(("plans",), {"columns", "temporary_words", "repurpose_types", "edge_types"})
    reader.only_keys(("plans", "columns"), set(PLAN_FIELDS))
    columns = tuple(
        (
            name,
            reader.string(("plans", "columns", name))
            if name in reader.table(("plans", "columns"))
            else name,
        )
        for name in PLAN_FIELDS
    )
    reader.only_keys(
        ("sites",),
        {
            "transformation_uses",
            "max_building_cover",
            "residential_context_m",
            "min_residential_buildings",
        },
    )
    return SiteSettings(
        plan_columns=columns,
        temporary_words=reader.words(("plans", "temporary_words")),
        repurpose_types=reader.words(("plans", "repurpose_types")),
        edge_types=reader.words(("plans", "edge_types")),
        transformation_uses=reader.words(("sites", "transformation_uses")),
        max_building_cover=reader.number(("sites", "max_building_cover"), low=0.0, high=1.0),
        residential_context_m=reader.number(
            ("sites", "residential_context_m"), low=1.0, high=5000.0
        ),
        min_residential_buildings=int(
            reader.number(("sites", "min_residential_buildings"), low=0, high=10_000)
        ),
    )


def _site_preference(reader: _Reader) -> dict[str, float]:
    base = ("site_preference",)
    reader.only_keys(base, set(SITE_PREFERENCE_KEYS))
    missing = [k for k in SITE_PREFERENCE_KEYS if k not in reader.table(base)]
    if missing:
        raise ConfigError(
            f"{reader.origin}: missing configuration key 'site_preference.{missing[0]}'"
        )
    return {k: reader.number((*base, k), low=0.0, high=1.0) for k in SITE_PREFERENCE_KEYS}


# --------------------------------------------------------------------------------------------
# model settings: transit quality, density, social mix, rank stability, explanations, rasters
# --------------------------------------------------------------------------------------------

TRANSIT_MODES = ("train", "metro", "tram", "bus", "other")


@dataclass(frozen=True)
class TransitSettings:
    walk_speed_m_per_min: float
    gtfs_match_radius_m: float
    max_wait_min: float
    mode_wait_min: dict[str, float]


@dataclass(frozen=True)
class DensitySettings:
    cell_m: float
    radii_m: tuple[int, ...]


@dataclass(frozen=True)
class SocialSettings:
    radius_m: float
    min_known_share: float


@dataclass(frozen=True)
class StabilitySettings:
    draws: int
    spread: float
    seed: int
    stable_max_width: float


@dataclass(frozen=True)
class RasterSettings:
    cell_m: float
    max_connector_m: float
    categories: tuple[str, ...]


@dataclass(frozen=True)
class ModelSettings:
    """The ranking model's settings beyond criteria and weights (config/criteria.toml)."""

    transit: TransitSettings
    density: DensitySettings
    social: SocialSettings
    stability: StabilitySettings
    top_reasons: int
    rasters: RasterSettings


def _model_settings(reader: _Reader, categories: dict[str, Category]) -> ModelSettings:
    origin = reader.origin
    reader.only_keys(
        ("transit",),
        {"walk_speed_m_per_min", "gtfs_match_radius_m", "max_wait_min", "mode_wait_min"},
    )
    reader.only_keys(("transit", "mode_wait_min"), set(TRANSIT_MODES))
    mode_wait = {
        mode: reader.number(("transit", "mode_wait_min", mode), low=0.0, high=240.0)
        for mode in TRANSIT_MODES
    }
    transit = TransitSettings(
        walk_speed_m_per_min=reader.number(("transit", "walk_speed_m_per_min"), low=10, high=300),
        gtfs_match_radius_m=reader.number(("transit", "gtfs_match_radius_m"), low=0, high=1000),
        max_wait_min=reader.number(("transit", "max_wait_min"), low=0.5, high=1440),
        mode_wait_min=mode_wait,
    )
    reader.only_keys(("density",), {"cell_m", "radii_m"})
    radii = reader.value(("density", "radii_m"))
    if not isinstance(radii, list) or not radii:
        raise ConfigError(f"{origin}: key 'density.radii_m' must be a non-empty list of metres")
    density = DensitySettings(
        cell_m=reader.number(("density", "cell_m"), low=10, high=1000),
        radii_m=tuple(
            int(reader.number(("density", "radii_m"), low=1, high=10_000, value=v)) for v in radii
        ),
    )
    reader.only_keys(("social",), {"radius_m", "min_known_share"})
    social = SocialSettings(
        radius_m=reader.number(("social", "radius_m"), low=1, high=10_000),
        min_known_share=reader.number(("social", "min_known_share"), low=0.0, high=1.0),
    )
    reader.only_keys(("stability",), {"draws", "spread", "seed", "stable_max_width"})
    stability = StabilitySettings(
        draws=int(reader.number(("stability", "draws"), low=1, high=100_000)),
        spread=reader.number(("stability", "spread"), low=0.0, high=0.99),
        seed=int(reader.number(("stability", "seed"), low=0, high=2**63 - 1)),
        stable_max_width=reader.number(("stability", "stable_max_width"), low=0.0, high=1.0),
    )
    reader.only_keys(("explain",), {"top_reasons"})
    reader.only_keys(("rasters",), {"cell_m", "max_connector_m", "categories"})
    names = reader.value(("rasters", "categories"))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{origin}: key 'rasters.categories' must be a list of category names")
    for name in names:
        if name not in categories:
            raise ConfigError(f"{origin}: rasters.categories names an unknown category {name!r}")
    rasters = RasterSettings(
        cell_m=reader.number(("rasters", "cell_m"), low=1, high=1000),
        max_connector_m=reader.number(("rasters", "max_connector_m"), low=0, high=10_000),
        categories=tuple(names),
    )
    return ModelSettings(
        transit=transit,
        density=density,
        social=social,
        stability=stability,
        top_reasons=int(reader.number(("explain", "top_reasons"), low=1, high=20)),
        rasters=rasters,
    )


class _Reader:
    """Typed access to the merged raw configuration with errors that name the key."""

    def __init__(self, raw: dict[str, Any], origin: str) -> None:
        self.raw = raw
        self.origin = origin

    def value(self, key: tuple[str, ...]) -> Any:
        node: Any = self.raw
        for part in key:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{self.origin}: missing configuration key {'.'.join(key)!r}")
            node = node[part]
        return node

    def table(self, key: tuple[str, ...]) -> list[str]:
        node = self.value(key)
        if not isinstance(node, dict):
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must be a table")
        return list(node)

    def only_keys(self, key: tuple[str, ...], allowed: set[str]) -> None:
        for name in self.table(key):
            if name not in allowed:
                raise ConfigError(
                    f"{self.origin}: unknown configuration key {'.'.join((*key, name))!r}"
                )

    def string(self, key: tuple[str, ...]) -> str:
        value = self.value(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must be a non-empty string")
        return value

    def boolean(self, key: tuple[str, ...]) -> bool:
        value = self.value(key)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must be true or false")
        return value

    def number(self, key: tuple[str, ...], *, low: float, high: float, value: Any = None) -> float:
        if value is None:
            value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"{self.origin}: key {'.'.join(key)!r} must be a number, got {value!r}"
            )
        if not low <= value <= high:
            raise ConfigError(
                f"{self.origin}: key {'.'.join(key)!r} = {value} is out of range [{low}, {high}]"
            )
        return float(value)

    def words(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """A list of words, lower-cased (matched case-insensitively)."""
        value = self.value(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must be a list of words")
        return tuple(v.lower() for v in value)

    def rules(self, key: tuple[str, ...], *, allow_empty: bool = False) -> tuple[TagRule, ...]:
        value = self.value(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must be a list of tag rules")
        if not value and not allow_empty:
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r} must not be empty")
        try:
            return parse_rules(value)
        except ValueError as exc:
            raise ConfigError(f"{self.origin}: key {'.'.join(key)!r}: {exc}") from exc
