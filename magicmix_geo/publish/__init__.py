"""Publishing: the files analysts open and tools read (the only place that writes outputs).

- :mod:`~magicmix_geo.publish.gpkg`: the per-municipality GeoPackage with QGIS styles;
- :mod:`~magicmix_geo.publish.maps`: the static PNG and the interactive HTML map;
- :mod:`~magicmix_geo.publish.lists`: the national ranked list (GeoPackage, CSV, Excel);
- :mod:`~magicmix_geo.publish.manifest`: input checksums and the run manifest;
- :mod:`~magicmix_geo.publish.report`: the per-municipality report (HTML and PDF).

Every file is written under a temporary name in its target folder and moved into place
only when complete.
"""

from magicmix_geo.publish.gpkg import read_manifest, write_municipality_gpkg
from magicmix_geo.publish.lists import rank_national, write_national_ranking, write_summary_csv
from magicmix_geo.publish.manifest import (
    describe_input,
    describe_user_input,
    file_sha256,
    write_manifest,
)
from magicmix_geo.publish.maps import write_interactive_map, write_static_map
from magicmix_geo.publish.report import write_municipality_report

__all__ = [
    "describe_input",
    "describe_user_input",
    "file_sha256",
    "rank_national",
    "read_manifest",
    "write_interactive_map",
    "write_manifest",
    "write_municipality_gpkg",
    "write_municipality_report",
    "write_national_ranking",
    "write_static_map",
    "write_summary_csv",
]
