"""The kinds of candidate site (issue 14), defined once for every stage."""

from __future__ import annotations

# in list order: projects and buildings first, land last
SITE_TYPES = ("plan", "new_build", "transformation", "file", "vacant_land", "proxy")
# candidates that are land, not a project or a building: the area exclusion applies to them
LAND_TYPES = frozenset({"file", "vacant_land", "proxy"})
