"""The shared packages import no app: the apps give the realtime layer what it needs at start-up.

A plain check of every import statement (module level or inside a function) in spaces_project/realtime
and spaces_project/common. The import-linter contracts of the test command cover the same rule and
subsume this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _project_apps() -> set[str]:
    """The apps of this repository (accounts, rooms, ...): installed apps that are top-level packages here."""
    return {app for app in settings.INSTALLED_APPS if "." not in app and (ROOT / app / "__init__.py").exists()}


def _imported(path: Path) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
    return names


@pytest.mark.parametrize("package", ["spaces_project/realtime", "spaces_project/common"])
def test_the_shared_package_imports_no_app(package: str) -> None:
    apps = _project_apps()
    assert {"accounts", "rooms", "tickets", "moderation"} <= apps
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for line, name in _imported(path)
        if name.split(".")[0] in apps
    ]
    assert offending == []
