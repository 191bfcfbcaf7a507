"""bandit/ope is pure maths: it imports nothing else of banditops, and only the reward model needs scikit-learn."""

from __future__ import annotations

import ast
from pathlib import Path

OPE = Path(__file__).resolve().parents[4] / "banditops" / "bandit" / "ope"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_ope_imports_only_bandit_and_the_reward_model_alone_imports_sklearn():
    modules = sorted(OPE.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        names = _imports(path)
        outside = {n for n in names if n.startswith("banditops") and not n.startswith("banditops.bandit")}
        assert not outside, (path.name, outside)
        uses_sklearn = any(n.startswith("sklearn") for n in names)
        assert uses_sklearn == (path.name == "reward_model.py"), path.name
