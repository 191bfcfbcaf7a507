"""Normal–Inverse-Gamma posterior: Gaussian rewards with unknown mean *and* variance.

Each arm pays ``Normal(μ, σ²)`` with both unknown. The conjugate prior is
``σ² ~ InvGamma(alpha0, beta0)``, ``μ | σ² ~ Normal(mu0, σ² / kappa0)``; after ``n`` pulls
with mean ``x̄`` and centred sum of squares ``S = Σ (x - x̄)²`` (Murphy 2007, eqs. 85–89):

- ``kappa_n = kappa0 + n``, ``mu_n = (kappa0 mu0 + n x̄) / kappa_n``,
- ``alpha_n = alpha0 + n / 2``,
- ``beta_n = beta0 + S / 2 + kappa0 n (x̄ - mu0)² / (2 kappa_n)``,

and the marginal posterior of μ is Student-t with ``2 alpha_n`` degrees of freedom,
location ``mu_n`` and squared scale ``beta_n / (alpha_n kappa_n)``.

Why learn the variance: a known-variance model with the wrong σ is over- or under-confident
for every arm, which makes both Thompson exploration and the convergence test wrong. The
totals ``n, sum, sumsq`` kept in the store are exactly enough for this model.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import stats as sps

from banditops.bandit.posteriors.base import Posterior, check_level

#: Weak default prior. ``kappa0 = 0.01`` makes the prior mean ``mu0`` weigh as 1% of one
#: pull, so it hardly biases any arm; ``alpha0 = 2, beta0 = 1`` centres σ² on 1 (the unit
#: variance of the seed scenario and the benchmarks) with infinite prior variance, and
#: keeps the prior sd of μ finite (10) so unpulled arms have a defined sd and interval.
#: An unpulled arm draws from a t(4) with scale 7.1: wide enough to cover the seed means 0..6.
DEFAULT_NIG_PRIOR: dict[str, float] = {"mu0": 0.0, "kappa0": 0.01, "alpha0": 2.0, "beta0": 1.0}


def nig_params(
    n: np.ndarray,
    total: np.ndarray,
    sumsq: np.ndarray,
    *,
    mu0: float = 0.0,
    kappa0: float = 0.01,
    alpha0: float = 2.0,
    beta0: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Posterior ``(mu_n, kappa_n, alpha_n, beta_n)`` from per-arm totals (any shape).

    The centred sum of squares is computed as ``sumsq - sum²/n`` and clipped at 0, since
    rounding can make it a tiny negative number when all rewards of an arm are equal.

    References
    ----------
    .. [1] K. P. Murphy, "Conjugate Bayesian analysis of the Gaussian distribution",
       technical report, 2007, eqs. 85-89.

    Examples
    --------
    >>> mu, kappa, alpha, beta = nig_params(np.array([2, 0]), np.array([6.0, 0.0]),
    ...                                     np.array([20.0, 0.0]), kappa0=1.0)
    >>> mu.tolist(), kappa.tolist(), alpha.tolist(), beta.tolist()
    ([2.0, 0.0], [3.0, 1.0], [3.0, 2.0], [5.0, 1.0])
    """
    n = np.asarray(n, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    sumsq = np.asarray(sumsq, dtype=np.float64)
    pulled = n > 0
    safe_n = np.where(pulled, n, 1.0)
    xbar = np.where(pulled, total / safe_n, 0.0)
    centred = np.where(pulled, np.maximum(sumsq - total * xbar, 0.0), 0.0)
    kappa_n = kappa0 + n
    mu_n = (kappa0 * mu0 + total) / kappa_n
    alpha_n = alpha0 + n / 2.0
    beta_n = beta0 + 0.5 * centred + kappa0 * n * (xbar - mu0) ** 2 / (2.0 * kappa_n)
    return mu_n, kappa_n, alpha_n, beta_n


def sample_nig_mean(
    mu_n: np.ndarray,
    kappa_n: np.ndarray,
    alpha_n: np.ndarray,
    beta_n: np.ndarray,
    rng: np.random.Generator,
    *,
    size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Draws of μ from the NIG posterior: ``σ² = beta_n / Gamma(alpha_n)``, ``μ ~ N(mu_n, σ²/kappa_n)``.

    One gamma and one normal variate per draw, both vectorised in C; ``size`` defaults to
    the broadcast shape of the parameters.

    References
    ----------
    .. [1] K. P. Murphy, "Conjugate Bayesian analysis of the Gaussian distribution",
       technical report, 2007, section 6.

    Examples
    --------
    >>> sample_nig_mean(np.array([0.0, 5.0]), np.array([100.0, 100.0]), np.array([50.0, 50.0]),
    ...                 np.array([50.0, 50.0]), np.random.default_rng(0)).round(3).tolist()
    [-0.053, 5.035]
    """
    shape = np.broadcast_shapes(np.shape(mu_n), np.shape(alpha_n)) if size is None else size
    precision = rng.standard_gamma(np.broadcast_to(alpha_n, shape)) / beta_n
    draws: np.ndarray = mu_n + rng.standard_normal(shape) / np.sqrt(precision * kappa_n)
    return draws


class NormalInverseGammaPosterior(Posterior):
    """Independent Normal–Inverse-Gamma posteriors over each arm's mean and variance.

    Parameters
    ----------
    stats : ArmStats
        Per-arm pulls ``n``, reward sums ``sum`` and sums of squares ``sumsq``.
    prior : dict, optional
        ``{"mu0", "kappa0", "alpha0", "beta0"}`` with ``kappa0, alpha0, beta0 > 0``; missing
        keys take the weak defaults of :data:`DEFAULT_NIG_PRIOR`. Rewards on a very
        different scale (revenue in dollars, say) want ``mu0`` and ``beta0`` on that scale.

    Notes
    -----
    ``sd()`` is the posterior sd of μ, ``sqrt(beta_n / (kappa_n (alpha_n - 1)))``; it is
    infinite (``None`` in ``to_dict``) only if ``alpha_n <= 1``, which the default prior
    never gives. A scale-free prior (``kappa0 -> 0``) would make a single pull look certain
    about its variance; the small positive ``beta0`` prevents an arm that happened to pay
    similar rewards twice from being written off (cf. Honda & Takemura 2014 on how Gaussian
    Thompson Sampling depends on the variance prior).

    References
    ----------
    .. [1] K. P. Murphy, "Conjugate Bayesian analysis of the Gaussian distribution",
       technical report, 2007, section 6.
    .. [2] D. Russo, B. Van Roy, A. Kazerouni, I. Osband and Z. Wen, "A tutorial on Thompson
       Sampling", Foundations and Trends in Machine Learning 11(1), 2018.
    .. [3] J. Honda and A. Takemura, "Optimality of Thompson sampling for Gaussian bandits
       depends on priors", AISTATS 2014.

    Examples
    --------
    >>> from banditops.bandit.stats import ArmStats
    >>> stats = ArmStats.from_pulls([0, 0, 1, 1], [1.0, 3.0, 4.0, 4.0], n_arms=3)
    >>> post = NormalInverseGammaPosterior(stats)
    >>> post.mean().round(3).tolist()
    [1.99, 3.98, 0.0]
    >>> post.sd().round(3).tolist()
    [0.709, 0.518, 10.0]
    >>> post.sample(np.random.default_rng(0), 2).round(3).tolist()
    [[0.616, 3.898, -12.065], [1.675, 3.672, -3.188]]
    """

    kind: ClassVar[str] = "gaussian"
    default_prior: ClassVar[dict[str, float]] = DEFAULT_NIG_PRIOR

    def _check_prior(self, prior: dict[str, float]) -> None:
        bad = [key for key in ("kappa0", "alpha0", "beta0") if prior[key] <= 0]
        if bad:
            raise ValueError(f"gaussian prior needs kappa0, alpha0 and beta0 > 0; got {prior}")

    def _fit(self) -> None:
        p = self._prior
        self._mu, self._kappa, self._alpha, self._beta = nig_params(
            self._stats.n, self._stats.sum, self._stats.sumsq,
            mu0=p["mu0"], kappa0=p["kappa0"], alpha0=p["alpha0"], beta0=p["beta0"],
        )

    def params(self) -> dict[str, np.ndarray]:
        return {"mu": self._mu.copy(), "kappa": self._kappa.copy(), "alpha": self._alpha.copy(),
                "beta": self._beta.copy()}

    def _draw(self, rng: np.random.Generator, size: int | None) -> np.ndarray:
        # The pure function is the one sampler, so array-based simulations that call it
        # draw exactly the numbers this posterior would for the same generator state.
        shape = None if size is None else (size, self._mu.shape[0])
        return sample_nig_mean(self._mu, self._kappa, self._alpha, self._beta, rng, size=shape)

    def mean(self) -> np.ndarray:
        return self._mu.copy()

    def sd(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            var = np.where(self._alpha > 1.0, self._beta / (self._kappa * np.maximum(self._alpha - 1.0, 0.0)), np.inf)
        return np.sqrt(var)

    def credible_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        tail = (1.0 - check_level(level)) / 2.0
        scale = np.sqrt(self._beta / (self._alpha * self._kappa))
        half = sps.t.ppf(1.0 - tail, df=2.0 * self._alpha) * scale
        return self._mu - half, self._mu + half
