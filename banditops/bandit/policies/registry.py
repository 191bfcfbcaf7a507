"""Policies by name: the one factory the simulator, the agents' rounds and the benchmarks use.

``system`` is the drift-aware policy (TS + staleness floor + GLR on every pull + confirmation
pulls + restarts), ``system:<detector>`` the same with another detector, ``ts`` plain Thompson
Sampling, ``ts:<detector>`` TS with a detector on the arms it plays and no floor.

Examples
--------
>>> import numpy as np
>>> make_policy("system:page_hinkley", 3, "gaussian", np.random.default_rng(0)).name
'system:page_hinkley'
>>> make_policy("ucb", 3, "gaussian", np.random.default_rng(0))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown policy 'ucb'; valid policies: system, ts, system:glr, ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from banditops.bandit.names import POLICIES, POLICY_BASES, check_policy
from banditops.bandit.policies.base import Policy
from banditops.bandit.policies.drift_aware import DriftAwarePolicy
from banditops.bandit.policies.plain_thompson import PlainThompson

__all__ = ["POLICIES", "POLICY_BASES", "check_policy", "make_policy"]


def make_policy(spec: str, n_arms: int, kind: str, rng: np.random.Generator, **params: Any) -> Policy:
    """A policy by name (see :data:`POLICIES`); ``ValueError`` names the valid ones."""
    base, _, detector = check_policy(spec).partition(":")
    if base == "ts" and not detector:
        return PlainThompson(n_arms, kind, rng, params.get("prior"))
    return DriftAwarePolicy(n_arms, kind, rng, detector=detector or "glr", floor=base == "system", **params)
