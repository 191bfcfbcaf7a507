"""The argument checks every layer shares: one definition of "an integer" and "a finite number".

Python's ``bool`` is an ``int`` (``True + True == 2``), so ``isinstance(x, int)`` lets a flag
through as a count; numpy's integer scalars are not ``int`` at all, so the same check refuses an
arm index read from an array. Every public entry point (the store, the simulator, the policies,
the posteriors, the loop) asks these two predicates instead of spelling the rule again, and raises
its own ``ValueError`` naming the argument and its valid range.

>>> import numpy as np
>>> [is_integer(v) for v in (3, np.int64(3), True, 3.0, "3")]
[True, True, False, False, False]
>>> [is_finite_number(v) for v in (0.5, 2, np.float32(1.5), float("nan"), float("inf"), False, "1")]
[True, True, True, False, False, False, False]
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_integer(value: object) -> bool:
    """An ``int`` or a numpy integer, never a ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_finite_number(value: object) -> bool:
    """A real number (``int``, ``float``, numpy scalar) that is neither NaN nor infinite, never a ``bool``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))
