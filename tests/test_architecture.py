"""The package's shape (docs/architecture.md): imports follow the flow acquire -> prepare ->
measure -> score -> publish, the bottom modules import no stage, constants live once, and the
library never imports prefect."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "magicmix_geo"
STAGES = {"sources": 0, "prepare": 1, "measure": 2, "score": 3, "publish": 4}
# shared by every stage; they import none (formats: the file formats both acquire and prepare
# read; site_types: the names of the candidate types; language: the output languages and
# their numbers)
BOTTOM = {
    "contract",
    "_errors",
    "_atomic",
    "config",
    "tags",
    "provenance",
    "cluster",
    "formats",
    "site_types",
    "language",
}


def imports() -> list[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import of magicmix_geo in the package;
    a part is a stage package or a top-level module."""
    edges = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        part = rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "magicmix_geo" and len(parts) > 1 and parts[1] != part:
                    edges.append((part, parts[1], str(path.relative_to(PACKAGE))))
    return edges


def test_no_stage_imports_a_later_stage() -> None:
    against = [
        e for e in imports() if e[0] in STAGES and e[1] in STAGES and STAGES[e[1]] > STAGES[e[0]]
    ]
    assert against == []


def test_bottom_modules_import_no_stage_and_no_orchestration() -> None:
    upward = [e for e in imports() if e[0] in BOTTOM and e[1] not in BOTTOM]
    assert upward == []


def test_the_library_never_imports_prefect() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) prefect\b", text, flags=re.M), path


def test_shared_constants_are_defined_once() -> None:
    patterns = {
        "GM code pattern": re.compile(r"re\.compile\(r\"\^?GM\\d\{4\}\$?\"\)"),
        "RD check": re.compile(r"^def _?require_rd", flags=re.M),
        "GTFS columns": re.compile(r"^GTFS_COLUMNS\s*=", flags=re.M),
    }
    for name, pattern in patterns.items():
        where = [
            str(p.relative_to(PACKAGE))
            for p in PACKAGE.rglob("*.py")
            if pattern.search(p.read_text(encoding="utf-8"))
        ]
        assert len(where) == 1, (name, where)


def test_every_package_is_installed() -> None:
    """pyproject.toml lists the packages (config and sample are mapped into the package), so a
    new package must be listed too, or `pip install .` leaves it out."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
            "setuptools"
        ]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        for init in PACKAGE.rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
