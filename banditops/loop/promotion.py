"""The promotion gate: a candidate replaces the live policy only when the log says, with margin, that it is better.

Rule: promote iff the candidate's DR (or DRos) interval lower bound exceeds the live policy's
estimate by ``margin``. The DM interval is not used: its bootstrap holds the reward model fixed,
so it is too narrow to gate on. The live config and the one before it are kept in the store's
meta hash, and each change is an event in the store's event stream, so one call rolls back.
Each change bumps the meta field ``policy_generation``, which opens a new MLflow phase
(:mod:`banditops.loop.tracking`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from banditops.store.redis_store import BanditStore

GATE_ESTIMATORS = ("dr", "dros")


def gate(report: Mapping[str, object], candidate: str, *, margin: float, estimator: str = "dros") -> dict[str, object]:
    """The gate's decision for ``candidate`` in an :func:`~banditops.loop.evaluation.evaluate_candidates` report."""
    if estimator not in GATE_ESTIMATORS:
        raise ValueError(f"the gate uses {estimator!r}; valid: {', '.join(GATE_ESTIMATORS)}")
    policies: dict[str, dict[str, dict[str, dict[str, float]]]] = report["policies"]  # type: ignore[assignment]
    if candidate not in policies or candidate == "live":
        raise ValueError(f"unknown candidate {candidate!r}; valid: {', '.join(p for p in policies if p != 'live')}")
    live = policies["live"]["estimators"][estimator]["estimate"]
    lo = policies[candidate]["estimators"][estimator]["lo"]
    return {"candidate": candidate, "estimator": estimator, "margin": margin, "live_estimate": live,
            "candidate_lo": lo, "promote": bool(lo > live + margin)}  # fmt: skip


def live_policy(store: BanditStore) -> dict[str, object]:
    raw = store.get_meta().get("live_policy")
    return json.loads(raw) if raw else {"policy": "thompson", "use_posterior": True}


def promote(store: BanditStore, config: Mapping[str, object], decision: Mapping[str, object]) -> str:
    """Make ``config`` the live policy, keep the previous one, record a ``policy_promoted`` event."""
    previous = live_policy(store)
    store.set_meta(live_policy=json.dumps(dict(config)), previous_policy=json.dumps(previous),
                   policy_generation=str(generation(store) + 1))  # fmt: skip
    return store.append_event("policy_promoted", config=dict(config), previous=previous, decision=dict(decision))


def generation(store: BanditStore) -> int:
    """How many times the live policy changed in this experiment (0: never)."""
    return int(store.get_meta().get("policy_generation") or 0)


def rollback(store: BanditStore) -> str:
    """Restore the policy before the last promotion (one action); refuses when there is none."""
    raw = store.get_meta().get("previous_policy")
    if not raw:
        raise ValueError("no previous policy to roll back to: nothing was promoted in this namespace")
    current = live_policy(store)
    store.set_meta(live_policy=raw, previous_policy=json.dumps(current), policy_generation=str(generation(store) + 1))
    return store.append_event("policy_rolled_back", config=json.loads(raw), previous=current)
