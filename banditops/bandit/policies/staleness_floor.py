"""The drift-watching exploration floor: a pull for every arm whose information has gone stale.

Thompson Sampling stops playing an arm once it is confidently worse. If that arm later
becomes the best, no detector watching only played arms can notice: its reward stream simply
stops. The floor keeps a thin stream flowing: an arm unsampled for more than

    L(t) = min(max_staleness, max(min_staleness, growth · t))

pulls (``t``: pulls since the floor's clock started, i.e. since the epoch or the last restart)
gets one pull instead of the Thompson choice. ``L`` grows with ``t`` so the cost in a
stationary world is logarithmic in the horizon (each arm is refreshed about
ln(T) / ln(1 + growth) times), and is capped so a deployment that runs for months still looks
at every arm every ``max_staleness`` pulls. Each arm's deadline is jittered (±``jitter``) so
the arms do not all fall due in the same batch. A budget caps the share of pulls the floor may
take, whatever the number of arms.

It replaces the uniform forced exploration of the change-detection bandits below (a fixed
share ``α`` of the pulls spread round-robin over the arms) with exploration driven by how stale
each arm's information is, which is what makes it cheap in a stationary world.

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. Journal of Machine Learning Research 23(77), 1-40.

Cao, Y., Wen, Z., Kveton, B., Xie, Y. (2019). Nearly optimal adaptive procedure with change
detection for piecewise-stationary bandit. AISTATS 2019 (PMLR 89).

Examples
--------
>>> import numpy as np
>>> floor = StalenessFloor(3, np.random.default_rng(0), min_staleness=10, jitter=0.0)
>>> for t in range(12):
...     floor.pulled(0, t)                   # only arm 0 is ever played
>>> floor.due(12), floor.stale_arms(12).tolist()
(1, [1, 2])
>>> floor.pulled(1, 12, forced=True); floor.due(13), floor.forced   # 1% budget: spent
(None, 1)
>>> StalenessFloor(3, np.random.default_rng(0), budget=0.5).limit(100_000)
15000.0
"""

from __future__ import annotations

import math

import numpy as np


class StalenessFloor:
    """Staleness-driven exploration floor with a budget.

    Parameters
    ----------
    n_arms : int
        Number of arms.
    rng : numpy.random.Generator
        Source of the deadline jitter.
    min_staleness : int, default 1700
        An arm is never stale before this many pulls without it.
    growth : float, default 0.15
        Staleness limit as a share of the pulls since the clock started.
    max_staleness : int or None, default 50_000
        Cap of the limit, for long-running deployments (``None``: no cap).
    jitter : float, default 0.1
        Relative jitter of each arm's limit, in [0, 1).
    budget : float, default 0.01
        Largest share of the pulls since the clock started that the floor may take, in (0, 1].
    """

    def __init__(
        self,
        n_arms: int,
        rng: np.random.Generator,
        *,
        min_staleness: int = 1700,
        growth: float = 0.15,
        max_staleness: int | None = 50_000,
        jitter: float = 0.1,
        budget: float = 0.01,
    ) -> None:
        if int(n_arms) != n_arms or n_arms < 1:
            raise ValueError(f"n_arms must be an integer >= 1; got {n_arms!r}")
        if min_staleness < 1:
            raise ValueError(f"min_staleness must be >= 1 pull; got {min_staleness!r}")
        if not (0.0 <= growth < 1.0):
            raise ValueError(f"growth must be in [0, 1); got {growth!r}")
        if max_staleness is not None and max_staleness < min_staleness:
            raise ValueError(f"max_staleness must be None or >= min_staleness ({min_staleness}); got {max_staleness!r}")
        if not (0.0 <= jitter < 1.0):
            raise ValueError(f"jitter must be in [0, 1); got {jitter!r}")
        if not (0.0 < budget <= 1.0):
            raise ValueError(f"budget must be in (0, 1]; got {budget!r}")
        self.n_arms = int(n_arms)
        self.rng = rng
        self.min_staleness = int(min_staleness)
        self.growth = float(growth)
        self.max_staleness = None if max_staleness is None else int(max_staleness)
        self.jitter = float(jitter)
        self.budget = float(budget)
        self.restart(0)

    def restart(self, t: int) -> None:
        """Start the clock at pull ``t``: every arm counts as just seen (a fresh epoch/restart)."""
        self._start = int(t)
        self._last = np.full(self.n_arms, int(t), dtype=np.int64)
        self._scale = self._jitters(self.n_arms)
        self._forced = 0
        self._next_check = int(t)
        self._pool, self._pool_at = np.empty(0), 0

    def resume(self, last: np.ndarray, *, forced: int = 0, start: int = 0) -> None:
        """Continue a clock kept elsewhere: each arm last pulled at ``last[arm]``, ``forced`` pulls taken.

        Why: the agents are stateless between rounds; each round rebuilds the floor from the
        store's last-pulled positions and forced-pull counter (the same clock as the simulator's:
        pulls since the experiment started), so the rule is this class's in both places.
        """
        self.restart(start)
        self._last[:] = np.asarray(last, dtype=np.int64)[: self.n_arms]
        self._forced = int(forced)

    def _jitters(self, size: int) -> np.ndarray:
        if self.jitter == 0.0:
            return np.ones(size)
        return 1.0 + self.rng.uniform(-self.jitter, self.jitter, size)

    def _jitter_one(self) -> float:
        # Drawn in blocks: one generator call per 1024 pulls instead of one per pull.
        if self._pool_at >= self._pool.size:
            self._pool, self._pool_at = self._jitters(1024), 0
        self._pool_at += 1
        return float(self._pool[self._pool_at - 1])

    @property
    def forced(self) -> int:
        """Pulls the floor has taken since the clock started."""
        return self._forced

    def limit(self, t: int) -> float:
        """L(t): pulls without an arm after which it is stale (before jitter)."""
        value = max(float(self.min_staleness), self.growth * (t - self._start))
        return value if self.max_staleness is None else min(value, float(self.max_staleness))

    def pulled(self, arm: int, t: int, *, forced: bool = False) -> None:
        """Record that ``arm`` was pulled at ``t`` (``forced``: on the floor's request)."""
        self._last[arm] = t
        self._scale[arm] = self._jitter_one()
        if forced:
            self._forced += 1

    def pulled_batch(self, arms: np.ndarray, t_end: int) -> None:
        """Record a batch of pulls that ended at pull ``t_end`` (the Airflow agents' path)."""
        for arm in np.unique(arms):
            self.pulled(int(arm), t_end)

    def stale_arms(self, t: int) -> np.ndarray:
        """Arms unsampled for longer than their (jittered) limit, most overdue first."""
        overdue = (t - self._last) - self._scale * self.limit(t)
        stale = np.flatnonzero(overdue > 0)
        return stale[np.argsort(-overdue[stale], kind="stable")]

    def within_budget(self, t: int) -> bool:
        """Whether one more forced pull keeps the floor within its budget."""
        return self._forced + 1 <= self.budget * max(t - self._start, 0) + 1

    def due(self, t: int) -> int | None:
        """The arm the floor wants pulled at ``t`` (most overdue), or ``None``.

        Cheap to call on every pull: between deadlines it returns at once.
        """
        if t < self._next_check:
            return None
        stale = self.stale_arms(t)
        if stale.size and self.within_budget(t):
            return int(stale[0])
        # No arm can fall due before the smallest slack (L only grows), so skip until then.
        slack = self._scale * self.limit(t) - (t - self._last)
        if stale.size:  # over budget: wait until one more forced pull fits
            self._next_check = max(t + 1, self._start + math.ceil(self._forced / self.budget))
        else:
            self._next_check = t + max(1, math.floor(float(slack.min())))
        return None
