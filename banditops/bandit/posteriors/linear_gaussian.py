"""Bayesian linear reward model with a Gaussian posterior: what Linear Thompson Sampling draws from.

Each arm ``a`` has its own weights ``θ_a`` over the user context ``x`` (the *disjoint* part), and
optionally all arms share weights ``β`` over features ``z`` of the (context, arm) pair (the
*shared* part, the action-dependent-features form of Vowpal Wabbit's ADF and of Li et al.'s
hybrid LinUCB). The expected reward of playing ``a`` for ``x`` is ``x·θ_a + z_a·β``.

Why sufficient statistics, and why these ones: with a Gaussian prior ``N(0, (v²/λ) I)`` and
Gaussian noise of sd ``v``, the posterior is ``N(P⁻¹ f, v² P⁻¹)`` where ``P = λI + Σ φφᵀ`` and
``f = Σ r φ`` over the pulls' joint design vectors ``φ``. ``P`` has an arrow shape: a block
``Σ x xᵀ`` per arm, a shared block ``Σ z zᵀ``, and a cross block ``Σ x zᵀ`` per arm. Those sums
(and ``Σ r x``, ``Σ r z``) are all the posterior needs, and sums *add*: two batches folded one
after the other give exactly the statistics of one batch holding both. That is what lets a
store fold a batch in one atomic step keyed by its batch id, as it does for Beta-Bernoulli
counts. The prior ``λI`` is *not* in the stored sums; it is added once when a posterior is
built, so adding statistics never counts the prior twice.

Why recompute rather than rank-one updates: a posterior is rebuilt from the statistics once
per batch, which costs ``O(K d³ + k³)`` — about 0.1 ms for K = 20 arms and d = 11 (88 µs
measured on a loaded core) — and is exact, where chained rank-one updates of an inverse drift
numerically over millions of pulls. The factors (each arm's inverse precision, flattened for one
matrix product, and the shared block's Schur-complement factor) are then cached on the
immutable posterior, so every draw of the batch is a few matrix products.

Why draw *scores* and not weights: a Thompson decision for context ``x`` needs only the sampled
score of each arm, and with disjoint weights the score ``x·θ_a`` is one Gaussian with mean
``x·μ_a`` and variance ``v² xᵀA_a⁻¹x``. Drawing that scalar is exact and costs ``O(K d²)`` per
context with no ``d``-dimensional normal draw; with a shared part, ``β`` is drawn once per
context and each arm's score conditionally on it (exact: ``θ_a | β`` is Gaussian).

References
----------
.. [1] S. Agrawal and N. Goyal, "Thompson Sampling for contextual bandits with linear payoffs",
   ICML 2013.
.. [2] L. Li, W. Chu, J. Langford and R. E. Schapire, "A contextual-bandit approach to
   personalized news article recommendation", WWW 2010 (the disjoint and hybrid models).
.. [3] D. Russo, B. Van Roy, A. Kazerouni, I. Osband and Z. Wen, "A tutorial on Thompson
   Sampling", Foundations and Trends in Machine Learning 11(1), 2018.

Examples
--------
>>> rng = np.random.default_rng(7)
>>> X = rng.normal(size=(400, 3))
>>> arms = rng.integers(0, 2, size=400)
>>> true = np.array([[1.0, 0.0, -1.0], [-1.0, 0.5, 1.0]])
>>> rewards = np.einsum("nd,nd->n", X, true[arms]) + rng.normal(0, 0.1, size=400)
>>> first = LinearGaussianStats.from_batch(2, arms[:150], X[:150], rewards[:150])
>>> both = first.add(LinearGaussianStats.from_batch(2, arms[150:], X[150:], rewards[150:]))
>>> post = LinearGaussianPosterior(both, scale=0.1)
>>> np.round(post.theta_mean(), 2).tolist()
[[1.0, 0.01, -0.99], [-0.98, 0.49, 1.0]]
>>> post.sample_scores(np.random.default_rng(0), np.array([[1.0, 0.0, 0.0]])).round(2).tolist()
[[1.0, -0.98]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from banditops.bandit.validators import is_integer


def _finite_matrix(values: npt.ArrayLike | None, name: str, shape_hint: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D {shape_hint}; got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0].tolist()
        raise ValueError(f"{name} must be finite; entry {bad} is {array[tuple(bad)]!r} (NaN/inf is not a feature)")
    return array


@dataclass(frozen=True)
class LinearGaussianStats:
    """The additive sufficient statistics of the linear model, as plain arrays.

    ``n`` (K,) pulls per arm; ``xx`` (K, d, d) Σ x xᵀ and ``xr`` (K, d) Σ r x per arm over its
    pulls; ``zz`` (k, k) Σ z zᵀ and ``zr`` (k,) Σ r z over every pull, with ``xz`` (K, d, k)
    Σ x zᵀ per arm coupling the two (``k = 0`` when there is no shared part).
    """

    n: np.ndarray
    xx: np.ndarray
    xr: np.ndarray
    zz: np.ndarray
    zr: np.ndarray
    xz: np.ndarray

    def __post_init__(self) -> None:
        k_arms, dim, shared = self.n_arms, self.dim, self.shared_dim
        expected = {
            "n": (k_arms,), "xx": (k_arms, dim, dim), "xr": (k_arms, dim),
            "zz": (shared, shared), "zr": (shared,), "xz": (k_arms, dim, shared),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.shape != shape:
                got = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"stats.{name} must have shape {shape} for K={k_arms}, d={dim}, k={shared}; got {got}")
            if not np.isfinite(value).all():
                raise ValueError(f"stats.{name} must be finite")
        if k_arms < 1 or dim < 1:
            raise ValueError(f"the model needs >= 1 arm and >= 1 context feature; got K={k_arms}, d={dim}")

    @property
    def n_arms(self) -> int:
        return int(self.xx.shape[0]) if self.xx.ndim == 3 else 0

    @property
    def dim(self) -> int:
        return int(self.xx.shape[1]) if self.xx.ndim == 3 else 0

    @property
    def shared_dim(self) -> int:
        return int(self.zz.shape[0]) if self.zz.ndim == 2 else 0

    @classmethod
    def zeros(cls, n_arms: int, dim: int, shared_dim: int = 0) -> LinearGaussianStats:
        """No pulls yet: the posterior is the prior."""
        for name, value, low in (("n_arms", n_arms, 1), ("dim", dim, 1), ("shared_dim", shared_dim, 0)):
            if not is_integer(value) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        return cls(
            np.zeros(n_arms), np.zeros((n_arms, dim, dim)), np.zeros((n_arms, dim)),
            np.zeros((shared_dim, shared_dim)), np.zeros(shared_dim), np.zeros((n_arms, dim, shared_dim)),
        )

    @classmethod
    def from_batch(
        cls,
        n_arms: int,
        arms: npt.ArrayLike,
        contexts: npt.ArrayLike,
        rewards: npt.ArrayLike,
        shared: npt.ArrayLike | None = None,
    ) -> LinearGaussianStats:
        """The statistics of one batch of pulls.

        ``arms`` (n,) played arm indices, ``contexts`` (n, d), ``rewards`` (n,), and — with a shared
        part — ``shared`` (n, k): the shared features of the arm that was *played* in each row (the
        arms not played carry no evidence). Raises ``ValueError`` naming the valid shapes/values.
        """
        X = _finite_matrix(contexts, "contexts", "(n pulls, d features)")
        n_rows, dim = X.shape
        base = cls.zeros(n_arms, dim, 0 if shared is None else int(np.asarray(shared).reshape(n_rows, -1).shape[1]))
        return base.add_batch(arms, X, rewards, shared)

    def add_batch(self, arms: npt.ArrayLike, contexts: npt.ArrayLike, rewards: npt.ArrayLike,
                  shared: npt.ArrayLike | None = None) -> LinearGaussianStats:
        """These statistics with one more batch of pulls folded in (see :meth:`from_batch`)."""
        X = _finite_matrix(contexts, "contexts", f"(n pulls, {self.dim} features)")
        n_rows = X.shape[0]
        if X.shape[1] != self.dim:
            raise ValueError(f"contexts have {X.shape[1]} features; this model has d={self.dim}")
        a = np.asarray(arms)
        if a.shape != (n_rows,) or (n_rows and not np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"arms must be {n_rows} integer arm indices; got shape {a.shape}, dtype {a.dtype}")
        if n_rows and (a.min() < 0 or a.max() >= self.n_arms):
            raise ValueError(f"arm index out of range: valid arms are 0..{self.n_arms - 1}")
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape != (n_rows,) or not np.isfinite(r).all():
            raise ValueError(f"rewards must be {n_rows} finite numbers; got shape {r.shape}")
        k_arms, dim, k = self.n_arms, self.dim, self.shared_dim
        Z = np.zeros((n_rows, 0))
        if k or shared is not None:
            Z = _finite_matrix(shared, "shared", f"(n pulls, {k} shared features)")
            if Z.shape != (n_rows, k):
                raise ValueError(f"shared must have shape ({n_rows}, {k}) (the played arm's shared features); "
                                 f"got {Z.shape}")
        xx, xr, xz = self.xx.copy(), self.xr.copy(), self.xz.copy()
        # Each row's context placed in its arm's slot, (rows, K*d): then Σ x xᵀ, Σ r x and Σ x zᵀ of
        # every arm are three matrix products; chunked so the scattered copy stays a few MB.
        for start in range(0, n_rows, _CHUNK):
            rows = slice(start, min(start + _CHUNK, n_rows))
            spread = np.zeros((rows.stop - start, k_arms, dim))
            spread[np.arange(rows.stop - start), a[rows]] = X[rows]
            spread_t = spread.reshape(rows.stop - start, k_arms * dim).T
            xx += (spread_t @ X[rows]).reshape(xx.shape)
            xr += (spread_t @ r[rows]).reshape(xr.shape)
            if k:
                xz += (spread_t @ Z[rows]).reshape(xz.shape)
        n = self.n + np.bincount(a, minlength=k_arms)
        return LinearGaussianStats(n, xx, xr, self.zz + Z.T @ Z if k else self.zz, self.zr + Z.T @ r if k else self.zr,
                                   xz)

    def add(self, other: LinearGaussianStats) -> LinearGaussianStats:
        """The statistics of both sets of pulls: an element-wise sum, exact up to float rounding."""
        if not isinstance(other, LinearGaussianStats):
            raise ValueError(f"can only add LinearGaussianStats; got {type(other).__name__}")
        mine, theirs = (self.n_arms, self.dim, self.shared_dim), (other.n_arms, other.dim, other.shared_dim)
        if mine != theirs:
            raise ValueError(f"cannot add statistics of shape (K, d, k)={theirs} to (K, d, k)={mine}")
        return LinearGaussianStats(*(getattr(self, f) + getattr(other, f) for f in _FIELDS))

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain nested lists, for JSON snapshots and the store."""
        return {f: getattr(self, f).tolist() for f in _FIELDS}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> LinearGaussianStats:
        missing = sorted(set(_FIELDS) - set(payload))
        if missing:
            raise ValueError(f"linear-Gaussian stats need keys {list(_FIELDS)}; missing {missing}")
        n_arms, dim = len(payload["n"]), len(payload["xr"][0]) if payload["xr"] else 0
        shared = len(payload["zr"])
        shapes = {"n": (n_arms,), "xx": (n_arms, dim, dim), "xr": (n_arms, dim), "zz": (shared, shared),
                  "zr": (shared,), "xz": (n_arms, dim, shared)}
        return cls(*(np.asarray(payload[f], dtype=np.float64).reshape(shapes[f]) for f in _FIELDS))


_FIELDS: tuple[str, ...] = ("n", "xx", "xr", "zz", "zr", "xz")


class ScoreMoments(NamedTuple):
    """Per context and arm: the score's mean and sd given β, and its coupling to β (see ``moments``)."""

    mean: np.ndarray  # (n, m)
    sd: np.ndarray  # (n, m)
    coupling: np.ndarray  # (n, m, k)


_CHUNK = 2048

#: ``λ``, the prior precision of every weight: the ridge penalty of the posterior mean.
DEFAULT_RIDGE = 1.0

#: ``v``, the width of Thompson draws (posterior covariance ``v² P⁻¹``), shared by the simulator
#: and the decision service (:class:`~banditops.bandit.context_model.ContextModelSpec` defaults
#: to it). Agrawal & Goyal (2013) prove their regret bound for ``v = R·sqrt(24 d ln(1/δ) / ε)``,
#: with ``R`` the reward noise's sub-Gaussian scale (≤ 0.5 for a click): the width is
#: proportional to the noise, and the constant is a worst-case one (over 10·R at d = 11, an
#: artefact of the proof). So ``v = c·R`` with ``c`` an empirical constant. Why not the exact
#: Bayesian width, the click's own residual sd (about 0.45): with K = 20 arms drawn
#: independently, the max of 20 draws rewards uncertainty and exact widths over-explore (Chapelle
#: & Li, NeurIPS 2011, saw the same); the benchmark reports that variant
#: (``banditops_lin_ts_noise``). The constant was chosen on HELD-OUT seeds of the contextual
#: world, never on the benchmark's seeds 0-19: on seeds 100-107, cumulative regret at
#: T = 50,000 was 1,775 at v = 0.5, 1,254 at 0.25, 1,177 at 0.2, 1,131 at 0.15, 1,175 at 0.1; on
#: seeds 112-181 (70 seeds, paired against MABWiser LinTS at alpha = 0.2, 95% intervals),
#: v = 0.15 with λ = 1 was 53 ± 42 below it, v = 0.2 36 ± 37 below, and λ = 2 gave 42 ± 41
#: (v = 0.2) and 55 ± 42 (v = 0.175): the prior (λ from 1 to 8 on seeds 100-111) barely matters
#: once an arm has a few hundred pulls, and widths from 0.15 to 0.2 are within noise of each
#: other. 0.15 was the best or tied on every held-out set. ``python -m benchmarks.lints_width``
#: reruns the search.
DEFAULT_SCALE = 0.15


class LinearGaussianPosterior:
    """The Gaussian posterior of the disjoint (+ optional shared) linear model, factors cached.

    Parameters
    ----------
    stats : LinearGaussianStats
        The folded pulls.
    ridge : float
        ``λ`` of the prior precision ``λI`` (the ridge penalty); > 0.
    scale : float
        ``v``, the noise sd of the model and the width of Thompson draws: the posterior covariance
        is ``v² P⁻¹``. Default :data:`DEFAULT_SCALE`; see there why 0.15.
    """

    def __init__(self, stats: LinearGaussianStats, ridge: float = DEFAULT_RIDGE, scale: float = DEFAULT_SCALE) -> None:
        if not isinstance(stats, LinearGaussianStats):
            raise ValueError(f"stats must be LinearGaussianStats; got {type(stats).__name__}")
        for name, value in (("ridge", ridge), ("scale", scale)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        self.stats, self.ridge, self.scale = stats, float(ridge), float(scale)
        dim, k = stats.dim, stats.shared_dim
        # A_a is positive definite thanks to λ > 0; its inverse is kept flattened, (d², K), so the
        # score variances xᵀA_a⁻¹x of n contexts and K arms are ONE matrix product (x⊗x) · vec(A⁻¹).
        cov = np.linalg.inv(stats.xx + self.ridge * np.eye(dim))
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))  # exactly symmetric, so Cholesky factors exist
        self._cov = cov
        self._cov_flat = cov.reshape(stats.n_arms, dim * dim).T.copy()
        self._theta0 = np.einsum("aij,aj->ai", cov, stats.xr)  # the arms' solutions ignoring β
        self._theta0_t = self._theta0.T.copy()
        if k:
            self._coupling = cov @ stats.xz  # C_a = A_a⁻¹ B_a, (K, d, k)
            schur = stats.zz + self.ridge * np.eye(k) - np.einsum("aid,aik->dk", stats.xz, self._coupling)
            schur_chol = np.linalg.cholesky(schur)
            self._beta_chol_inv_t = np.linalg.inv(schur_chol).T  # β = β̂ + v L_S⁻ᵀ ε
            rhs = stats.zr - np.einsum("aik,ai->k", self._coupling, stats.xr)
            self._beta = np.linalg.solve(schur, rhs)
        else:
            self._coupling = np.zeros((stats.n_arms, dim, 0))
            self._beta_chol_inv_t = np.zeros((0, 0))
            self._beta = np.zeros(0)

    @property
    def n_arms(self) -> int:
        return self.stats.n_arms

    @property
    def dim(self) -> int:
        return self.stats.dim

    @property
    def shared_dim(self) -> int:
        return self.stats.shared_dim

    def theta_mean(self) -> np.ndarray:
        """Posterior mean of each arm's weights, (K, d)."""
        mean: np.ndarray = self._theta0 - np.einsum("aik,k->ai", self._coupling, self._beta)
        return mean

    def beta_mean(self) -> np.ndarray:
        """Posterior mean of the shared weights, (k,)."""
        return self._beta.copy()

    def arm_covariance(self) -> np.ndarray:
        """``v² A_a⁻¹``, each arm's covariance *given β*, (K, d, d) (the marginal when k = 0)."""
        return self.scale**2 * self._cov

    def mean_scores(self, contexts: npt.ArrayLike, shared: npt.ArrayLike | None = None) -> np.ndarray:
        """Posterior mean reward of every arm for every context, (n, K)."""
        X, Z = self._check_inputs(contexts, shared)
        scores = X @ self.theta_mean().T
        if self.shared_dim:
            scores += Z @ self._beta
        return np.asarray(scores)

    def sample_scores(self, rng: np.random.Generator, contexts: npt.ArrayLike,
                      shared: npt.ArrayLike | None = None) -> np.ndarray:
        """One independent posterior draw per context of every arm's score, (n, K).

        ``contexts`` (n, d); ``shared`` — (K, k) arm features used for every context, or
        (n, K, k) per context — is required exactly when the model has a shared part.
        ``sample_scores(...).argmax(axis=1)`` are ``n`` Thompson decisions. The checked entry
        point of :meth:`moments` + :meth:`draw`, the two steps the decision service calls itself.
        """
        X, Z = self._check_inputs(contexts, shared)
        return self.draw(self.moments(X, Z if self.shared_dim else None), rng)

    def moments(
        self, X: np.ndarray, Z: np.ndarray | None = None, arms: np.ndarray | None = None,
    ) -> ScoreMoments:
        """The score's parts for the encoded contexts ``X`` (n, d) and arm indices ``arms`` (m,; None: all).

        Given β, arm a's sampled score for context i is ``mean[i, a] + sd[i, a] · ε + coupling[i, a] · β``
        with independent standard normals ``ε`` (``coupling = z − C_aᵀx``, (n, m, k); empty when
        k = 0, else ``Z`` (n, m, k) holds the arms' shared features). A caller that scores one
        context many times (Monte Carlo propensities) computes these once. No input checks: the
        callers (:meth:`sample_scores`, the decision service) have validated the shapes and values.
        """
        n = X.shape[0]
        # Every arm's moments (two matrix products), then the subset: cheaper than gathering
        # columns of the (d², K) covariance block per request.
        mean = X @ self._theta0_t
        variance = (X[:, :, None] * X[:, None, :]).reshape(n, -1) @ self._cov_flat
        sd = np.maximum(variance, 0.0, out=variance)  # in place: a request pays for few arrays
        np.sqrt(sd, out=sd)
        sd *= self.scale
        if arms is not None:
            mean, sd = mean[:, arms], sd[:, arms]
        if not self.shared_dim or Z is None:
            return ScoreMoments(mean, sd, np.zeros((n, mean.shape[1], 0)))
        coupling = self._coupling if arms is None else self._coupling[arms]
        return ScoreMoments(mean, sd, Z - np.swapaxes(X @ coupling, 0, 1))

    def draw(self, moments: ScoreMoments, rng: np.random.Generator) -> np.ndarray:
        """One Thompson draw of the scores per context, (n, m): THE sampling step of BanditOps LinTS.

        The simulator (:meth:`sample_scores`, through
        :class:`~banditops.bandit.policies.linear_thompson.LinearThompsonSampling`) and the decision
        service (:class:`~banditops.serving.contextual.ContextualSnapshot`) both decide with it, so
        what the benchmark measures is what the service serves. One draw per decision: the (n, m)
        score normals, then (shared part only) one β per context; the arms' scores are independent
        given β, as in Agrawal & Goyal's algorithm with the disjoint (block-diagonal) design.
        """
        mean, sd, coupling = moments
        scores: np.ndarray = mean + sd * rng.standard_normal(mean.shape)
        if self.shared_dim and coupling.shape[2]:
            beta = self.shared_draws(rng.standard_normal((mean.shape[0], self.shared_dim)))
            scores += np.einsum("nk,nak->na", beta, coupling)
        return scores

    def shared_draws(self, noise: np.ndarray) -> np.ndarray:
        """β draws (n, k) from standard normals ``noise`` (n, k): ``β̂ + v L_S⁻ᵀ ε``."""
        beta: np.ndarray = self._beta + self.scale * noise @ self._beta_chol_inv_t.T
        return beta

    def sample_weights(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` joint draws of the weights: θ (size, K, d) and β (size, k)."""
        if not is_integer(size) or size < 1:
            raise ValueError(f"size must be an integer >= 1; got {size!r}")
        k = self.shared_dim
        beta = self._beta + self.scale * rng.standard_normal((size, k)) @ self._beta_chol_inv_t.T
        noise = rng.standard_normal((size, self.n_arms, self.dim))
        factor = np.linalg.cholesky(self._cov)  # A_a⁻¹ = F Fᵀ
        # θ_a | β = θ0_a − C_a β + v F_a ε
        theta = (self._theta0[None] - np.einsum("aik,sk->sai", self._coupling, beta)
                 + self.scale * np.einsum("aij,saj->sai", factor, noise))
        return theta, beta

    def _check_inputs(self, contexts: npt.ArrayLike, shared: npt.ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
        X = _finite_matrix(contexts, "contexts", f"(n contexts, {self.dim} features)")
        if X.shape[1] != self.dim:
            raise ValueError(f"contexts have {X.shape[1]} features; this model has d={self.dim}")
        k = self.shared_dim
        if not k:
            if shared is not None:
                raise ValueError("this model has no shared part (k=0); pass shared=None")
            return X, np.zeros((X.shape[0], self.n_arms, 0))
        if shared is None:
            raise ValueError(f"this model has a shared part: pass shared features of shape ({self.n_arms}, {k}) "
                             f"or ({X.shape[0]}, {self.n_arms}, {k})")
        Z = np.asarray(shared, dtype=np.float64)
        if Z.shape == (self.n_arms, k):
            Z = np.broadcast_to(Z, (X.shape[0], self.n_arms, k))
        if Z.shape != (X.shape[0], self.n_arms, k):
            raise ValueError(f"shared must have shape ({self.n_arms}, {k}) or ({X.shape[0]}, {self.n_arms}, {k}); "
                             f"got {Z.shape}")
        if not np.isfinite(Z).all():
            raise ValueError("shared features must be finite (NaN/inf is not a feature)")
        return X, Z

    def __repr__(self) -> str:
        return (f"LinearGaussianPosterior(n_arms={self.n_arms}, dim={self.dim}, shared_dim={self.shared_dim}, "
                f"pulls={int(self.stats.n.sum())}, ridge={self.ridge}, scale={self.scale})")
