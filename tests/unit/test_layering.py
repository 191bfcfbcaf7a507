"""The layout's import rules (docs/architecture.md), checked by parsing every module's imports."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _doctest_code(tree: ast.Module) -> str:
    """The source of every doctest example in the module's docstrings (module, classes, functions)."""
    parser = doctest.DocTestParser()
    sources = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=True)
            if docstring:
                sources.extend(example.source for example in parser.get_examples(docstring))
    return "".join(sources)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level and TYPE_CHECKING imports too),
    and every module its doctests import: `pytest --doctest-modules` runs those with the library."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in [*ast.walk(tree), *ast.walk(ast.parse(_doctest_code(tree)))]:
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


def test_the_rules_see_doctest_imports(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""Top.\n\n>>> import stack.demo\n"""\n\n\nclass A:\n    """Doc.\n\n'
                      '    >>> from stack.redis_server import RedisServer\n    >>> for i in range(2):\n'
                      '    ...     import json\n    """\n')
    assert {"stack.demo", "stack.redis_server", "stack.redis_server.RedisServer", "json"} <= _imports(module)
    assert "banditops.bandit.stats" in _imports(ROOT / "banditops/bandit/convergence.py")  # only in its doctest


@pytest.mark.parametrize("path", _files("banditops/bandit"), ids=lambda p: str(p.relative_to(ROOT)))
def test_bandit_imports_nothing_else_of_the_project(path: Path) -> None:
    bad = {n for n in _imports(path) if _top(n) == "banditops" and not n.startswith("banditops.bandit")}
    bad |= {n for n in _imports(path) if _top(n) in {"stack", "services", "plugins", "dags", "banditops_provider"}}
    assert not bad, f"{path}: banditops/bandit/ may import only banditops.bandit: {sorted(bad)}"


@pytest.mark.parametrize("path", _files("banditops", "plugins", "services", "dags"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_store_imports_redis(path: Path) -> None:
    # The services and the provider reach Redis through banditops.store (its client and error
    # names live in banditops.store.connection); Airflow's Redis provider is ``airflow.*``.
    if path.is_relative_to(ROOT / "banditops/store"):
        return
    assert "redis" not in {_top(n) for n in _imports(path)}, f"{path}: only banditops/store/ may import redis"


def test_the_rules_cover_every_deployable_folder() -> None:
    # mypy checks the same folders the import rules walk (pyproject's [tool.mypy] files).
    import tomllib

    mypy_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert set(mypy_files) >= {"banditops", "plugins", "services", "dags"}
    assert all(_files(folder) for folder in ("banditops", "plugins", "services", "dags"))


@pytest.mark.parametrize("path", _files("banditops", "plugins", "services", "dags"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_deployable_imports_the_stack(path: Path) -> None:
    assert "stack" not in {_top(n) for n in _imports(path)}, f"{path} imports stack/ (a checkout-only tool)"


@pytest.mark.parametrize("path", _files("banditops"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_imports_no_framework(path: Path) -> None:
    frameworks = {"airflow", "fastapi", "dash", "starlette"}
    bad = {_top(n) for n in _imports(path)} & frameworks
    assert not bad, f"{path} imports {sorted(bad)}; banditops/ is the framework-free library"
