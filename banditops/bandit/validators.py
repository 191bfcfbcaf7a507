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

:func:`check_drift_value` is the one rule a drift's new value obeys at the same entry points (and
in :func:`banditops.bandit.arms.parse_arms`, so a new arm or a posted world meets it too):

>>> check_drift_value("bernoulli", "p", 1.5)
Traceback (most recent call last):
...
ValueError: p must be a finite number in [0, 1] for a bernoulli arm; got 1.5
>>> check_drift_value("gaussian", "sd", "0")
Traceback (most recent call last):
...
ValueError: sd must be a finite number > 0 for a gaussian arm; got '0'
>>> check_drift_value("gaussian", "mean", "2.5")
2.5
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: What each parameter of an arm may be, by reward kind: the valid values the refusals name.
#: A Bernoulli arm's ``mean`` is its ``p`` (the environment's ``/update_arm`` sends ``mean``).
DRIFT_VALUES: dict[str, dict[str, str]] = {
    "bernoulli": {"p": "a finite number in [0, 1]", "mean": "a finite number in [0, 1]"},
    "gaussian": {"mean": "a finite number", "sd": "a finite number > 0"},
}


def is_integer(value: object) -> bool:
    """An ``int`` or a numpy integer, never a ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_finite_number(value: object) -> bool:
    """A real number (``int``, ``float``, numpy scalar) that is neither NaN nor infinite, never a ``bool``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value))


def _shown(arm: object) -> str:
    return str(arm) if is_integer(arm) else repr(arm)  # 42, not np.int64(42); a name or text quoted


def unknown_arm_message(arm: object, n_arms: int) -> str:
    """The refusal of an arm index outside ``0..n_arms-1``, worded like ``ArmTable``'s for a name.

    A list of indices (a batch of pulls) is named in full: ``unknown arms 5, 7; valid arms: 0..4``.
    """
    valid = f"0..{n_arms - 1}" if n_arms > 0 else "none"
    if isinstance(arm, list | tuple) and len(arm) != 1:
        return f"unknown arms {', '.join(map(_shown, arm))}; valid arms: {valid}"
    if isinstance(arm, list | tuple):
        arm = arm[0]
    return f"unknown arm {_shown(arm)}; valid arms: {valid}"


def check_arm_index(arm: object, n_arms: int) -> int:
    """``arm`` as an ``int`` if it indexes one of ``n_arms`` arms, else ``ValueError`` naming the valid ones.

    Drift is injected from three entry points; each asks this one function, so an unknown arm is
    refused by the same rule and in the same words (the HTTP layers answer it as a 4xx).
    """
    if isinstance(arm, int | np.integer) and is_integer(arm) and 0 <= int(arm) < n_arms:
        return int(arm)
    raise ValueError(unknown_arm_message(arm, n_arms))


def _as_number(value: object) -> float:
    """``value`` as a float (numbers and numeric text, as a form or a DAG conf sends them), else NaN."""
    if isinstance(value, bool | np.bool_):
        return math.nan
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def check_drift_value(kind: str, field: str, value: object) -> float:
    """``value`` as a float if it is a valid ``field`` of a ``kind`` arm, else ``ValueError`` naming the valid values.

    Finite always; a Bernoulli ``p`` (or ``mean``) in [0, 1]; a Gaussian ``sd`` > 0. The drift step,
    the dashboard and the environment's world each ask this one function before changing anything,
    so a bad value is refused in the same words wherever it is met.
    """
    valid = DRIFT_VALUES.get(kind)
    if valid is None:
        raise ValueError(f"unknown reward kind {kind!r}; valid kinds: {', '.join(DRIFT_VALUES)}")
    if field not in valid:
        raise ValueError(f"{kind} arms have no parameter {field!r}; valid: {', '.join(valid)}")
    number = _as_number(value)
    ok = math.isfinite(number)
    if ok and kind == "bernoulli":
        ok = 0.0 <= number <= 1.0
    elif ok and field == "sd":
        ok = number > 0.0
    if not ok:
        shown = value if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) else repr(value)
        raise ValueError(f"{field} must be {valid[field]} for a {kind} arm; got {shown}")
    return number
