"""The logged bandit feedback, its validation, and what every estimator reports.

The data follow Open Bandit Pipeline's layout (Saito et al. 2021): one row per shown
(impression, position) with the logged ``action``, its ``position`` in the slate, the
``reward`` and the logging policy's propensity ``pscore`` *of that action at that
position*; the evaluation policy is an action distribution of shape
``(n_rows, n_actions, n_positions)``. Every estimator of the family is a function of four
per-row terms (:class:`RowTerms`), so one validation and one bootstrap serve them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class LoggedBanditFeedback:
    """A decision log: per row the logged arm, its slate position, the reward and its propensity.

    ``context`` (n_rows, dim) is optional: only the reward model reads it.
    """

    action: IntArray
    position: IntArray
    reward: FloatArray
    pscore: FloatArray
    context: FloatArray | None = None

    @classmethod
    def build(cls, action: object, reward: object, pscore: object, position: object | None = None,
              context: object | None = None) -> LoggedBanditFeedback:  # fmt: skip
        """Coerce array-likes (a missing propensity may arrive as ``None``/NaN) and validate."""
        act = np.asarray(action, dtype=np.int64)
        n = act.shape[0] if act.ndim == 1 else -1
        if n < 1:
            raise ValueError("the log needs a 1-D non-empty 'action' array")
        pos = np.zeros(n, dtype=np.int64) if position is None else np.asarray(position, dtype=np.int64)
        ps = np.asarray([np.nan if p is None else p for p in np.asarray(pscore, dtype=object).ravel()],
                        dtype=np.float64)  # fmt: skip
        ctx = None if context is None else np.asarray(context, dtype=np.float64)
        log = cls(act, pos, np.asarray(reward, dtype=np.float64), ps, ctx)
        log.validate()
        return log

    @property
    def n_rows(self) -> int:
        return int(self.action.shape[0])

    def validate(self) -> None:
        """Refuse a log that no importance-weighted estimate can use, saying what is missing."""
        n = self.n_rows
        for name in ("position", "reward", "pscore"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"'{name}' must have one value per row ({n}); got shape {getattr(self, name).shape}")
        if self.context is not None and self.context.shape[0] != n:
            raise ValueError(f"'context' must have {n} rows; got {self.context.shape[0]}")
        bad = ~np.isfinite(self.pscore) | (self.pscore <= 0) | (self.pscore > 1)
        if bad.any():
            rows = np.flatnonzero(bad)
            missing = int((~np.isfinite(self.pscore)).sum())
            raise ValueError(
                f"the log has {rows.size} rows without a usable propensity ({missing} missing, "
                f"{rows.size - missing} zero, negative or above 1), e.g. rows {rows[:5].tolist()}; "
                "every row needs the logging policy's probability in (0, 1] of the arm it played"
            )
        if (self.action < 0).any() or (self.position < 0).any():
            raise ValueError("'action' and 'position' must be non-negative indices")
        if not np.isfinite(self.reward).all():
            raise ValueError(f"the log has {int((~np.isfinite(self.reward)).sum())} rows without a finite reward")

    def take(self, idx: IntArray) -> LoggedBanditFeedback:
        """The rows ``idx`` (a bootstrap resample or a time window)."""
        ctx = None if self.context is None else self.context[idx]
        return LoggedBanditFeedback(self.action[idx], self.position[idx], self.reward[idx], self.pscore[idx], ctx)


def check_action_dist(log: LoggedBanditFeedback, action_dist: FloatArray) -> None:
    """Refuse a candidate distribution that does not cover the log, or arms the log never played."""
    if action_dist.ndim != 3 or action_dist.shape[0] != log.n_rows:
        raise ValueError(
            f"action_dist must have shape (n_rows={log.n_rows}, n_actions, n_positions); got {action_dist.shape}"
        )
    _, n_actions, n_positions = action_dist.shape
    unknown = sorted(set(np.unique(log.action[log.action >= n_actions]).tolist()))
    if unknown:
        raise ValueError(
            f"the candidate has no probability for logged arms {unknown}: it covers arms 0..{n_actions - 1}"
        )
    if (log.position >= n_positions).any():
        top = int(log.position.max())
        raise ValueError(f"the log has positions up to {top}; the candidate covers positions 0..{n_positions - 1}")
    if not np.isfinite(action_dist).all() or (action_dist < 0).any():
        raise ValueError("action_dist must hold finite non-negative probabilities")
    sums = action_dist.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        raise ValueError(f"action_dist must sum to 1 over arms at every row and position; got sums in "
                         f"[{sums.min():.6g}, {sums.max():.6g}]")  # fmt: skip
    played = action_dist[np.arange(log.n_rows), :, log.position].max(axis=0) > 0
    logged = np.zeros(n_actions, dtype=bool)
    logged[np.unique(log.action)] = True
    never = np.flatnonzero(played & ~logged).tolist()
    if never:
        raise ValueError(
            f"the log has no pulls of arms {never} that the candidate plays; no importance-weighted estimate "
            "can see their rewards (widen the window or log with exploration)"
        )


@dataclass(frozen=True)
class RowTerms:
    """The per-row quantities every estimator of the family is a function of.

    ``weight`` = π_e(a_t | x_t, k_t) / π_b(a_t | x_t, k_t) at the logged arm and position;
    ``q_logged`` = q̂(x_t, a_t, k_t); ``q_policy`` = Σ_a π_e(a | x_t, k_t) q̂(x_t, a, k_t).
    Without a reward model the two q terms are zero (IPW and SNIPW do not read them).
    """

    weight: FloatArray
    reward: FloatArray
    q_logged: FloatArray
    q_policy: FloatArray

    @classmethod
    def compute(cls, log: LoggedBanditFeedback, action_dist: FloatArray,
                q_hat: FloatArray | None = None) -> RowTerms:  # fmt: skip
        check_action_dist(log, action_dist)
        rows = np.arange(log.n_rows)
        weight = action_dist[rows, log.action, log.position] / log.pscore
        if q_hat is None:
            zeros = np.zeros(log.n_rows)
            return cls(weight, log.reward, zeros, zeros)
        if q_hat.shape != action_dist.shape:
            raise ValueError(f"q_hat must have the shape of action_dist {action_dist.shape}; got {q_hat.shape}")
        q_logged = q_hat[rows, log.action, log.position]
        q_policy = np.einsum("na,na->n", q_hat[rows, :, log.position], action_dist[rows, :, log.position])
        return cls(weight, log.reward, q_logged, q_policy)

    def take(self, idx: IntArray) -> RowTerms:
        return RowTerms(self.weight[idx], self.reward[idx], self.q_logged[idx], self.q_policy[idx])


def effective_sample_size(weight: FloatArray) -> float:
    """Kish's effective sample size (Σw)² / Σw²: how many rows the weighted estimate is worth."""
    total_sq = float(np.sum(weight**2))
    return float(np.sum(weight)) ** 2 / total_sq if total_sq > 0 else 0.0


class Estimator(Protocol):
    """One off-policy estimator: a value from the per-row terms."""

    @property
    def name(self) -> str: ...

    @property
    def needs_reward_model(self) -> bool: ...

    def estimate(self, terms: RowTerms) -> float: ...


@dataclass(frozen=True)
class EstimateResult:
    """What every estimate reports: the value, its bootstrap interval and the weights' health."""

    estimator: str
    estimate: float
    lo: float
    hi: float
    ess: float
    max_weight: float
    n_rows: int
    params: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "estimate": self.estimate,
            "lo": self.lo,
            "hi": self.hi,
            "ess": self.ess,
            "max_weight": self.max_weight,
            "n_rows": self.n_rows,
            **({"params": dict(self.params)} if self.params else {}),
        }
