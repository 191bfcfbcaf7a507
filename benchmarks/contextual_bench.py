"""Contextual bandits side by side: BanditOps LinTS against non-contextual TS, MABWiser and Vowpal Wabbit.

    python -m benchmarks.contextual_bench                      # 20 seeds x T=50,000 (issue 15)
    python -m benchmarks.contextual_bench --seeds 5 --horizon 20000
    python -m benchmarks.contextual_bench --quick              # a smoke run

Every policy plays the same seeded worlds (:mod:`banditops.sim.contextual`: K=20 arms, d=10
user features, logistic clicks) round for round, with the same users and the same per-round
luck, in the same batch schedule (1, 2, 4, ... up to 100 rounds decided against one snapshot,
then learned). Each sees ``[1, x]``; VW gets ``x`` in a ``shared`` namespace crossed with the
arm's id (``-q UA``, the disjoint model in VW's ADF form) plus its own constant. Hyper-parameters
are each library's defaults (``λ = 1``; MABWiser ``alpha = 1``; VW's default exploration is
epsilon-greedy 0.05), and MABWiser LinTS is also run with ``alpha = 0.15``, the width BanditOps
LinTS uses (chosen on held-out seeds, see ``linear_gaussian.DEFAULT_SCALE``), so that row has
the same posterior, and at ``alpha = 0.2`` (the previous width, the best other library on the
held-out seeds). It does not have the same draws: after ``fit``, MABWiser's per-arm models
hold distinct generator objects in the *same* state (checked: ``bit_generator.state`` equal), so
every arm draws the same normals and the arms' sampled scores are correlated (measured 0.85 for
two arms and one repeated context) where Agrawal & Goyal draw them independently. LinUCB is
also run at ``alpha = 0.25``, the best of 0.1/0.25/0.5/1 on held-out seeds 100-103 (regret
1,334/1,213/1,415/1,456), so both linear families get the same tuning; VW's options are its
defaults (its ``--squarecb`` gamma and learning rate were not tuned).

Figures: cumulative regret against the per-user oracle (mean, 95% Student-t interval over
seeds), paired ratios to non-contextual TS, and decisions/s — the time spent inside each
policy's ``decide`` for the whole run, i.e. batched decisions on one core of a shared machine.
Writes ``benchmarks/results/contextual.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from banditops.sim.contextual import (
    CONTEXTUAL_POLICIES,
    ContextualPolicy,
    ContextualResult,
    ContextualWorld,
    play,
)
from banditops.sim.simulation import mean_ci
from benchmarks.fragments import write_fragment as write_fragment_pair

HERE = Path(__file__).resolve().parent


class MABWiserPolicy:
    """MABWiser's LinTS or LinUCB behind the loop's decide/learn interface."""

    def __init__(self, learning_policy: Any, n_arms: int, seed: int) -> None:
        from mabwiser.mab import MAB

        self._mab = MAB(list(range(n_arms)), learning_policy, seed=seed)
        self._fitted = False
        self._rng = np.random.default_rng([seed, 2])
        self._n_arms = n_arms

    def decide(self, contexts: np.ndarray) -> np.ndarray:
        if not self._fitted:  # MABWiser cannot predict before its first fit: the first batch is uniform
            return self._rng.integers(0, self._n_arms, size=contexts.shape[0])
        chosen = self._mab.predict(contexts)
        return np.atleast_1d(np.asarray(chosen, dtype=np.int64))

    def learn(self, contexts: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        if self._fitted:
            self._mab.partial_fit(arms.tolist(), rewards.tolist(), contexts)
        else:
            self._mab.fit(arms.tolist(), rewards.tolist(), contexts)
            self._fitted = True


class VowpalWabbitPolicy:
    """``vw --cb_explore_adf``: one multi-line ADF example per user, the arm drawn from VW's pmf."""

    def __init__(self, options: str, n_arms: int, seed: int) -> None:
        from vowpalwabbit import Workspace

        self._vw = Workspace(f"{options} -q UA --quiet --random_seed {seed}")
        self._actions = [f"|A a{a}" for a in range(n_arms)]
        self._rng = np.random.default_rng([seed, 3])
        self._pending: list[tuple[list[str], np.ndarray]] = []

    def _example(self, user: np.ndarray) -> list[str]:
        # Column 0 is the intercept the other policies get; VW adds its own constant feature.
        return ["shared |U " + " ".join(f"f{i}:{v:.6f}" for i, v in enumerate(user[1:])), *self._actions]

    def decide(self, contexts: np.ndarray) -> np.ndarray:
        arms = np.empty(contexts.shape[0], dtype=np.int64)
        self._pending = []
        for i, user in enumerate(contexts):
            example = self._example(user)
            pmf = np.asarray(self._vw.predict(example), dtype=np.float64)
            pmf /= pmf.sum()
            arms[i] = self._rng.choice(pmf.size, p=pmf)
            self._pending.append((example, pmf))
        return arms

    def learn(self, contexts: np.ndarray, arms: np.ndarray, rewards: np.ndarray) -> None:
        for (example, pmf), arm, reward in zip(self._pending, arms, rewards, strict=True):
            labelled = list(example)
            labelled[1 + int(arm)] = f"0:{-float(reward)}:{pmf[arm]:.6f} {self._actions[int(arm)]}"  # cost = -click
            self._vw.learn(labelled)

    def __del__(self) -> None:
        self._vw.finish()


def _mabwiser(kind: str, alpha: float) -> Callable[[ContextualWorld, int], ContextualPolicy]:
    def factory(world: ContextualWorld, seed: int) -> ContextualPolicy:
        from mabwiser.mab import LearningPolicy

        policy = LearningPolicy.LinTS(alpha=alpha) if kind == "lin_ts" else LearningPolicy.LinUCB(alpha=alpha)
        return MABWiserPolicy(policy, world.n_arms, seed)

    return factory


def _vw(options: str) -> Callable[[ContextualWorld, int], ContextualPolicy]:
    return lambda world, seed: VowpalWabbitPolicy(options, world.n_arms, seed)


#: name -> (label, factory); the first is ours, the second the non-contextual baseline.
CONTENDERS: dict[str, tuple[str, Callable[[ContextualWorld, int], ContextualPolicy]]] = {
    "banditops_lin_ts": ("BanditOps LinTS (λ=1, v=0.15)", CONTEXTUAL_POLICIES["lin_ts"]),
    "banditops_lin_ts_noise": ("BanditOps LinTS (λ=1, v = its own residual-sd estimate)",
                               CONTEXTUAL_POLICIES["lin_ts_noise"]),
    "banditops_ts": ("BanditOps non-contextual TS (Beta-Bernoulli)", CONTEXTUAL_POLICIES["ts"]),
    "mabwiser_lin_ts": ("MABWiser LinTS (default alpha=1)", _mabwiser("lin_ts", 1.0)),
    "mabwiser_lin_ts_0.15": ("MABWiser LinTS (alpha=0.15: our model's width)", _mabwiser("lin_ts", 0.15)),
    "mabwiser_lin_ts_0.2": ("MABWiser LinTS (alpha=0.2)", _mabwiser("lin_ts", 0.2)),
    "mabwiser_lin_ucb": ("MABWiser LinUCB (default alpha=1)", _mabwiser("lin_ucb", 1.0)),
    "mabwiser_lin_ucb_0.25": ("MABWiser LinUCB (alpha=0.25, tuned on seeds 100-103)", _mabwiser("lin_ucb", 0.25)),
    "vw_cb_explore_adf": ("VW --cb_explore_adf (default: epsilon 0.05)", _vw("--cb_explore_adf")),
    "vw_squarecb": ("VW --cb_explore_adf --squarecb", _vw("--cb_explore_adf --squarecb")),
}
OURS, BASELINE = "banditops_lin_ts", "banditops_ts"


def throughput(policy: ContextualPolicy, contexts: np.ndarray, batch: int, seconds: float) -> float:
    """Decisions/s of a trained ``policy`` deciding ``contexts`` in batches of ``batch`` (no learning)."""
    decided, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        rows = contexts[i : i + batch]
        policy.decide(rows)
        decided += rows.shape[0]
        i = (i + batch) % max(1, contexts.shape[0] - batch)
    return decided / (time.perf_counter() - start)


def run(
    seeds: int,
    horizon: int,
    batch: int,
    names: list[str],
    say: Callable[[str], None],
    speed_seeds: int = 3,
    speed_seconds: float = 1.0,
) -> dict[str, Any]:
    start = time.perf_counter()
    results: dict[str, list[ContextualResult]] = {name: [] for name in names}
    speed: dict[str, dict[str, list[float]]] = {name: {"batch": [], "single": []} for name in names}
    for seed in range(seeds):
        world = ContextualWorld.generate(seed, horizon=horizon)
        for name in names:
            policy = CONTENDERS[name][1](world, seed)
            result = play(world, policy, batch)
            results[name].append(result)
            if seed < speed_seeds:  # the trained policy, on the run's own users
                speed[name]["batch"].append(throughput(policy, world.contexts, 100, speed_seconds))
                speed[name]["single"].append(throughput(policy, world.contexts, 1, speed_seconds))
            say(f"seed {seed} {name}: regret {result.regret:,.1f}, {result.decisions_per_s:,.0f} decisions/s in run, "
                f"{result.total_seconds:.1f} s")
    policies = {}
    for name, runs in results.items():
        policies[name] = {
            "label": CONTENDERS[name][0],
            "cumulative_regret": mean_ci([r.regret for r in runs]),
            "decisions_per_s_in_run": mean_ci([r.decisions_per_s for r in runs]),
            "decisions_per_s_batch_100": mean_ci(speed[name]["batch"]),
            "decisions_per_s_single": mean_ci(speed[name]["single"]),
            "seconds_per_run": mean_ci([r.total_seconds for r in runs]),
            "regret_at": {str(c): mean_ci([r.regret_at[c] for r in runs]) for c in runs[0].regret_at},
            "regret_per_seed": [round(r.regret, 3) for r in runs],
        }
    summary = _targets(policies)
    spent = sum(len(v["batch"]) + len(v["single"]) for v in speed.values()) * speed_seconds
    seconds = time.perf_counter() - start
    full = sum(policies[n]["seconds_per_run"]["value"] for n in names) * 20 * 50_000 / horizon + spent
    return {
        "policies": policies,
        "targets": summary,
        "meta": {
            "seeds": seeds, "horizon": horizon, "batch": batch, "n_arms": 20, "dim": 10,
            "seconds": round(seconds, 1),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1),
            "full_run_estimate_seconds": round(full),
            "machine": f"{platform.machine()}, Python {platform.python_version()}, 2 cores shared by other work",
        },
    }


def _targets(policies: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    regret = {name: np.array(p["regret_per_seed"]) for name, p in policies.items()}
    ours = regret.get(OURS, np.zeros(0))
    if ours.size and BASELINE in regret:
        ratio = mean_ci(list(ours / regret[BASELINE]))
        rows.append({"figure": "regret ratio LinTS / non-contextual TS (paired)", "value": ratio,
                     "target": "≤ 0.35", "met": ratio["value"] <= 0.35})
    others = [n for n in regret if n.startswith(("mabwiser", "vw"))]  # other libraries only
    if ours.size and others:
        best = min(others, key=lambda n: policies[n]["cumulative_regret"]["value"])
        diff = mean_ci(list(ours - regret[best]))
        rows.append({"figure": f"regret LinTS − best other ({best}), paired", "value": diff,
                     "target": "≤ 0", "met": diff["value"] <= 0,
                     "significant": diff["hi"] < 0 or diff["lo"] > 0})
    if ours.size and "mabwiser_lin_ts" in policies:
        for key, what in (("decisions_per_s_batch_100", "batches of 100"), ("decisions_per_s_single", "one at a time")):
            ratio = policies[OURS][key]["value"] / policies["mabwiser_lin_ts"][key]["value"]
            rows.append({"figure": f"decisions/s BanditOps LinTS / MABWiser LinTS, {what}",
                         "value": {"value": ratio, "lo": ratio, "hi": ratio}, "target": "≥ 5", "met": ratio >= 5})
    return rows


def reuse(section: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """``section`` plus the rows of ``previous`` (an earlier contextual.json section) it did not run.

    Why this is sound for regrets: every world and every policy's generator is seeded, so a row
    rerun on the same seeds gives the same regrets to the digit (checked with the rows run in
    both: see ``meta.reused_check``). Its timings are from the earlier run's machine load.
    """
    meta = previous["meta"]
    if (meta["seeds"], meta["horizon"], meta["batch"]) != (section["meta"]["seeds"], section["meta"]["horizon"],
                                                           section["meta"]["batch"]):
        raise ValueError(f"cannot reuse rows of a run with seeds/horizon/batch {meta['seeds']}/{meta['horizon']}/"
                         f"{meta['batch']}")
    policies = dict(section["policies"])
    check = {}
    for name, row in previous["policies"].items():
        if name in policies:
            if name in CONTENDERS and CONTENDERS[name][0] == row["label"]:  # the same configuration
                check[name] = bool(np.allclose(policies[name]["regret_per_seed"], row["regret_per_seed"], atol=1e-3))
            continue
        if name in CONTENDERS:
            policies[name] = {**row, "label": CONTENDERS[name][0] + " †"}
    order = {name: i for i, name in enumerate(CONTENDERS)}
    policies = dict(sorted(policies.items(), key=lambda item: order.get(item[0], len(order))))
    return {**section, "policies": policies, "targets": _targets(policies),
            "meta": {**section["meta"], "reused_rows": sorted(set(policies) - set(section["policies"])),
                     "reused_check": check}}


def _fmt(ci: dict[str, Any], digits: int = 1) -> str:
    if ci["lo"] == ci["hi"]:  # a ratio of two means: no interval of its own
        return f"{ci['value']:,.{digits}f}"
    return f"{ci['value']:,.{digits}f} [{ci['lo']:,.{digits}f}, {ci['hi']:,.{digits}f}]"


def markdown(section: dict[str, Any]) -> str:
    meta = section["meta"]
    full = meta["horizon"] == 50_000 and meta["seeds"] >= 20
    out = [
        "## Contextual bandits: BanditOps LinTS, non-contextual TS, MABWiser, Vowpal Wabbit",
        "",
        "Code path: **sequential simulator** (contextual world, `banditops/sim/contextual.py`); the deployed "
        "agents run the multi-armed loop only.",
        "",
        f"K={meta['n_arms']} arms, d={meta['dim']} user features, logistic clicks "
        f"(`banditops simulate --scenario contextual`), T={meta['horizon']:,}, {meta['seeds']} seeds, "
        f"batches growing to {meta['batch']}; every policy on the same rounds. 95% intervals in brackets. "
        f"{meta['machine']}; this run took {meta['seconds']:,.0f} s"
        + (f" (loaded machine, load avg {meta['load_average_1m_at_end']} at the end)"
           if "load_average_1m_at_end" in meta else "")
        + ("." if full else f" — a REDUCED configuration; the full 20 seeds × T=50,000 would take about "
                            f"{meta['full_run_estimate_seconds'] / 60:,.0f} min here."),
        "",
        "| policy | cumulative regret | regret at 10k | decisions/s, batches of 100 | decisions/s, one at a time "
        "| s per run |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for policy in section["policies"].values():
        at = policy["regret_at"].get("10000")
        out.append(f"| {policy['label']} | {_fmt(policy['cumulative_regret'])} | {_fmt(at) if at else '—'} | "
                   f"{_fmt(policy['decisions_per_s_batch_100'], 0)} | {_fmt(policy['decisions_per_s_single'], 0)} | "
                   f"{policy['seconds_per_run']['value']:.1f} |")
    out += ["", "| target | value [95% interval] | target | met? |", "|---|---:|---:|:---:|"]
    for row in section["targets"]:
        met = "yes" if row["met"] else "**no**"
        if row.get("significant") is False:
            met += " (interval contains 0: not significant)"
        out.append(f"| {row['figure']} | {_fmt(row['value'], 3)} | {row['target']} | {met} |")
    out += ["", "Timing figures depend on the machine and its load; re-measure on a quiet one.", ""]
    if meta.get("command"):
        out += [f"Command: `{meta['command']}` (the full run: `python -m benchmarks.contextual_bench`).", ""]
    if meta.get("reused_rows"):
        check = ", ".join(f"{n}: {'same' if same else 'DIFFERENT'}" for n, same in meta["reused_check"].items())
        reused = ", ".join(meta["reused_rows"])
        out += [f"† rows not rerun in this run (`--reuse` of the previous contextual.json: {reused}): the worlds "
                "and every policy's generator are seeded, so their regrets are exact and paired with this run's; "
                f"their timings are from that run's load. Rows run in both, regrets per seed: {check or '—'}.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contextual_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--horizon", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100, help="largest batch decided against one snapshot")
    parser.add_argument("--policies", help=f"comma-separated subset of {', '.join(CONTENDERS)}")
    parser.add_argument("--quick", action="store_true", help="2 seeds x T=2,000 (a smoke run)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--reuse", type=Path, help="an earlier contextual.json: keep its rows of the policies not run")
    args = parser.parse_args(argv)
    names = args.policies.split(",") if args.policies else list(CONTENDERS)
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown policies {unknown}; valid: {', '.join(CONTENDERS)}")
    seeds, horizon = (2, 2000) if args.quick else (args.seeds, args.horizon)
    say = lambda m: print(f"[contextual] {m}", flush=True)  # noqa: E731
    section = run(seeds, horizon, args.batch, names, say, 1 if args.quick else 3, 0.2 if args.quick else 1.0)
    if args.reuse:
        section = reuse(section, json.loads(args.reuse.read_text())["contextual"])
    write_fragment_pair(args.out, "contextual", section, markdown(section))
    print(f"[contextual] wrote {args.out / 'contextual.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
