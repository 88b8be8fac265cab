"""The languages of the outputs and numbers as each of them writes them.

Plain functions without I/O, shared by the stages that write text a person reads: the
reasons of ``score/`` and every output of ``publish/``. A bottom module (it imports no stage),
so that ``score/`` writes its numbers as ``publish/`` does without importing it.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Mapping

# the languages of the outputs: Dutch (the default) and English
LANGS = ("nl", "en")

# from 2**52 / 10**digits on, a float's spacing is coarser than the digits shown (by digits)
_COARSE_FROM = tuple(2.0**52 * 10.0**-digits for digits in range(16))
# the thousands and decimal separators of a number a reader sees, per language; and as a
# translation of Python's "," and "."
_SEPARATOR_PAIRS = {"en": (",", "."), "nl": (".", ",")}
_SEPARATORS = {
    lang: {old: new for old, new in str.maketrans(",.", "".join(pair)).items() if old != new}
    for lang, pair in _SEPARATOR_PAIRS.items()
}


def check_lang(lang: str) -> str:
    """``lang`` if it is an output language (:data:`LANGS`), else ValueError."""
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def words_in(table: Mapping[str, tuple[str, str]], lang: str) -> dict[str, str]:
    """A table of (English, Dutch) words in ``lang`` (``nl`` or ``en``); ValueError for
    another."""
    check_lang(lang)
    return {key: (nl if lang == "nl" else en) for key, (en, nl) in table.items()}


def separators(lang: str) -> tuple[str, str]:
    """The (thousands, decimal) separators of a number a reader of ``lang`` sees: ``(".",
    ",")`` in Dutch, ``(",", ".")`` in English (for a formatter that is not ours: QGIS's)."""
    check_lang(lang)
    return _SEPARATOR_PAIRS[lang]


def format_number(value: object, digits: int = 0, lang: str = "nl") -> str:
    """A number as a reader of ``lang`` writes it: ``1.234,5`` in Dutch, ``1,234.5`` in
    English; "" for a missing, NaN or infinite value.

    For text a person reads (reasons, reports, legends, popups, the index page); data files
    (CSV, GeoPackage, xlsx values) keep machine numbers. Halves round away from zero on the
    number's shortest decimal form (999.5 -> 1.000, 0.125 -> 0,13 with two digits), and a
    value that rounds to zero has no sign.

    Parameters
    ----------
    value
        An int, float or NumPy number; None, NaN or ``pd.NA`` give "".
    digits
        Digits after the decimal separator, >= 0.
    lang
        ``nl`` or ``en``; ValueError for another.
    """
    if lang not in _SEPARATORS:
        check_lang(lang)
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")
    text = _plain_text(value, digits)
    if text is None:
        return ""
    table = _SEPARATORS[lang]
    return text.translate(table) if table else text


def format_numbers(value: object, digits: int = 0) -> dict[str, str]:
    """:func:`format_number` in every output language at once (rounded once): ``{"nl":
    "1.234,5", "en": "1,234.5"}``, for text written in both languages side by side."""
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")
    text = _plain_text(value, digits) or ""
    return {lang: text.translate(table) if table else text for lang, table in _SEPARATORS.items()}


def _plain_text(value: object, digits: int) -> str | None:
    """``value`` rounded to ``digits`` in Python's ``,`` / ``.`` form; None when missing."""
    if type(value) is float:  # the common case first
        number = value
    elif value is None or isinstance(value, bool):
        return None
    elif isinstance(value, numbers.Integral):  # NumPy's integers too: exact, no float
        return f"{int(value):,}" + ("." + "0" * digits if digits else "")
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    if not math.isfinite(number):
        return None
    shortest = repr(number)
    tie = len(shortest) - shortest.find(".") == digits + 2 and shortest[-1] == "5"
    coarse = _COARSE_FROM[digits] if digits < len(_COARSE_FROM) else 0.0
    if tie or "e" in shortest or abs(number) >= coarse:
        # a half at the last digit kept (Python's format would round it to even), an
        # exponent, or a float coarser than the digits: exact arithmetic on the shortest form
        return _exact_text(decimal.Decimal(shortest), digits)
    # no tie, and the float's spacing finer than the digits: rounding the binary value
    # gives what rounding its shortest form gives (a tie point between the two would be a
    # shorter form that reads back as the same float); ~2 µs a number instead of ~14
    text = f"{number:,.{digits}f}"
    return text[1:] if text[0] == "-" and not text.strip("-0,.") else text


def _exact_text(exact: decimal.Decimal, digits: int) -> str:
    """``exact`` rounded to ``digits``, halves away from zero, without a "-0"."""
    with decimal.localcontext() as ctx:
        ctx.prec = 400 + digits  # room for every float's integer digits (up to 1.8e308)
        rounded = exact.quantize(decimal.Decimal(1).scaleb(-digits), decimal.ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)  # no "-0"
    return f"{rounded:,.{digits}f}"
