"""Regret accounting and the Lai–Robbins lower bound it is judged against.

Pseudo-regret uses the true arm means (known to the environment and the simulator, never to
the agents): each pull costs ``max μ − μ_chosen``. Lai & Robbins (1985) showed that any
consistent policy pays at least ``C(μ) · ln T`` of it as ``T → ∞``, with
``C(μ) = Σ_{a suboptimal} Δ_a / KL(μ_a, μ*)``; Thompson Sampling attains that constant for
Bernoulli arms (Kaufmann et al. 2012; Agrawal & Goyal 2013), so ``C · ln T`` is the yardstick
the benchmarks and the dashboard plot cumulative regret against.

References
----------
.. [1] T. L. Lai and H. Robbins, "Asymptotically efficient adaptive allocation rules",
   Advances in Applied Mathematics 6(1), 1985.
.. [2] E. Kaufmann, N. Korda and R. Munos, "Thompson Sampling: an asymptotically optimal
   finite-time analysis", ALT 2012.
.. [3] S. Agrawal and N. Goyal, "Further optimal regret bounds for Thompson Sampling",
   AISTATS 2013.

Examples
--------
>>> pseudo_regret([0.1, 0.5, 0.3], [1, 0, 2, 1])
0.6
>>> round(lai_robbins_bound(np.linspace(0.1, 0.9, 10), "bernoulli", 100_000), 1)
100.1
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

REGRET_KINDS: tuple[str, ...] = ("bernoulli", "gaussian")

# Click rates of exactly 0 or 1 make the Bernoulli KL infinite; clipping keeps it finite
# (a huge divergence means the arm is ruled out almost at once, contributing ~0 to C).
_EPS = 1e-12


def _means(means: Sequence[float] | np.ndarray) -> np.ndarray:
    mu = np.asarray(means, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0 or not np.all(np.isfinite(mu)):
        raise ValueError(f"means must be a non-empty 1-D sequence of finite numbers; got {means!r}")
    return mu


def _arms(arms: Sequence[int] | np.ndarray, n_arms: int) -> np.ndarray:
    a = np.asarray(arms)
    if a.ndim != 1:
        raise ValueError(f"arms must be a 1-D sequence of arm indices; got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError("arms must be integer arm indices")
    if a.size and (a.min() < 0 or a.max() >= n_arms):
        raise ValueError(f"arm index out of range: valid arms are 0..{n_arms - 1}")
    return a.astype(np.int64)


def pseudo_regret(means: Sequence[float] | np.ndarray, arms: Sequence[int] | np.ndarray) -> float:
    """Total pseudo-regret ``Σ_t (max μ − μ_{a_t})`` of the pulls ``arms``.

    Examples
    --------
    >>> pseudo_regret([1.0, 2.0], [0, 0, 1])
    2.0
    """
    mu = _means(means)
    return float(np.sum(mu.max() - mu[_arms(arms, mu.size)]))


def cumulative_regret(means: Sequence[float] | np.ndarray, arms: Sequence[int] | np.ndarray) -> np.ndarray:
    """Pseudo-regret after each pull, shape ``(len(arms),)``.

    Examples
    --------
    >>> cumulative_regret([1.0, 2.0], [0, 1, 0]).tolist()
    [1.0, 1.0, 2.0]
    """
    mu = _means(means)
    return np.cumsum(mu.max() - mu[_arms(arms, mu.size)])


def kl_bernoulli(p: float | np.ndarray, q: float | np.ndarray) -> np.ndarray | float:
    """KL divergence ``KL(Bernoulli(p) || Bernoulli(q))`` in nats (arguments clipped to (0, 1)).

    Examples
    --------
    >>> round(kl_bernoulli(0.1, 0.9), 4)
    1.7578
    """
    pp = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    qq = np.clip(np.asarray(q, dtype=np.float64), _EPS, 1 - _EPS)
    kl = pp * np.log(pp / qq) + (1 - pp) * np.log((1 - pp) / (1 - qq))
    return float(kl) if kl.ndim == 0 else kl


def kl_gaussian(mu1: float | np.ndarray, mu2: float | np.ndarray, sd: float = 1.0) -> np.ndarray | float:
    """KL divergence between ``Normal(mu1, sd²)`` and ``Normal(mu2, sd²)``: ``(mu1 − mu2)² / (2 sd²)``.

    Examples
    --------
    >>> kl_gaussian(0.0, 1.0, sd=2.0)
    0.125
    """
    _check_sd(sd)
    kl = (np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)) ** 2 / (2.0 * sd * sd)
    return float(kl) if kl.ndim == 0 else kl


def lai_robbins_constant(means: Sequence[float] | np.ndarray, kind: str, sd: float = 1.0) -> float:
    """The constant ``C(μ)`` of the Lai–Robbins bound ``regret(T) >= C(μ) ln T``.

    Bernoulli: ``Σ_{a suboptimal} Δ_a / kl(μ_a, μ*)``. Gaussian with known ``sd``:
    ``Σ 2 sd² / Δ_a``. Arms tied with the best contribute nothing.

    References
    ----------
    .. [1] T. L. Lai and H. Robbins, "Asymptotically efficient adaptive allocation rules",
       Advances in Applied Mathematics 6(1), 1985.

    Examples
    --------
    >>> round(lai_robbins_constant([0.1, 0.5, 0.9], "bernoulli"), 3)
    1.238
    >>> lai_robbins_constant([0.0, 1.0, 2.0], "gaussian")
    3.0
    """
    mu = _means(means)
    best = mu.max()
    gaps = best - mu
    sub = gaps > 0
    if kind == "bernoulli":
        if np.any((mu < 0) | (mu > 1)):
            raise ValueError(f"bernoulli means must be probabilities in [0, 1]; got {mu.tolist()}")
        return float(np.sum(gaps[sub] / kl_bernoulli(mu[sub], best)))
    if kind == "gaussian":
        _check_sd(sd)
        return float(np.sum(2.0 * sd * sd / gaps[sub]))
    raise ValueError(f"unknown reward kind {kind!r}; valid kinds: {', '.join(REGRET_KINDS)}")


def lai_robbins_bound(
    means: Sequence[float] | np.ndarray, kind: str, horizon: int | float, sd: float = 1.0
) -> float:
    """The asymptotic regret lower bound ``C(μ) · ln(horizon)``.

    Examples
    --------
    >>> round(lai_robbins_bound([0.0, 1.0, 2.0], "gaussian", math.e ** 2), 6)
    6.0
    """
    if not (isinstance(horizon, numbers.Real) and math.isfinite(horizon) and horizon >= 1):
        raise ValueError(f"horizon must be a number of pulls >= 1; got {horizon!r}")
    return lai_robbins_constant(means, kind, sd) * math.log(horizon)


def _check_sd(sd: float) -> None:
    if not (isinstance(sd, numbers.Real) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a finite number > 0; got {sd!r}")
