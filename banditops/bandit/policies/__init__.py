"""Arm-selection policies: one Policy protocol (``base``), its implementations and their factory.

Thompson Sampling (``thompson``, ``plain_thompson``), the drift-aware system policy
(``drift_aware``: staleness floor, per-pull change-point tests, restarts), round robin for a
forced-exploration budget, and :func:`~banditops.bandit.policies.registry.make_policy`.
"""

from __future__ import annotations

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.policies.base import Alarm, Policy, play
from banditops.bandit.policies.round_robin import RoundRobin
from banditops.bandit.policies.thompson import ThompsonSampling, thompson_choice

__all__ = ["Alarm", "Policy", "RoundRobin", "ThompsonSampling", "active_mask", "play", "thompson_choice"]
