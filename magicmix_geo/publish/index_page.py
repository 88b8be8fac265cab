"""``index.html``: the run folder's front page, offline.

Links to the national files, and a sortable table with one row per municipality linking its
map, report and GeoPackage. Sorting is a small inline script (click a column header; again to
reverse); no CDN. Every text is HTML-escaped and every link is a relative path of the run
folder (``overview.SAFE_LINK``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from magicmix_geo.publish._common import MAP_ATTRIBUTION, format_number, output_path
from magicmix_geo.publish.overview import SAFE_LINK, file_links

# the run's national files, in the order the index lists them (only those present)
NATIONAL_FILES = (
    "overview.html",
    "overview.png",
    "national_report.pdf",
    "national_ranking.xlsx",
    "national_ranking.csv",
    "national_ranking.gpkg",
    "national_summary.csv",
    "magicmix.qgz",
    "manifest.json",
)
_WORDS = {
    "nl": {
        "title": "Magic Mix: resultaten van de run",
        "national": "Landelijk",
        "municipalities": "Gemeenten",
        "sort": "Klik op een kolomkop om te sorteren.",
        "gm_code": "code",
        "gm_name": "gemeente",
        "candidates": "kandidaten",
        "ranked": "gerangschikt",
        "excluded": "uitgesloten",
        "homes_reserved": "woningen",
        "taakstelling": "taakstelling",
        "coverage": "dekking",
        "best_site_id": "beste locatie",
        "best_score": "score",
        "files": "bestanden",
        "map_html": "kaart",
        "map_png": "kaart (png)",
        "report_pdf": "rapport",
        "report_html": "rapport (html)",
        "gpkg": "GeoPackage",
        "run": "run",
    },
    "en": {
        "title": "Magic Mix: run results",
        "national": "National",
        "municipalities": "Municipalities",
        "sort": "Click a column header to sort.",
        "gm_code": "code",
        "gm_name": "municipality",
        "candidates": "candidates",
        "ranked": "ranked",
        "excluded": "excluded",
        "homes_reserved": "homes",
        "taakstelling": "task",
        "coverage": "coverage",
        "best_site_id": "best site",
        "best_score": "score",
        "files": "files",
        "map_html": "map",
        "map_png": "map (png)",
        "report_pdf": "report",
        "report_html": "report (html)",
        "gpkg": "GeoPackage",
        "run": "run",
    },
}
# (column, numeric) of the table
COLUMNS = (
    ("gm_code", False),
    ("gm_name", False),
    ("candidates", True),
    ("ranked", True),
    ("excluded", True),
    ("homes_reserved", True),
    ("taakstelling", True),
    ("coverage", True),
    ("best_site_id", False),
    ("best_score", True),
)
LINK_KINDS = ("map_html", "report_pdf", "report_html", "gpkg", "map_png")

_SORT_JS = """
(function () {
  var table = document.getElementById('municipalities');
  var heads = table.tHead.rows[0].cells;
  function key(row, i, numeric) {
    var v = row.cells[i].getAttribute('data-value');
    if (numeric) { return v === '' ? -Infinity : parseFloat(v); }
    return v.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i];
    var numeric = th.getAttribute('data-type') === 'num';
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, i, numeric), y = key(b, i, numeric);
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var j = 0; j < heads.length; j++) { heads[j].removeAttribute('aria-sort'); }
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  }
  for (var i = 0; i < heads.length; i++) {
    if (heads[i].getAttribute('data-type')) {
      heads[i].addEventListener('click', sortBy.bind(null, i));
    }
  }
})();
"""

_CSS = """
body{font:14px/1.45 sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px}
th{background:#f1f1f1;cursor:pointer;user-select:none}td.num{text-align:right}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.note{color:#555;font-size:12px}
"""


def _link(href: str, text: str) -> str:
    if not SAFE_LINK.match(href) or ".." in href:
        raise ValueError(f"index.html: {href!r} is not a relative path of the run folder")
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _cell(value: Any, numeric: bool, lang: str, digits: int = 0, percent: bool = False) -> str:
    """A table cell; a number shown as ``lang`` writes it, sorted by its machine value."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return '<td data-value=""></td>'
    if numeric:
        number = float(value)
        if percent:
            shown = f"{format_number(100 * number, 0, lang)} %"
        else:
            shown = format_number(number, digits, lang)
        return f'<td class="num" data-value="{number!r}">{html.escape(shown)}</td>'
    text = str(value)
    return f'<td data-value="{html.escape(text)}">{html.escape(text)}</td>'


def index_html(
    folder: Path, table: pd.DataFrame, *, manifest: dict[str, Any], lang: str = "nl"
) -> str:
    """The page text; ``folder`` is the run folder (the national files present are linked).

    Parameters
    ----------
    folder
        The run folder being written.
    table
        :func:`magicmix_geo.publish.overview.overview_table`.
    manifest
        The run manifest (its run id is shown).
    lang
        ``nl`` or ``en``.
    """
    w = _WORDS[lang]
    e = html.escape
    national = [name for name in NATIONAL_FILES if (folder / name).is_file()]
    head = "".join(
        f'<th data-type="{"num" if numeric else "text"}">{e(w[column])}</th>'
        for column, numeric in COLUMNS
    )
    rows = []
    for _, row in table.iterrows():
        cells = []
        for column, numeric in COLUMNS:
            digits = 3 if column == "best_score" else 0
            percent = column == "coverage"
            cells.append(_cell(row.get(column), numeric, lang, digits, percent=percent))
        links = file_links(row.get("files") or [])
        cells.append(
            "<td>"
            + " &middot; ".join(_link(links[k], w[k]) for k in LINK_KINDS if k in links)
            + "</td>"
        )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    run_id = str(manifest.get("run_id") or "")
    return "\n".join(
        [
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
            f"<title>{e(w['title'])}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(w['title'])}</h1>",
            f'<p class="note">{e(w["run"])} {e(run_id)} &middot; {e(MAP_ATTRIBUTION)}</p>',
            f"<h2>{e(w['national'])}</h2><ul>",
            *(f"<li>{_link(name, name)}</li>" for name in national),
            f'</ul><h2>{e(w["municipalities"])}</h2><p class="note">{e(w["sort"])}</p>',
            f'<table id="municipalities"><thead><tr>{head}<th>{e(w["files"])}</th></tr>'
            "</thead><tbody>",
            *rows,
            "</tbody></table>",
            f"<script>{_SORT_JS}</script></body></html>",
        ]
    )


def write_index(
    folder: Path, table: pd.DataFrame, *, manifest: dict[str, Any], lang: str = "nl"
) -> None:
    """Write ``index.html`` into the run folder ``folder`` (written last: it links the
    national files present); replaced atomically."""
    page = index_html(folder, table, manifest=manifest, lang=lang)
    with output_path(Path(folder) / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
