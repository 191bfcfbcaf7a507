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

:func:`check_arm_index` is the one rule a drift's target arm obeys, at every entry point that
injects drift (the ``bandit_inject_drift`` step, the dashboard, the environment service), so the
refusal reads the same wherever it is met:

>>> check_arm_index(42, 5)
Traceback (most recent call last):
...
ValueError: unknown arm 42; valid arms: 0..4
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


def unknown_arm_message(arm: object, n_arms: int) -> str:
    """The refusal of an arm index outside ``0..n_arms-1``, worded like ``ArmTable``'s for a name."""
    valid = f"0..{n_arms - 1}" if n_arms > 0 else "none"
    shown = arm if is_integer(arm) else repr(arm)  # 42, not np.int64(42); a name or text quoted
    return f"unknown arm {shown}; valid arms: {valid}"


def check_arm_index(arm: object, n_arms: int) -> int:
    """``arm`` as an ``int`` if it indexes one of ``n_arms`` arms, else ``ValueError`` naming the valid ones.

    Drift is injected from three entry points; each asks this one function, so an unknown arm is
    refused by the same rule and in the same words (the HTTP layers answer it as a 4xx).
    """
    if isinstance(arm, int | np.integer) and is_integer(arm) and 0 <= int(arm) < n_arms:
        return int(arm)
    raise ValueError(unknown_arm_message(arm, n_arms))
