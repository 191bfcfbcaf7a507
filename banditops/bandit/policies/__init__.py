"""Arm-selection policies: Thompson Sampling for learning, round robin for forced exploration."""

from __future__ import annotations

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.policies.round_robin import RoundRobin
from banditops.bandit.policies.thompson import ThompsonSampling, thompson_choice

__all__ = ["RoundRobin", "ThompsonSampling", "active_mask", "thompson_choice"]
