"""The core benchmarks, side by side with MABWiser and River, and the RESULTS assembler.

    python -m benchmarks.run              # the 5 scenarios (>= 20 seeds) + assemble RESULTS.md/.json
    python -m benchmarks.run --quick      # tiny sizes: proves the harness works (tests use it)
    python -m benchmarks.run --only assemble   # only rebuild RESULTS.* from the fragments
    python -m benchmarks.run --only ope        # the OPE section (benchmarks.ope_bench), then assemble

Every section writes a fragment pair ``benchmarks/results/<section>.json`` (``{"<section>":
{...}}``) and ``<section>.md``; this script writes ``core`` and then assembles
``benchmarks/RESULTS.md`` (core first, then every other fragment) and ``RESULTS.json`` (the
merge of every fragment), so the environment, store and decision benches add their own files
and nothing is overwritten.

Scenarios (issue 2): 1 stationary Bernoulli K=10, T=100k (plain TS, the system policy,
MABWiser, decisions/s); 2 the same with the posterior refreshed on the growing schedule up to
every 1,000 pulls (and naively every 1,000); 3 a drop of the played arm and a rise of a poor
one; 4 a rise of an arm that is not played, at a change time drawn per seed in
[9,000, 11,000]; 5 the piecewise-stationary "Problem 1" of Besson et al. (2022). Detectors in
3-5: our GLR, our scale-aware Page–Hinkley, River's ADWIN and River's PageHinkley, each inside
the same system policy (floor, confirmations, restarts) and on the same reward tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from banditops.bandit.arms import PROBLEM1_MEANS, PROBLEM1_PERIOD, BernoulliArm, GaussianArm
from banditops.bandit.posteriors.arrays import PosteriorArrays
from banditops.sim.simulation import (
    Instance,
    SimulationReport,
    mean_ci,
    proportion_ci,
    simulate,
    simulate_seed,
)
from banditops.sim.worlds import slowly_varying
from benchmarks.fragments import write_fragment as write_fragment_pair

HERE = Path(__file__).resolve().parent
DETECTOR_POLICIES = ("system", "system:page_hinkley", "system:adwin", "system:river_page_hinkley")


def _fmt(ci: dict[str, Any] | None, digits: int = 1) -> str:
    if not ci or ci.get("value") is None or ci["value"] != ci["value"]:
        return "—"
    return f"{ci['value']:,.{digits}f} [{ci['lo']:,.{digits}f}, {ci['hi']:,.{digits}f}]"


def _row(figure: str, value: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"figure": figure, "value": value, "target": target, "met": met}


# -- the instances (shared with benchmarks.deployed_bench) ------------------------------------
def instance_1(horizon: int = 100_000) -> Instance:
    """Scenario 1: stationary Bernoulli, K=10, μ = linspace(0.1, 0.9)."""
    return Instance.build([BernoulliArm(p=float(p)) for p in np.linspace(0.1, 0.9, 10)], horizon=horizon)


def instance_3(scale: float = 1.0) -> Instance:
    """Scenario 3: Gaussian σ=1, means 1..5; at T/2 the played arm 4 → 0 and arm 0 → 6."""
    t_change, horizon = int(10_000 * scale), int(20_000 * scale)
    return Instance.build(
        [GaussianArm(mean=m) for m in (1, 2, 3, 4, 5)],
        [{"t": t_change, "arm": 4, "mean": 0.0}, {"t": t_change, "arm": 0, "mean": 6.0}],
        horizon,
    )


def instance_4(seed: int, scale: float = 1.0) -> Instance:
    """Scenario 4: arm 0 (not played) → 6 at a change time drawn per seed in [9,000, 11,000]."""
    lo, hi = int(9_000 * scale), int(11_000 * scale)
    change = int(np.random.default_rng([4, seed]).integers(lo, hi + 1))
    return Instance.build(
        [GaussianArm(mean=m) for m in (1, 2, 3, 4, 5)], [{"t": change, "arm": 0, "mean": 6.0}], int(20_000 * scale)
    )


def instance_5() -> Instance:
    """Scenario 5: the piecewise-stationary "Problem 1" of Besson et al. (2022), T = 5,000."""
    changes = [
        {"t": PROBLEM1_PERIOD * i, "arm": a, "p": PROBLEM1_MEANS[i][a]}
        for i in range(1, len(PROBLEM1_MEANS))
        for a in range(3)
        if PROBLEM1_MEANS[i][a] != PROBLEM1_MEANS[i - 1][a]
    ]
    return Instance.build(
        [BernoulliArm(p=p) for p in PROBLEM1_MEANS[0]], changes, PROBLEM1_PERIOD * len(PROBLEM1_MEANS)
    )


# -- scenario 1 and 2 -------------------------------------------------------------------------
def _throughput(kind: str, n_arms: int, seconds: float) -> dict[str, float]:
    """Decisions/s of our TS on one core: sequential (draw, decide, update) and batched (1,000)."""
    rng = np.random.default_rng(0)
    post = PosteriorArrays(kind, n_arms)
    decided, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            arm = int(post.draw_sequential(rng).argmax())
            post.add(arm, 1.0 if rng.random() < 0.5 else 0.0)
        decided += 1000
    sequential = decided / (time.perf_counter() - start)
    decided, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        post.draw(rng, 1000).argmax(axis=1)
        decided += 1000
    return {"sequential": sequential, "batched": decided / (time.perf_counter() - start)}


def _mabwiser(means: np.ndarray, horizon: int, seeds: int, seq_decisions: int) -> dict[str, Any]:
    """MABWiser's ThompsonSampling on the same instance: decisions/s and batched regret."""
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return {"available": False}
    arms = list(range(means.size))
    seq_rates, batch_rates, regrets = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        mab = MAB(arms, LearningPolicy.ThompsonSampling(), seed=seed)
        mab.fit([0], [0])
        start = time.perf_counter()
        for _ in range(seq_decisions):
            arm = mab.predict()
            mab.partial_fit([arm], [int(rng.random() < means[arm])])
        seq_rates.append(seq_decisions / (time.perf_counter() - start))
        mab = MAB(arms, LearningPolicy.ThompsonSampling(), seed=seed)
        mab.fit(arms, [0] * len(arms))
        regret, t, elapsed, size = 0.0, 0, 0.0, 1
        while t < horizon:
            b = min(size, 1000, horizon - t)
            start = time.perf_counter()
            chosen = mab.predict(np.zeros((b, 1))) if b > 1 else [mab.predict()]
            elapsed += time.perf_counter() - start
            chosen = np.asarray(chosen, dtype=np.int64)
            rewards = (rng.random(b) < means[chosen]).astype(int)
            mab.partial_fit(chosen.tolist(), rewards.tolist())
            regret += float(np.sum(means.max() - means[chosen]))
            t += b
            size *= 2
        batch_rates.append(horizon / elapsed)
        regrets.append(regret)
    return {
        "available": True,
        "sequential_decisions_per_s": mean_ci(seq_rates),
        "batched_decisions_per_s": mean_ci(batch_rates),
        "regret_refresh_1000_growing": mean_ci(regrets),
    }


def scenario_1_2(seeds: int, horizon: int, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    means = np.linspace(0.1, 0.9, 10)
    instance = instance_1(horizon)
    say("scenario 1: plain TS")
    ts = simulate(instance, seeds, "ts")
    say("scenario 1: system policy")
    system = simulate(instance, seeds, "system")
    say("scenario 1: throughput and MABWiser")
    ours = _throughput("bernoulli", 10, 0.3 if quick else 3.0)
    mab = _mabwiser(means, horizon, max(2, seeds // 4) if not quick else 1, 300 if quick else 3000)
    say("scenario 2: refreshed every 1,000 pulls")
    growing = simulate(instance, seeds, "ts", refresh=1000)
    naive = simulate(instance, seeds, "ts", refresh=1000, growing=False)
    s_ts, s_sys, s_grow, s_naive = (r.summary() for r in (ts, system, growing, naive))
    seq = s_ts["dynamic_regret"]["value"]
    ratio = s_grow["dynamic_regret"]["value"] / seq
    ratio_ci = mean_ci([g.regret / seq for g in growing.results])
    rows1 = [
        _row("Lai–Robbins bound C·ln T", f"{s_ts['lai_robbins_bound']}", "—", None),
        _row("plain TS dynamic regret", _fmt(s_ts["dynamic_regret"]), "≤ 72", s_ts["dynamic_regret"]["value"] <= 72),
        _row(
            "system policy regret (floor on)",
            _fmt(s_sys["dynamic_regret"]),
            "≤ 140",
            s_sys["dynamic_regret"]["value"] <= 140,
        ),
        _row("system policy false alarms per 10k pulls", _fmt(s_sys["false_alarms_per_10k_stationary"], 3), "—", None),
        _row("system policy exploration share", _fmt(s_sys["exploration_share"], 4), "—", None),
        _row("TS sequential decisions/s (one core)", f"{ours['sequential']:,.0f}", "≥ 100k", ours["sequential"] >= 1e5),
        _row("TS batched decisions/s (batches of 1,000)", f"{ours['batched']:,.0f}", "≥ 2M", ours["batched"] >= 2e6),
    ]
    if mab.get("available"):
        rows1 += [
            _row("MABWiser TS sequential decisions/s", _fmt(mab["sequential_decisions_per_s"], 0), "(7.6k)", None),
            _row("MABWiser TS batched decisions/s", _fmt(mab["batched_decisions_per_s"], 0), "(0.5M)", None),
            _row("MABWiser TS regret, growing refresh to 1,000", _fmt(mab["regret_refresh_1000_growing"]), "—", None),
        ]
    rows2 = [
        _row("TS regret, refresh 1,2,4,…,1,000", _fmt(s_grow["dynamic_regret"]), "—", None),
        _row("ratio to sequential", _fmt(ratio_ci, 2), "≤ 1.2", ratio <= 1.2),
        _row("TS regret, naive refresh every 1,000", _fmt(s_naive["dynamic_regret"]), "(≈ 6× sequential)", None),
    ]
    return {
        "scenario_1": {"rows": rows1, "ts": s_ts, "system": s_sys, "throughput": ours, "mabwiser": mab},
        "scenario_2": {"rows": rows2, "growing": s_grow, "naive": s_naive, "ratio": ratio},
    }


# -- scenarios 3 to 5 -------------------------------------------------------------------------
def _detector_table(reports: dict[str, SimulationReport], window: int | None = None) -> list[dict[str, Any]]:
    rows = []
    for policy, report in reports.items():
        s = report.summary()
        row: dict[str, Any] = {
            "policy": policy,
            "dynamic_regret": s["dynamic_regret"],
            "delay_median": s["detection_delay_median"],
            "detected": s["detected"],
            "false_alarms_per_10k": s["false_alarms_per_10k_stationary"],
            "exploration_share": s["exploration_share"],
            "decisions_per_s": s["decisions_per_s"],
        }
        if window is not None:
            hits = sum(
                1 for r in report.results if r.detections and r.detections[0]["delay"] is not None
                and r.detections[0]["delay"] <= window
            )
            row["alarm_within_window"] = proportion_ci(hits, len(report.results))
        rows.append(row)
    return rows


def scenario_3(seeds: int, scale: float, policies: tuple[str, ...], say: Callable[[str], None]) -> dict[str, Any]:
    instance = instance_3(scale)
    reports = {}
    for policy in policies:
        say(f"scenario 3: {policy}")
        reports[policy] = simulate(instance, seeds, policy)
    table = _detector_table(reports)
    s = table[0]
    rows = [
        _row("median detection delay (pulls)", _fmt(s["delay_median"], 0), "≤ 5", s["delay_median"]["value"] <= 5),
        _row(
            "false alarms per 10,000 stationary pulls",
            _fmt(s["false_alarms_per_10k"], 3),
            "≤ 0.05",
            s["false_alarms_per_10k"]["value"] <= 0.05,
        ),
        _row("dynamic regret", _fmt(s["dynamic_regret"]), "≤ 200", s["dynamic_regret"]["value"] <= 200),
    ]
    return {"rows": rows, "detectors": table}


def scenario_4(seeds: int, scale: float, policies: tuple[str, ...], say: Callable[[str], None]) -> dict[str, Any]:
    window = int(2_000 * scale) if scale < 1 else 2_000
    reports: dict[str, SimulationReport] = {}
    for policy in policies:
        say(f"scenario 4: {policy}")
        instance0 = None
        for seed in range(seeds):
            instance = instance_4(seed, scale)
            instance0 = instance0 or instance
            result = simulate_seed(instance, seed, policy)
            reports.setdefault(policy, SimulationReport(instance0, policy, 1)).results.append(result)
    table = _detector_table(reports, window)
    s = table[0]
    rows = [
        _row(
            f"alarm within {window:,} pulls of the change",
            _fmt(s["alarm_within_window"], 3),
            "≥ 95% of runs",
            s["alarm_within_window"]["value"] >= 0.95,
        ),
        _row(
            "exploration budget (pulls not chosen by TS)",
            _fmt(s["exploration_share"], 4),
            "≤ 0.5%",
            s["exploration_share"]["value"] <= 0.005,
        ),
        _row("dynamic regret", _fmt(s["dynamic_regret"]), "≤ 1,300", s["dynamic_regret"]["value"] <= 1300),
    ]
    return {"rows": rows, "detectors": table}


def scenario_5(seeds: int, policies: tuple[str, ...], say: Callable[[str], None]) -> dict[str, Any]:
    instance = instance_5()
    reports = {}
    for policy in (*policies, "ts"):
        say(f"scenario 5: {policy}")
        reports[policy] = simulate(instance, seeds, policy)
    table = _detector_table(reports)
    s = table[0]
    rows = [
        _row(
            "dynamic regret (GLR-klUCB published: 66)",
            _fmt(s["dynamic_regret"]),
            "≤ 35",
            s["dynamic_regret"]["value"] <= 35,
        )
    ]
    return {"rows": rows, "detectors": table}


def scenario_6(seeds: int, scale: float, say: Callable[[str], None]) -> dict[str, Any]:
    """The slowly varying world (:func:`banditops.sim.worlds.slowly_varying`): restarting rarely pays."""
    instance = slowly_varying(int(20_000 * scale))
    reports = {}
    for policy in ("system", "ts"):
        say(f"scenario 6: {policy}")
        reports[policy] = simulate(instance, seeds, policy)
    table = _detector_table(reports)
    ts = reports["ts"].summary()["dynamic_regret"]["value"]
    ratio = mean_ci([r.regret / ts for r in reports["system"].results])
    rows = [
        _row("plain TS dynamic regret", _fmt(table[1]["dynamic_regret"]), "—", None),
        _row("system policy dynamic regret", _fmt(table[0]["dynamic_regret"]), "—", None),
        _row("system policy / plain TS", _fmt(ratio, 2), "≤ 1.1", ratio["value"] <= 1.1),
        _row("system policy alarms per run", _fmt(reports["system"].summary()["alarms_per_run"], 2), "—", None),
    ]
    return {"rows": rows, "detectors": table}


# -- output -----------------------------------------------------------------------------------
def _markdown(core: dict[str, Any]) -> str:
    titles = {
        "scenario_1": "1. Stationary Bernoulli, K=10, μ = linspace(0.1, 0.9), T = 100,000",
        "scenario_2": "2. The same, posterior refreshed only every 1,000 pulls (growing schedule)",
        "scenario_3": "3. Drift on the played arm (Gaussian, σ=1, means 1..5; arm 4 → 0, arm 0 → 6)",
        "scenario_4": "4. Drift on an arm that is not played (arm 0 → 6 at t ∈ [9,000, 11,000])",
        "scenario_5": "5. Piecewise-stationary Bernoulli \"Problem 1\" (Besson et al. 2022), T = 5,000",
        "scenario_6": "6. Slowly varying: means 1..5 wander by N(0, 0.05²) steps every 200 pulls within ±0.45, "
                      "T = 20,000",
    }
    meta = core["meta"]
    out = [
        "## Core: Thompson Sampling, drift detection and the system policy (sequential simulator)",
        "",
        "Code path: **sequential simulator** (`banditops simulate`: a policy object plays a reward table one "
        "pull at a time); the loop users deploy is measured in the deployed-loop section.",
        "",
        f"{meta['seeds']} seeds per figure, 95% intervals in brackets (Student t for means, order statistics for "
        f"medians, Wilson for shares, exact Poisson for rates); {meta['machine']}; run took {meta['seconds']:.0f} s"
        f"{' (QUICK mode: tiny sizes, figures are not comparable with the targets)' if meta['quick'] else ''}.",
        "",
    ]
    for key, title in titles.items():
        if key not in core:  # a fragment measured before the scenario existed
            continue
        section = core[key]
        out += [f"### {title}", "", "| figure | value [95% interval] | target | met? |", "|---|---:|---:|:---:|"]
        for r in section["rows"]:
            met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
            out.append(f"| {r['figure']} | {r['value']} | {r['target']} | {met} |")
        if "detectors" in section:
            out += ["", "| policy (detector) | dynamic regret | median delay | detected | false alarms / 10k | "
                    "exploration | decisions/s |", "|---|---:|---:|---:|---:|---:|---:|"]
            for d in section["detectors"]:
                out.append(
                    f"| {d['policy']} | {_fmt(d['dynamic_regret'])} | {_fmt(d['delay_median'], 0)} | "
                    f"{_fmt(d['detected'], 2)} | {_fmt(d['false_alarms_per_10k'], 3)} | "
                    f"{_fmt(d['exploration_share'], 4)} | {_fmt(d['decisions_per_s'], 0)} |"
                )
        out.append("")
    out.append("Timing figures depend on the machine and its load; re-measure on a quiet one.")
    return "\n".join(out) + "\n"


def assemble(results_dir: Path, out_dir: Path) -> None:
    """RESULTS.md and RESULTS.json from every fragment in ``results_dir`` (core first)."""
    fragments = sorted(results_dir.glob("*.md"), key=lambda p: (p.stem != "core", p.stem))
    parts = ["# BanditOps benchmark results", "", "Generated by `python -m benchmarks.run` from "
             "`benchmarks/results/*` fragments; do not edit by hand.", ""]
    parts += [p.read_text().rstrip() + "\n" for p in fragments]
    (out_dir / "RESULTS.md").write_text("\n".join(parts))
    merged: dict[str, Any] = {}
    for path in sorted(results_dir.glob("*.json")):
        merged.update(json.loads(path.read_text()))
    (out_dir / "RESULTS.json").write_text(json.dumps(merged, indent=2, default=float) + "\n")


def run_core(quick: bool, seeds: int | None, say: Callable[[str], None]) -> dict[str, Any]:
    start = time.perf_counter()
    n = seeds or (2 if quick else 20)
    scale = 0.05 if quick else 1.0
    policies = DETECTOR_POLICIES[:2] if quick else DETECTOR_POLICIES
    core: dict[str, Any] = scenario_1_2(n, int(100_000 * scale), quick, say)
    core["scenario_3"] = scenario_3(n, scale, policies, say)
    core["scenario_4"] = scenario_4(n, scale, policies, say)
    core["scenario_5"] = scenario_5(n, policies, say) if not quick else scenario_5(1, policies[:1], say)
    core["scenario_6"] = scenario_6(n, scale, say)
    core["meta"] = {
        "seeds": n,
        "quick": quick,
        "seconds": time.perf_counter() - start,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    return core


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, for tests)")
    parser.add_argument("--only", choices=("core", "ope", "contextual", "assemble"),
                        help="run only the core, ope or contextual section, or only assemble")
    parser.add_argument("--seeds", type=int, help="seeds per figure (default 20; quick 2)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of RESULTS.* (fragments in <out>/results)")
    args = parser.parse_args(argv)
    results_dir = args.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.only == "ope":
        from benchmarks import ope_bench

        ope_bench.main(["--out", str(results_dir)])
    elif args.only == "contextual":
        from benchmarks import contextual_bench

        seeds = ["--seeds", str(args.seeds)] if args.seeds else []
        contextual_bench.main([*(["--quick"] if args.quick else []), *seeds, "--out", str(results_dir)])
    elif args.only != "assemble":
        core = run_core(args.quick, args.seeds, lambda m: print(f"[bench] {m}", flush=True))
        write_fragment_pair(results_dir, "core", core, _markdown(core), default=float)
    assemble(results_dir, args.out)
    print(f"[bench] wrote {args.out / 'RESULTS.md'} and {args.out / 'RESULTS.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
