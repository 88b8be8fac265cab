"""The ranking model in words: one row per criterion and exclusion, for the method sheet of
the national list and the reports, in the run's language. Pure: settings in, text out."""

from __future__ import annotations

from magicmix_geo.config import Settings
from magicmix_geo.language import format_number, words_in

# (English, Dutch) texts of the method rows; {placeholders} are the settings' numbers
_TEXTS: dict[str, tuple[str, str]] = {
    "lower": (
        "{indicator}: 1 at <= {best}, 0 at >= {worst}, linear between",
        "{indicator}: 1 bij <= {best}, 0 bij >= {worst}, lineair daartussen",
    ),
    "higher": (
        "{indicator}: 0 at <= {worst}, 1 at >= {best}, linear between",
        "{indicator}: 0 bij <= {worst}, 1 bij >= {best}, lineair daartussen",
    ),
    "criterion": (
        "{rule}; missing -> {missing}; weights: {weights}",
        "{rule}; ontbrekend -> {missing}; gewichten: {weights}",
    ),
    "exclusion": ("exclusion", "uitsluiting"),
    "industrial": (
        "industrial land within {m} m",
        "industrieterrein binnen {m} m",
    ),
    "neighbours": (
        "fewer than {n} residential buildings within 100 m",
        "minder dan {n} woongebouwen binnen 100 m",
    ),
    "pt_stop": (
        "no public transport stop within {m} m walking",
        "geen ov-halte binnen {m} m lopen",
    ),
    "area": ("area outside {low}-{high} m2", "oppervlak buiten {low}-{high} m2"),
    "temporary": ("temporary site", "tijdelijke locatie"),
    "temporary_allowed": ("temporary sites allowed", "tijdelijke locaties toegestaan"),
    "water": ("site at least {pct} % water", "locatie voor minstens {pct} % water"),
    "infrastructure": (
        "site at least {pct} % road or railway",
        "locatie voor minstens {pct} % weg of spoor",
    ),
    "stability_name": ("rank stability", "stabiliteit van de rang"),
    "stability": (
        "rank_p10/rank_p90 over {draws} draws, each weight x U[1-{spread}, 1+{spread}], "
        "seed {seed}; see docs/methodology.md",
        "rank_p10/rank_p90 over {draws} trekkingen, elk gewicht x U[1-{spread}, 1+{spread}], "
        "seed {seed}; zie docs/methodology.md",
    ),
    "distance_name": ("distance", "afstand"),
    "distance": (
        "walking distance over the OSM walk network (osmnx network_type='walk'), from the "
        "site's representative point and each destination's point joined to the nearest "
        "network edge by a straight segment; exact shortest paths",
        "loopafstand over het OSM-voetgangersnetwerk (osmnx network_type='walk'), van het "
        "representatieve punt van de locatie en het punt van elke bestemming, elk met een "
        "rechte lijn verbonden met de dichtstbijzijnde netwerkrand; exacte kortste paden",
    ),
}


def method_rows(settings: Settings, lang: str = "en") -> list[tuple[str, str]]:
    """The method sheet: one row per criterion and exclusion, in words, in ``lang`` (``nl``
    or ``en``); the numbers as a reader of ``lang`` writes them."""
    words = words_in(_TEXTS, lang)

    def num(value: float) -> str:
        return _plain(value, lang)

    rows = []
    for name, crit in settings.criteria.items():
        lower = crit.direction == "lower_is_better"
        rule = words["lower" if lower else "higher"].format(
            indicator=crit.indicator, best=num(crit.best), worst=num(crit.worst)
        )
        weights = ", ".join(
            f"{p} {format_number(settings.weights(p).get(name, 0), 3, lang)}"
            for p in settings.profiles
        )
        text = words["criterion"].format(rule=rule, missing=num(crit.missing), weights=weights)
        rows.append((f"score_{name}", text))
    ex = settings.exclusions
    exclusion = words["exclusion"]
    stability = settings.model.stability
    rows += [
        (exclusion, words["industrial"].format(m=num(ex.industrial_within_m))),
        (exclusion, words["neighbours"].format(n=num(ex.min_neighbour_buildings))),
        (exclusion, words["pt_stop"].format(m=num(ex.max_walk_to_pt_stop_m))),
        (exclusion, words["area"].format(low=num(ex.min_area_m2), high=num(ex.max_area_m2))),
        (exclusion, words["temporary" if ex.exclude_temporary else "temporary_allowed"]),
        (exclusion, words["water"].format(pct=num(100 * ex.max_share_water))),
        (exclusion, words["infrastructure"].format(pct=num(100 * ex.max_share_infrastructure))),
        (
            words["stability_name"],
            words["stability"].format(
                draws=num(stability.draws), spread=num(stability.spread), seed=stability.seed
            ),
        ),
        (words["distance_name"], words["distance"]),
    ]
    return rows


def _plain(value: float, lang: str) -> str:
    """``value`` with as many decimals as it has (up to 6, as ``:g``), in ``lang``'s
    separators: ``0,15``, ``50.000``."""
    digits = 0
    while digits < 6 and round(float(value), digits) != float(value):
        digits += 1
    return format_number(value, digits, lang)
