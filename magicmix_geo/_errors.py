"""Error classes; callers can catch broadly (ValueError) or precisely."""

from __future__ import annotations


class MagicMixError(Exception):
    """Base class of all errors raised on purpose by magicmix-geo."""


class InputError(MagicMixError, ValueError):
    """Bad input data: a missing, empty, unreadable or inconsistent file or value (exit 2)."""


class ConfigError(InputError):
    """Bad configuration: an unknown key, a wrong type or an out-of-range value (exit 2)."""


class OutputError(InputError):
    """An output location that cannot be used: not a directory, not writable (exit 2)."""
