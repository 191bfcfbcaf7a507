"""The in-process simulator: any instance, any policy, many seeds, honest figures.

An instance is a list of reward models (:mod:`banditops.bandit.arms`), a list of changes
``{"t": pull, "arm": i, "mean" | "p": x}`` and a horizon. For each seed the simulator draws
the whole reward table up front (common random numbers: every policy run with the same seed
meets the same rewards), lets the policy play it, and scores the pulls against the true,
time-varying means:

- **dynamic regret** Σ_t (max_a μ_a(t) − μ_{A_t}(t)), and the Lai–Robbins bound C·ln T when
  the instance is stationary;
- **alarms** with their pulls; each change's **detection delay** (post-change pulls until the
  first alarm on a changed arm); **false alarms** (an alarm on an arm whose mean did not change
  within the evidence its test looked at) per 10,000 stationary pulls;
- the **exploration share** (pulls not chosen by Thompson Sampling) and **decisions/s**.

Policies (``--policy``): ``system`` (the drift-aware policy: TS + staleness floor + GLR on
every pull + confirmation pulls + restarts), ``system:<detector>`` (the same with another
detector), ``ts`` (plain Thompson Sampling), ``ts:<detector>`` (TS with a detector on the arms
it plays, no floor). ``refresh`` > 1 refreshes the posterior on a growing schedule
1, 2, 4, ... then every ``refresh`` pulls, as distributed agents would.

Examples
--------
>>> from banditops.bandit.arms import BernoulliArm
>>> instance = Instance.build([BernoulliArm(p=0.2), BernoulliArm(p=0.8)], horizon=2000)
>>> result = simulate_seed(instance, seed=0, policy="ts")
>>> round(result.regret, 1), result.alarms
(3.0, [])
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from banditops.bandit.arms import BernoulliArm, GaussianArm, parse_arms, reward_kind
from banditops.bandit.policies.registry import POLICIES, POLICY_BASES, make_policy
from banditops.bandit.regret import lai_robbins_bound
from banditops.bandit.validators import is_integer

ArmModel = BernoulliArm | GaussianArm
__all__ = ["POLICIES", "POLICY_BASES", "Instance", "make_policy", "simulate", "simulate_seed"]


# -- the instance ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """At pull ``t`` (0-based), arm ``arm``'s mean becomes ``mean``."""

    t: int
    arm: int
    mean: float


def parse_changes(payload: str | Sequence[Mapping[str, Any]] | None, n_arms: int, horizon: int) -> list[Change]:
    """Changes from JSON text or dicts ``{"t": pull, "arm": i, "mean" or "p": x}``."""
    if payload is None or payload == "":
        return []
    valid = 'changes must be a JSON list like [{"t": 10000, "arm": 0, "mean": 6}]'
    try:
        raw = json.loads(payload) if isinstance(payload, str) else payload
    except json.JSONDecodeError as exc:
        raise ValueError(f"{valid}; the text is not JSON ({exc})") from exc
    if not isinstance(raw, list):
        raise ValueError(valid)
    changes = []
    for item in raw:
        if not isinstance(item, Mapping) or "t" not in item or "arm" not in item or not ({"mean", "p"} & set(item)):
            raise ValueError(f'each change needs "t", "arm" and "mean" (or "p"); got {item!r}')
        t, arm = item["t"], item["arm"]
        given = item["mean"] if "mean" in item else item["p"]
        if isinstance(given, bool) or not isinstance(given, numbers.Real):
            raise ValueError(f"change mean must be a finite number; got {given!r}")
        value = float(given)
        if not is_integer(t) or not 0 <= t < horizon:
            raise ValueError(f"change pull t must be an integer in 0..{horizon - 1}; got {t!r}")
        if not is_integer(arm) or not 0 <= arm < n_arms:
            raise ValueError(f"change arm must be in 0..{n_arms - 1}; got {arm!r}")
        if not math.isfinite(value):
            raise ValueError(f"change mean must be finite; got {value!r}")
        changes.append(Change(t, arm, value))
    return sorted(changes, key=lambda c: c.t)


@dataclass(frozen=True)
class Instance:
    """Arms, changes and horizon of one bandit problem."""

    arms: tuple[ArmModel, ...]
    changes: tuple[Change, ...]
    horizon: int

    @classmethod
    def build(
        cls,
        arms: str | Sequence[ArmModel] | Sequence[Mapping[str, Any]],
        changes: str | Sequence[Mapping[str, Any]] | Sequence[Change] | None = None,
        horizon: int = 10_000,
    ) -> Instance:
        if not is_integer(horizon) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}")
        parsed: list[ArmModel]
        if not isinstance(arms, str) and all(isinstance(a, BernoulliArm | GaussianArm) for a in arms):
            parsed = [a for a in arms if isinstance(a, BernoulliArm | GaussianArm)]
        else:
            parsed = parse_arms(arms if isinstance(arms, str) else [dict(a) for a in arms if isinstance(a, Mapping)])
        reward_kind(parsed)  # mixed kinds are refused here
        change_list: list[Change]
        if changes and not isinstance(changes, str) and all(isinstance(c, Change) for c in changes):
            change_list = sorted((c for c in changes if isinstance(c, Change)), key=lambda c: c.t)
        else:
            raw: str | list[Mapping[str, Any]] | None
            if isinstance(changes, str) or changes is None:
                raw = changes
            else:
                raw = [c for c in changes if isinstance(c, Mapping)]
            change_list = parse_changes(raw, len(parsed), horizon)
        if parsed[0].kind == "bernoulli" and any(not 0.0 <= c.mean <= 1.0 for c in change_list):
            raise ValueError("a Bernoulli arm's new p must be in [0, 1]")
        return cls(tuple(parsed), tuple(change_list), horizon)

    @property
    def n_arms(self) -> int:
        return len(self.arms)

    @property
    def kind(self) -> str:
        return self.arms[0].kind

    @property
    def stationary(self) -> bool:
        return not self.changes

    def segments(self) -> list[tuple[int, int, np.ndarray]]:
        """``(start, end, means)`` of each stationary stretch."""
        means = np.array([a.mean for a in self.arms], dtype=np.float64)
        out, start = [], 0
        for t in sorted({c.t for c in self.changes}):
            if t > start:
                out.append((start, t, means.copy()))
            for c in self.changes:
                if c.t == t:
                    means[c.arm] = c.mean
            start = t
        out.append((start, self.horizon, means.copy()))
        return [s for s in out if s[1] > s[0]]

    def rewards(self, rng: np.random.Generator) -> np.ndarray:
        """The whole ``(T, K)`` reward table of one seed."""
        k = self.n_arms
        table = np.empty((self.horizon, k))
        if self.kind == "bernoulli":
            u = rng.random((self.horizon, k))
            for start, end, means in self.segments():
                table[start:end] = u[start:end] < means
        else:
            z = rng.standard_normal((self.horizon, k))
            sd = np.array([a.sd for a in self.arms if isinstance(a, GaussianArm)])
            for start, end, means in self.segments():
                table[start:end] = means + sd * z[start:end]
        return table

    def dynamic_regret(self, played: np.ndarray) -> float:
        total = 0.0
        for start, end, means in self.segments():
            total += float(np.sum(means.max() - means[played[start:end]]))
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": [a.model_dump() for a in self.arms],
            "changes": [asdict(c) for c in self.changes],
            "horizon": self.horizon,
        }


def refresh_blocks(horizon: int, refresh: int, *, growing: bool = True) -> list[int]:
    """Posterior refresh intervals: 1, 2, 4, ... up to ``refresh``, then every ``refresh``.

    The first blind batch is what makes naive batching expensive (about 6× the regret at
    ``refresh=1000``); doubling from 1 removes it. ``growing=False`` gives the naive schedule.

    >>> refresh_blocks(20, 4)
    [1, 2, 4, 4, 4, 4, 1]
    """
    if not is_integer(refresh) or refresh < 1:
        raise ValueError(f"refresh must be an integer >= 1 pull; got {refresh!r}")
    blocks, t, size = [], 0, 1 if growing else refresh
    while t < horizon:
        b = min(size, refresh, horizon - t)
        blocks.append(b)
        t += b
        size *= 2
    return blocks


# -- results ----------------------------------------------------------------------------------
@dataclass
class SeedResult:
    """The figures of one seed."""

    seed: int
    policy: str
    horizon: int
    regret: float
    alarms: list[dict[str, Any]]
    #: One entry per change time: {"t", "arms", "detected_at", "delay"} (delay None: missed).
    detections: list[dict[str, Any]]
    false_alarms: int
    stationary_pulls: int
    explored: int
    elapsed_s: float
    lai_robbins_bound: float | None = None

    @property
    def decisions_per_s(self) -> float:
        return self.horizon / self.elapsed_s if self.elapsed_s > 0 else math.inf

    @property
    def exploration_share(self) -> float:
        return self.explored / self.horizon

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["decisions_per_s"] = self.decisions_per_s
        out["exploration_share"] = self.exploration_share
        return out


def score(instance: Instance, played: np.ndarray, alarms: Sequence[Any]) -> dict[str, Any]:
    """Dynamic regret, detections, false alarms and stationary pulls of one run."""
    change_times = sorted({c.t for c in instance.changes})
    ends = [*change_times[1:], instance.horizon] if change_times else []
    arm_changes: dict[int, list[int]] = {}
    for c in instance.changes:
        arm_changes.setdefault(c.arm, []).append(c.t)
    true_alarm = [any(a.since < tau <= a.t for tau in arm_changes.get(a.arm, [])) for a in alarms]
    detections, pending = [], 0
    for tau, end in zip(change_times, ends, strict=True):
        arms = sorted({c.arm for c in instance.changes if c.t == tau})
        found = (a for a, ok in zip(alarms, true_alarm, strict=True) if ok and tau <= a.t < end and a.arm in arms)
        hit = next(found, None)
        detected_at = None if hit is None else hit.t
        detections.append(
            {"t": tau, "arms": arms, "detected_at": detected_at, "delay": None if hit is None else hit.t - tau + 1}
        )
        pending += (end if hit is None else hit.t + 1) - tau
    return {
        "regret": instance.dynamic_regret(played),
        "alarms": [a.to_dict() | {"false": not ok} for a, ok in zip(alarms, true_alarm, strict=True)],
        "detections": detections,
        "false_alarms": int(sum(not ok for ok in true_alarm)),
        "stationary_pulls": instance.horizon - pending,
    }


def simulate_seed(
    instance: Instance,
    seed: int,
    policy: str = "system",
    refresh: int = 1,
    *,
    growing: bool = True,
    policy_params: Mapping[str, Any] | None = None,
) -> SeedResult:
    """Run one seed of ``policy`` on ``instance`` (see the module docstring)."""
    reward_seq, policy_seq = np.random.SeedSequence(seed).spawn(2)
    table = instance.rewards(np.random.default_rng(reward_seq))
    player = make_policy(
        policy, instance.n_arms, instance.kind, np.random.default_rng(policy_seq), **(policy_params or {})
    )
    blocks = None if refresh == 1 else refresh_blocks(instance.horizon, refresh, growing=growing)
    start = time.perf_counter()
    played = player.run(table, blocks)
    elapsed = time.perf_counter() - start
    scored = score(instance, played, player.alarms)
    bound = None
    if instance.stationary:
        means = np.array([a.mean for a in instance.arms])
        sd = float(instance.arms[0].sd) if isinstance(instance.arms[0], GaussianArm) else 1.0
        bound = lai_robbins_bound(means, instance.kind, instance.horizon, sd=sd)
    return SeedResult(
        seed=seed,
        policy=policy,
        horizon=instance.horizon,
        explored=int(player.explored),
        elapsed_s=elapsed,
        lai_robbins_bound=bound,
        **scored,
    )


# -- intervals ---------------------------------------------------------------------------------
def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean with its Student-t ``level`` interval.

    >>> mean_ci([1.0, 2.0, 3.0])
    {'value': 2.0, 'lo': -0.484, 'hi': 4.484, 'n': 3}
    """
    x = np.asarray(values, dtype=np.float64)
    m = float(x.mean()) if x.size else math.nan
    if x.size < 2:
        return {"value": m, "lo": m, "hi": m, "n": int(x.size)}
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return {"value": round(m, 3), "lo": round(m - half, 3), "hi": round(m + half, 3), "n": int(x.size)}


def median_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Median with the distribution-free (binomial order-statistic) ``level`` interval.

    >>> median_ci(list(range(1, 21)))
    {'value': 10.5, 'lo': 6.0, 'hi': 15.0, 'n': 20}
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    if n == 0:
        return {"value": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    k = int(sps.binom.ppf((1 - level) / 2, n, 0.5))  # the interval is [x_(k), x_(n-k+1)], 1-based
    lo, hi = max(k - 1, 0), min(n - k, n - 1)
    return {"value": float(np.median(x)), "lo": float(x[lo]), "hi": float(x[hi]), "n": int(n)}


def proportion_ci(successes: int, n: int, level: float = 0.95) -> dict[str, float]:
    """A share with its Wilson score ``level`` interval.

    >>> proportion_ci(19, 20)
    {'value': 0.95, 'lo': 0.764, 'hi': 0.991, 'n': 20}
    """
    if n == 0:
        return {"value": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    z = float(sps.norm.ppf(0.5 + level / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": round(p, 4), "lo": round(centre - half, 3), "hi": round(centre + half, 3), "n": n}


def rate_ci(events: int, exposure: float, per: float = 10_000.0, level: float = 0.95) -> dict[str, float]:
    """Events per ``per`` units of exposure with the exact (Garwood) Poisson interval.

    >>> rate_ci(0, 200_000)
    {'value': 0.0, 'lo': 0.0, 'hi': 0.184, 'n': 0}
    """
    if exposure <= 0:
        return {"value": math.nan, "lo": math.nan, "hi": math.nan, "n": events}
    a = 1 - level
    lo = 0.0 if events == 0 else float(sps.chi2.ppf(a / 2, 2 * events) / 2)
    hi = float(sps.chi2.ppf(1 - a / 2, 2 * events + 2) / 2)
    scale = per / exposure
    return {"value": round(events * scale, 4), "lo": round(lo * scale, 4), "hi": round(hi * scale, 4), "n": events}


@dataclass
class SimulationReport:
    """Per-seed results of one policy on one instance, and their summary with intervals."""

    instance: Instance
    policy: str
    refresh: int
    results: list[SeedResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        res = self.results
        delays = [d["delay"] for r in res for d in r.detections if d["delay"] is not None]
        changes = sum(len(r.detections) for r in res)
        false_alarms = sum(r.false_alarms for r in res)
        stationary = sum(r.stationary_pulls for r in res)
        bounds = [r.lai_robbins_bound for r in res if r.lai_robbins_bound is not None]
        return {
            "code_path": "sequential simulator",
            "policy": self.policy,
            "refresh": self.refresh,
            "seeds": len(res),
            "horizon": self.instance.horizon,
            "dynamic_regret": mean_ci([r.regret for r in res]),
            "lai_robbins_bound": round(bounds[0], 2) if bounds else None,
            "alarms_per_run": mean_ci([len(r.alarms) for r in res]),
            "detection_delay_median": median_ci(delays),
            "detected": proportion_ci(len(delays), changes) if changes else None,
            "false_alarms": false_alarms,
            "false_alarms_per_10k_stationary": rate_ci(false_alarms, stationary),
            "exploration_share": mean_ci([r.exploration_share for r in res]),
            "decisions_per_s": mean_ci([r.decisions_per_s for r in res]),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance.to_dict(),
            "summary": self.summary(),
            "runs": [r.to_dict() for r in self.results],
        }


def simulate(
    instance: Instance,
    seeds: int | Sequence[int] = 20,
    policy: str = "system",
    refresh: int = 1,
    *,
    growing: bool = True,
    policy_params: Mapping[str, Any] | None = None,
    progress: Callable[[SeedResult], None] | None = None,
) -> SimulationReport:
    """Run ``policy`` on ``instance`` for each seed (``seeds``: a count → 0..n-1, or the list)."""
    make_policy(policy, instance.n_arms, instance.kind, np.random.default_rng(0))  # validate early
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must be a count >= 1 or a non-empty list of seeds")
    report = SimulationReport(instance, policy, refresh)
    for seed in seed_list:
        result = simulate_seed(instance, seed, policy, refresh, growing=growing, policy_params=policy_params)
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report
