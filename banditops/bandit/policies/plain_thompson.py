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

from collections.abc import Iterable, Mapping

import numpy as np

from banditops.bandit.policies.base import Alarm, play
from banditops.bandit.policies.thompson import thompson_choice
from banditops.bandit.posteriors.arrays import PosteriorArrays


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
