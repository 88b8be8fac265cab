"""The ranking model in words: one row per criterion and exclusion, for the method sheet of
the national list and the reports. Pure: settings in, text out."""

from __future__ import annotations

from magicmix_geo.config import Settings


def method_rows(settings: Settings) -> list[tuple[str, str]]:
    """The method sheet: one row per criterion and exclusion, in words."""
    rows = []
    for name, crit in settings.criteria.items():
        if crit.direction == "lower_is_better":
            text = (
                f"{crit.indicator}: 1 at <= {crit.best:g}, 0 at >= {crit.worst:g}, linear between"
            )
        else:
            text = (
                f"{crit.indicator}: 0 at <= {crit.worst:g}, 1 at >= {crit.best:g}, linear between"
            )
        weights = ", ".join(
            f"{p} {settings.weights(p).get(name, 0):.3f}" for p in settings.profiles
        )
        rows.append((f"score_{name}", f"{text}; missing -> {crit.missing:g}; weights: {weights}"))
    ex = settings.exclusions
    rows += [
        ("exclusion", f"industrial land within {ex.industrial_within_m:g} m"),
        (
            "exclusion",
            f"fewer than {ex.min_neighbour_buildings} residential buildings within 100 m",
        ),
        ("exclusion", f"no public transport stop within {ex.max_walk_to_pt_stop_m:g} m walking"),
        ("exclusion", f"area outside {ex.min_area_m2:g}-{ex.max_area_m2:g} m2"),
        ("exclusion", "temporary site" if ex.exclude_temporary else "temporary sites allowed"),
        ("exclusion", f"site at least {100 * ex.max_share_water:g} % water"),
        ("exclusion", f"site at least {100 * ex.max_share_infrastructure:g} % road or railway"),
        (
            "rank stability",
            f"rank_p10/rank_p90 over {settings.model.stability.draws} draws, each weight x "
            f"U[1-{settings.model.stability.spread:g}, 1+{settings.model.stability.spread:g}], "
            f"seed {settings.model.stability.seed}; see docs/methodology.md",
        ),
        (
            "distance",
            "walking distance over the OSM walk network (osmnx network_type='walk'), from the "
            "site's representative point and each destination's point joined to the nearest "
            "network edge by a straight segment; exact shortest paths",
        ),
    ]
    return rows
