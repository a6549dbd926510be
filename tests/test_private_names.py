"""No module imports another module's private name (``_x``): what another module needs is public.

The import contracts in ``.importlinter`` (``lint-imports`` in bin/test) check the direction of imports
between modules; this checks the names. A private name belongs to its module; a private module
(``rooms/services/_common.py``) belongs to its package, whose modules may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = ("accounts", "moderation", "rooms", "spaces_project", "tickets")


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _allowed(importer: str, target: str) -> bool:
    """Whether module ``importer`` may use dotted name ``target``: it lies inside the owner of its private part."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            owner = ".".join(parts[:i])
            return importer == owner or importer.startswith(owner + ".")
    return True


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _source_module(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def private_uses(*, importer: str, source: str, is_package: bool = False) -> list[str]:
    """Each ``from m import _x``, ``import m._x`` or ``m._x`` in ``source`` reaching into another module."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> dotted name it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _source_module(node, importer, is_package)
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
                if not _allowed(importer, f"{module}.{alias.name}"):
                    found.append(f"{node.lineno}: {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
                if not _allowed(importer, alias.name):
                    found.append(f"{node.lineno}: {alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_module(aliases[node.value.id])  # a class's _meta is Django's API, not a module's secret
        ):
            target = f"{aliases[node.value.id]}.{node.attr}"
            if target.split(".", maxsplit=1)[0] in APPLICATION and not _allowed(importer, target):
                found.append(f"{node.lineno}: {target}")
    return sorted(found)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_uses_another_modules_private_name():
    found = [
        f"{path.relative_to(ROOT)}:{use}"
        for package in APPLICATION
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for use in private_uses(
            importer=_module_name(path), source=path.read_text(), is_package=path.name == "__init__.py"
        )
    ]
    assert found == []


def test_the_check_finds_what_it_forbids():
    source = (
        "from rooms.services.presence import _join_record\n"
        "from rooms.services import _common\n"
        "from rooms.services._common import audit\n"
        "from rooms import selectors\n"
        "selectors._current_cohosts()\n"
        "from . import _common as helpers\n"
        "from rooms.services.presence import space_join\n"
    )
    inside = private_uses(importer="rooms.services.stage", source=source)
    assert inside == ["1: rooms.services.presence._join_record", "5: rooms.selectors._current_cohosts"]
    outside = private_uses(importer="moderation.services", source=source)
    assert outside == [
        "1: rooms.services.presence._join_record",
        "2: rooms.services._common",
        "3: rooms.services._common.audit",
        "5: rooms.selectors._current_cohosts",
    ]
