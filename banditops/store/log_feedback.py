"""The production decision log joined with its feedback, as an off-policy evaluation log.

The decision service logs every decision (arms shown, the propensity of the top arm, the
posterior epoch) in ``{ns}:decisions`` and each accepted reward in ``{ns}:feedback``
(:mod:`banditops.store.feedback`). Only decisions with feedback carry a reward, so the
evaluation log is their inner join on ``decision_id``; the logged action is the top arm
(position 0), whose propensity is the one the service records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import LoggedBanditFeedback
from banditops.store import connection as redis
from banditops.store.feedback import feedback_entries, read_decisions


@dataclass(frozen=True)
class LogBanditFeedback:
    """An evaluation log read from Redis: the OPE feedback, the arm ids behind its action indices."""

    feedback: LoggedBanditFeedback
    arms: tuple[int, ...]
    epochs: tuple[int, ...]

    @classmethod
    def read(cls, client: redis.Redis, namespace: str, *, window_s: float | None = None,
             now: float | None = None, count: int = 1_000_000) -> LogBanditFeedback:  # fmt: skip
        """Decisions of the last ``window_s`` seconds (all if None) that received feedback.

        Refuses (ValueError) an empty window and rows without a usable propensity.
        """
        since = "-"
        if window_s is not None:
            if window_s <= 0:
                raise ValueError(f"window_s must be > 0 seconds; got {window_s}")
            since = str(int(((time.time() if now is None else now) - window_s) * 1000))
        decisions = {d["decision_id"]: d for d in read_decisions(client, namespace, since=since, count=count)}
        rows = [(decisions[f["decision_id"]], float(f["reward"]))
                for f in feedback_entries(client, namespace, count=count) if f["decision_id"] in decisions]
        if not rows:
            raise ValueError(f"no decision with feedback in namespace {namespace!r}"
                             + (f" in the last {window_s:g} s" if window_s else "")
                             + "; the evaluation needs logged decisions and their rewards")  # fmt: skip
        logged_arms = [int(d["arm"]) for d, _ in rows]
        arms = tuple(sorted(set(logged_arms)))
        index = {a: i for i, a in enumerate(arms)}
        pscore = [float(d["propensity"]) if d.get("propensity") not in (None, "", "nan") else None for d, _ in rows]
        feedback = LoggedBanditFeedback.build(
            np.array([index[a] for a in logged_arms]), np.array([r for _, r in rows]), pscore
        )
        return cls(feedback, arms, tuple(int(d["epoch"]) for d, _ in rows))
