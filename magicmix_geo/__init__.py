"""magicmix-geo: rank candidate housing sites for Magic Mix housing in Dutch municipalities."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("magicmix-geo")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
