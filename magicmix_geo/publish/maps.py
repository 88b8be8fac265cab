"""Maps of the ranked sites: a static PNG (matplotlib, offline) and an interactive HTML (folium).

Both draw only our own data; neither needs a tile server to show the ranking.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement, Template
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colorbar import ColorbarBase
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from PIL import Image

from magicmix_geo.publish._common import (
    BUILDING_COLOUR,
    EXCLUDED_COLOUR,
    EXCLUDED_EDGE,
    LEAFLET_DASHES,
    MAP_ATTRIBUTION,
    MPL_DASHES,
    NO_SCORE_COLOUR,
    SCORE_BREAKS,
    SCORE_COLOURS,
    SITE_EDGE,
    STREET_COLOUR,
    WATER_COLOUR,
    category_style,
    excluded_mask,
    format_number,
    output_path,
    quiet_missing_glyphs,
    reason_text,
    require_rd,
    score_colour,
    site_type_look,
    site_type_style,
    walking_distance_text,
    words_in,
)
from magicmix_geo.score.explain import exclusion_reason_column
from magicmix_geo.site_types import SITE_TYPES, site_type_label

TOP_LABELLED = 10
MAP_DPI = 150  # the static PNG; the PDF report embeds it at this resolution
SIMPLIFY_TOLERANCE_M = 2.0
COORDINATE_DECIMALS = 6  # about 0.1 m in EPSG:4326
EXCLUDED_COORDINATE_DECIMALS = 5  # about 1 m: excluded sites are context, not detail
SITE_TYPE_LINE_PT = 1.1  # the site_type outline in the PNG, over the score fill
SITE_TYPE_LINE_PX = 2.5  # the same outline in the HTML map
# above this many excluded sites the HTML map draws them as one layer without popups
MERGE_EXCLUDED_ABOVE = 5_000
_CONTEXT_STYLE: dict[str, dict[str, Any]] = {
    "water": {"facecolor": WATER_COLOUR, "edgecolor": "none", "linewidth": 0.0, "zorder": 1},
    "buildings": {
        "facecolor": BUILDING_COLOUR,
        "edgecolor": "none",
        "linewidth": 0.0,
        "zorder": 2,
    },
    "streets": {"color": STREET_COLOUR, "linewidth": 0.5, "zorder": 3},
}
_DEFAULT_CONTEXT_STYLE: dict[str, Any] = {"color": "#cccccc", "linewidth": 0.4, "zorder": 2}
# zlib level of the static PNG: level 1 writes it about 3x faster than the default 6, and
# a map's flat colours compress about as well (measured: bench/publish.py)
PNG_COMPRESS_LEVEL = 1
# the static map's words: English, Dutch
_MAP_WORDS: dict[str, tuple[str, str]] = {
    "excluded": ("excluded site", "uitgesloten locatie"),
    "no_score": ("no score", "geen score"),
    "boundary": ("municipal boundary", "gemeentegrens"),
    "rank": ("rank (top 10)", "rang (top 10)"),
    "colour_bar": ("score_total (higher is better)", "score_total (hoger is beter)"),
    "title": ("Magic Mix site ranking", "Magic Mix-locaties gerangschikt"),
    "layer_water": ("water", "water"),
    "layer_buildings": ("buildings", "gebouwen"),
    "layer_streets": ("streets", "straten"),
    # the interactive map's layer names, legend and popup labels (label i18n)
    "layer_osm": ("OpenStreetMap background (online)", "OpenStreetMap-achtergrond (online)"),
    "layer_sites_typed": (
        "candidate sites (score_total; outline: site_type)",
        "kandidaatlocaties (score_total; omlijning: site_type)",
    ),
    "layer_sites": ("candidate sites (score_total)", "kandidaatlocaties (score_total)"),
    "layer_excluded": ("excluded sites", "uitgesloten locaties"),
    "layer_excluded_merged": (
        "excluded sites ({n}, merged)",
        "uitgesloten locaties ({n}, samengevoegd)",
    ),
    "layer_destinations": ("destinations (amenities)", "bestemmingen (voorzieningen)"),
    "layer_top": ("top 10 (rank_gm)", "top 10 (rank_gm)"),
    "legend_excluded": ("excluded", "uitgesloten"),
    "legend_outline": ("outline", "omlijning"),
    "legend_destinations": ("destinations", "bestemmingen"),
    "excluded_note": (
        "{n} excluded sites drawn as one layer without popups; each site's exclusion_reason "
        "is in the GeoPackage",
        "{n} uitgesloten locaties als één laag zonder pop-ups; de exclusion_reason van elke "
        "locatie staat in de GeoPackage",
    ),
    "alias_walk": ("walk to {label} ({column})", "loopafstand naar {label} ({column})"),
    "alias_score": ("{label} score ({column})", "score {label} ({column})"),
    "alias_reasons": ("why ({column})", "waarom ({column})"),
    "alias_rank_gm": ("rank in municipality (rank_gm)", "rang in de gemeente (rank_gm)"),
    "alias_site_type": ("site type (site_type)", "soort locatie (site_type)"),
    "alias_homes_planned": (
        "homes planned (homes_planned)",
        "geplande woningen (homes_planned)",
    ),
    "alias_homes_reserved": (
        "homes reserved (homes_reserved)",
        "gereserveerde woningen (homes_reserved)",
    ),
    "tooltip_rank": ("rank", "rang"),
    "tooltip_site": ("site", "locatie"),
    "reasons_column": ("reasons_en", "reasons_nl"),
    # the language itself: the numbers (format_number) and site type labels of the popups
    "lang": ("en", "nl"),
}


def map_words(lang: str) -> dict[str, str]:
    """The maps' words in ``lang`` (``nl`` or ``en``); ValueError for another."""
    return words_in(_MAP_WORDS, lang)


def map_title(gm_code: str, gm_name: str, profile: str, lang: str = "nl") -> str:
    """The static map's title, e.g. ``GM0503 Delft: Magic Mix site ranking (singles)``."""
    return f"{gm_code} {gm_name}: {map_words(lang)['title']} ({profile})"


# --- static map ---------------------------------------------------------------------------


def write_static_map(
    path: Path,
    sites: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    title: str,
    context: dict[str, gpd.GeoDataFrame] | None = None,
    lang: str = "nl",
) -> np.ndarray:
    """Write a static PNG map of the ranked sites of one municipality; returns its pixels
    (:func:`figure_rgb`), for a report that shows the map too.

    Sites are coloured by ``score_total`` in five classes (red to green), excluded sites in
    light grey, and the ten best (``rank_gm``) are labelled. The map has a colour bar and
    legend, a scale bar, a north arrow and the data attribution. No tile server is used.

    Parameters
    ----------
    path
        The target ``.png``; replaced atomically.
    sites
        Candidate sites, EPSG:28992 (metres), with ``score_total`` and optionally
        ``excluded`` and ``rank_gm``.
    boundary
        The municipal boundary, EPSG:28992.
    title
        The map title.
    context
        Optional background layers in EPSG:28992 by name: ``water`` and ``buildings``
        (polygons), ``streets`` (lines); other names are drawn in neutral grey.
    lang
        ``nl`` (default) or ``en``: the legend and the colour bar's label.
    """
    context = dict(context or {})
    require_rd(sites, "sites")
    require_rd(boundary, "boundary")
    for name, frame in context.items():
        require_rd(frame, name)
    with quiet_missing_glyphs():
        figure = render_static_map(sites, boundary, title=title, context=context, lang=lang)
        pixels = figure_rgb(figure, MAP_DPI)
    with output_path(Path(path)) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return pixels


def figure_rgb(figure: Figure, dpi: float) -> np.ndarray:
    """The figure drawn by Agg at ``dpi``: (height, width, 3) uint8 RGB pixels.

    The figure is opaque (white background), so the alpha channel carries nothing; without
    it the PNG is smaller and a PDF embeds the pixels without a separate alpha mask.
    """
    figure.set_dpi(dpi)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


def render_static_map(
    sites: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    title: str,
    context: Mapping[str, gpd.GeoDataFrame],
    lang: str = "nl",
) -> Figure:
    """Draw the static map on a new matplotlib figure (Agg canvas, no pyplot state).

    Parameters
    ----------
    sites
        Candidate sites, EPSG:28992.
    boundary
        The municipal boundary, EPSG:28992.
    title
        The map title.
    context
        Background layers by name, EPSG:28992.
    lang
        ``nl`` (default) or ``en``: the legend and the colour bar's label.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, ready for ``savefig``.
    """
    words = map_words(lang)
    extent = _map_extent(sites, boundary)
    figure, ax, cax = _layout(extent)
    for name, frame in context.items():
        _draw_context(ax, name, in_view(frame, extent))
    outline = boundary.boundary.to_numpy() if not boundary.empty else np.empty(0, dtype=object)
    if drawable(outline).any():  # one collection, as the context (no extra canvas draw)
        add_lines(ax, outline, color="#222222", linewidth=1.2, zorder=4)
    _draw_sites(ax, sites)
    ax.set_xlim(extent[0], extent[2])
    ax.set_ylim(extent[1], extent[3])
    ax.set_aspect("equal")
    ax.set_axis_off()
    _label_top_sites(ax, sites)  # after the limits: placement works in display units
    # at the top of the axes, where matplotlib puts it when there are no tick labels above
    # (told, so that it does not measure the hidden axes at every draw)
    ax.set_title(_plain_text(title), fontsize=14, loc="left", y=1.0)
    _draw_legend(ax, sites, context, words, lang)
    _draw_colour_bar(cax, words)
    _draw_scale_bar(ax, extent)
    _draw_north_arrow(ax)
    figure.text(0.02, 0.015, MAP_ATTRIBUTION, fontsize=7, color="#444444")
    return figure


def _plain_text(text: str) -> str:
    """Escape ``$`` so that matplotlib does not read the text as mathtext."""
    return text.replace("$", r"\$")


def _layout(extent: tuple[float, float, float, float]) -> tuple[Figure, Any, Any]:
    """A figure shaped to the map extent: map axes, and a colour bar axes to its right."""
    width_in, map_w_in = 10.0, 8.4
    aspect = (extent[3] - extent[1]) / (extent[2] - extent[0])
    map_h_in = map_w_in * min(max(aspect, 0.45), 2.0)
    top_in, bottom_in = 0.6, 0.5
    height_in = map_h_in + top_in + bottom_in
    figure = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.02, bottom_in / height_in, map_w_in / width_in, map_h_in / height_in))
    bar_h_in = min(map_h_in * 0.6, 3.5)
    cax = figure.add_axes(
        (0.90, (bottom_in + (map_h_in - bar_h_in) / 2) / height_in, 0.025, bar_h_in / height_in)
    )
    return figure, ax, cax


def _map_extent(
    sites: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> tuple[float, float, float, float]:
    """The drawn area: the boundary (or the sites) with a 3 % margin, in metres."""
    frames = [f for f in (boundary, sites) if not f.empty and f.geometry.notna().any()]
    if not frames:
        raise ValueError("nothing to map: sites and boundary are both empty")
    xmin, ymin, xmax, ymax = frames[0].total_bounds
    pad = 0.03 * max(xmax - xmin, ymax - ymin, 100.0)
    return (xmin - pad, ymin - pad, xmax + pad, ymax + pad)


def in_view(frame: gpd.GeoDataFrame, extent: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """The rows of ``frame`` whose bounding box meets ``extent`` (minx, miny, maxx, maxy):
    a layer's features wholly outside the drawn area add no pixel, only drawing time (a
    municipality's buildings layer holds its 2 km clip buffer)."""
    if frame.empty:
        return frame
    box = shapely.bounds(frame.geometry.to_numpy())
    with np.errstate(invalid="ignore"):  # NaN bounds of empty geometries: not in view
        meets = (
            (box[:, 0] <= extent[2])
            & (box[:, 2] >= extent[0])
            & (box[:, 1] <= extent[3])
            & (box[:, 3] >= extent[1])
        )
    return frame if meets.all() else frame[meets]


def _draw_context(ax: Any, name: str, frame: gpd.GeoDataFrame) -> None:
    """Draw one background layer, if it has anything to draw."""
    draw_layer(ax, frame, _CONTEXT_STYLE.get(name, _DEFAULT_CONTEXT_STYLE))


def draw_layer(ax: Any, frame: gpd.GeoDataFrame, style: Mapping[str, Any]) -> None:
    """Draw a layer's polygons and lines in one style (:func:`draw_geometries`); ``style``
    holds matplotlib collection properties (``color`` fills a polygon)."""
    if frame.empty or not frame.geometry.notna().any():
        return
    rest = draw_geometries(ax, frame.geometry.to_numpy(), style)
    if rest.any():  # points and collections: rare in context layers
        frame[rest].plot(ax=ax, **style)


def draw_geometries(ax: Any, geoms: np.ndarray, style: Mapping[str, Any]) -> np.ndarray:
    """Draw polygons and lines in one style as a few compound paths (:func:`compound_paths`)
    in one collection each, as geopandas draws them but without one path per feature; returns
    the mask of the geometries left undrawn (points, collections).

    Parameters
    ----------
    ax
        A matplotlib axes.
    geoms
        Shapely geometries, EPSG:28992 (metres).
    style
        Collection properties; ``color`` (or ``facecolor``) fills polygons, as in geopandas.
    """
    kind = shapely.get_type_id(geoms)
    shown = drawable(geoms)
    # (Multi)Polygon and (Multi)LineString, LinearRing by shapely's type ids; comparisons,
    # as np.isin sorts its arguments at every call (each card map draws four layers)
    polygons = ((kind == 3) | (kind == 6)) & shown
    lines = ((kind == 1) | (kind == 2) | (kind == 5)) & shown
    if polygons.any():  # as geopandas: ``color`` of a polygon layer is its fill
        fill = dict(style)
        face = fill.pop("facecolor", None)
        colour = fill.pop("color", None)
        paths = compound_paths(single_parts(geoms[polygons]), closed=True)
        ax.add_collection(PathCollection(paths, facecolors=face or colour, **fill), autolim=False)
    if lines.any():
        line = {k: v for k, v in style.items() if k not in ("facecolor", "color")}
        colour = style.get("color", style.get("edgecolor"))
        parts = single_parts(geoms[lines])
        paths = compound_paths(parts[drawable(parts)], closed=False)
        ax.add_collection(
            PathCollection(paths, facecolors="none", edgecolors=colour, **line), autolim=False
        )
    return ~(polygons | lines) & shown


# shapely's type ids of the multi-part geometries
_MULTI_TYPES = (4, 5, 6, 7)


def single_parts(geoms: np.ndarray) -> np.ndarray:
    """The parts of multi-part geometries; ``geoms`` itself when none is multi-part
    (``shapely.get_parts`` copies every geometry, a tenth of a map's drawing time)."""
    kind = shapely.get_type_id(geoms)
    if ((kind >= min(_MULTI_TYPES)) & (kind <= max(_MULTI_TYPES))).any():
        return shapely.get_parts(geoms)
    return geoms


# a compound path starts anew at the first ring past each multiple of this many vertices: Agg
# draws a path as a whole, and a city's buildings in one path would exceed its cell limit
MAX_PATH_VERTICES = 20_000


def compound_paths(parts: np.ndarray, *, closed: bool) -> list[MplPath]:
    """Polygons (``closed``: every ring a closed subpath, exteriors counter-clockwise and holes
    clockwise, so overlapping polygons fill as their union under the nonzero rule) or lines
    as a few compound matplotlib paths of about :data:`MAX_PATH_VERTICES` vertices each
    (rings and lines stay whole).

    Parameters
    ----------
    parts
        Single-part polygons or linestrings (not multi-part), EPSG:28992.
    closed
        True for polygons, False for lines.
    """
    if not len(parts):
        return []
    if closed and (shapely.get_num_interior_rings(parts) > 0).any():
        pieces, polygon_of = shapely.get_rings(parts, return_index=True)
    else:  # lines, or polygons without holes: each one piece (no copy of every ring)
        pieces, polygon_of = parts, np.arange(len(parts))
    coords, piece_of = shapely.get_coordinates(pieces, return_index=True)
    if not len(coords):
        return []
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.flatnonzero(np.r_[True, piece_of[1:] != piece_of[:-1]])
    if closed:
        exterior = np.r_[True, polygon_of[1:] != polygon_of[:-1]][piece_of[starts]]
        coords = _oriented(coords, starts, exterior)
    codes[starts] = MplPath.MOVETO
    if closed:
        codes[np.r_[starts[1:], len(coords)] - 1] = MplPath.CLOSEPOLY
    chunk = starts // MAX_PATH_VERTICES
    cuts = starts[1:][chunk[1:] != chunk[:-1]]
    return [
        MplPath(v, c) for v, c in zip(np.split(coords, cuts), np.split(codes, cuts), strict=True)
    ]


def drawable(geoms: np.ndarray) -> np.ndarray:
    """Mask of the geometries that draw something (not missing, not empty)."""
    return ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))


def _polygon_paths(polygons: np.ndarray) -> list[MplPath]:
    """One compound matplotlib path per polygon (holes included), EPSG:28992 metres.

    The paths geopandas draws (each ring MOVETO ... CLOSEPOLY), built in bulk with shapely
    instead of one patch object per feature.
    """
    rings, ring_of = shapely.get_rings(polygons, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    ring_start = np.flatnonzero(np.r_[True, coord_of[1:] != coord_of[:-1]])
    codes[ring_start] = MplPath.MOVETO
    codes[np.r_[ring_start[1:], len(coords)] - 1] = MplPath.CLOSEPOLY
    cuts = np.searchsorted(ring_of[coord_of], np.arange(1, len(polygons)))
    return [
        MplPath(v, c) for v, c in zip(np.split(coords, cuts), np.split(codes, cuts), strict=True)
    ]


def add_polygons(ax: Any, geoms: np.ndarray, **style: Any) -> None:
    """Draw (multi)polygons as one collection; ``facecolor`` may be one colour per geometry.

    Like geopandas, a multipolygon is drawn as its parts, each part one path.
    """
    parts, part_of = shapely.get_parts(geoms[drawable(geoms)], return_index=True)
    face = style.pop("facecolor", None)
    if face is not None and not isinstance(face, str):
        face = np.asarray(face, dtype=object)[drawable(geoms)][part_of].tolist()
    if not len(parts):
        return
    collection = PathCollection(_polygon_paths(parts), facecolors=face, **style)
    ax.add_collection(collection, autolim=False)


def add_lines(ax: Any, geoms: np.ndarray, **style: Any) -> None:
    """Draw (multi)lines as one collection, each part a segment list as geopandas does."""
    parts = shapely.get_parts(geoms[drawable(geoms)])
    parts = parts[drawable(parts)]
    coords, coord_of = shapely.get_coordinates(parts, return_index=True)
    cuts = np.flatnonzero(coord_of[1:] != coord_of[:-1]) + 1
    ax.add_collection(LineCollection(np.split(coords, cuts), **style), autolim=False)


def _draw_sites(ax: Any, sites: gpd.GeoDataFrame) -> None:
    """Draw excluded sites in grey, the others in the colour of their score class."""
    if sites.empty:
        return
    excluded = excluded_mask(sites)
    if excluded.any():
        # translucent, so the context stays readable under the many excluded sites
        add_polygons(
            ax,
            sites.geometry.to_numpy()[excluded.to_numpy()],
            facecolor=EXCLUDED_COLOUR,
            edgecolor="#9a9a9a",
            linewidth=0.2,
            alpha=0.55,
            zorder=5,
        )
    kept = sites[~excluded]
    if not kept.empty:
        colours = _score_colours(_scores(kept))
        add_polygons(
            ax,
            kept.geometry.to_numpy(),
            facecolor=colours,
            edgecolor="#505050",
            linewidth=0.4,
            zorder=6,
        )
        _draw_site_type_outlines(ax, kept)


def _draw_site_type_outlines(ax: Any, sites: gpd.GeoDataFrame) -> None:
    """Outline each site in the colour and dash of its ``site_type`` (none without one)."""
    for site_type in site_types_present(sites):
        colour, dash = site_type_look(site_type)
        mine = sites["site_type"].astype(str).to_numpy() == site_type
        add_polygons(
            ax,
            sites.geometry.to_numpy()[mine],
            facecolor="none",
            edgecolor=colour,
            linewidth=SITE_TYPE_LINE_PT,
            linestyle=_mpl_dash(dash),
            zorder=7,
        )


def _mpl_dash(dash: str) -> Any:
    """matplotlib's line style for a QGIS dash style name (solid if unknown)."""
    return MPL_DASHES.get(dash, "-")


def site_types_present(sites: gpd.GeoDataFrame) -> list[str]:
    """The ``site_type`` values of ``sites`` in :data:`SITE_TYPES` order, unknown ones last
    (sorted); empty when the column is absent.

    Parameters
    ----------
    sites
        Candidate sites.
    """
    if "site_type" not in sites.columns:
        return []
    present = set(sites["site_type"].dropna().astype(str))
    return [t for t in SITE_TYPES if t in present] + sorted(present - set(SITE_TYPES))


def _oriented(coords: np.ndarray, starts: np.ndarray, exterior: np.ndarray) -> np.ndarray:
    """Closed rings (``coords``, each ring from its entry in ``starts`` to the next) with the
    exteriors counter-clockwise and the holes clockwise: each ring whose signed area
    (shoelace) has the wrong sign is reversed."""
    x, y = coords[:, 0], coords[:, 1]
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    ends = np.r_[starts[1:], len(coords)]
    # the pair from a ring's last vertex to the next ring's first is no edge of either
    cross[ends[:-1] - 1] = 0.0
    area = np.add.reduceat(np.r_[cross, 0.0], starts)
    flip = np.flatnonzero((area > 0) != exterior)
    if not len(flip):
        return coords
    order = np.arange(len(coords))
    lengths = ends[flip] - starts[flip]
    ring = np.repeat(np.arange(len(flip)), lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    order[starts[flip][ring] + within] = (ends[flip][ring] - 1) - within
    return coords[order]


def _score_colours(scores: np.ndarray) -> list[str]:
    """:func:`score_colour` of each score, looked up per distinct score class."""
    scores = np.asarray(scores, dtype=float)
    colours = np.full(len(scores), NO_SCORE_COLOUR, dtype=object)
    known = ~np.isnan(scores)
    # (lower, upper] classes as score_colour; the ends take the nearest class
    classes = np.searchsorted(np.asarray(SCORE_BREAKS[1:-1]), scores[known], side="left")
    colours[known] = np.asarray(SCORE_COLOURS, dtype=object)[classes]
    return colours.tolist()


def _scores(sites: gpd.GeoDataFrame) -> np.ndarray:
    """``score_total`` as floats (NaN when absent or missing)."""
    if "score_total" not in sites.columns:
        return np.full(len(sites), np.nan)
    return pd.to_numeric(sites["score_total"], errors="coerce").to_numpy(dtype=float)


def _top_sites(sites: gpd.GeoDataFrame, n: int) -> gpd.GeoDataFrame:
    """The ``n`` best-ranked sites by ``rank_gm`` (none if the column is absent)."""
    if "rank_gm" not in sites.columns:
        return sites.iloc[0:0]
    ranks = pd.to_numeric(sites["rank_gm"], errors="coerce")
    order = ranks[ranks.notna()].sort_values(kind="stable").index[:n]
    return sites.loc[order]


def _label_top_sites(ax: Any, sites: gpd.GeoDataFrame) -> None:
    """Put the rank of each of the ten best sites in a round badge, without overlaps.

    Badges go on their site when there is room, else to the nearest free spot around it with
    a leader line (see :func:`place_badges`); the best rank is placed first.
    """
    top = _top_sites(sites, TOP_LABELLED)
    if top.empty:
        return
    ax.apply_aspect()  # the data-to-display transform is final only after the aspect is set
    anchors = top.geometry.representative_point()
    xy = np.column_stack([anchors.x.to_numpy(), anchors.y.to_numpy()])
    points_per_pixel = 72.0 / ax.figure.dpi
    anchor_pt = ax.transData.transform(xy) * points_per_pixel
    box = ax.get_window_extent()
    bounds_pt = (box.x0, box.y0, box.x1, box.y1)
    offsets = place_badges(
        anchor_pt, radius=_BADGE_RADIUS_PT, bounds=tuple(v * points_per_pixel for v in bounds_pt)
    )
    for rank, (x, y), (dx, dy) in zip(top["rank_gm"], xy, offsets, strict=True):
        moved = bool(dx or dy)
        ax.annotate(
            str(int(rank)),
            xy=(x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=_BADGE_FONT_PT,
            fontweight="bold",
            zorder=8,
            bbox={
                "boxstyle": "circle,pad=0.25",
                "facecolor": "white",
                "edgecolor": "#222222",
                "linewidth": 0.8,
            },
            arrowprops=(
                {
                    "arrowstyle": "-",
                    "color": "#222222",
                    "linewidth": 0.8,
                    "shrinkA": 0,
                    "shrinkB": 0,
                    # the line runs to the badge's centre, under its white disc: no clipping
                    # to the disc (matplotlib's bezier search took as long as all the sites)
                    "patchA": None,
                }
                if moved
                else None
            ),
        )
        if moved:
            ax.plot([x], [y], marker="o", markersize=2.5, color="#222222", zorder=8)


_BADGE_FONT_PT = 8.0
_BADGE_RADIUS_PT = 8.0  # a two-digit rank in 8 pt bold with the circle's padding


def place_badges(
    anchors: np.ndarray,
    *,
    radius: float,
    bounds: tuple[float, ...] | None = None,
    gap: float = 1.0,
) -> list[tuple[float, float]]:
    """Offsets that keep round labels from overlapping each other, greedily in given order.

    Each badge stays on its anchor if that is free; otherwise it takes the first free spot on
    rings of growing distance around it (12 directions each, starting upper right). Badges
    also keep clear of the other anchors, so a label never hides another labelled site.

    Parameters
    ----------
    anchors
        (n, 2) anchor positions in points (display units), in placement order.
    radius
        Badge radius in points.
    bounds
        Optional (xmin, ymin, xmax, ymax) in points that badges must stay inside.
    gap
        Extra free space between two badges, in points.

    Returns
    -------
    list of (dx, dy)
        Offset of each badge from its anchor in points; (0, 0) when it sits on it.
    """
    anchors = np.asarray(anchors, dtype=float).reshape(-1, 2)
    placed: list[np.ndarray] = []
    offsets: list[tuple[float, float]] = []
    angles = np.deg2rad(np.arange(45.0, 405.0, 30.0))
    candidates = [np.zeros(2)] + [
        distance * np.array([np.cos(a), np.sin(a)])
        for distance in radius * np.array([2.4, 3.6, 4.8, 6.4, 8.0, 10.0])
        for a in angles
    ]

    def free(centre: np.ndarray, own: int) -> bool:
        if bounds is not None:
            xmin, ymin, xmax, ymax = bounds
            if not (xmin + radius <= centre[0] <= xmax - radius):
                return False
            if not (ymin + radius <= centre[1] <= ymax - radius):
                return False
        for other in placed:
            if np.hypot(*(centre - other)) < 2 * radius + gap:
                return False
        for j, anchor in enumerate(anchors):
            if j != own and np.hypot(*(centre - anchor)) < radius + gap:
                return False
        return True

    for i, anchor in enumerate(anchors):
        chosen = next((c for c in candidates if free(anchor + c, i)), None)
        if chosen is None:  # no free spot nearby: stay on the site rather than vanish
            chosen = np.zeros(2)
        placed.append(anchor + chosen)
        offsets.append((float(chosen[0]), float(chosen[1])))
    return offsets


def _draw_legend(
    ax: Any,
    sites: gpd.GeoDataFrame,
    context: Mapping[str, gpd.GeoDataFrame],
    words: Mapping[str, str],
    lang: str,
) -> None:
    """A legend of the non-score symbols: excluded sites, boundary, labels, context; site
    types labelled in ``lang``."""
    handles: list[Any] = [
        Patch(facecolor=EXCLUDED_COLOUR, edgecolor="#9a9a9a", alpha=0.55, label=words["excluded"]),
    ]
    kept = sites[~excluded_mask(sites)]
    if np.isnan(_scores(kept)).any():
        handles.append(
            Patch(facecolor=NO_SCORE_COLOUR, edgecolor="#505050", label=words["no_score"])
        )
    for site_type in site_types_present(kept):
        label, colour, dash = site_type_style(site_type, lang)
        handles.append(
            Patch(
                facecolor="none",
                edgecolor=colour,
                linewidth=SITE_TYPE_LINE_PT,
                linestyle=_mpl_dash(dash),
                label=_plain_text(f"{site_type}: {label}" if label else site_type),
            )
        )
    handles += [
        Line2D([], [], color="#222222", linewidth=1.2, label=words["boundary"]),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markersize=10,
            markerfacecolor="white",
            markeredgecolor="#222222",
            label=words["rank"],
        ),
    ]
    for name, frame in context.items():
        if frame.empty:
            continue
        style = _CONTEXT_STYLE.get(name, _DEFAULT_CONTEXT_STYLE)
        label = words.get(f"layer_{name}", name)
        if "facecolor" in style:
            handles.append(Patch(facecolor=style["facecolor"], label=label))
        else:
            handles.append(Line2D([], [], color=style["color"], label=label))
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9).set_zorder(11)


def _draw_colour_bar(cax: Any, words: Mapping[str, str]) -> None:
    """The five score classes as a colour bar beside the map (the words' language's
    numbers)."""
    cmap = ListedColormap(list(SCORE_COLOURS))
    norm = BoundaryNorm(list(SCORE_BREAKS), cmap.N)
    bar = ColorbarBase(cax, cmap=cmap, norm=norm, ticks=list(SCORE_BREAKS))
    bar.set_ticklabels([format_number(b, 1, words["lang"]) for b in SCORE_BREAKS])
    bar.set_label(words["colour_bar"], fontsize=9)
    cax.tick_params(labelsize=8)


def nice_length(target_m: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``target_m`` (metres).

    Parameters
    ----------
    target_m
        The wanted length in metres, > 0.

    Returns
    -------
    float
        A round length for a scale bar.
    """
    if target_m <= 0 or not math.isfinite(target_m):
        raise ValueError(f"scale bar length must be positive and finite, got {target_m}")
    power = 10 ** math.floor(math.log10(target_m))
    for step in (5, 2, 1):
        if step * power <= target_m:
            return float(step * power)
    return float(power)  # pragma: no cover - step 1 always fits


def _format_length(length_m: float) -> str:
    if length_m >= 1000:
        return f"{length_m / 1000:g} km"
    return f"{length_m:g} m"


def _draw_scale_bar(ax: Any, extent: tuple[float, float, float, float]) -> None:
    """A scale bar of a round length in the lower left; map units are metres (EPSG:28992)."""
    xmin, ymin, xmax, ymax = extent
    length = nice_length((xmax - xmin) / 5)
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        _format_length(length),
        loc="lower left",
        pad=0.4,
        borderpad=0.8,
        sep=4,
        frameon=True,
        size_vertical=0.006 * (ymax - ymin),
        color="black",
        fontproperties=FontProperties(size=8),
    )
    bar.patch.set_alpha(0.85)
    bar.set_zorder(9)
    ax.add_artist(bar)


def _draw_north_arrow(ax: Any) -> None:
    """An arrow pointing to grid north (EPSG:28992 grid north is within 2 degrees of true north)."""
    ax.annotate(
        "N",
        xy=(0.95, 0.97),
        xytext=(0, -40),
        xycoords="axes fraction",
        textcoords="offset points",
        ha="center",
        va="center",
        fontsize=12,
        fontweight="bold",
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 4, "headwidth": 12},
        zorder=10,
    )


# --- interactive map ----------------------------------------------------------------------


def write_interactive_map(
    path: Path,
    sites: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    amenities: gpd.GeoDataFrame | None,
    title: str,
    lang: str = "en",
    category_labels: Mapping[str, str] | None = None,
    criterion_labels: Mapping[str, str] | None = None,
) -> None:
    """Write an interactive HTML map (folium / Leaflet) of one municipality's sites.

    The file is self-contained: Leaflet is inlined from the vendored copy in
    ``publish/vendor/leaflet`` (no CDN), and the data are drawn as vector layers that need no
    tile server; an OpenStreetMap background is offered as an optional online layer, off by
    default. Geometries are simplified (2 m; excluded sites 4 m) and coordinates rounded (6
    decimals; excluded sites 5) to keep the file small. The ten best sites carry rank badges.
    More than ``MERGE_EXCLUDED_ABOVE`` excluded sites are drawn as one grey layer without
    popups (the legend says so); ranked sites always keep their popups.

    Parameters
    ----------
    path
        The target ``.html``; replaced atomically.
    sites
        Candidate sites, EPSG:28992. The popup shows ``site_id``, ``rank_gm``,
        ``score_total``, ``reasons_en`` (``reasons_nl`` in Dutch) when present, every
        ``score_*`` and ``dist_*_m`` column; excluded sites are grey and show their
        ``exclusion_reason``.
    boundary
        The municipal boundary, EPSG:28992.
    amenities
        Destinations (points, with ``category``), EPSG:28992, or None.
    title
        The map title.
    lang
        ``en`` (default) or ``nl``: layer names, legend, popup labels, site type labels.
    category_labels, criterion_labels
        Destination category and criterion name -> its label in ``lang`` (config
        ``label_nl``/``label_en``); without them the palette's English names.
    """
    require_rd(sites, "sites")
    require_rd(boundary, "boundary")
    if amenities is not None:
        require_rd(amenities, "amenities")
    fmap = build_interactive_map(
        sites,
        boundary,
        amenities=amenities,
        title=title,
        lang=lang,
        category_labels=category_labels,
        criterion_labels=criterion_labels,
    )
    with output_path(Path(path)) as tmp:
        fmap.save(str(tmp))


def build_interactive_map(
    sites: gpd.GeoDataFrame,
    boundary: gpd.GeoDataFrame,
    *,
    amenities: gpd.GeoDataFrame | None,
    title: str,
    lang: str = "en",
    category_labels: Mapping[str, str] | None = None,
    criterion_labels: Mapping[str, str] | None = None,
) -> folium.Map:
    """Build the folium map of :func:`write_interactive_map` without writing it.

    Parameters
    ----------
    sites
        Candidate sites, EPSG:28992.
    boundary
        The municipal boundary, EPSG:28992.
    amenities
        Destinations, EPSG:28992, or None.
    title
        The map title.
    lang
        ``en`` (default) or ``nl``.
    category_labels, criterion_labels
        As for :func:`write_interactive_map`.

    Returns
    -------
    folium.Map
        The map.
    """
    words = {
        **map_words(lang),
        **{f"category_{k}": v for k, v in (category_labels or {}).items()},
        **{f"criterion_{k}": v for k, v in (criterion_labels or {}).items()},
    }
    extent = _web_bounds(sites, boundary)
    fmap = folium.Map(
        tiles=None, control_scale=True, zoom_start=13, location=_centre(extent), zoom_snap=0.25
    )
    folium.TileLayer("OpenStreetMap", name=words["layer_osm"], overlay=True, show=False).add_to(
        fmap
    )
    if not boundary.empty:
        _boundary_layer(boundary, words).add_to(fmap)
    excluded = excluded_mask(sites)
    merged = int(excluded.sum()) > MERGE_EXCLUDED_ABOVE
    if excluded.any():
        layer = _merged_excluded_layer if merged else _excluded_layer
        layer(sites[excluded], words).add_to(fmap)
    if (~excluded).any():
        _site_layer(sites[~excluded], words).add_to(fmap)
    if amenities is not None and not amenities.empty:
        _amenity_layer(amenities, words).add_to(fmap)
    top = _top_sites(sites, TOP_LABELLED)
    if not top.empty:
        _rank_badges(top, words).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[extent[1], extent[0]], [extent[3], extent[2]]])
    root: Any = fmap.get_root()  # a folium Figure (typed as its Element base)
    root.html.add_child(RawHtml(_title_html(title)))
    categories: list[str] = []
    if amenities is not None and "category" in amenities.columns:
        categories = sorted({str(c) for c in amenities["category"].dropna()})
    shown_n = format_number(int(excluded.sum()), 0, lang)
    note = words["excluded_note"].format(n=shown_n) if merged else None
    legend = _legend_html(
        categories,
        excluded_note=note,
        site_types=site_types_present(sites[~excluded]),
        lang=lang,
        category_labels=category_labels,
    )
    root.html.add_child(RawHtml(legend))
    _inline_leaflet(fmap)
    return fmap


def _inline_leaflet(fmap: folium.Map) -> None:
    """Embed Leaflet (vendored) instead of folium's CDN links, so the file works offline.

    folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs; this map needs only
    Leaflet, shipped in ``publish/vendor/leaflet`` (BSD-2-Clause, licence kept in the page).
    """
    js, css, licence = leaflet_assets()
    fmap.default_js = []  # instance attributes: folium's class lists stay untouched
    fmap.default_css = []
    root: Any = fmap.get_root()
    header = root.header
    header.add_child(
        RawHtml(f"<!--\nLeaflet {LEAFLET_VERSION}\n{html.escape(licence)}-->"),
        name="leaflet_licence",
    )
    header.add_child(RawHtml(f"<style>{css}</style>"), name="leaflet_css")
    header.add_child(RawHtml(f"<script>{js}</script>"), name="leaflet_js")


LEAFLET_VERSION = "1.9.3"  # the version folium's templates are written for


@cache
def leaflet_assets() -> tuple[str, str, str]:
    """Leaflet's JS, its CSS with the images as data URIs, and its licence text."""
    base = resources.files("magicmix_geo.publish").joinpath("vendor").joinpath("leaflet")
    js = base.joinpath("leaflet.js").read_text(encoding="utf-8")
    css = base.joinpath("leaflet.css").read_text(encoding="utf-8")
    licence = base.joinpath("LICENSE").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        data = base.joinpath("images").joinpath(match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", data_uri, css)
    if "</script" in js.lower() or "</style" in css.lower():  # pragma: no cover - vendored
        raise ValueError("vendored Leaflet cannot be inlined: it contains a closing tag")
    return js, css, licence


def _web(
    geometry: gpd.GeoSeries,
    *,
    tolerance_m: float = SIMPLIFY_TOLERANCE_M,
    decimals: int = COORDINATE_DECIMALS,
) -> np.ndarray:
    """Simplify (in EPSG:28992, metres), reproject to EPSG:4326 and round the coordinates:
    the geometries as an array (geopandas' own reprojection, without copying a frame)."""
    simplified = shapely.simplify(geometry.to_numpy(), tolerance_m, preserve_topology=True)
    lonlat = gpd.array.from_shapely(simplified, crs=geometry.crs).to_crs(4326)
    return shapely.transform(np.asarray(lonlat), lambda xy: np.round(xy, decimals))


def _web_bounds(
    sites: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame
) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the boundary, or of the sites when there is no boundary."""
    frames = [f for f in (boundary, sites) if not f.empty and f.geometry.notna().any()]
    if not frames:
        raise ValueError("nothing to map: sites and boundary are both empty")
    xmin, ymin, xmax, ymax = frames[0].to_crs(4326).total_bounds
    return (float(xmin), float(ymin), float(xmax), float(ymax))


def _centre(extent: tuple[float, float, float, float]) -> list[float]:
    return [(extent[1] + extent[3]) / 2, (extent[0] + extent[2]) / 2]


def _geojson(geoms: np.ndarray, attributes: pd.DataFrame | None = None) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``geoms`` (EPSG:4326, see :func:`_web`) with the
    ``attributes`` of each (rows in the same order) as properties: nulls (not NaN) for missing
    values and every text HTML-escaped (:func:`html_text`).

    Every attribute the page shows passes here: folium's popups and tooltips put property
    values into ``innerHTML``, so a site id or OSM name such as ``<img onerror=...>`` must
    arrive as text. Features get ids 0..n-1: folium keys its per-feature styles on them.
    """
    # built column by column (geopandas' to_json goes feature by feature and column by
    # column through pandas, half the map's time); the same dict as to_json(na="null")
    names: list[str] = []
    cells: list[list[Any]] = []
    for column, values in attributes.items() if attributes is not None else ():
        names.append(str(column))
        cells.append(_json_cells(values))
    shown = geoms.copy()
    shown[~drawable(geoms)] = None  # empty ones as null, as missing ones
    texts = shapely.to_geojson(shown)
    # one parse for all geometries (a parse per feature cost as much as the rest)
    geometries = json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
    rows = zip(*cells, strict=True) if cells else ((),) * len(geoms)
    features = [
        {
            "id": str(i),
            "type": "Feature",
            "properties": dict(zip(names, row, strict=True)),
            "geometry": geom,
        }
        for i, (row, geom) in enumerate(zip(rows, geometries, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}


def _json_cells(values: pd.Series) -> list[Any]:
    """A column's values as :func:`_geojson` puts them in properties: numbers as JSON has
    them (:func:`_plain_number`), anything else as :func:`html_text`."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":  # without a call each
        return [None if v != v else v for v in values.to_numpy().tolist()]
    if pd.api.types.is_numeric_dtype(values):
        plain = values.astype(object).where(values.notna(), None).tolist()
        return [_plain_number(v) for v in plain]
    return [html_text(v) for v in values.tolist()]


def _plain_number(value: Any) -> Any:
    """A number as JSON has it: NumPy scalars as Python ones, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class RawHtml(folium.Element):
    """HTML put into the page as it is: unlike ``folium.Element`` it is not compiled as a
    Jinja template (a 150 kB Leaflet script was parsed as one on every map)."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# Jinja's markup and the characters its lexer changes ("\r" becomes "\n"); a text without any
# of them renders as itself, less one trailing newline
_JINJA_MARKUP = ("{{", "{%", "{#", "\r")


def verbatim_element(text: str) -> folium.Element:
    """An element that puts ``text`` into the page exactly as ``folium.Element(text)`` would,
    without compiling it as a Jinja template when it holds no Jinja markup (compiling a
    layer's 400 kB of GeoJSON took a fifth of the map's time)."""
    if any(mark in text for mark in _JINJA_MARKUP):
        return folium.Element(text)
    return RawHtml(text.removesuffix("\n"))


class _VerbatimMacro(MacroElement):
    """``MacroElement.render`` with :func:`verbatim_element` for the rendered macros."""

    def render(self, **kwargs: Any) -> str:
        figure: Any = self.get_root()
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = macros.get(part)
            if macro is not None:
                element = verbatim_element(macro(self, kwargs))
                getattr(figure, part).add_child(element, name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)
        return ""  # as MacroElement: the parts went into the figure


class GeoJsonLayer(folium.GeoJson, _VerbatimMacro):
    """``folium.GeoJson`` whose rendered script (the data in it) enters the page without a
    second Jinja compilation (see :func:`verbatim_element`); the page is the same."""


# folium renders a layer's script (the GeoJSON data in it) and then compiles the result as a
# Jinja template: ``{{ ... }}`` or ``{% ... %}`` in a site id or an OSM name would run there.
# Braces from data therefore enter the page as character references, which the popups and
# tooltips (innerHTML) show as the braces they are.
_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def page_text(text: str) -> str:
    """Text from data as it may enter the HTML map: ``& < > " '`` escaped, and ``{ }`` as
    character references (see ``_BRACES``).

    Parameters
    ----------
    text
        Any text.
    """
    return html.escape(text, quote=True).translate(_BRACES)


def html_text(value: Any) -> Any:
    """A value from data as it may enter HTML: text escaped (``& < > " '``, and braces, see
    :func:`page_text`), numbers and booleans as they are, missing values as None."""
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return value
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return page_text(str(value))


def _boundary_layer(boundary: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    return GeoJsonLayer(
        _geojson(_web(boundary.geometry)),
        name=words["boundary"],
        style_function=lambda _feature: {"fill": False, "color": "#222222", "weight": 2},
        control=True,
    )


def _popup_columns(sites: gpd.GeoDataFrame, words: Mapping[str, str]) -> list[str]:
    """The attribute columns shown in a site popup, in a fixed order; the reasons in the
    words' language only."""
    first = [
        c
        for c in (
            "site_id",
            "site_type",
            "name",
            "gm_code",
            "rank_gm",
            "score_total",
            "homes_planned",
            "homes_reserved",
        )
        if c in sites.columns
    ]
    reasons = [c for c in (words["reasons_column"],) if c in sites.columns]
    scores = [c for c in sites.columns if c.startswith("score_") and c != "score_total"]
    dists = [c for c in sites.columns if c.startswith("dist_") and c.endswith("_m")]
    return first + reasons + scores + dists


def _alias(column: str, words: Mapping[str, str]) -> str:
    """A readable popup label (in the words' language) that still names the column."""
    if column.startswith("dist_") and column.endswith("_m"):
        label = words.get(f"category_{column[5:-2]}") or category_style(column[5:-2])[0]
        if label == "other":
            label = column[5:-2].replace("_", " ")
        return words["alias_walk"].format(label=label, column=column)
    if column.startswith("reasons_"):
        return words["alias_reasons"].format(column=column)
    if column.startswith("score_"):
        label = words.get(f"criterion_{column[6:]}") or column[6:].replace("_", " ")
        return words["alias_score"].format(label=label, column=column)
    return words.get(f"alias_{column}", column)


def _rounded_attributes(
    sites: gpd.GeoDataFrame, columns: list[str], words: Mapping[str, str]
) -> dict[str, Any]:
    """Popup values by column, as text in the words' language: scores to 3 decimals, ranks
    and homes whole, distances in whole metres (:func:`format_number`), the site type as
    "type: label"."""
    lang = words["lang"]
    out: dict[str, Any] = {}
    for col in columns:
        values = sites[col]
        if col.startswith(("score_", "homes_")) or col == "rank_gm":
            digits = 3 if col.startswith("score_") else 0
            numbers = pd.to_numeric(values, errors="coerce")
            values = [format_number(v, digits, lang) or None for v in numbers]
        elif col.startswith("dist_"):
            metres = pd.to_numeric(values, errors="coerce")
            values = [walking_distance_text(v, lang) for v in metres]
        elif col == "site_type":
            values = site_type_texts(values, lang)
        elif col.startswith("reasons_"):
            values = values.map(reason_text)
        out[col] = values
    return out


def site_type_texts(values: pd.Series, lang: str) -> list[str | None]:
    """Site types as a reader sees them, "type: label" (the label in ``lang``), as in the
    legends; None stays None."""
    return [None if pd.isna(t) else f"{t}: {site_type_label(t, lang)}" for t in values]


def _site_layer(sites: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    """Ranked (non-excluded) sites in their score class colour, with a popup."""
    columns = _popup_columns(sites, words)
    cells = _rounded_attributes(sites, columns, words)
    cells["fill_colour"] = [score_colour(s) for s in _scores(sites)]
    typed = "site_type" in sites.columns
    styles = [site_type_look(t) for t in sites["site_type"]] if typed else []
    cells["edge_colour"] = [colour for colour, _dash in styles] if typed else SITE_EDGE
    cells["edge_dash"] = [LEAFLET_DASHES.get(dash) for _c, dash in styles] if typed else None
    tooltip = [c for c in ("site_id", "site_type", "rank_gm", "score_total") if c in columns]
    weight = SITE_TYPE_LINE_PX if typed else 1
    return GeoJsonLayer(
        _geojson(_web(sites.geometry), pd.DataFrame(cells, index=sites.index)),
        name=words["layer_sites_typed" if typed else "layer_sites"],
        style_function=lambda feature: {
            "fillColor": feature["properties"]["fill_colour"],
            "color": feature["properties"]["edge_colour"],
            "dashArray": feature["properties"]["edge_dash"],
            "weight": weight,
            "fillOpacity": 0.8,
        },
        highlight_function=lambda _feature: {"weight": 3, "color": "#000000"},
        popup=folium.GeoJsonPopup(
            fields=columns,
            aliases=[page_text(_alias(c, words)) for c in columns],
            localize=False,
            max_width=420,
        ),
        tooltip=folium.GeoJsonTooltip(fields=tooltip) if tooltip else None,
    )


def _excluded_layer(sites: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    """Excluded sites in grey, with their exclusion reason; coarser, as they are context."""
    reason = exclusion_reason_column(sites, words["lang"])
    columns = [c for c in ("site_id", "site_type", reason) if c in sites.columns]
    # the reasons in the map's language, under the name the popup shows
    shown = pd.DataFrame(sites[columns]).rename(columns={reason: "exclusion_reason"})
    if "site_type" in shown.columns:
        shown["site_type"] = site_type_texts(shown["site_type"], words["lang"])
    web = _web(
        sites.geometry,
        tolerance_m=2 * SIMPLIFY_TOLERANCE_M,
        decimals=EXCLUDED_COORDINATE_DECIMALS,
    )
    return GeoJsonLayer(
        _geojson(web, shown),
        name=words["layer_excluded"],
        style_function=lambda _feature: {
            "fillColor": EXCLUDED_COLOUR,
            "color": EXCLUDED_EDGE,
            "weight": 0.5,
            "fillOpacity": 0.5,
        },
        popup=folium.GeoJsonPopup(
            fields=list(shown.columns),
            aliases=[page_text(_alias(c, words)) for c in shown.columns],
            localize=False,
        ),
        smooth_factor=1.5,
    )


def _merged_excluded_layer(sites: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    """Many excluded sites as one grey multipolygon without popups (large municipalities).

    Per-site features with popups made the map of a 200,000-parcel city 74 MB and slow to
    open; as context the excluded sites need no attributes (the GeoPackage has them).
    Same simplification and rounding as :func:`_excluded_layer`, no dissolve (too slow for
    parcels that do not touch).
    """
    web = _web(
        sites.geometry,
        tolerance_m=2 * SIMPLIFY_TOLERANCE_M,
        decimals=EXCLUDED_COORDINATE_DECIMALS,
    )
    parts = shapely.get_parts(web)
    parts = parts[shapely.get_type_id(parts) == 3]  # polygons; simplify keeps them polygons
    feature = {
        "type": "Feature",
        "id": 0,
        "properties": {"sites": len(sites)},
        "geometry": json.loads(shapely.to_geojson(shapely.multipolygons(parts))),
    }
    return GeoJsonLayer(
        {"type": "FeatureCollection", "features": [feature]},
        name=words["layer_excluded_merged"].format(n=format_number(len(sites), 0, words["lang"])),
        style_function=lambda _feature: {
            "fillColor": EXCLUDED_COLOUR,
            "color": EXCLUDED_EDGE,
            "weight": 0.5,
            "fillOpacity": 0.5,
        },
        smooth_factor=1.5,
    )


def _amenity_layer(amenities: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    """Destinations as small circle markers coloured by category (the QGIS style's colours)."""
    columns = [c for c in ("category", "name") if c in amenities.columns]
    cells: dict[str, Any] = {c: amenities[c] for c in columns}
    labels = cells.get("category", [""] * len(amenities))
    cells["marker_colour"] = [category_style(c)[1] for c in labels]
    web = _web(amenities.geometry.representative_point())
    return GeoJsonLayer(
        _geojson(web, pd.DataFrame(cells, index=amenities.index)),
        name=words["layer_destinations"],
        marker=folium.CircleMarker(radius=4, weight=1, fill=True, fill_opacity=0.9),
        style_function=lambda feature: {
            "color": "#333333",
            "fillColor": feature["properties"]["marker_colour"],
        },
        tooltip=folium.GeoJsonTooltip(fields=columns) if columns else None,
        show=True,
    )


# a badge's number is set as text (textContent) in the page, never parsed as HTML or JS
_BADGE_JS = """function(feature, layer) {
    const badge = document.createElement('div');
    badge.style.cssText = 'width:22px;height:22px;border-radius:11px;background:white;'
        + 'border:1.5px solid #222;font:bold 12px sans-serif;text-align:center;line-height:22px';
    badge.textContent = String(feature.properties.rank_gm);
    layer.setIcon(L.divIcon({html: badge, className: '', iconSize: [25, 25],
                             iconAnchor: [12, 12]}));
}"""


def _rank_badges(top: gpd.GeoDataFrame, words: Mapping[str, str]) -> folium.GeoJson:
    """The rank of the ten best sites as round badges on their representative points.

    The ranks and site ids travel as GeoJSON properties (escaped by :func:`_geojson`), not
    inside JavaScript source: a backtick or ``${...}`` in an id is only text.
    """
    cells = pd.DataFrame(
        {
            "rank_gm": pd.to_numeric(top["rank_gm"]).astype(int).to_numpy(),
            "site_id": top["site_id"].to_numpy(),
        }
    )
    web = _web(top.geometry.representative_point(), tolerance_m=0.0)
    return GeoJsonLayer(
        _geojson(web, cells),
        name=words["layer_top"],
        marker=folium.Marker(),
        on_each_feature=folium.JsCode(_BADGE_JS),
        tooltip=folium.GeoJsonTooltip(
            fields=["rank_gm", "site_id"],
            aliases=[words["tooltip_rank"], words["tooltip_site"]],
            localize=False,
        ),
    )


def _site_type_legend_rows(site_types: list[str], lang: str) -> list[str]:
    """Legend rows: one outline sample (an SVG line in the map's dash) per site type, its
    label in ``lang``."""
    if not site_types:
        return []
    outline = map_words(lang)["legend_outline"]
    rows = [f'<div style="margin-top:4px"><b>site_type</b> ({outline})</div>']
    for site_type in site_types:
        label, colour, dash = site_type_style(site_type, lang)
        pattern = LEAFLET_DASHES.get(dash)
        dash_attr = f' stroke-dasharray="{pattern}"' if pattern else ""
        rows.append(
            f'<div class="site-type" data-site-type="{page_text(site_type)}">'
            '<svg width="22" height="10" style="margin-right:4px;vertical-align:middle">'
            f'<line x1="0" y1="5" x2="22" y2="5" stroke="{colour}" '
            f'stroke-width="{SITE_TYPE_LINE_PX}"{dash_attr}/></svg>'
            f"{page_text(site_type)}: {page_text(label)}</div>"
        )
    return rows


def _title_html(title: str) -> str:
    return (
        '<div style="position:fixed;top:10px;left:60px;z-index:1000;background:white;'
        "padding:4px 10px;border-radius:4px;font:bold 16px sans-serif;"
        f'box-shadow:0 1px 4px rgba(0,0,0,.3)">{page_text(title)}</div>'
    )


def _legend_html(
    categories: list[str],
    *,
    excluded_note: str | None = None,
    site_types: list[str] | None = None,
    lang: str = "en",
    category_labels: Mapping[str, str] | None = None,
) -> str:
    """Score classes, excluded colour, site type outlines, destination categories and
    attribution (bottom right).

    ``excluded_note`` says how the excluded sites are drawn when they are merged;
    ``site_types`` are the ``site_type`` values of the ranked sites (their outlines);
    ``lang`` the language of the words; ``category_labels`` the categories' labels in it.
    """
    words = map_words(lang)
    rows = []
    for i, colour in enumerate(SCORE_COLOURS):
        lo, hi = SCORE_BREAKS[i], SCORE_BREAKS[i + 1]
        rows.append(
            f'<div><span style="display:inline-block;width:14px;height:10px;'
            f'background:{colour};border:1px solid #555;margin-right:4px"></span>'
            f"{format_number(lo, 1, lang)} &ndash; {format_number(hi, 1, lang)}</div>"
        )
    rows.append(
        f'<div><span style="display:inline-block;width:14px;height:10px;'
        f'background:{EXCLUDED_COLOUR};border:1px solid #999;margin-right:4px"></span>'
        f"{words['legend_excluded']}</div>"
    )
    if excluded_note:
        rows.append(
            f'<div style="max-width:190px;font-size:10px;color:#444">{page_text(excluded_note)}'
            "</div>"
        )
    rows += _site_type_legend_rows(site_types or [], lang)
    if categories:
        rows.append(f'<div style="margin-top:4px"><b>{words["legend_destinations"]}</b></div>')
    for category in categories:
        label, colour, _marker = category_style(category)
        label = (category_labels or {}).get(category, label)
        rows.append(
            f'<div><span style="display:inline-block;width:9px;height:9px;border-radius:5px;'
            f'background:{colour};border:1px solid #333;margin:0 6px 0 2px"></span>'
            f"{page_text(label)}</div>"
        )
    attribution = html.escape(MAP_ATTRIBUTION)
    return (
        '<div style="position:fixed;bottom:24px;right:10px;z-index:1000;background:white;'
        "padding:6px 8px;border-radius:4px;font:12px sans-serif;"
        'box-shadow:0 1px 4px rgba(0,0,0,.3)"><b>score_total</b>'
        + "".join(rows)
        + f'<div style="margin-top:4px;font-size:10px;color:#444">{attribution}</div></div>'
    )


__all__ = [
    "build_interactive_map",
    "compound_paths",
    "draw_geometries",
    "html_text",
    "nice_length",
    "page_text",
    "render_static_map",
    "single_parts",
    "site_types_present",
    "write_interactive_map",
    "write_static_map",
]
