"""Plain Thompson Sampling as a :class:`~banditops.bandit.policies.base.Policy`: the baseline.

No forced pulls and no drift tests: every pull is the argmax of one posterior draw, and every
reward goes through the shared conjugate update
(:class:`~banditops.bandit.posteriors.arrays.PosteriorArrays`).

References
----------
Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in view
of the evidence of two samples. Biometrika 25(3/4).

Examples
--------
>>> import numpy as np
>>> policy = PlainThompson(2, "bernoulli", np.random.default_rng(0))
>>> table = np.column_stack([np.zeros(300), np.ones(300)])
>>> int((policy.run(table)[-50:] == 1).all()), policy.explored, policy.alarms
(1, 0, [])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from banditops.bandit.policies.base import Alarm, play
from banditops.bandit.policies.thompson import thompson_choice
from banditops.bandit.posteriors.arrays import PosteriorArrays
from banditops.bandit.stats import ArmStats


class PlainThompson:
    """Thompson Sampling alone (``ts``)."""

    name = "ts"

    def __init__(
        self, n_arms: int, reward_kind: str, rng: np.random.Generator, prior: Mapping[str, float] | None = None
    ) -> None:
        self.rng = rng
        self.n_arms = int(n_arms)
        self.reward_kind = reward_kind
        self.posterior = PosteriorArrays(reward_kind, self.n_arms, prior)
        self.alarms: list[Alarm] = []
        self.explored = 0
        #: Arms never chosen (retired at runtime).
        self.retired: frozenset[int] = frozenset()
        self.restarted = False
        self.reset_arms: set[int] = set()
        self.floor_forced = 0
        #: Plain TS has no watch pulls: its rounds never wait for a reward.
        self.wants_feedback = False
        self._streams: list[tuple[np.ndarray, np.ndarray]] = []

    def draw(self, size: int) -> np.ndarray:
        draws = self.posterior.draw(self.rng) if size == 1 else self.posterior.draw(self.rng, size)
        return np.atleast_1d(thompson_choice(draws, self.retired))

    def choose(self, ts_choice: int, t: int) -> tuple[int, bool]:
        return ts_choice, False

    def observe(self, arm: int, x: float, t: int, *, forced: bool = False) -> Alarm | None:
        self.posterior.add(arm, x)
        return None

    def run(self, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
        return play(self, rewards, blocks)

    def set_round_robin(self, pulls: int, start: int = 0) -> None:
        """Plain TS never forces a pull: a round-robin budget is ignored (its share stays 0)."""

    def load(
        self,
        *,
        stats: ArmStats,
        streams: Sequence[tuple[np.ndarray, np.ndarray]],
        t: int,
        last_pulled: np.ndarray | None = None,
        floor_forced: int = 0,
        control: Mapping[str, Any] | None = None,
        retired: Iterable[int] = (),
    ) -> list[Alarm]:
        """The posterior the store holds; streams are kept as they are (there is no test)."""
        self.posterior.set_stats(stats)
        self._streams = [(np.asarray(v, np.float64), np.asarray(p, np.int64)) for v, p in streams]
        self.retired = frozenset(int(a) for a in retired)
        return []

    def stream(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        return self._streams[arm] if arm < len(self._streams) else (np.empty(0), np.empty(0, np.int64))

    def control_state(self) -> dict[str, Any]:
        return {}
