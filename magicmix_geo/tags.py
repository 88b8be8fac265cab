"""OSM tag rules: the small languages our configuration uses to select OSM elements.

Two forms are understood:

- tag rules, ``"key=v1|v2"`` (the tag has one of the values) or ``"key"`` (the tag is present),
  used for destination categories and land use;
- Overpass QL way filters as osmnx writes them, ``["highway"]["foot"!~"no"]...``, used for the
  walking network so that it has exactly osmnx's ``network_type="walk"`` semantics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TagRule:
    """``key`` with any value (``values`` empty) or with one of ``values``."""

    key: str
    values: frozenset[str]

    def matches(self, tags: Mapping[str, str]) -> bool:
        value = tags.get(self.key)
        if value is None:
            return False
        return not self.values or value in self.values

    def __str__(self) -> str:
        return self.key if not self.values else f"{self.key}={'|'.join(sorted(self.values))}"


def parse_rules(texts: Iterable[str]) -> tuple[TagRule, ...]:
    """Parse ``"key=v1|v2"`` / ``"key"`` strings into rules; a malformed one raises ValueError."""
    rules = []
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not key or (sep and not values.strip()):
            raise ValueError(f"malformed tag rule {text!r} (expected 'key' or 'key=v1|v2')")
        vals = frozenset(v.strip() for v in values.split("|") if v.strip()) if sep else frozenset()
        rules.append(TagRule(key, vals))
    return tuple(rules)


def matches_any(rules: Iterable[TagRule], tags: Mapping[str, str]) -> bool:
    return any(rule.matches(tags) for rule in rules)


def rule_keys(rules: Iterable[TagRule]) -> set[str]:
    return {rule.key for rule in rules}


class TagLookup(Protocol):
    """What a way filter reads of a way's tags: a dict, or pyosmium's ``TagList`` as it is
    (copying the tags into a dict costs more than the filter's few lookups)."""

    def get(self, key: str, default: None = None, /) -> str | None: ...


TagGetter = Callable[[str, None], str | None]
"""``get(key, None)``: a tag's value, or None when the tag is missing."""


def _no_search(value: str) -> re.Match[str] | None:
    """The regex search of a clause without a regular expression (never called)."""
    raise AssertionError("a clause without a regular expression was searched")


@dataclass(frozen=True)
class _Clause:
    key: str
    op: str  # "exists", "=", "!=", "~", "!~"
    pattern: str


_CLAUSE = re.compile(r'\[\s*"([^"]+)"\s*(?:(!?[=~])\s*"([^"]*)")?\s*\]')


class WayFilter:
    """An Overpass QL tag filter such as osmnx's walk filter, evaluated on a tag mapping.

    Semantics follow Overpass: ``["k"]`` needs the tag; ``["k"="v"]`` an exact value;
    ``["k"!="v"]`` the tag absent or another value; ``["k"~"re"]`` a value in which the regular
    expression is found; ``["k"!~"re"]`` the tag absent or no match. All clauses must hold.
    """

    def __init__(self, text: str) -> None:
        pos = 0
        clauses = []
        for match in _CLAUSE.finditer(text):
            if text[pos : match.start()].strip():
                raise ValueError(f"cannot parse way filter near {text[pos : match.start()]!r}")
            key, op, pattern = match.groups()
            clauses.append(_Clause(key, op or "exists", pattern or ""))
            pos = match.end()
        if text[pos:].strip() or not clauses:
            raise ValueError(f"cannot parse way filter {text!r}")
        self.clauses = tuple(clauses)
        self._regex = {c.pattern: _regex(c.pattern) for c in clauses if c.op in ("~", "!~")}
        self.keys = frozenset(c.key for c in clauses)
        self._tests = tuple(
            (
                c.key,
                c.op,
                c.pattern,
                self._regex[c.pattern].search if c.op in ("~", "!~") else _no_search,
            )
            for c in clauses
        )

    def __call__(self, tags: TagLookup | Mapping[str, str]) -> bool:
        return self.test(tags.get)

    def test(self, get: TagGetter) -> bool:
        """Whether the tags that ``get`` reads pass every clause: ``get(key, None)`` is a tag's
        value or None, as ``dict.get``, pyosmium's ``TagList.get`` or its C++ lookup give it.

        The reader of OSM files calls this once per highway, so the clauses are evaluated from
        :attr:`_tests` (key, operator, value, bound regex search) without attribute or
        dictionary look-ups; ``"!~"``, osmnx's usual operator, is tested first.
        """
        for key, op, pattern, search in self._tests:
            value = get(key, None)
            if op == "!~":
                if value is not None and search(value) is not None:
                    return False
            elif op == "exists":
                if value is None:
                    return False
            elif op == "=":
                if value != pattern:
                    return False
            elif op == "!=":
                if value == pattern:
                    return False
            elif value is None or search(value) is None:  # "~"
                return False
        return True


def _regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled; a bad one is a ValueError naming it (``re.error`` is not one)."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r} ({exc})") from exc
