"""Sufficient statistics of rewards per arm: count, sum, sum of squares.

They are all a posterior needs (Beta–Bernoulli and Normal–Inverse-Gamma alike), they add up
across agents and batches, and they are what the Redis store keeps and what a batch summary
carries to the drift tests.

Examples
--------
>>> s = ArmStats.from_pulls([0, 2, 2], [1.0, 0.5, 1.5], n_arms=3)
>>> s.n.tolist(), s.sum.tolist(), s.sumsq.tolist()
([1, 0, 2], [1.0, 0.0, 2.0], [1.0, 0.0, 2.5])
>>> (s + s).n.tolist()
[2, 0, 4]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ArmStats:
    """Per-arm totals; ``n`` is int64, ``sum`` and ``sumsq`` float64, all of length K."""

    n: np.ndarray
    sum: np.ndarray
    sumsq: np.ndarray

    @property
    def n_arms(self) -> int:
        return int(self.n.shape[0])

    @property
    def total(self) -> int:
        return int(self.n.sum())

    @classmethod
    def zeros(cls, n_arms: int) -> ArmStats:
        return cls(np.zeros(n_arms, np.int64), np.zeros(n_arms), np.zeros(n_arms))

    @classmethod
    def from_pulls(
        cls, arms: Sequence[int] | np.ndarray, rewards: Sequence[float] | np.ndarray, n_arms: int
    ) -> ArmStats:
        """Summarise a batch of pulls; raises ``ValueError`` on inconsistent input."""
        a = np.asarray(arms)
        r = np.asarray(rewards, dtype=np.float64)
        if a.ndim != 1 or r.ndim != 1 or a.shape != r.shape:
            raise ValueError(
                f"arms and rewards must be 1-D sequences of the same length; got {a.shape} and {r.shape}"
            )
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError("arms must be integer arm indices")
        if a.size and (a.min() < 0 or a.max() >= n_arms):
            raise ValueError(f"arm index out of range: valid arms are 0..{n_arms - 1}")
        if not np.all(np.isfinite(r)):
            raise ValueError("rewards must be finite numbers (no NaN or infinity)")
        a = a.astype(np.int64)
        return cls(
            np.bincount(a, minlength=n_arms).astype(np.int64),
            np.bincount(a, weights=r, minlength=n_arms),
            np.bincount(a, weights=r * r, minlength=n_arms),
        )

    def __add__(self, other: ArmStats) -> ArmStats:
        k = max(self.n_arms, other.n_arms)
        a, b = self.padded(k), other.padded(k)
        return ArmStats(a.n + b.n, a.sum + b.sum, a.sumsq + b.sumsq)

    def padded(self, n_arms: int) -> ArmStats:
        """The same totals over ``n_arms`` arms (arms added at runtime start empty)."""
        pad = n_arms - self.n_arms
        if pad < 0:
            raise ValueError(f"cannot shrink {self.n_arms} arms to {n_arms}")
        if pad == 0:
            return self
        return ArmStats(
            np.concatenate([self.n, np.zeros(pad, np.int64)]),
            np.concatenate([self.sum, np.zeros(pad)]),
            np.concatenate([self.sumsq, np.zeros(pad)]),
        )

    def means(self) -> np.ndarray:
        """Empirical mean per arm (NaN where an arm has no pull)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self.sum / np.maximum(self.n, 1), math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n.tolist(), "sum": self.sum.tolist(), "sumsq": self.sumsq.tolist()}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ArmStats:
        return cls(
            np.asarray(payload["n"], dtype=np.int64),
            np.asarray(payload["sum"], dtype=np.float64),
            np.asarray(payload["sumsq"], dtype=np.float64),
        )
