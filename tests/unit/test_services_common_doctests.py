"""The seeded examples in the services' docstrings hold (``services/`` is outside pytest's doctest paths)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from services.common import auth, body_limit
from services.dashboard.app import guard


@pytest.mark.parametrize("module", [auth, body_limit, guard], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
