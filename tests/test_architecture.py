"""The rooms keep their doors: no module imports another room's private (``_``) names, and
every room's import order is the one docs/architecture.md and pyproject.toml declare."""

from __future__ import annotations

import ast
import shutil
import subprocess

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "advisor"


FACES = {"advisor.cli", "advisor.commands", "advisor.tui", "advisor.plotting"}
BASE = {"advisor.locations", "advisor.units", "advisor.errors", "advisor._version"}


def _room(module: str) -> str:
    """The room of a dotted module name: ``advisor.curves.law`` → ``advisor.curves``; the
    faces (CLI, commands, TUI, plots) and the base modules are one room each."""
    parts = module.split(".")
    top = ".".join(parts[:2]) if len(parts) > 1 else module
    return "faces" if top in FACES else "base" if top in BASE else top


def _imports() -> list[tuple[str, str, str, int]]:
    """(importing module, imported module, name, line) for every ``from X import name``."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    found.append((module, node.module, alias.name, node.lineno))
    return found


def test_no_room_imports_another_rooms_private_names() -> None:
    offenders = [
        f"{importer}:{line} imports {name} from {imported}"
        for importer, imported, name, line in _imports()
        if imported.startswith("advisor.")
        and _room(importer) != _room(imported)
        and (name.startswith("_") or any(p.startswith("_") and p != "__init__"
                                         for p in imported.split(".")[1:]))
        and imported != "advisor._version"
    ]  # fmt: skip
    assert not offenders, "\n".join(offenders)


def test_the_layers_contract_holds() -> None:
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter not installed (pip install import-linter)")
    result = subprocess.run(["lint-imports"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
