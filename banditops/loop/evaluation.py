"""Candidate policies as action distributions over the logged arms, for off-policy evaluation.

A candidate is a configuration of a policy BanditOps has: ``thompson`` (Beta posterior, with a
given prior or the live counts), ``uniform`` (round-robin's long-run distribution), ``greedy``
(argmax of the posterior mean) and ``static`` (a fixed ranking's top arm). Thompson's action
probabilities are estimated by Monte Carlo, as OBP does for its BTS policy (Saito et al., 2021,
"Open Bandit Dataset and Pipeline", NeurIPS Datasets and Benchmarks).

>>> dist = action_probabilities({"policy": "greedy"}, (3, 7), successes=[1, 5], failures=[9, 5])
>>> dist.tolist()
[0.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from banditops.bandit.ope.base import FloatArray, LoggedBanditFeedback
from banditops.store.log_feedback import LogBanditFeedback
from banditops.store.redis_store import BanditStore

POLICIES = ("thompson", "uniform", "greedy", "static")


def action_probabilities(config: Mapping[str, object], arms: Sequence[int], *, successes: Sequence[float],
                         failures: Sequence[float], rng: np.random.Generator | None = None,
                         n_draws: int = 100_000) -> FloatArray:  # fmt: skip
    """The candidate's probability of playing each of ``arms`` (top position), shape (len(arms),).

    ``successes``/``failures`` are the live posterior's counts per arm (aligned with ``arms``).
    Config keys: ``policy``; ``prior`` ([alpha, beta], thompson/greedy; default [1, 1]);
    ``use_posterior`` (thompson/greedy; default True); ``ranking`` (static: arm ids, best first).
    """
    policy = config.get("policy")
    k = len(arms)
    if policy not in POLICIES:
        raise ValueError(f"unknown candidate policy {policy!r}; valid: {', '.join(POLICIES)}")
    if policy == "uniform":
        return np.full(k, 1.0 / k)
    if policy == "static":
        ranking = [int(a) for a in config.get("ranking", []) or []]  # type: ignore[attr-defined]
        top = next((a for a in ranking if a in arms), None)
        if top is None:
            raise ValueError(f"static ranking {ranking} plays none of the logged arms {list(arms)}; "
                             "the log has no evidence about the candidate's arms")  # fmt: skip
        out = np.zeros(k)
        out[list(arms).index(top)] = 1.0
        return out
    prior = config.get("prior", [1.0, 1.0])
    a0, b0 = (float(x) for x in prior)  # type: ignore[attr-defined]
    if a0 <= 0 or b0 <= 0:
        raise ValueError(f"prior must be two positive numbers [alpha, beta]; got {prior}")
    use = bool(config.get("use_posterior", True))
    alpha = a0 + (np.asarray(successes, dtype=float) if use else 0.0)
    beta = b0 + (np.asarray(failures, dtype=float) if use else 0.0)
    alpha, beta = np.broadcast_to(alpha, (k,)), np.broadcast_to(beta, (k,))
    if policy == "greedy":
        mean = alpha / (alpha + beta)
        best: FloatArray = (mean == mean.max()).astype(float)
        best /= best.sum()
        return best
    gen = rng if rng is not None else np.random.default_rng(0)
    draws = gen.beta(alpha, beta, size=(n_draws, k))
    counts: FloatArray = np.bincount(draws.argmax(axis=1), minlength=k) / n_draws
    return counts


def as_action_dist(probs: FloatArray, n_rows: int) -> FloatArray:
    """Broadcast a context-free distribution to the (n_rows, n_actions, 1) shape :func:`evaluate` takes."""
    return np.broadcast_to(np.asarray(probs, dtype=float)[None, :, None], (n_rows, probs.shape[0], 1)).copy()


def arm_mean_q_hat(log: LoggedBanditFeedback, n_actions: int) -> FloatArray:
    """A context-free reward model: each arm's logged mean reward (the log has no user features)."""
    sums = np.bincount(log.action, weights=log.reward, minlength=n_actions)
    counts = np.bincount(log.action, minlength=n_actions)
    means = np.divide(sums, counts, out=np.full(n_actions, float(log.reward.mean())), where=counts > 0)
    return np.broadcast_to(means[None, :, None], (log.n_rows, n_actions, 1)).copy()


LIVE = {"policy": "thompson", "use_posterior": True}


def evaluate_candidates(store: BanditStore, candidates: Mapping[str, Mapping[str, object]], *,
                        window_s: float | None = None, estimators: Sequence[str] = ("ipw", "snipw", "dr", "dros"),
                        seed: int = 0, n_boot: int = 500) -> dict[str, object]:  # fmt: skip
    """Evaluate the live policy (Thompson on the current posterior) and each candidate on the decision log.

    Refuses (ValueError, nothing estimated) a log without usable propensities or a candidate
    whose arms the log never played.
    """
    from banditops.bandit.ope import evaluate

    log = LogBanditFeedback.read(store.client, store.namespace, window_s=window_s)
    state = store.state()
    successes = state.stats.sum[list(log.arms)].tolist()
    failures = (state.stats.n[list(log.arms)] - state.stats.sum[list(log.arms)]).tolist()
    prior = state.config.prior or {}
    live_prior = [float(prior.get("alpha", 1.0)), float(prior.get("beta", 1.0))]
    q_hat = arm_mean_q_hat(log.feedback, len(log.arms))
    policies = {"live": {**LIVE, "prior": live_prior}, **candidates}
    dists = {name: action_probabilities(cfg, log.arms, successes=successes, failures=failures,
                                        rng=np.random.default_rng(seed)) for name, cfg in policies.items()}  # fmt: skip
    results: dict[str, object] = {}
    for name, probs in dists.items():
        out = evaluate(log.feedback, as_action_dist(probs, log.feedback.n_rows), estimators=estimators,
                       q_hat=q_hat, rng=np.random.default_rng(seed), n_boot=n_boot)  # fmt: skip
        results[name] = {"config": dict(policies[name]),
                         "action_probabilities": dict(zip(log.arms, probs.tolist(), strict=True)),
                         "estimators": {k: v.to_dict() for k, v in out.items()}}  # fmt: skip
    return {"n_rows": log.feedback.n_rows, "arms": list(log.arms),
            "logged_mean_reward": float(log.feedback.reward.mean()), "policies": results}  # fmt: skip
