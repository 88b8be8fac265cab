"""The PDF reports' fonts: DejaVu Sans, and fallback fonts for what DejaVu lacks.

Plan names and OSM names are free text and may hold CJK characters or emoji, which DejaVu
Sans has no glyph for (ReportLab then draws a blank). :func:`pdf_markup` turns a text into
ReportLab paragraph markup (escaped, so data is never markup) in which each run of
characters DejaVu lacks is set in a fallback font that has them: WenQuanYi Zen Hei (CJK,
Debian ``fonts-wqy-zenhei``) or Symbola (symbols and emoji, Debian ``fonts-symbola``). A
character that no installed font has is shown as a visible stand-in ``[U+XXXX]``, never as
a blank; so is everything the fallbacks would cover on a machine without them. ReportLab
embeds TrueType outlines only (no CFF-based OpenType such as Noto CJK ``.otf``; a ``.ttc``
needs its subfont index), hence these two fonts. Fonts are registered once per process,
the fallbacks only when a text first needs them.
"""

from __future__ import annotations

import html
import logging
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFont

FONT, BOLD = "MagicMixSans", "MagicMixSans-Bold"
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallbackFont:
    """A TrueType font to set the characters DejaVu lacks, and where Debian installs it."""

    name: str  # the name registered with ReportLab
    package: str  # the Debian package that installs it
    paths: tuple[str, ...]  # candidate files, the first that exists is used
    subfont: int = 0  # the font's index in a .ttc collection


# in order of preference: a character goes to the first one that has it
FALLBACK_FONTS = (
    FallbackFont(
        "MagicMixCJK",
        "fonts-wqy-zenhei",
        ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",),
    ),
    FallbackFont(
        "MagicMixSymbols",
        "fonts-symbola",
        (
            "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
            "/usr/share/fonts/truetype/ancient-scripts/Symbola.ttf",
        ),
    ),
)


def stand_in(char: str) -> str:
    """The visible text shown for a character no font has, e.g. ``[U+1F600]``."""
    return f"[U+{ord(char):04X}]"


@cache
def register_fonts() -> tuple[str, str]:
    """DejaVu Sans (matplotlib's own copy, so always present), registered once per process:
    it has every Latin letter, ² and the dashes the reports use. Returns (regular, bold)."""
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)
    _fix_to_unicode()
    return FONT, BOLD


@cache
def _fallback(font: FallbackFont) -> frozenset[int] | None:
    """Register ``font`` and return its code points; None when it is not installed."""
    path = next((p for p in font.paths if Path(p).is_file()), None)
    if path is None:
        _LOG.warning(
            "PDF reports: font %s (Debian package %s) not found; the characters it would "
            "show are written as [U+XXXX]",
            font.name,
            font.package,
        )
        return None
    face = TTFont(font.name, path, subfontIndex=font.subfont)
    pdfmetrics.registerFont(face)
    # no bold face: bold text in this font is set in the regular one
    name = font.name
    registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
    return frozenset(face.face.charToGlyph)


@cache
def _dejavu() -> frozenset[int]:
    register_fonts()
    font = pdfmetrics.getFont(FONT)
    return frozenset(font.face.charToGlyph)


def _invisible(char: str) -> bool:
    """A format character or variation selector (ZWJ, U+FE0F): nothing to draw by itself."""
    return unicodedata.category(char) == "Cf" or 0xFE00 <= ord(char) <= 0xFE0F


def _font_of(char: str) -> str | None:
    """The font to set ``char`` in: "" for the body font, None when no font has it."""
    code = ord(char)
    if code in _dejavu() or char.isspace():
        return ""
    for font in FALLBACK_FONTS:
        codes = _fallback(font)
        if codes is not None and code in codes:
            return font.name
    return None


def pdf_markup(text: str) -> str:
    """``text`` as ReportLab paragraph markup: escaped, characters DejaVu lacks set in a
    fallback font, characters no font has replaced by :func:`stand_in`."""
    if _dejavu().issuperset(map(ord, text)):  # the usual text: one run in the body font
        return html.escape(text, quote=False)
    runs: list[tuple[str, str]] = []  # (font, text): "" is the body font
    for char in text:
        font = _font_of(char)
        if font is None:
            if _invisible(char):
                continue
            font, char = "", stand_in(char)
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return "".join(
        f'<font face="{font}">{html.escape(part, quote=False)}</font>'
        if font
        else html.escape(part, quote=False)
        for font, part in runs
    )


def pdf_plain(text: str) -> str:
    """``text`` for a string drawn directly (no paragraph, so no font change): the
    characters DejaVu lacks replaced by :func:`stand_in`."""
    return "".join(
        c if ord(c) in _dejavu() or c.isspace() else ("" if _invisible(c) else stand_in(c))
        for c in text
    )


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """ReportLab's ToUnicode CMap, with characters beyond U+FFFF written as UTF-16 (ReportLab
    writes ``<1F600>``, which text extraction reads as U+1F60: the emoji come out wrong)."""
    chars = [chr(v).encode("utf-16-be").hex().upper() for v in subset]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo",
            f"<< /Registry ({fontname})",
            f"/Ordering ({fontname})",
            "/Supplement 0",
            ">> def",
            f"/CMapName /{fontname} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
            f"{len(subset)} beginbfchar",
            *[f"<{i:02X}> <{c}>" for i, c in enumerate(chars)],
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


def _fix_to_unicode() -> None:
    """Use :func:`_to_unicode_cmap` for ReportLab's TrueType subsets (module-level function,
    looked up at each font's writing)."""
    ttfonts.makeToUnicodeCMap = _to_unicode_cmap


__all__ = [
    "BOLD",
    "FALLBACK_FONTS",
    "FONT",
    "FallbackFont",
    "pdf_markup",
    "pdf_plain",
    "register_fonts",
    "stand_in",
]
