"""The kinds of candidate site (issue 14), defined once for every stage, with their labels.

:data:`SITE_TYPE_LABELS` is the one table of the words a reader sees for a site type, in
English and Dutch: the reasons (score/explain.py), the PDF, the HTML report, the static and
the interactive map's legends and the QGIS style all take them from here. Plain constants,
no imports, so that ``publish/styles/make_styles.py`` (the system Python with PyQGIS) can
load this file on its own.
"""

from __future__ import annotations

# in list order: projects and buildings first, land last
SITE_TYPES = ("plan", "new_build", "transformation", "file", "vacant_land", "proxy")
# candidates that are land, not a project or a building: the area exclusion applies to them
LAND_TYPES = frozenset({"file", "vacant_land", "proxy"})
LABEL_LANGS = ("nl", "en")
# site type -> (English, Dutch) label
SITE_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "plan": ("planned housing project", "gepland woningbouwproject"),
    "new_build": (
        "new build with a permit or under construction (BAG)",
        "nieuwbouw met vergunning of in aanbouw (BAG)",
    ),
    "transformation": (
        "building out of use, to repurpose (BAG)",
        "leegstaand gebouw om te herbestemmen (BAG)",
    ),
    "file": ("site from the municipality's file", "locatie uit het bestand van de gemeente"),
    "vacant_land": (
        "vacant Kadaster parcel in a residential setting",
        "onbebouwd kadastraal perceel in een woonomgeving",
    ),
    "proxy": (
        "vacant OSM plot as a proxy (no Kadaster data)",
        "onbebouwd OSM-perceel als benadering (geen kadastrale gegevens)",
    ),
}
OTHER_SITE_TYPE_LABEL = ("other site type", "ander soort locatie")


def site_type_label(site_type: object, lang: str) -> str:
    """The label of ``site_type`` in ``lang`` (``nl`` or ``en``); the "other" label for a
    type not in :data:`SITE_TYPES`. ValueError for another language."""
    if lang not in LABEL_LANGS:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(LABEL_LANGS)}")
    en, nl = SITE_TYPE_LABELS.get(str(site_type), OTHER_SITE_TYPE_LABEL)
    return nl if lang == "nl" else en
