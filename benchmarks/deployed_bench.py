"""The deployed loop's learning figures (issue 13), beside the sequential simulator's.

    python -m benchmarks.deployed_bench                   # every cell, 20 seeds, then assemble
    python -m benchmarks.deployed_bench --quick           # tiny sizes (the harness works)
    python -m benchmarks.deployed_bench --cells s1:4x5 --seeds 5   # re-measure some cells, keep the rest

Every figure of ``benchmarks/results/core.json`` measures a policy object in the sequential
simulator. This section measures the loop users deploy (:mod:`banditops.sim.deployed`: the
agents' rounds through the store's atomic script on a real Redis-compatible server, convergence,
the drift monitor and relearning between round steps, with no scheduler latency) on scenarios
1, 3, 4, 5, the slowly varying world and the common-drift world, at 4 agents × 50 and 4 agents × 5
pulls per round, side by side with the sequential system policy and plain Thompson Sampling on the
same reward tables (same seeds), against the targets of issue 13.

A cell (``s3:4x50``, ``s3:seq`` for the sequential baselines, ...) is measured and written to
``benchmarks/results/deployed.json`` as soon as it is done, so a long run can be resumed or a
single cell re-measured (``--cells``); each figure keeps its own seed count.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from banditops.sim.deployed import DeployedReport, DeployedSetup, simulate_deployed, simulate_deployed_seed
from banditops.sim.simulation import Instance, SimulationReport, mean_ci, proportion_ci, simulate, simulate_seed
from banditops.sim.worlds import common_drift, slowly_varying
from benchmarks import run as core
from stack.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
SHAPES: dict[str, tuple[int, int]] = {"4x50": (4, 50), "4x5": (4, 5)}
SCENARIOS = ("s1", "s3", "s4", "s5", "slow", "common")
TITLES = {
    "s1": "1, stationary Bernoulli K=10, T=100,000",
    "s3": "3, drop of the played arm (T=20,000)",
    "s4": "4, rise of an unplayed arm (T=20,000)",
    "s5": "5, Problem 1 (T=5,000)",
    "slow": "slowly varying (T=20,000)",
    "common": "common drift, 10 banners (T=20,000)",
}
#: Scenario 4's window for "alarm within".
WINDOW = 2_000


def _instances(name: str, seeds: list[int], quick: bool) -> Callable[[int], Instance]:
    scale = 0.05 if quick else 1.0
    if name == "s1":
        fixed = core.instance_1(int(100_000 * scale))
    elif name == "s3":
        fixed = core.instance_3(scale)
    elif name == "s4":
        return lambda seed: core.instance_4(seed, scale)
    elif name == "s5":
        fixed = core.instance_5()
    elif name == "common":
        fixed = common_drift(int(20_000 * scale))
    else:
        fixed = slowly_varying(int(20_000 * scale))
    return lambda seed: fixed


def _sequential(name: str, seeds: list[int], quick: bool, policy: str) -> SimulationReport:
    build = _instances(name, seeds, quick)
    if name != "s4":
        return simulate(build(seeds[0]), seeds, policy)
    report = SimulationReport(build(seeds[0]), policy, 1)
    report.results = [simulate_seed(build(s), s, policy) for s in seeds]
    return report


def _deployed(name: str, seeds: list[int], quick: bool, shape: str, url: str) -> DeployedReport:
    build = _instances(name, seeds, quick)
    setup = DeployedSetup(*SHAPES[shape])
    if name != "s4":
        return simulate_deployed(build(seeds[0]), seeds, url, setup)
    report = DeployedReport(build(seeds[0]), "deployed:system", 1, agents=setup.agents,
                            pulls_per_round=setup.pulls_per_round)
    report.results = [simulate_deployed_seed(build(s), s, url, setup) for s in seeds]
    return report


def _figures(report: SimulationReport) -> dict[str, Any]:
    s = report.summary()
    out = {k: s[k] for k in ("code_path", "policy", "seeds", "dynamic_regret", "alarms_per_run",
                             "detection_delay_median", "exploration_share")}
    hits = sum(1 for r in report.results if r.detections and r.detections[0]["delay"] is not None
               and r.detections[0]["delay"] <= WINDOW)
    out["alarm_within_window"] = proportion_ci(hits, len(report.results))
    out["regrets"] = [r.regret for r in report.results]
    return out


def measure(cell: str, seeds: int, quick: bool, url: str) -> dict[str, Any]:
    """One cell: ``<scenario>:seq`` (plain TS and the system policy, sequential) or ``<scenario>:<shape>``."""
    name, _, what = cell.partition(":")
    seed_list = list(range(seeds))
    start = time.perf_counter()
    if what == "seq":
        out = {"ts": _figures(_sequential(name, seed_list, quick, "ts")),
               "system": _figures(_sequential(name, seed_list, quick, "system"))}
    else:
        out = {"deployed": _figures(_deployed(name, seed_list, quick, what, url))}
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


# -- targets ----------------------------------------------------------------------------------
def _ratio(regrets: list[float], baseline: float) -> dict[str, float]:
    return mean_ci([r / baseline for r in regrets])


def targets(name: str, shape: str, dep: dict[str, Any], seq: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for one scenario and shape: ``{figure, value, target, met}`` rows."""
    regret = dep["dynamic_regret"]
    rows: list[dict[str, Any]] = []
    per_step = SHAPES[shape][0] * SHAPES[shape][1]
    if name == "s1":
        limit = 1.25 if shape == "4x50" else 1.1
        ratio = _ratio(dep["regrets"], seq["system"]["dynamic_regret"]["value"])
        rows.append({"figure": "regret / sequential system policy", "value": ratio, "digits": 2, "base": "system",
                     "target": f"≤ {limit}×", "met": ratio["value"] <= limit})
    elif name == "s3":
        limit = 1_500 if shape == "4x50" else 400
        rows.append({"figure": "dynamic regret", "value": regret, "target": f"≤ {limit:,}",
                     "met": regret["value"] <= limit})
        if shape == "4x50":
            delay = dep["detection_delay_median"]
            rows.append({"figure": "median alarm delay (pulls)", "value": delay, "digits": 0,
                         "seq_key": "detection_delay_median",
                         "target": f"≤ 1 round ({per_step})",
                         "met": delay["value"] is not None and delay["value"] <= per_step})
    elif name == "s4":
        within = dep["alarm_within_window"]
        if shape == "4x50":
            rows.append({"figure": f"alarm within {WINDOW:,} pulls", "value": within, "digits": 3,
                         "seq_key": "alarm_within_window", "target": "≥ 95%", "met": within["value"] >= 0.95})
            rows.append({"figure": "dynamic regret", "value": regret, "target": "≤ 1,500",
                         "met": regret["value"] <= 1_500})
        else:
            rows.append({"figure": f"alarm within {WINDOW:,} pulls", "value": within, "digits": 3,
                         "seq_key": "alarm_within_window", "target": "—", "met": None})
            rows.append({"figure": "dynamic regret", "value": regret, "target": "—", "met": None})
    elif name == "s5":
        limit = 100 if shape == "4x50" else 45
        rows.append({"figure": "dynamic regret", "value": regret, "target": f"≤ {limit}",
                     "met": regret["value"] <= limit})
    else:
        ratio = _ratio(dep["regrets"], seq["ts"]["dynamic_regret"]["value"])
        rows.append({"figure": "regret / plain TS", "value": ratio, "digits": 2, "base": "ts", "target": "≤ 1.1×",
                     "met": ratio["value"] <= 1.1})
    return rows


def _fmt(ci: dict[str, Any] | None, digits: int = 1) -> str:
    return core._fmt(ci, digits)


def markdown(results: dict[str, Any]) -> str:
    cells, meta = results["cells"], results["meta"]
    out = [
        "## Deployed loop: the agents' own code on a real Redis (issue 13)",
        "",
        "Code path: **deployed loop** (`banditops simulate --deployed`, `banditops/sim/deployed.py`): the "
        "agents' rounds (`banditops/loop/rounds.py`: the policy object rebuilt from the store, growing round "
        "sizes, the change-point tests and the reaction inside the round) through the store's atomic script on a "
        "real Redis-compatible server, N agents per round step reading the same state, then convergence and the "
        "drift monitor's record (`drift_watch.py`, `transitions.py`) between steps, with **no scheduler "
        "latency**. Defaults of the experiment DAG throughout (`growing_rounds` on, `min_pulls_per_arm` 5, "
        "`relearn_budget` 0). Beside it, on the same reward tables (same seeds): the **sequential simulator**'s system "
        "policy and plain TS. 95% intervals in brackets (Student t for means, order statistics for medians, "
        f"Wilson for shares); the seed count of each figure is `n`. {meta['machine']}; "
        f"{'QUICK mode: tiny sizes, not comparable with the targets; ' if meta['quick'] else ''}"
        f"measuring took {meta['seconds']:.0f} s in all (the sum over cells), on a machine shared with other work."
        + (f" {meta['note']}" if meta.get("note") else ""),
        "",
        "| scenario | loop shape | figure | deployed loop | target | met? | sequential system policy | "
        "plain TS (sequential) |",
        "|---|---|---|---:|---:|:---:|---:|---:|",
    ]
    for name in SCENARIOS:
        seq = cells.get(f"{name}:seq")
        for shape in SHAPES:
            dep = cells.get(f"{name}:{shape}")
            if dep is None or seq is None:
                continue
            for row in targets(name, shape, dep["deployed"], seq):
                met = "—" if row["met"] is None else ("✓" if row["met"] else "✗")
                digits = row.get("digits", 1)
                key = row.get("seq_key", "dynamic_regret")
                s_sys, s_ts = (_fmt(seq[p][key], 0 if key == "detection_delay_median" else digits)
                               for p in ("system", "ts"))
                if "base" in row:  # a ratio: show the regrets it divides by
                    s_sys = _fmt(seq["system"]["dynamic_regret"]) + (" (base)" if row["base"] == "system" else "")
                    s_ts = _fmt(seq["ts"]["dynamic_regret"]) + (" (base)" if row["base"] == "ts" else "")
                shape_txt = f"{SHAPES[shape][0]} agents × {SHAPES[shape][1]}"
                out.append(f"| {TITLES[name]} | {shape_txt} | {row['figure']} | {_fmt(row['value'], digits)} | "
                           f"{row['target']} | {met} | {s_sys} | {s_ts} |")
    out += ["", "Every deployed cell, in full:", "",
            "| scenario | loop shape | dynamic regret | median alarm delay | alarms per run | forced-exploration "
            "share | seconds |", "|---|---|---:|---:|---:|---:|---:|"]
    for name in SCENARIOS:
        for shape in SHAPES:
            cell = cells.get(f"{name}:{shape}")
            if cell is None:
                continue
            d = cell["deployed"]
            out.append(f"| {TITLES[name]} | {shape} | {_fmt(d['dynamic_regret'])} | "
                       f"{_fmt(d['detection_delay_median'], 0)} | {_fmt(d['alarms_per_run'], 2)} | "
                       f"{_fmt(d['exploration_share'], 4)} | {cell['seconds']:.0f} |")
    out += ["", "The forced-exploration share counts every pull the policy forced (staleness floor, confirmation "
            "pulls, the top-up to the convergence rule's minimum; no round-robin budget after a drift). Timings "
            "depend on the machine and its load."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deployed_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, for tests)")
    parser.add_argument("--seeds", type=int, help="seeds per figure (default 20; quick 2)")
    parser.add_argument("--cells", help="comma-separated cells to (re)measure, e.g. s3:seq,s3:4x50 (default all)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder of the deployed.* fragment")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 20)
    every = [f"{n}:{w}" for w in ("seq", *SHAPES) for n in SCENARIOS]
    wanted = args.cells.split(",") if args.cells else every
    unknown = sorted(set(wanted) - set(every))
    if unknown:
        parser.error(f"unknown cells {unknown}; valid cells: {', '.join(every)}")
    path = args.out / "deployed.json"
    previous = json.loads(path.read_text())["deployed"] if path.exists() and args.cells else None
    results: dict[str, Any] = previous or {"cells": {}, "meta": {"seconds": 0.0}}
    results["meta"].update({"quick": args.quick,
                            "machine": f"{platform.machine()}, Python {platform.python_version()}"})
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as folder:
        server = RedisServer(data_dir=Path(folder)).start()
        try:
            for cell in wanted:
                print(f"[bench] deployed: {cell} x {seeds} seeds", flush=True)
                results["cells"][cell] = measure(cell, seeds, args.quick, server.url)
                results["meta"]["seconds"] = sum(c["seconds"] for c in results["cells"].values())
                path.write_text(json.dumps({"deployed": results}, indent=2, default=float) + "\n")
                (args.out / "deployed.md").write_text(markdown(results))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
