"""``banditops``: simulate any instance, run the benchmarks, read the live state, run the demo.

    banditops simulate --arms '[{"kind":"gaussian","mean":1},{"kind":"gaussian","mean":2}]' \\
        --changes '[{"t":5000,"arm":1,"mean":0}]' --horizon 10000 --seeds 20 --policy system --json
    banditops simulate --scenario seed --horizon 20000        # a built-in instance
    banditops simulate --scenario slowly_varying --policy ts  # means drifting by many small steps
    banditops simulate --scenario common_drift --policy ts    # banners moving with one shared level
    banditops simulate --scenario contextual --policy lin_ts  # the contextual world (JSON report)
    banditops simulate --deployed --agents 4 --pulls-per-round 50 --redis-url redis://127.0.0.1:6379/0
    banditops bench [--quick] [--only core]                   # benchmarks/RESULTS.md
    banditops status                                          # mode, epoch, pulls, leader (Redis)
    banditops arms list | add summer-sale [--metadata '{"title": "Summer sale"}'] | retire summer-sale
    banditops demo                                            # the local-stack demo
    banditops ope obd --json                                  # off-policy estimators on the Open Bandit Dataset
    banditops redis-acl --out /acl/users.acl                  # the Redis ACL file (users per service)

Policies: ``system`` (the drift-aware default), ``ts`` (plain Thompson Sampling),
``system:<detector>`` / ``ts:<detector>`` with detector one of glr, page_hinkley, adwin,
river_page_hinkley. ``--refresh N`` refreshes the posterior on the growing schedule
1, 2, 4, ... then every N pulls.

``simulate --deployed --agents N --pulls-per-round B`` runs the loop users deploy instead of the
sequential simulator: N agents per round step, each reading the shared state from Redis, choosing
B arms and applying them through the store's atomic script, then convergence, the drift monitor and
relearning, with no scheduler latency (:mod:`banditops.sim.deployed`). It needs a server
(``--redis-url`` or ``BANDITOPS_REDIS_URL``); from a checkout, ``python -m stack.deployed_sim``
takes the same options and starts a throwaway one. Same JSON report, labelled ``code_path``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from banditops.bandit.arms import SCENARIOS, scenario
from banditops.sim.simulation import POLICIES, Instance, SeedResult, simulate
from banditops.sim.worlds import WORLD_HORIZONS, WORLDS

if TYPE_CHECKING:
    from banditops.bandit.arms import BernoulliArm, GaussianArm
    from banditops.sim.deployed import DeployedReport, DeployedSetup
    from banditops.sim.simulation import SimulationReport

#: What ``simulate`` calls back after each seed.
Progress = Callable[[SeedResult], None]

#: Where ``simulate --deployed`` is told to look for a server when none is given.
NO_SERVER = (
    "--deployed runs the agents' rounds against a real Redis-compatible server: give --redis-url or set "
    "BANDITOPS_REDIS_URL (each seed uses a throwaway namespace, deleted afterwards), or from a checkout run "
    "`python -m stack.deployed_sim <the same options>`, which starts and stops a throwaway server"
)


def _deployed_setup(args: argparse.Namespace) -> DeployedSetup:
    from banditops.sim.deployed import DeployedSetup

    if args.refresh != 1:
        raise ValueError("--refresh does not apply to --deployed: the agents refresh every round "
                         "(set --pulls-per-round)")
    return DeployedSetup(agents=args.agents, pulls_per_round=args.pulls_per_round, policy=args.policy)


def _simulate(args: argparse.Namespace) -> int:
    if args.scenario == "contextual":
        if args.deployed:
            print("banditops simulate: --deployed runs the multi-armed loop; the contextual world has no "
                  "deployed agents", file=sys.stderr)
            return 2
        return _simulate_contextual(args)
    args.policy = args.policy or "system"
    args.horizon = args.horizon or WORLD_HORIZONS.get(args.scenario, 10_000)
    redis_url = args.redis_url
    if args.deployed and not redis_url:  # only --deployed reads it (and only then the settings)
        from banditops.settings import get_settings

        settings = get_settings()
        # only a URL someone gave: the settings' loopback default must not hide the NO_SERVER advice
        redis_url = settings.redis_url if "redis_url" in settings.model_fields_set else None
    try:
        if args.scenario in WORLDS and (args.arms or args.changes):
            raise ValueError(f"--scenario {args.scenario} brings its own arms and changes; drop --arms/--changes")
        if args.scenario in WORLDS and not args.arms:
            instance = WORLDS[args.scenario](args.horizon)
        else:
            arms: str | list[BernoulliArm | GaussianArm] = args.arms if args.arms else scenario(args.scenario)
            instance = Instance.build(arms, args.changes, args.horizon)
        if args.refresh < 1:
            raise ValueError(f"--refresh must be >= 1 pull; got {args.refresh}")
        if args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1; got {args.seeds}")
        setup = _deployed_setup(args) if args.deployed else None
        if setup is None and args.policy not in POLICIES:
            raise ValueError(f"unknown policy {args.policy!r}; valid policies: {', '.join(POLICIES)}")
        if setup is not None and not redis_url:
            raise ValueError(NO_SERVER)
    except ValueError as exc:
        print(f"banditops simulate: {exc}", file=sys.stderr)
        return 2
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    run: Callable[..., DeployedReport | SimulationReport]
    if setup is not None:
        from banditops.sim.deployed import simulate_deployed

        def run(progress: Progress | None = None) -> DeployedReport | SimulationReport:
            return simulate_deployed(instance, seeds, str(redis_url), setup, progress=progress)
    else:
        def run(progress: Progress | None = None) -> DeployedReport | SimulationReport:
            return simulate(instance, seeds, args.policy, args.refresh, progress=progress)
    if args.json:
        report = run()
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as progress:
            task = progress.add_task(f"{args.policy} x {len(seeds)} seeds", total=len(seeds))

            def advance(result: SeedResult) -> None:
                label = f"{args.policy}: seed {result.seed} regret {result.regret:.1f}"
                progress.update(task, advance=1, description=label)

            report = run(progress=advance)
    payload = report.to_dict()
    if not args.runs:
        for entry in payload["runs"]:
            entry.pop("alarms", None)
    if args.json:
        print(json.dumps(_finite(payload), indent=None if args.compact else 2))
    else:
        _print_summary(payload["summary"])
    return 0


def _simulate_contextual(args: argparse.Namespace) -> int:
    from banditops.sim.contextual import simulate_contextual

    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    try:
        report = simulate_contextual(args.policy or "lin_ts", seeds, args.horizon or 50_000)
    except ValueError as exc:
        print(f"banditops simulate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(_finite(report), indent=None if args.compact else 2))
    return 0


def _finite(value: Any) -> Any:
    """JSON has no NaN/infinity: report them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"policy {summary['policy']} — {summary['seeds']} seeds, T={summary['horizon']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    for key, value in summary.items():
        if isinstance(value, dict) and "value" in value:
            table.add_row(key, f"{value['value']:.4g}", f"[{value['lo']:.4g}, {value['hi']:.4g}]")
        elif key not in {"policy", "seeds", "horizon"}:
            table.add_row(key, str(value), "")
    Console().print(table)


def _bench(args: argparse.Namespace) -> int:
    try:
        runner = importlib.import_module("benchmarks.run")
    except ImportError:
        print("banditops bench: run it from the repository root (benchmarks/ is not installed)", file=sys.stderr)
        return 2
    forwarded = [*(["--quick"] if args.quick else []), *(["--only", args.only] if args.only else [])]
    return int(runner.main(forwarded))


def _status(args: argparse.Namespace) -> int:
    from banditops.bandit.posteriors import make_posterior
    from banditops.settings import get_settings
    from banditops.store.redis_store import BanditStore

    settings = get_settings()
    url = args.redis_url or settings.redis_url
    try:
        store = BanditStore.from_url(url, namespace=args.namespace or settings.namespace)
        state = store.state()
    except Exception as exc:  # a status command reports, it does not crash
        print(f"banditops status: cannot read the state at {url}: {exc}", file=sys.stderr)
        return 1
    posterior = make_posterior(state.config.reward_kind, state.stats, state.config.prior or None)
    means = posterior.mean()
    names = state.arms.names
    active = state.active_arms
    leader = names[int(active[means[active].argmax()])] if state.stats.total else None
    status = {
        "mode": str(state.mode),
        "epoch": state.epoch,
        "total_pulls": state.total_pulls,
        "epoch_pulls": state.epoch_pulls,
        "leader": leader,
        "arms": list(names),
        "retired": [names[a] for a in sorted(state.retired)],
        "posterior_mean": [round(float(m), 4) for m in means],
        "pulls_per_arm": state.stats.n.tolist(),
        "regret": round(state.regret, 3),
    }
    if args.json:
        print(json.dumps(status))
    else:
        for key, value in status.items():
            print(f"{key:>15}: {value}")
    return 0


def _arms(args: argparse.Namespace) -> int:
    """``banditops arms list|add|retire``: the arms by name, on the store directly (an operator's
    tool: it needs the Redis URL, i.e. the store's credential). Refusals name what is valid."""
    from banditops.settings import get_settings
    from banditops.store.redis_store import BanditStore

    settings = get_settings()
    url = args.redis_url or settings.redis_url
    try:
        store = BanditStore.from_url(url, namespace=args.namespace or settings.namespace)
        if args.action == "add":
            metadata = json.loads(args.metadata) if args.metadata else None
            index = store.add_arm(args.name, metadata)
            print(json.dumps({"arm": store.arms().name(index), "added": True}))
        elif args.action == "retire":
            if not args.name:
                raise ValueError("retire needs the arm's name: banditops arms retire <name>")
            store.retire_arm(args.name)
            print(json.dumps({"arm": args.name, "retired": True}))
        else:
            state = store.state()
            table = state.arms
            rows = [{"arm": name, "retired": i in state.retired, "pulls": int(state.stats.n[i]),
                     "metadata": dict(table.metadata.get(name, {}))} for i, name in enumerate(table.names)]
            if args.json:
                print(json.dumps(rows))
            else:
                for row in rows:
                    print(f"{row['arm']:>24}  {'retired' if row['retired'] else 'active ':7}  {row['pulls']:>9} pulls"
                          + (f"  {json.dumps(row['metadata'])}" if row["metadata"] else ""))
    except json.JSONDecodeError as exc:
        print(f"banditops arms: --metadata is not JSON ({exc}); e.g. '{{\"title\": \"Summer sale\"}}'",
              file=sys.stderr)
        return 2
    except ValueError as exc:  # unknown, retired, taken or invalid names: the message names what is valid
        print(f"banditops arms: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"banditops arms: cannot reach the store at {url}: {exc}", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        demo = importlib.import_module("stack.demo")
    except ImportError:
        print("banditops demo: run it from the repository root (stack/ is not installed)", file=sys.stderr)
        return 2
    return int(demo.main(rest) or 0)


def _redis_acl(args: argparse.Namespace) -> int:
    """Write the ACL file of the deployment's Redis users (passwords from BANDITOPS_REDIS_<USER>_PASSWORD)."""
    from pathlib import Path

    from banditops.settings import get_settings
    from banditops.store.acl import acl_file, passwords_from_env

    namespace = args.namespace or get_settings().namespace
    try:
        text = acl_file(namespace, passwords_from_env(os.environ))
    except ValueError as exc:
        print(f"banditops redis-acl: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # hashes only, but still private
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    print(f"banditops redis-acl: {len(text.splitlines()) - 1} users of namespace {namespace!r} -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banditops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run a policy on any instance over many seeds")
    sim.add_argument("--arms", help='JSON list of reward models, e.g. [{"kind":"gaussian","mean":1,"sd":1}]')
    sim.add_argument("--scenario", default="seed", choices=(*SCENARIOS, *WORLDS, "contextual"),
                     help="built-in arms when --arms is absent; slowly_varying: means drifting by many small "
                          "steps; common_drift: ten banners whose click rates move with one shared level "
                          "(both T=20,000 by default); contextual: the K=20, d=10 world")
    sim.add_argument("--changes", help='JSON list of {"t": pull, "arm": i, "mean" or "p": x}')
    sim.add_argument("--horizon", type=int, help="pulls per run (default 10,000; contextual 50,000)")
    sim.add_argument("--seeds", type=int, default=20, help="number of seeds")
    sim.add_argument("--seed0", type=int, default=0, help="first seed")
    sim.add_argument("--policy", help=f"one of: {', '.join(POLICIES)} (default system); "
                     "contextual: lin_ts, lin_ts_noise, ts")
    sim.add_argument("--refresh", type=int, default=1, help="posterior refresh interval in pulls (growing schedule)")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")
    sim.add_argument("--compact", action="store_true", help="one-line JSON")
    sim.add_argument("--runs", action="store_true", help="include every alarm of every run in the JSON")
    sim.add_argument("--deployed", action="store_true",
                     help="run the deployed loop's own code (agents' rounds through the store's atomic script, "
                          "convergence, drift monitor, relearning) on a real Redis, with no scheduler latency; "
                          "policies: system, ts")
    sim.add_argument("--agents", type=int, default=4, help="--deployed: parallel agents per round step (default 4)")
    sim.add_argument("--pulls-per-round", type=int, default=50,
                     help="--deployed: pulls of each agent's round (default 50)")
    sim.add_argument("--redis-url", help="--deployed: the server (default BANDITOPS_REDIS_URL; each seed uses a "
                                         "throwaway namespace, deleted afterwards)")
    sim.set_defaults(handler=_simulate)

    bench = sub.add_parser("bench", help="the benchmarks -> benchmarks/RESULTS.md and RESULTS.json")
    bench.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    bench.add_argument("--only", help="run one section (core) and reassemble RESULTS.md from all fragments")
    bench.set_defaults(handler=_bench)

    status = sub.add_parser("status", help="mode, epoch, pulls and leader from the Redis store")
    status.add_argument("--redis-url", help="default: BANDITOPS_REDIS_URL")
    status.add_argument("--namespace", help="default: BANDITOPS_NAMESPACE")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    acl = sub.add_parser("redis-acl", help="write the Redis ACL file: one least-privilege user per service")
    acl.add_argument("--out", required=True, help="file to write (0600), e.g. /acl/users.acl")
    acl.add_argument("--namespace", help="default: BANDITOPS_NAMESPACE, else bo")
    acl.set_defaults(handler=_redis_acl)
    arms = sub.add_parser("arms", help="list, add or retire arms by name (on the Redis store)")
    arms.add_argument("action", choices=("list", "add", "retire"))
    arms.add_argument("name", nargs="?", help='the arm\'s name, e.g. summer-sale (add: default its index)')
    arms.add_argument("--metadata", help='add: a JSON object, e.g. {"title": "Summer sale"}')
    arms.add_argument("--redis-url", help="default: BANDITOPS_REDIS_URL")
    arms.add_argument("--namespace", help="default: BANDITOPS_NAMESPACE")
    arms.add_argument("--json", action="store_true", help="list: print JSON")
    arms.set_defaults(handler=_arms)

    importlib.import_module("banditops.ope_cli").add_parser(sub)  # banditops ope obd [--json]
    importlib.import_module("banditops.ope_cli").add_policy_parser(sub)  # banditops policy rollback

    demo = sub.add_parser("demo", help="the local-stack demo (make demo)", add_help=False)
    demo.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["demo"]:
        return _demo(argparse.Namespace(), args_list[1:])
    args = build_parser().parse_args(args_list)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
