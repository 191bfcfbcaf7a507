"""The layout's import rules (docs/architecture.md), checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level and TYPE_CHECKING imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_the_rules_see_files() -> None:
    assert len(_files("banditops/bandit")) > 10
    assert "redis" in {_top(n) for n in _imports(ROOT / "banditops/store/redis_store.py")}


@pytest.mark.parametrize("path", _files("banditops/bandit"), ids=lambda p: str(p.relative_to(ROOT)))
def test_bandit_imports_nothing_else_of_the_project(path: Path) -> None:
    bad = {n for n in _imports(path) if _top(n) == "banditops" and not n.startswith("banditops.bandit")}
    bad |= {n for n in _imports(path) if _top(n) in {"stack", "services", "plugins", "dags", "banditops_provider"}}
    assert not bad, f"{path}: banditops/bandit/ may import only banditops.bandit: {sorted(bad)}"


@pytest.mark.parametrize("path", _files("banditops"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_store_imports_redis(path: Path) -> None:
    if path.is_relative_to(ROOT / "banditops/store"):
        return
    assert "redis" not in {_top(n) for n in _imports(path)}, f"{path}: only banditops/store/ may import redis"


@pytest.mark.parametrize("path", _files("banditops", "plugins", "services", "dags"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_deployable_imports_the_stack(path: Path) -> None:
    assert "stack" not in {_top(n) for n in _imports(path)}, f"{path} imports stack/ (a checkout-only tool)"


@pytest.mark.parametrize("path", _files("banditops"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_imports_no_framework(path: Path) -> None:
    frameworks = {"airflow", "fastapi", "dash", "starlette"}
    bad = {_top(n) for n in _imports(path)} & frameworks
    assert not bad, f"{path} imports {sorted(bad)}; banditops/ is the framework-free library"
