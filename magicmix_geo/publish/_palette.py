"""Colours and symbols shared by every output: PNG, HTML, PDF and the QGIS styles.

Plain constants without imports, so that ``styles/make_styles.py`` (run by the system Python
that has PyQGIS, not by the package's environment) can load this file on its own.
"""

# score_total in five equal classes, red (poor) to green (good): ColorBrewer RdYlGn.
# A class holds (lower, upper], the first one also 0, as QGIS's graduated renderer does.
SCORE_BREAKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SCORE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
EXCLUDED_COLOUR = "#bebebe"
EXCLUDED_EDGE = "#9a9a9a"
NO_SCORE_COLOUR = "#ffffff"
SITE_EDGE = "#505050"
# the QGIS graduated legend's classes (lower, upper) below the scores, for excluded sites and
# sites without a score (styles/make_styles.py SCORE_EXPRESSION maps them to -1 and -2)
EXCLUDED_CLASS = (-1.5, -0.5)
NO_SCORE_CLASS = (-2.5, -1.5)

# candidate site types (magicmix_geo/site_types.py SITE_TYPES, where their labels are):
# outline colour and outline dash style, drawn over the score fill so that both stay readable.
# Dash styles are named as QGIS names them; MPL_DASHES and LEAFLET_DASHES map them to
# matplotlib's and Leaflet's. A new site type needs a line here and regenerated styles
# (styles/make_styles.py).
SITE_TYPE_STYLES: dict[str, tuple[str, str]] = {
    "plan": ("#08306b", "dash"),
    "new_build": ("#6a3d9a", "solid"),
    "transformation": ("#e7298a", "solid"),
    "file": ("#000000", "solid"),
    "vacant_land": ("#8c510a", "dash dot"),
    "proxy": ("#737373", "dot"),
}
OTHER_SITE_TYPE_STYLE = ("#505050", "solid")
SITE_TYPE_WIDTH_MM = 0.6
MPL_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dash dot": "-."}
LEAFLET_DASHES: dict[str, str | None] = {
    "solid": None,
    "dash": "6 4",
    "dot": "2 3",
    "dash dot": "6 3 2 3",
}

# background (context) layers
BOUNDARY_COLOUR = "#222222"
BUILDING_COLOUR = "#e4ded6"
WATER_COLOUR = "#cfe3f3"
STREET_COLOUR = "#b8b8b8"

# destination categories (config/categories.toml): English label, colour, marker. A new
# category needs a line here and regenerated styles (styles/make_styles.py).
# Markers are named as QGIS names them; MPL_MARKERS maps them to matplotlib's.
CATEGORY_STYLES: dict[str, tuple[str, str, str]] = {
    "pt_stop": ("public transport stop", "#1f77b4", "circle"),
    "train_station": ("train station", "#08306b", "square"),
    "supermarket": ("supermarket", "#ff7f0e", "triangle"),
    "gp": ("general practitioner", "#d62728", "cross_fill"),
    "primary_school": ("primary school", "#9467bd", "pentagon"),
    "childcare": ("childcare", "#e377c2", "hexagon"),
    "library": ("library", "#8c564b", "diamond"),
    "community_centre": ("community centre", "#bcbd22", "star"),
    "social_support": ("social support", "#111111", "octagon"),
    "park": ("park", "#2ca02c", "circle"),
    "playground": ("playground", "#17becf", "square"),
}
OTHER_CATEGORY_STYLE = ("other", "#7f7f7f", "circle")

# public transport stops by mode (layer transit_stops, measure/transit.py stop_modes)
MODE_STYLES: dict[str, tuple[str, str, str]] = {
    "train": ("train", "#08306b", "square"),
    "metro": ("metro", "#6a3d9a", "diamond"),
    "tram": ("tram", "#e31a1c", "triangle"),
    "bus": ("bus", "#1f77b4", "circle"),
}
MPL_MARKERS = {
    "circle": "o",
    "square": "s",
    "triangle": "^",
    "cross_fill": "P",
    "pentagon": "p",
    "hexagon": "h",
    "diamond": "D",
    "star": "*",
    "octagon": "8",
}
