"""Round-robin forced exploration: every active arm in turn, deterministically.

After drift the old posterior is discarded and a new epoch starts from the prior. Thompson
Sampling alone would already explore, but a short deterministic sweep gives every arm the
same number of fresh pulls first, so that the new epoch's first convergence check and the
drift detectors' new baselines rest on evidence about every arm — including an arm that
was poor before the change and would otherwise be tried only by luck.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.validators import is_integer


class RoundRobin:
    """Cycle through the active arms ``0..K-1`` in index order, skipping retired arms.

    Parameters
    ----------
    n_arms : int
        Number of arms K (>= 1).

    Notes
    -----
    ``start`` is a position in the cycle, typically a counter of the forced pulls already
    made in this epoch (e.g. from an atomic ``INCRBY`` in the store): pull ``i`` of a batch
    goes to ``active[(start + i) % len(active)]``. With no retired arm that is simply arm
    ``(start + i) % K``. Advancing ``start`` by each batch's size continues the cycle
    exactly, so concurrent agents that each reserve a range of the counter share one sweep,
    and every active arm ends within one pull of the same count.

    References
    ----------
    .. [1] T. Lattimore and C. Szepesvári, "Bandit Algorithms", Cambridge University Press,
       2020, ch. 6 (explore-then-commit).
    .. [2] L. Besson, E. Kaufmann, O.-A. Maillard and J. Seznec, "Efficient change-point
       detection for tackling piecewise-stationary bandits", JMLR 23(77), 2022 (forced
       exploration after a detected change).

    Examples
    --------
    >>> rr = RoundRobin(4)
    >>> rr.select(6, start=0).tolist()
    [0, 1, 2, 3, 0, 1]
    >>> rr.select(3, start=6).tolist()
    [2, 3, 0]
    >>> rr.select(5, start=0, retired=[1]).tolist()
    [0, 2, 3, 0, 2]
    """

    def __init__(self, n_arms: int) -> None:
        active_mask(n_arms)  # validates n_arms
        self.n_arms = int(n_arms)

    def select(self, n: int, start: int = 0, *, retired: Iterable[int] = ()) -> np.ndarray:
        """``n`` arms (int64) continuing the cycle at position ``start``."""
        if not is_integer(n) or n < 1:
            raise ValueError(f"n must be an integer >= 1; got {n!r}")
        if not is_integer(start) or start < 0:
            raise ValueError(f"start must be an integer >= 0 (a position in the cycle); got {start!r}")
        active = np.flatnonzero(active_mask(self.n_arms, retired)).astype(np.int64)
        return active[(int(start) + np.arange(int(n))) % active.size]

    def __repr__(self) -> str:
        return f"RoundRobin(n_arms={self.n_arms})"
