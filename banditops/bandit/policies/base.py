"""The interface the simulator and the benchmarks call: a policy that plays a whole reward table.

The simulator hands a policy the table of every arm's reward at every step (``horizon × K``)
and, optionally, the refresh blocks (the posterior is redrawn once per block, as agents that
share a posterior in Redis do); the policy returns the arm it played at each step and keeps its
alarms and the count of pulls it did not choose by Thompson Sampling. Plain Thompson Sampling
(:class:`banditops.sim.simulation.PlainThompson`) and the drift-aware system policy
(:class:`banditops.bandit.policies.drift_aware.DriftAwarePolicy`) both satisfy it, so
``make_policy`` returns this type rather than ``Any``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from banditops.bandit.policies.drift_aware import Alarm


@runtime_checkable
class TablePolicy(Protocol):
    """Plays a reward table step by step; what :func:`banditops.sim.simulation.make_policy` returns."""

    @property
    def name(self) -> str:
        """The policy's name in :data:`banditops.sim.simulation.POLICIES`."""
        ...

    @property
    def alarms(self) -> Sequence[Alarm]:
        """The change points raised so far (empty for a policy without drift tests)."""
        ...

    @property
    def explored(self) -> int:
        """Pulls not chosen by Thompson Sampling (floor and confirmation pulls)."""
        ...

    def run(self, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
        """The arm played at each row of ``rewards`` (``int64``, one per row)."""
        ...
