"""The linear-Gaussian posterior: additive statistics, the exact ridge solution, honest draws."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.posteriors.linear_gaussian import LinearGaussianPosterior, LinearGaussianStats

K, D, S = 4, 3, 2  # arms, context features, shared features


def _batch(seed: int, n: int, shared: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, K, size=n)
    X = rng.normal(size=(n, D))
    Z = rng.normal(size=(n, S)) if shared else None
    r = rng.normal(size=n) + X[:, 0] * (arms == 1)
    return arms, X, r, Z


def _dense_design(arms: np.ndarray, X: np.ndarray, Z: np.ndarray | None) -> np.ndarray:
    """The joint design [z | 0 .. x (arm a's block) .. 0], built independently of the module."""
    k = 0 if Z is None else Z.shape[1]
    phi = np.zeros((X.shape[0], k + K * D))
    if Z is not None:
        phi[:, :k] = Z
    for i, a in enumerate(arms):
        phi[i, k + a * D : k + (a + 1) * D] = X[i]
    return phi


def test_two_batches_folded_equal_one_batch_of_both() -> None:
    a1, X1, r1, Z1 = _batch(1, 60)
    a2, X2, r2, Z2 = _batch(2, 45)
    folded = LinearGaussianStats.from_batch(K, a1, X1, r1, Z1).add(LinearGaussianStats.from_batch(K, a2, X2, r2, Z2))
    at_once = LinearGaussianStats.from_batch(
        K, np.concatenate([a1, a2]), np.vstack([X1, X2]), np.concatenate([r1, r2]), np.vstack([Z1, Z2])  # type: ignore[list-item]
    )
    for field in ("n", "xx", "xr", "zz", "zr", "xz"):
        np.testing.assert_allclose(getattr(folded, field), getattr(at_once, field), rtol=1e-12, atol=1e-12)
    # add_batch on existing statistics is the same fold
    chained = LinearGaussianStats.from_batch(K, a1, X1, r1, Z1).add_batch(a2, X2, r2, Z2)
    np.testing.assert_allclose(chained.xz, at_once.xz, rtol=1e-12, atol=1e-12)
    # and the posteriors built from them agree
    np.testing.assert_allclose(
        LinearGaussianPosterior(folded).theta_mean(), LinearGaussianPosterior(at_once).theta_mean(), rtol=1e-10
    )


def test_stats_round_trip_through_plain_lists() -> None:
    stats = LinearGaussianStats.from_batch(K, *_batch(3, 30)[:3], _batch(3, 30)[3])
    again = LinearGaussianStats.from_dict(stats.to_dict())
    for field in ("n", "xx", "xr", "zz", "zr", "xz"):
        np.testing.assert_array_equal(getattr(again, field), getattr(stats, field))


@pytest.mark.parametrize("shared", [False, True])
def test_posterior_mean_is_the_ridge_solution(shared: bool) -> None:
    arms, X, r, Z = _batch(4, 80, shared)
    ridge = 0.7
    post = LinearGaussianPosterior(LinearGaussianStats.from_batch(K, arms, X, r, Z), ridge=ridge, scale=0.3)
    phi = _dense_design(arms, X, Z)
    w = np.linalg.solve(ridge * np.eye(phi.shape[1]) + phi.T @ phi, phi.T @ r)
    k = S if shared else 0
    np.testing.assert_allclose(post.beta_mean(), w[:k], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(post.theta_mean(), w[k:].reshape(K, D), rtol=1e-9, atol=1e-12)
    # the mean score of arm a for context x and shared features z is x·θ_a + z·β
    shared_features = np.random.default_rng(5).normal(size=(K, S)) if shared else None
    x = np.array([[0.5, -1.0, 2.0]])
    expected = x @ w[k:].reshape(K, D).T + (shared_features @ w[:k] if shared_features is not None else 0.0)
    np.testing.assert_allclose(post.mean_scores(x, shared_features), expected, rtol=1e-9)


def test_prior_is_the_posterior_without_pulls() -> None:
    post = LinearGaussianPosterior(LinearGaussianStats.zeros(K, D, S), ridge=2.0, scale=0.5)
    np.testing.assert_array_equal(post.theta_mean(), np.zeros((K, D)))
    np.testing.assert_allclose(post.arm_covariance(), np.broadcast_to(0.25 / 2.0 * np.eye(D), (K, D, D)))


def test_weight_draws_match_the_posterior_mean_and_covariance() -> None:
    arms, X, r, Z = _batch(6, 40)
    ridge, scale, n = 1.0, 0.8, 40_000
    post = LinearGaussianPosterior(LinearGaussianStats.from_batch(K, arms, X, r, Z), ridge=ridge, scale=scale)
    phi = _dense_design(arms, X, Z)
    cov = scale**2 * np.linalg.inv(ridge * np.eye(phi.shape[1]) + phi.T @ phi)
    mean = np.concatenate([post.beta_mean(), post.theta_mean().ravel()])
    theta, beta = post.sample_weights(np.random.default_rng(7), n)
    draws = np.hstack([beta, theta.reshape(n, -1)])
    sd = np.sqrt(np.diag(cov))
    # each coordinate's sample mean is within 4.5 standard errors (all 14 together: p ~ 1e-4)
    assert np.all(np.abs(draws.mean(axis=0) - mean) <= 4.5 * sd / np.sqrt(n))
    # each covariance entry within 5 of its standard errors sqrt((σ_ii σ_jj + σ_ij²) / n)
    se = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
    assert np.all(np.abs(np.cov(draws, rowvar=False) - cov) <= 5 * se)


def test_score_draws_match_the_posterior_of_the_scores() -> None:
    """sample_scores draws scores directly; their joint law must be φᵀw under the weight posterior."""
    arms, X, r, Z = _batch(8, 40)
    scale, n = 0.6, 40_000
    post = LinearGaussianPosterior(LinearGaussianStats.from_batch(K, arms, X, r, Z), scale=scale)
    x = np.array([0.3, -1.2, 0.8])
    shared = np.random.default_rng(9).normal(size=(K, S))
    phi = np.zeros((K, S + K * D))  # one design row per arm for this user
    phi[:, :S] = shared
    for a in range(K):
        phi[a, S + a * D : S + (a + 1) * D] = x
    design = _dense_design(arms, X, Z)
    cov_w = scale**2 * np.linalg.inv(np.eye(design.shape[1]) + design.T @ design)
    cov = phi @ cov_w @ phi.T  # (K, K): arms' scores are correlated through β
    mean = post.mean_scores(x[None, :], shared)[0]
    scores = post.sample_scores(np.random.default_rng(10), np.repeat(x[None, :], n, axis=0), shared)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(scores.mean(axis=0) - mean) <= 4.5 * sd / np.sqrt(n))
    se = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
    assert np.all(np.abs(np.cov(scores, rowvar=False) - cov) <= 5 * se)
    assert np.abs(cov[0, 1]) > 10 * se[0, 1]  # the check above really covers a correlation


def test_seeded_draws_are_reproducible() -> None:
    post = LinearGaussianPosterior(LinearGaussianStats.from_batch(K, *_batch(11, 20, False)[:3]))
    contexts = np.ones((3, D))
    first = post.sample_scores(np.random.default_rng(0), contexts)
    np.testing.assert_array_equal(first, post.sample_scores(np.random.default_rng(0), contexts))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.sample_scores(np.random.default_rng(0), np.ones((2, D + 1))), "this model has d=3"),
        (lambda p: p.sample_scores(np.random.default_rng(0), np.ones(D)), r"\(n contexts, 3 features\)"),
        (lambda p: p.sample_scores(np.random.default_rng(0), np.array([[1.0, np.nan, 0.0]])), "must be finite"),
        (lambda p: p.mean_scores(np.ones((1, D))), r"shared features of shape \(4, 2\)"),
        (lambda p: p.mean_scores(np.ones((1, D)), np.ones((K, S + 1))), r"\(4, 2\) or \(1, 4, 2\)"),
        (lambda p: p.sample_weights(np.random.default_rng(0), 0), "integer >= 1"),
    ],
)
def test_bad_inputs_are_refused_naming_what_is_valid(call: object, message: str) -> None:
    post = LinearGaussianPosterior(LinearGaussianStats.zeros(K, D, S))
    with pytest.raises(ValueError, match=message):
        call(post)  # type: ignore[operator]


def test_bad_batches_and_stats_are_refused() -> None:
    stats = LinearGaussianStats.zeros(K, D)
    with pytest.raises(ValueError, match=r"valid arms are 0\.\.3"):
        stats.add_batch(np.array([0, 4]), np.ones((2, D)), np.ones(2))
    with pytest.raises(ValueError, match="contexts have 2 features; this model has d=3"):
        stats.add_batch(np.array([0]), np.ones((1, 2)), np.ones(1))
    with pytest.raises(ValueError, match="contexts must be finite"):
        stats.add_batch(np.array([0]), np.array([[np.nan, 0.0, 0.0]]), np.ones(1))
    with pytest.raises(ValueError, match="rewards must be 1 finite numbers"):
        stats.add_batch(np.array([0]), np.ones((1, D)), np.array([np.inf]))
    with pytest.raises(ValueError, match=r"\(K, d, k\)=\(4, 2, 0\) to \(K, d, k\)=\(4, 3, 0\)"):
        stats.add(LinearGaussianStats.zeros(K, 2))
    with pytest.raises(ValueError, match="ridge must be a finite number > 0"):
        LinearGaussianPosterior(stats, ridge=0.0)
    with pytest.raises(ValueError, match=r"stats.xx must have shape \(4, 3, 3\)"):
        LinearGaussianStats(stats.n, np.zeros((K, D, 2)), stats.xr, stats.zz, stats.zr, stats.xz)
    with pytest.raises(ValueError, match="missing"):
        LinearGaussianStats.from_dict({"n": [0]})
