"""``banditops``: simulate any instance, run the benchmarks, read the live state, run the demo.

    banditops simulate --arms '[{"kind":"gaussian","mean":1},{"kind":"gaussian","mean":2}]' \\
        --changes '[{"t":5000,"arm":1,"mean":0}]' --horizon 10000 --seeds 20 --policy system --json
    banditops simulate --scenario seed --horizon 20000        # a built-in instance
    banditops simulate --scenario contextual --policy lin_ts  # the contextual world (JSON report)
    banditops bench [--quick] [--only core]                   # benchmarks/RESULTS.md
    banditops status                                          # mode, epoch, pulls, leader (Redis)
    banditops arms list | add summer-sale [--metadata '{"title": "Summer sale"}'] | retire summer-sale
    banditops demo                                            # the local-stack demo
    banditops ope obd --json                                  # off-policy estimators on the Open Bandit Dataset

Policies: ``system`` (the drift-aware default), ``ts`` (plain Thompson Sampling),
``system:<detector>`` / ``ts:<detector>`` with detector one of glr, page_hinkley, adwin,
river_page_hinkley. ``--refresh N`` refreshes the posterior on the growing schedule
1, 2, 4, ... then every N pulls.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from banditops.bandit.arms import SCENARIOS, scenario
from banditops.sim.simulation import POLICIES, Instance, SeedResult, simulate


def _simulate(args: argparse.Namespace) -> int:
    if args.scenario == "contextual":
        return _simulate_contextual(args)
    args.policy, args.horizon = args.policy or "system", args.horizon or 10_000
    try:
        arms: Any = args.arms if args.arms else scenario(args.scenario)
        instance = Instance.build(arms, args.changes, args.horizon)
        if args.refresh < 1:
            raise ValueError(f"--refresh must be >= 1 pull; got {args.refresh}")
        if args.seeds < 1:
            raise ValueError(f"--seeds must be >= 1; got {args.seeds}")
        if args.policy not in POLICIES:
            raise ValueError(f"unknown policy {args.policy!r}; valid policies: {', '.join(POLICIES)}")
    except ValueError as exc:
        print(f"banditops simulate: {exc}", file=sys.stderr)
        return 2
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    if args.json:
        report = simulate(instance, seeds, args.policy, args.refresh)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        ) as progress:
            task = progress.add_task(f"{args.policy} x {len(seeds)} seeds", total=len(seeds))

            def advance(result: SeedResult) -> None:
                label = f"{args.policy}: seed {result.seed} regret {result.regret:.1f}"
                progress.update(task, advance=1, description=label)

            report = simulate(instance, seeds, args.policy, args.refresh, progress=advance)
    payload = report.to_dict()
    if not args.runs:
        for run in payload["runs"]:
            run.pop("alarms", None)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="banditops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run a policy on any instance over many seeds")
    sim.add_argument("--arms", help='JSON list of reward models, e.g. [{"kind":"gaussian","mean":1,"sd":1}]')
    sim.add_argument("--scenario", default="seed", choices=(*SCENARIOS, "contextual"),
                     help="built-in arms when --arms is absent; contextual: the K=20, d=10 world")
    sim.add_argument("--changes", help='JSON list of {"t": pull, "arm": i, "mean" or "p": x}')
    sim.add_argument("--horizon", type=int, help="pulls per run (default 10,000; contextual 50,000)")
    sim.add_argument("--seeds", type=int, default=20, help="number of seeds")
    sim.add_argument("--seed0", type=int, default=0, help="first seed")
    sim.add_argument("--policy", help=f"one of: {', '.join(POLICIES)} (default system); contextual: lin_ts, ts")
    sim.add_argument("--refresh", type=int, default=1, help="posterior refresh interval in pulls (growing schedule)")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")
    sim.add_argument("--compact", action="store_true", help="one-line JSON")
    sim.add_argument("--runs", action="store_true", help="include every alarm of every run in the JSON")
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
