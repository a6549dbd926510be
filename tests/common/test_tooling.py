"""The layout rules of the tooling around the application (tests/, bench/, bin/), checked from the source:
the shared test harness has one home, benchmarks stand alone, and the web process has one launch recipe."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_conftest_imports_another_conftest() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.endswith("conftest"))
        for path in (ROOT / "tests").rglob("conftest.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_bench_script_imports_tests_or_another_bench_script() -> None:
    scripts = {path.stem for path in BENCH.glob("*.py") if not path.stem.startswith("_")}
    offenders = {}
    for path in BENCH.glob("*.py"):
        bad = sorted(
            module
            for module in imported_modules(path)
            if module == "tests" or module.startswith("tests.") or module.split(".")[0] in scripts
        )
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_the_web_process_is_launched_by_bin_web_only() -> None:
    """A uvicorn or daphne command line for Spaces' application appears in bin/web and nowhere else."""
    command = re.compile(r"(?:\buvicorn\b|\bdaphne\b)[^\n]*spaces_project\.asgi:application")
    candidates = [ROOT / "Procfile", *(ROOT / "bin").iterdir(), *BENCH.glob("*.py"), *(ROOT / "tests").rglob("*.py")]
    offenders = [
        str(path.relative_to(ROOT))
        for path in candidates
        if path.is_file() and path.name != "web" and command.search(path.read_text(errors="replace"))
    ]
    assert offenders == []
    assert "web: bin/web" in (ROOT / "Procfile").read_text().splitlines()
