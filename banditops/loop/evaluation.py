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

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from banditops.bandit.ope import ESTIMATORS, evaluate
from banditops.bandit.ope.base import FloatArray, LoggedBanditFeedback
from banditops.loop.promotion import GATE_ESTIMATORS, gate, live_policy, promote
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

    log = LogBanditFeedback.read(store.client, store.namespace, window_s=window_s)
    state = store.state()
    successes = state.stats.sum[list(log.arms)].tolist()
    failures = (state.stats.n[list(log.arms)] - state.stats.sum[list(log.arms)]).tolist()
    prior = state.config.prior or {}
    live_prior = [float(prior.get("alpha", 1.0)), float(prior.get("beta", 1.0))]
    q_hat = arm_mean_q_hat(log.feedback, len(log.arms))
    live = live_policy(store)
    policies = {"live": {**live, "prior": live.get("prior", live_prior)} if live.get("policy") in ("thompson", "greedy")
                else dict(live), **candidates}  # fmt: skip
    if "live" in candidates:
        raise ValueError("'live' names the live policy; give the candidate another name")
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


DEFAULT_ESTIMATORS = ("ipw", "snipw", "dr", "dros")


@dataclass(frozen=True)
class EvaluationRequest:
    """What ``bandit_policy_evaluation`` evaluates, and how the gate decides (JSON-able for XCom)."""

    candidates: dict[str, dict[str, Any]]
    estimators: list[str]
    gate_estimator: str = "dros"
    window_s: float | None = None
    margin: float = 0.0
    promote: bool = False
    n_boot: int = 500

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EvaluationRequest:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def evaluation_request(params: Mapping[str, Any]) -> EvaluationRequest:
    """The ``bandit_policy_evaluation`` request, validated in full (ValueError naming the valid values).

    >>> evaluation_request({"candidates": {"u": {"policy": "uniform"}}}).estimators
    ['ipw', 'snipw', 'dr', 'dros']
    """

    candidates = params.get("candidates")
    if not isinstance(candidates, Mapping) or not candidates:
        raise ValueError('candidates must be a non-empty object {"name": {"policy": ...}}; valid policies: '
                         + ", ".join(POLICIES))  # fmt: skip
    for name, cfg in candidates.items():
        if name == "live":
            raise ValueError("'live' names the live policy; give the candidate another name")
        if not isinstance(cfg, Mapping) or cfg.get("policy") not in POLICIES:
            raise ValueError(f"candidate {name!r} needs a 'policy' among {', '.join(POLICIES)}; got {cfg!r}")
    estimators = [str(e) for e in (params.get("estimators") or DEFAULT_ESTIMATORS)]
    valid = [e for e in ESTIMATORS if e != "dm"]  # the decision log has no features for DM's model to use
    unknown = [e for e in estimators if e not in valid]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; valid: {', '.join(valid)}")
    gate_estimator = str(params.get("gate_estimator") or "dros")
    if gate_estimator not in GATE_ESTIMATORS:
        raise ValueError(f"gate_estimator {gate_estimator!r}; valid: {', '.join(GATE_ESTIMATORS)}")
    if gate_estimator not in estimators:
        estimators.append(gate_estimator)
    window = params.get("window_s")
    window_s = None if window is None else float(window)
    if window_s is not None and not window_s > 0:
        raise ValueError(f"window_s must be > 0 seconds (or null for the whole log); got {window}")
    margin = float(params.get("margin") or 0.0)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    n_boot = int(params.get("n_boot") or 500)
    if not 100 <= n_boot <= 10_000:
        raise ValueError(f"n_boot must be in 100..10000; got {n_boot}")
    return EvaluationRequest({str(k): dict(v) for k, v in candidates.items()}, estimators, gate_estimator,
                             window_s, margin, bool(params.get("promote", False)), n_boot)  # fmt: skip


def run_evaluation(store: BanditStore, request: EvaluationRequest) -> dict[str, Any]:
    """Evaluate the live policy and the candidates, and the gate's decision for each candidate.

    ``best`` is the candidate whose gate lower bound is highest; :func:`apply_gate` promotes it
    only when the gate passed and the request asks for it.
    """

    report = evaluate_candidates(store, request.candidates, window_s=request.window_s,
                                 estimators=request.estimators, n_boot=request.n_boot)  # fmt: skip
    decisions = [gate(report, name, margin=request.margin, estimator=request.gate_estimator)
                 for name in request.candidates]  # fmt: skip
    best = max(decisions, key=lambda d: float(d["candidate_lo"]))  # type: ignore[arg-type]
    return {"report": report, "decisions": decisions, "best": best}


def apply_gate(store: BanditStore, request: EvaluationRequest, outcome: Mapping[str, Any]) -> dict[str, Any]:
    """Promote the best candidate when its gate passed and ``promote`` was asked; keep the summary for the dashboard."""

    best = dict(outcome["best"])
    promoted = bool(best["promote"]) and request.promote
    event = promote(store, request.candidates[str(best["candidate"])], best) if promoted else ""
    report = outcome["report"]
    est = request.gate_estimator
    summary = {
        "ts": time.time(), "n_rows": report["n_rows"], "gate_estimator": est, "margin": request.margin,
        "policies": {name: {k: r["estimators"][est][k] for k in ("estimate", "lo", "hi")}
                     for name, r in report["policies"].items()},
        "decision": best, "promoted": promoted, "event": event, "live_policy": live_policy(store),
    }  # fmt: skip
    store.set_meta(last_evaluation=json.dumps(summary, default=float))
    return summary


def last_evaluation(store: BanditStore) -> dict[str, Any] | None:
    """The last evaluation's summary (what the dashboard shows), or ``None``."""
    raw = store.get_meta().get("last_evaluation")
    return json.loads(raw) if raw else None
