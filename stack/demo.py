"""``make demo``: the whole mission, unattended, on the local stack.

It brings the stack up if it is not (``stack.localstack``), starts the ``seed`` experiment
through the Airflow REST API, and watches the store while Airflow does the work: learning until
convergence, then — like the origin documents' curl calls — ``POST /update_arm/1 {"mean": 0.0}``
and ``POST /update_arm/0 {"mean": 6.0}``; the drift monitor fires, the relearning DAG opens a new
epoch, and the agents converge on the new best arm. Nothing here decides anything: the demo only
injects the drift and measures. The summary (also JSON) holds the timings, the detection delay,
regret per phase against the Lai–Robbins reference, MLflow links and Airflow run ids.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from banditops.bandit.posteriors import make_posterior
from banditops.bandit.regret import lai_robbins_bound
from banditops.clients.airflow_client import AirflowClient, AirflowError
from banditops.clients.env_client import EnvClient
from banditops.store import BanditStore
from banditops.store.types import Event, StoreState
from stack import localstack

#: The origin documents' drift: the best arm (1) collapses, a poor one (0) becomes the best.
ORIGIN_DRIFT: tuple[tuple[int, float], ...] = ((1, 0.0), (0, 6.0))


class DemoError(RuntimeError):
    """A stage did not happen in time; the message says which and where the logs are."""


@dataclass
class DemoOptions:
    summary_path: Path = field(default_factory=lambda: localstack.REPO / "var" / "demo-summary.json")
    scenario: str = "seed"
    seed: int = 7
    agents: int = 4
    pulls_per_round: int = 50
    rounds: int = 4
    #: Seconds each stage may take before the demo gives up and says where to look.
    stage_timeout_s: float = 300.0
    poll_s: float = 0.5

    def experiment_conf(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "seed": self.seed, "agents": self.agents,
            "pulls_per_round": self.pulls_per_round, "rounds": self.rounds,
        }  # everything else (relearn_budget 0, growing rounds, the policy) is the experiment's default


def _iso(ts: str | None) -> float | None:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() if ts else None


def stack_memory_mb(cfg: localstack.StackConfig) -> dict[str, float]:
    """Proportional set size of every process of each component's group (shared pages split)."""
    state = localstack.load_state(cfg)
    groups: dict[int, str] = {}
    for name, proc in state["processes"].items():
        try:
            groups[os.getpgid(int(proc["pid"]))] = name
        except ProcessLookupError:
            continue
    totals = dict.fromkeys(groups.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = groups.get(os.getpgid(int(entry.name)))
            if name is None:
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    totals[name] += int(line.split()[1]) / 1024.0
        except (ProcessLookupError, FileNotFoundError, PermissionError, ValueError):
            continue
    totals["total"] = sum(totals.values())
    return {k: round(v, 1) for k, v in totals.items()}


class Watcher:
    """Polls the store, the environment and Airflow; renders one live table."""

    def __init__(self, store: BanditStore, airflow: AirflowClient, t0: float) -> None:
        self.store = store
        self.airflow = airflow
        self.t0 = t0
        self.rng = np.random.default_rng(0)
        self.events: list[Event] = []
        self._cursor = "0-0"
        self._runs: list[dict[str, Any]] = []
        self._runs_at = 0.0
        self.stage = "starting"
        self.state: StoreState | None = None

    def poll(self) -> StoreState | None:
        try:
            self.state = self.store.state()
            fresh = self.store.events(since=self._cursor)
        except Exception:  # a reset in flight; the next poll reads again
            return self.state
        if fresh:
            self.events.extend(fresh)
            self._cursor = fresh[-1].id
        if time.monotonic() - self._runs_at > 2.0:
            self._runs_at = time.monotonic()
            try:
                self._runs = self.airflow.runs(state="running", limit=20)
            except AirflowError:
                self._runs = []
        return self.state

    def event_after(self, kind: str, t: float, **match: Any) -> Event | None:
        for event in self.events:
            if event.kind == kind and event.ts >= t and all(event.fields.get(k) == v for k, v in match.items()):
                return event
        return None

    def line(self) -> str:
        s = self.state
        head = f"[{time.monotonic() - self.t0:6.1f}s] {self.stage}"
        if s is None:
            return head
        return (f"{head} | {s.mode} epoch {s.epoch} | pulls {s.epoch_pulls:,}/{s.total_pulls:,} "
                f"| regret {s.regret:,.1f} | runs: {', '.join(r['dag_id'] for r in self._runs[:4]) or '-'}")

    def render(self) -> Table:
        table = Table(title=f"BanditOps demo — {self.stage}", show_header=False, min_width=72)
        table.add_column(style="bold cyan")
        table.add_column()
        s = self.state
        table.add_row("elapsed", f"{time.monotonic() - self.t0:6.1f} s")
        if s is not None:
            table.add_row("mode / epoch", f"{s.mode} / {s.epoch}")
            table.add_row("pulls (epoch / total)", f"{s.epoch_pulls:,} / {s.total_pulls:,}")
            if s.stats.total:
                post = make_posterior(s.config.reward_kind, s.stats, s.config.prior or None)
                pbest = post.prob_best(self.rng, draws=2000)
                leader = int(np.argmax(pbest))
                means = ", ".join(f"{m:5.2f}" for m in post.mean())
                table.add_row("posterior means", means)
                table.add_row("leader / P(best)", f"arm {leader} / {pbest[leader]:.3f}")
            table.add_row("cumulative regret", f"{s.regret:,.1f}")
        runs = ", ".join(f"{r['dag_id']}" for r in self._runs[:6]) or "—"
        table.add_row("Airflow runs in flight", runs)
        recent = ", ".join(e.kind for e in self.events[-5:]) or "—"
        table.add_row("recent events", recent)
        return table


def _wait(
    watcher: Watcher, live: Live, stage: str, done: Any, *, opts: DemoOptions, cfg: localstack.StackConfig
) -> Any:
    watcher.stage = stage
    deadline = time.monotonic() + opts.stage_timeout_s
    last_line = 0.0
    while time.monotonic() < deadline:
        watcher.poll()
        live.update(watcher.render())
        if not live.console.is_terminal and time.monotonic() - last_line > 5.0:
            # Unattended (CI, a log file): a plain progress line instead of the live table.
            last_line = time.monotonic()
            live.console.print(watcher.line())
        result = done()
        if result:
            return result
        time.sleep(opts.poll_s)
    raise DemoError(
        f"stage '{stage}' did not finish within {opts.stage_timeout_s:.0f}s; "
        f"logs are in {cfg.log_dir}/ (airflow.log holds the scheduler, triggerer and task output)"
    )


def regret_by_phase(
    store: BanditStore, epoch1: int, epoch2: int, drift_at: int, converged2_at: int
) -> dict[str, float]:
    """Pseudo-regret per phase from the batch summaries (each carries its own regret).

    Phase 1 is epoch 1 up to the injected drift; what epoch 1 still paid after the drift is the
    cost of noticing it and of the hops to the new epoch; phase 2 is the new epoch until it converged.
    """
    totals = {"phase1": 0.0, "drift_to_new_epoch": 0.0, "phase2": 0.0}
    for summary in store.summaries(count=1_000_000):
        batch_regret = summary.regret or 0.0
        if summary.epoch == epoch1:
            totals["phase1" if summary.pulls_before < drift_at else "drift_to_new_epoch"] += batch_regret
        elif summary.epoch == epoch2 and summary.pulls_before < converged2_at:
            totals["phase2"] += batch_regret
    return {k: round(v, 2) for k, v in totals.items()}


def agents_reaction(store: BanditStore, t_drift: float, at_drift: StoreState) -> dict[str, Any] | None:
    """When and after how many pulls the agents first reacted to a drift injected at ``t_drift``.

    Read from what the store recorded, so it holds whoever reacts: the first event after the
    injection that changed what the next round samples from — a ``drift_detected`` that carries
    the ``reaction`` the agents' round wrote with its rewards (a restart or a reset of one arm; the
    event carries the store's ``total_pulls`` with that round), or an ``epoch_opened`` (a
    relearning, or a restart), for which the pulls are those the closed epoch took after the
    injection. ``at_drift`` is the state read at the injection. The seconds are the event's time
    minus the injection's. ``None`` before any reaction.
    """
    reaction = next((e for e in store.events(count=100_000) if e.ts >= t_drift and (
        (e.kind == "drift_detected" and e.fields.get("reaction")) or e.kind == "epoch_opened")), None)
    if reaction is None:
        return None
    pulls: int | None = None
    if reaction.kind == "drift_detected" and reaction.fields.get("total_pulls") is not None:
        pulls = int(reaction.fields["total_pulls"]) - at_drift.total_pulls
    elif reaction.kind == "epoch_opened" and int(reaction.fields.get("previous_epoch", -1)) in (-1, at_drift.epoch):
        pulls = store.stats(at_drift.epoch).total - at_drift.epoch_pulls
    how = reaction.fields.get("reaction") or reaction.fields.get("reason") or reaction.kind
    return {"pulls": pulls, "seconds": round(reaction.ts - t_drift, 2), "how": str(how)}


def _mlflow_links(mlflow_url: str, meta: dict[str, str]) -> list[dict[str, Any]]:
    """The parent run and every phase run under it, with their UI links."""
    exp_id, parent = meta.get("mlflow_experiment_id"), meta.get("mlflow_parent_run_id")
    if not exp_id or not parent:
        return []
    base = f"{mlflow_url}/#/experiments/{exp_id}/runs"
    links = [{"run": "experiment (parent)", "run_id": parent, "url": f"{base}/{parent}"}]
    try:
        resp = httpx.post(
            f"{mlflow_url}/api/2.0/mlflow/runs/search",
            json={"experiment_ids": [exp_id], "filter": f"tags.mlflow.parentRunId = '{parent}'", "max_results": 50},
            timeout=10,
        )
        runs = resp.json().get("runs", [])
    except (httpx.HTTPError, ValueError):
        runs = []
    for run in sorted(runs, key=lambda r: r["info"].get("start_time", 0)):
        tags = {t["key"]: t["value"] for t in run.get("data", {}).get("tags", [])}
        run_id = run["info"]["run_id"]
        links.append({
            "run": f"phase epoch {tags.get('epoch', '?')}", "run_id": run_id,
            "url": f"{base}/{run_id}",
        })
    return links


def run_demo(cfg: localstack.StackConfig, opts: DemoOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the mission once; returns the summary (also written to ``opts.summary_path``)."""
    console = console or Console()
    t_start = time.monotonic()
    console.print("[bold]1/6[/] bringing the local stack up (127.0.0.1 only) ...")
    stack = localstack.up(cfg, log=console.print)
    login = stack["airflow_login"]
    env_vars = localstack.common_env(cfg)
    store = BanditStore.from_url(localstack.redis_url(cfg))
    env = EnvClient(cfg.url("environment"), token=env_vars["BANDITOPS_ENV_ADMIN_TOKEN"])
    airflow = AirflowClient(cfg.url("airflow"), login["username"], login["password"])
    summary: dict[str, Any] = {"urls": stack.get("urls", {}), "options": opts.experiment_conf()}

    console.print("[bold]2/6[/] starting the seed experiment through the Airflow REST API ...")
    t_exp = time.time()
    exp_run = airflow.trigger("bandit_experiment", opts.experiment_conf())
    summary["airflow_runs"] = {"bandit_experiment": exp_run["dag_run_id"]}
    watcher = Watcher(store, airflow, t_start)

    with Live(watcher.render(), console=console, refresh_per_second=4, transient=False) as live:
        started = _wait(watcher, live, "waiting for the experiment to reset the store",
                        lambda: watcher.event_after("experiment_started", t_exp), opts=opts, cfg=cfg)
        t_learn = started.ts
        epoch1 = int(started.fields.get("epoch", 1))
        conv1 = _wait(watcher, live, "3/6 learning until converged",
                      lambda: watcher.event_after("converged", t_learn, epoch=epoch1), opts=opts, cfg=cfg)
        state1 = watcher.state
        assert state1 is not None
        truth_before = env.truth()

        watcher.stage = "4/6 injecting the origin documents' drift"
        t_drift = time.time()
        for arm, mean in ORIGIN_DRIFT:
            env.update_arm(arm, mean=mean)
        drift_events = [e for e in env.events() if e.get("kind") == "drift"]
        env_pulls_at_drift = int(drift_events[-1]["total_pulls"]) if drift_events else None
        at_drift = store.state()

        opened = _wait(watcher, live, "5/6 waiting for the drift monitor and relearning",
                       lambda: watcher.event_after("epoch_opened", t_drift), opts=opts, cfg=cfg)
        detected = watcher.event_after("drift_detected", t_drift) or opened
        relearn_run = _wait(watcher, live, "5/6 waiting for the relearning DAG run", lambda: next(
            (r for r in airflow.runs("bandit_relearning", limit=5)
             if (_iso(r.get("start_date")) or 0) >= t_drift - 1), None), opts=opts, cfg=cfg)
        epoch2 = int(opened.fields.get("epoch", epoch1 + 1))
        conv2 = _wait(watcher, live, "6/6 relearning until converged again",
                      lambda: watcher.event_after("converged", t_drift, epoch=epoch2), opts=opts, cfg=cfg)
        state2 = watcher.state
        assert state2 is not None
        # MLflow keeps every phase: a phase that converges at once (a rise past the leader keeps all
        # the evidence) may do so before its run is opened, so the summary waits for it.
        _wait(watcher, live, "6/6 waiting for the new phase's MLflow run", lambda: store.phase_run(epoch2),
              opts=opts, cfg=cfg)

    truth_after = env.truth()
    runs = airflow.runs("~", limit=100)
    summary["airflow_runs"].update({
        "bandit_relearning": relearn_run["dag_run_id"],
        "relearning_triggered_by": relearn_run.get("triggered_by") or relearn_run.get("run_type"),
        "bandit_learning_runs": sum(1 for r in runs if r["dag_id"] == "bandit_learning"),
        "bandit_drift_monitor": next((r["dag_run_id"] for r in runs if r["dag_id"] == "bandit_drift_monitor"
                                      and (_iso(r.get("start_date")) or 0) <= (detected.ts + 1)), None),
    })
    pulls1 = int(conv1.fields.get("pulls_to_converge", state1.epoch_pulls))
    pulls2 = int(conv2.fields.get("pulls_to_converge", state2.epoch_pulls))
    regret = regret_by_phase(store, epoch1, epoch2, at_drift.epoch_pulls, pulls2)
    means_before = np.asarray(truth_before["means"], dtype=float)
    means_after = np.asarray(truth_after["means"], dtype=float)
    # Pulls the agents made between the injection and the end of the batch that raised the alarm
    # (epoch pull counts: the alarm and the injection are in the same epoch) ...
    alarm_batch = detected.fields.get("pulls_before")
    delay_pulls = (
        max(0, int(alarm_batch) + opts.pulls_per_round - at_drift.epoch_pulls) if alarm_batch is not None else None
    )
    # ... and until the relearning closed the epoch: what the hops from alarm to new epoch cost.
    try:
        until_relearning: int | None = store.stats(epoch1).total - at_drift.epoch_pulls
    except ValueError:
        until_relearning = None
    reaction = agents_reaction(store, t_drift, at_drift) or {}
    summary.update({
        "drift_to_reaction_pulls": reaction.get("pulls"),
        "drift_to_reaction_s": reaction.get("seconds"),
        "drift_reaction": reaction.get("how"),
        "converged_arm_phase1": int(conv1.fields.get("leader", -1)),
        "converged_arm_phase2": int(conv2.fields.get("leader", -1)),
        "best_arm_after_drift": int(np.argmax(means_after)),
        "pulls_to_converge": pulls1,
        "seconds_to_converge": round(conv1.ts - t_learn, 2),
        "drift_arm_detected": detected.fields.get("arm", detected.fields.get("drift_arm")),
        "detection_delay_pulls": delay_pulls,
        "detection_delay_s": round(detected.ts - t_drift, 2),
        "pulls_from_drift_to_new_epoch": until_relearning,
        "drift_to_relearning_running_s": round((_iso(relearn_run.get("start_date")) or t_drift) - t_drift, 2),
        "pulls_to_reconverge": pulls2,
        "seconds_to_reconverge": round(conv2.ts - t_drift, 2),
        "regret_phase1": regret["phase1"],
        "regret_drift_to_new_epoch": regret["drift_to_new_epoch"],
        "regret_phase2": regret["phase2"],
        "lai_robbins_phase1": round(lai_robbins_bound(means_before, "gaussian", max(pulls1, 2)), 2),
        "lai_robbins_phase2": round(lai_robbins_bound(means_after, "gaussian", max(pulls2, 2)), 2),
        "env_pulls_at_drift": env_pulls_at_drift,
        "demo_seconds": round(time.monotonic() - t_start, 1),
        "memory_pss_mb": stack_memory_mb(cfg),
        "mlflow_runs": _mlflow_links(cfg.url("mlflow"), store.get_meta()),
        "mlflow_error": store.get_meta().get("mlflow_error") or None,
    })
    opts.summary_path.parent.mkdir(parents=True, exist_ok=True)
    opts.summary_path.write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary, console)
    console.print(f"\nSummary written to {opts.summary_path}")
    localstack.print_urls(cfg, localstack.load_state(cfg))
    airflow.close()
    return summary


def print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="BanditOps demo — summary")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("pulls to converge (phase 1)", summary["pulls_to_converge"]),
        ("seconds to converge (phase 1)", summary["seconds_to_converge"]),
        ("converged on arm (phase 1)", summary["converged_arm_phase1"]),
        ("drift detection delay (pulls)", summary["detection_delay_pulls"]),
        ("drift detection delay (s)", summary["detection_delay_s"]),
        ("drift → the agents reacting", f"{summary.get('drift_to_reaction_pulls')} pulls, "
                                        f"{summary.get('drift_to_reaction_s')} s ({summary.get('drift_reaction')})"),
        ("pulls from drift to the new epoch", summary["pulls_from_drift_to_new_epoch"]),
        ("drift → relearning DAG running (s)", summary["drift_to_relearning_running_s"]),
        ("seconds to re-converge", summary["seconds_to_reconverge"]),
        ("converged on arm (phase 2) / true best", f"{summary['converged_arm_phase2']} / "
                                                    f"{summary['best_arm_after_drift']}"),
        ("regret phase 1 / Lai–Robbins C·ln T", f"{summary['regret_phase1']} / {summary['lai_robbins_phase1']}"),
        ("regret from drift to the new epoch", summary["regret_drift_to_new_epoch"]),
        ("regret phase 2 / Lai–Robbins C·ln T", f"{summary['regret_phase2']} / {summary['lai_robbins_phase2']}"),
        ("whole demo (s)", summary["demo_seconds"]),
        ("stack memory, PSS (MB)", summary["memory_pss_mb"].get("total")),
    ]
    for name, value in rows:
        table.add_row(name, "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value))
    console.print(table)
    for link in summary.get("mlflow_runs", []):
        console.print(f"  MLflow {link['run']}: {link['url']}")
    for dag_id, run_id in summary.get("airflow_runs", {}).items():
        console.print(f"  Airflow {dag_id}: {run_id}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="banditops demo", description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, default=None, help="where to write the JSON summary")
    parser.add_argument("--root", type=Path, default=None, help="stack folder (default: var/)")
    parser.add_argument("--stage-timeout", type=float, default=300.0, help="seconds per stage before giving up")
    args = parser.parse_args(argv)
    cfg = localstack.with_recorded_ports(
        localstack.StackConfig(root=args.root) if args.root else localstack.StackConfig()
    )
    opts = DemoOptions(stage_timeout_s=args.stage_timeout)
    if args.summary:
        opts.summary_path = args.summary
    try:
        run_demo(cfg, opts)
    except (localstack.StackError, DemoError, AirflowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


