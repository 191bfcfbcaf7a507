"""When has the bandit learned enough? Scott's (2015) stopping rule, made strict for a loop.

The loop moves from LEARNING to MONITORING when this returns ``converged=True``. Three tests
must all pass:

1. **P(best)**: the leader (the arm most often best across posterior draws) is best with
   probability ``>= 1 - delta``.
2. **Value remaining**: over the same draws, the 95th percentile of how much better the
   best arm of each draw is than the leader, ``(max θ − θ_leader) / θ_leader``, is below
   ``value_threshold`` — "we are 95% sure no arm beats the leader by more than 1%".
3. **Evidence**: every non-retired arm has at least ``min_pulls_per_arm`` pulls, so a
   posterior that is confident only because an arm was never tried does not count.

Scott stops when *either* of the first two holds, which ends experiments whose top arms
are practically tied. BanditOps requires *both*: leaving LEARNING also fixes the baseline
the drift detectors compare against, and a leader that is not clearly best would make
that baseline arbitrary. With ``delta <= 0.05`` test 2 follows from test 1 (in >= 95% of
the draws the leader is the max, so the 95th percentile of the value remaining is ~0);
it becomes a separate guard when a looser ``delta`` is configured.

The relative value remaining needs ``θ_leader > 0``. Click rates always are; a Gaussian
arm's mean can be ~0 or negative, where the ratio flips sign or explodes. So whenever any
posterior draw of ``θ_leader`` is ``<= 0`` the verdict uses the absolute value remaining
``max θ − θ_leader`` in reward units instead, and says so with ``relative=False``: the
threshold is then read in the reward's own units.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.posteriors.base import Posterior, check_size
from banditops.bandit.validators import is_integer


@dataclass(frozen=True)
class ConvergenceVerdict:
    """The outcome of :func:`check_convergence`, with the numbers behind it."""

    converged: bool
    leader: int
    prob_best: float
    value_remaining_p95: float
    relative: bool
    min_pulls: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_convergence(
    posterior: Posterior,
    rng: np.random.Generator,
    *,
    delta: float = 0.05,
    value_threshold: float = 0.01,
    min_pulls_per_arm: int = 20,
    draws: int = 4000,
    retired: Iterable[int] = (),
) -> ConvergenceVerdict:
    """Decide whether the posterior has identified the best arm (see the module docstring).

    Parameters
    ----------
    posterior : Posterior
        The current posterior of the epoch.
    rng : numpy.random.Generator
        Source of the Monte Carlo draws.
    delta : float
        Allowed probability that the leader is not the best arm, in (0, 1).
    value_threshold : float
        Bound on the 95th percentile of the value remaining (a fraction of the leader's
        mean when ``relative``, reward units otherwise), >= 0.
    min_pulls_per_arm : int
        Pulls every non-retired arm needs, >= 0.
    draws : int
        Monte Carlo draws of the joint posterior, >= 1.
    retired : iterable of int
        Arms that no longer compete; they neither lead nor need pulls.

    Returns
    -------
    ConvergenceVerdict
        ``reason`` names every failed criterion with its numbers.

    References
    ----------
    .. [1] S. L. Scott, "Multi-armed bandit experiments in the online service economy",
       Applied Stochastic Models in Business and Industry 31(1), 2015.
    .. [2] S. L. Scott, "A modern Bayesian look at the multi-armed bandit", Applied
       Stochastic Models in Business and Industry 26(6), 2010.

    Examples
    --------
    >>> from banditops.bandit.posteriors import make_posterior
    >>> from banditops.bandit.stats import ArmStats
    >>> clear = ArmStats(np.array([500, 500]), np.array([50.0, 150.0]), np.array([50.0, 150.0]))
    >>> v = check_convergence(make_posterior("bernoulli", clear), np.random.default_rng(0))
    >>> v.converged, v.leader, v.prob_best, v.relative
    (True, 1, 1.0, True)
    >>> tied = ArmStats(np.array([500, 500]), np.array([100.0, 101.0]), np.array([100.0, 101.0]))
    >>> v = check_convergence(make_posterior("bernoulli", tied), np.random.default_rng(0))
    >>> v.converged, v.reason
    (False, 'not converged: P(best) of arm 1 is 0.536 < 0.95; value remaining p95 is 0.225 > 0.01 (relative)')
    """
    if not (isinstance(delta, numbers.Real) and 0.0 < float(delta) < 1.0):
        raise ValueError(f"delta must be a probability strictly between 0 and 1; got {delta!r}")
    if not (isinstance(value_threshold, numbers.Real) and math.isfinite(value_threshold) and value_threshold >= 0):
        raise ValueError(f"value_threshold must be a finite number >= 0; got {value_threshold!r}")
    if (not is_integer(min_pulls_per_arm)
            or min_pulls_per_arm < 0):
        raise ValueError(f"min_pulls_per_arm must be an integer >= 0; got {min_pulls_per_arm!r}")
    draws = check_size(draws, "draws")
    active = active_mask(posterior.n_arms, retired)

    theta = posterior.sample(rng, draws)
    theta[:, ~active] = -np.inf
    wins = np.bincount(theta.argmax(axis=1), minlength=posterior.n_arms)
    leader = int(wins.argmax())  # ties go to the lower index, deterministically
    prob_best = float(wins[leader]) / draws

    theta_leader = theta[:, leader]
    gap = theta.max(axis=1) - theta_leader  # >= 0 in every draw
    relative = bool(np.all(theta_leader > 0.0))
    remaining = gap / theta_leader if relative else gap
    value_p95 = float(np.quantile(remaining, 0.95))
    min_pulls = int(posterior.stats.n[active].min())

    failures = []
    if prob_best < 1.0 - delta:
        failures.append(f"P(best) of arm {leader} is {prob_best:.3g} < {1.0 - delta:.3g}")
    if not value_p95 <= value_threshold:
        scale = "relative" if relative else "absolute: the leader's mean may be <= 0"
        failures.append(f"value remaining p95 is {value_p95:.3g} > {value_threshold:.3g} ({scale})")
    if min_pulls < min_pulls_per_arm:
        short = np.flatnonzero(active & (posterior.stats.n < min_pulls_per_arm)).tolist()
        failures.append(f"arms {short} have fewer than {min_pulls_per_arm} pulls (minimum {min_pulls})")
    if failures:
        reason = "not converged: " + "; ".join(failures)
    else:
        reason = (
            f"converged: arm {leader} is best with P(best) {prob_best:.3g} >= {1.0 - delta:.3g}, "
            f"value remaining p95 {value_p95:.3g} <= {value_threshold:.3g}, every arm has >= {min_pulls} pulls"
        )
    return ConvergenceVerdict(
        converged=not failures,
        leader=leader,
        prob_best=prob_best,
        value_remaining_p95=value_p95,
        relative=relative,
        min_pulls=min_pulls,
        reason=reason,
    )
