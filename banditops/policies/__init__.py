"""Arm-selection policies: Thompson Sampling for learning, round robin for forced exploration."""

from __future__ import annotations

from banditops.policies.active_arms import active_mask
from banditops.policies.round_robin import RoundRobin
from banditops.policies.thompson import ThompsonSampling, thompson_choice

__all__ = ["RoundRobin", "ThompsonSampling", "active_mask", "thompson_choice"]
