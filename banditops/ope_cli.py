"""``banditops ope obd``: OBP's Open Bandit Dataset protocol for our off-policy estimators.

Protocol (Saito et al. 2021, OBP's ``examples/obd/evaluate_off_policy_estimators.py``):
estimate the click rate of ZOZOTOWN's Bernoulli TS (its action distribution by Monte Carlo
from the shipped prior, seed 12345, 10⁶ simulations) from the uniform-random logs; the
ground truth is the mean click of the Bernoulli-TS logs; the relative estimation error
|V̂ − V| / V of each estimator over 30 bootstrap resamples of the random logs (resample b
drawn as OBP draws it, ``RandomState(b).choice``), reported as mean and standard deviation.

Fixed up front (no look at the ground truth, no search on it): DM, Switch-DR and DRos, which
take the reward model's values at face value, use our
:class:`~banditops.bandit.ope.reward_model.LogisticRewardModel` (3-fold cross-fitted) with its
regularisation chosen once by 5-fold cross-validated log loss on the random logs; DR and SNDR,
for which the model is only a control variate, use
:class:`~banditops.bandit.ope.reward_model.PerPositionLogisticRewardModel`, OBP's own
``RegressionModel`` with logistic regression and OBP's published hyperparameters (C = 100, one
model per position, item features, 3-fold cross-fitting). Switch-DR's τ and DRos' λ are chosen
by SLOPE over OBP's candidates {10, 50, 100, 500, 1000, 5000, 10000, ∞} on each resample.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from banditops.bandit.ope import ESTIMATORS, LoggedBanditFeedback, RowTerms, evaluate, make_estimators

DEFAULT_CACHE = Path("benchmarks/.cache/obd")
SEED = 12345


def _action_dist(cache: Path, wheel: Path, campaign: str, n_sim: int) -> np.ndarray:
    """The BTS distribution (n_actions, n_positions), cached next to the wheel (it takes seconds)."""
    from banditops.datasets import obd

    path = cache / f"bts_action_dist_{campaign}_{n_sim}_{SEED}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float64)
    alpha, beta = obd.zozotown_prior(wheel, campaign)
    dist = obd.bts_action_dist(alpha, beta, n_sim=n_sim, seed=SEED)
    np.save(path, dist)
    return dist


def run_obd_protocol(cache: Path = DEFAULT_CACHE, *, n_runs: int = 30, n_sim: int = 1_000_000,
                     n_boot: int = 1000, campaign: str = "all") -> dict[str, Any]:  # fmt: skip
    """Ground truth, each estimator on the full random log (with interval and ESS), and its relative errors."""
    # scikit-learn and PyYAML come with the ``ope`` extra: imported here so the rest of the CLI runs without them
    from banditops.bandit.ope.reward_model import LogisticRewardModel, PerPositionLogisticRewardModel, select_c
    from banditops.datasets import obd

    wheel = obd.ensure_wheel(cache)
    random_logs = obd.load(wheel, "random", campaign)
    ground_truth = float(obd.load(wheel, "bts", campaign).log.reward.mean())
    per_position = _action_dist(cache, wheel, campaign, n_sim)
    log, n = random_logs.log, random_logs.log.n_rows
    action_dist = np.ascontiguousarray(np.broadcast_to(per_position, (n, *per_position.shape)))
    n_actions, n_positions = random_logs.n_actions, random_logs.n_positions
    c = select_c(log, n_actions=n_actions, n_positions=n_positions, rng=np.random.default_rng(SEED))
    # q̂'s two roles (see the module docstring): its values (DM, Switch-DR, DRos), a control variate (DR, SNDR)
    models: dict[str, LogisticRewardModel | PerPositionLogisticRewardModel] = {
        "accurate": LogisticRewardModel(C=c, n_folds=3),
        "control_variate": PerPositionLogisticRewardModel(random_logs.action_context, C=100.0, n_folds=3)}
    uses = {"dm": "accurate", "switch_dr": "accurate", "dros": "accurate", "dr": "control_variate",
            "sndr": "control_variate", "ipw": "accurate", "snipw": "accurate"}  # IPW/SNIPW read no q̂
    names = list(ESTIMATORS)

    def q_hats(sample: LoggedBanditFeedback, seed: int) -> dict[str, np.ndarray]:
        return {role: m.fit_predict(sample, n_actions=n_actions, n_positions=n_positions,
                                    rng=np.random.default_rng(seed)) for role, m in models.items()}  # fmt: skip

    q_full = q_hats(log, SEED)
    full = {}
    for role, q in q_full.items():
        chosen = [name for name in names if uses[name] == role]
        full.update(evaluate(log, action_dist, estimators=chosen, q_hat=q, rng=np.random.default_rng(SEED),
                             n_boot=n_boot))  # fmt: skip

    errors: dict[str, list[float]] = {name: [] for name in names}
    estimators = make_estimators(names)
    for b in range(n_runs):
        idx = np.random.RandomState(b).choice(np.arange(n), size=n, replace=True)  # OBP's draw
        resample = log.take(idx)
        terms = {role: RowTerms.compute(resample, action_dist, q) for role, q in q_hats(resample, b).items()}
        for est in estimators:
            errors[est.name].append(abs(est.estimate(terms[uses[est.name]]) - ground_truth) / ground_truth)

    return {
        "ground_truth": ground_truth,
        "estimators": {
            name: {
                **{k: v for k, v in full[name].to_dict().items() if k != "n_rows"},
                "relative_error": {"mean": float(np.mean(errors[name])), "std": float(np.std(errors[name], ddof=1))},
            }
            for name in names
        },
        "protocol": {
            "dataset": f"Open Bandit Dataset (small sample, obp {obd.OBP_VERSION} wheel), campaign {campaign}",
            "behavior_policy": "random",
            "evaluation_policy": "bts",
            "n_rows": n,
            "n_runs": n_runs,
            "n_sim_action_dist": n_sim,
            "reward_model": f"DM, Switch-DR, DRos: shared logistic regression, C={c} (5-fold CV log loss); DR, SNDR: "
                            "OBP's per-position logistic regression on user and item features, C=100; both "
                            "3-fold cross-fitted",
        },
    }


def _log_main(args: argparse.Namespace) -> int:
    """``banditops ope log``: the live policy and candidates on the stack's own decision log."""
    from banditops.loop.evaluation import evaluate_candidates
    from banditops.settings import get_settings
    from banditops.store.redis_store import BanditStore

    settings = get_settings()
    try:
        candidates = json.loads(args.candidates)
        if not isinstance(candidates, dict):
            raise ValueError('--candidates must be a JSON object {"name": {"policy": ...}, ...}')
        url, ns = args.redis_url or settings.redis_url, args.namespace or settings.namespace
        store = BanditStore.from_url(url, namespace=ns)
        report = evaluate_candidates(store, candidates, window_s=args.window,
                                     estimators=args.estimators.split(","))  # fmt: skip
    except (RuntimeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"banditops ope log: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


def main(args: argparse.Namespace) -> int:
    if args.dataset == "log":
        return _log_main(args)
    if args.dataset != "obd":
        print(f"banditops ope: unknown dataset {args.dataset!r}; valid: obd, log", file=sys.stderr)
        return 2
    try:
        report = run_obd_protocol(Path(args.cache), n_runs=args.runs)
    except (RuntimeError, ValueError) as exc:
        print(f"banditops ope: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"ground truth (mean click of the bts logs): {report['ground_truth']:.5f}")
    for name, r in report["estimators"].items():
        rel = r["relative_error"]
        print(f"{name:>10}: {r['estimate']:.5f} [{r['lo']:.5f}, {r['hi']:.5f}]  ess {r['ess']:.0f}  "
              f"relative error {rel['mean']:.3f} ± {rel['std']:.3f}")  # fmt: skip
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``banditops ope``."""
    ope = sub.add_parser("ope", help="off-policy evaluation: OBP's Open Bandit Dataset protocol")
    ope.add_argument("dataset", choices=("obd", "log"),
                     help="obd: the Open Bandit Dataset (obp wheel, as data); log: the stack's decision log")
    ope.add_argument("--json", action="store_true", help="print the report as JSON")
    ope.add_argument("--runs", type=int, default=30, help="bootstrap resamples for the relative error")
    ope.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the obp wheel is downloaded")
    ope.add_argument("--window", type=float, default=None, help="log: seconds of decision log (default: all)")
    ope.add_argument("--candidates", default='{"uniform": {"policy": "uniform"}}',
                     help='log: JSON {"name": {"policy": "thompson|uniform|greedy|static", ...}}')
    ope.add_argument("--estimators", default="ipw,snipw,dr,dros", help="log: comma-separated estimators")
    ope.add_argument("--redis-url", help="log: default BANDITOPS_REDIS_URL")
    ope.add_argument("--namespace", help="log: default BANDITOPS_NAMESPACE")
    ope.set_defaults(handler=main)


def _rollback_main(args: argparse.Namespace) -> int:
    """``banditops policy rollback``: restore the live policy config before the last promotion."""
    from banditops.loop.promotion import live_policy, rollback
    from banditops.settings import get_settings
    from banditops.store.redis_store import BanditStore

    settings = get_settings()
    store = BanditStore.from_url(args.redis_url or settings.redis_url, namespace=args.namespace or settings.namespace)
    try:
        event_id = rollback(store)
    except ValueError as exc:
        print(f"banditops policy rollback: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"event": event_id, "live_policy": live_policy(store)}))
    return 0


def add_policy_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``banditops policy rollback``."""
    policy = sub.add_parser("policy", help="the live policy config: rollback to the one before the last promotion")
    policy.add_argument("action", choices=("rollback",))
    policy.add_argument("--redis-url", help="default: BANDITOPS_REDIS_URL")
    policy.add_argument("--namespace", help="default: BANDITOPS_NAMESPACE")
    policy.set_defaults(handler=_rollback_main)
