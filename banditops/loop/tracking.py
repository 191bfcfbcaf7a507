"""MLflow adapter: one parent run per experiment, one child run per learning phase.

Why the client API and not the fluent one: every Airflow task is its own process, so there is no
"active run" to share. The run ids live in the store's meta (``mlflow_parent_run_id``,
``mlflow_phase_run_id``, ``mlflow_phase_epoch``) and every call names its run explicitly.

Why every call is guarded: MLflow is the loop's memory, not its truth. A broken tracking server
must never lose a posterior update, so each call catches the failure, logs a warning, records it
in the store (meta ``mlflow_error`` and an ``mlflow_error`` event, once per distinct message) and
returns. Logging catches up on its own: a missing parent or phase run is (re)opened at the next
successful call, and the next batch point carries the cumulative numbers.

Metrics per batch use ``step = total pulls``: cumulative regret, regret per pull, P(best) of the
leader and per arm, posterior mean and sd per arm, pulls per arm (current epoch). Per-arm metric
keys carry the arm's name (``prob_best_arm_summer-sale``); an experiment started with integer arms
keeps its keys (``prob_best_arm_0``), since its arms are named ``"0"``, ``"1"``, ... The posterior
snapshot is a JSON artifact (``log_dict``) at convergence and at the end of a phase, with a figure
of the posteriors against the truth (``log_figure``). Tags: ``phase``, ``epoch``, ``drift_arm``,
``drift_magnitude``. The parent run carries the figures people compare across experiments as
metrics (columns in the runs table and the compare view): ``cumulative_regret``,
``regret_per_pull``, ``total_pulls``, ``pulls_to_converge`` and ``detection_delay_pulls`` (step =
epoch), and the config as params.

Why the experiment is tagged ``mlflow.experimentKind = custom_model_development``: MLflow 3 opens
an untagged experiment on its GenAI overview (traces, tokens: empty here); the tag makes it open on
its runs, like a classic ML experiment.

Why exactly one run per epoch, whatever the order of the tasks: the learning DAG's logger, the
relearning DAG's archive / open-epoch / open-phase tasks and their retries interleave freely.
Epoch E's run id is recorded in the store (``record_phase_run``) once opened and never cleared while
the experiment lives, so a logger that runs after the archive finds E's (finished) run instead of
opening a second one; a short claim orders concurrent first openers, and an opener that finds no
record searches MLflow for E's run before creating one (an opener that died between creating and
recording). Opening epoch E+1's run closes every earlier phase run still RUNNING, and starting an
experiment closes every run of the namespace still RUNNING, so no run is left RUNNING once its
phase (or experiment) is over.

Examples
--------
>>> metric_names(2)[:4]
['cumulative_regret', 'regret_per_pull', 'prob_best', 'prob_best_arm_0']
>>> phase_run_name(2, "RELEARNING")
'epoch 2 · relearning'
>>> parent_run_name("banners", 1796156087.0)
'banners · 2026-12-01 20:14 UTC'
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from banditops.settings import get_settings
from banditops.store.protocols import StoreLike
from banditops.store.types import ExperimentConfig, StoreState

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.entities import Param, Run
    from mlflow.tracking import MlflowClient

    from banditops.bandit.convergence import ConvergenceVerdict
    from banditops.bandit.posteriors.base import Posterior

log = logging.getLogger(__name__)
T = TypeVar("T")

META_PARENT = "mlflow_parent_run_id"
META_PHASE = "mlflow_phase_run_id"
META_PHASE_EPOCH = "mlflow_phase_epoch"
META_EXPERIMENT = "mlflow_experiment_id"
META_ERROR = "mlflow_error"
#: The experiment tag MLflow 3's UI reads to choose the experiment's landing page.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CLASSIC_ML = "custom_model_development"
NAMESPACE_TAG = "banditops.namespace"
#: Meta field counting live-policy changes (``banditops.loop.promotion``); each opens a new phase.
META_POLICY_GENERATION = "policy_generation"


def parent_run_name(scenario: str, start_ts: float) -> str:
    """A parent run's readable name: the scenario and its start time (UTC, to the minute)."""
    return f"{scenario} · {datetime.fromtimestamp(start_ts, UTC):%Y-%m-%d %H:%M} UTC"


def phase_run_name(epoch: int, mode: str) -> str:
    """A phase run's readable name: ``epoch N · learning`` (the mode it opened in)."""
    return f"epoch {int(epoch)} · {str(mode).lower()}"


def metric_names(n_arms: int, arm_names: Sequence[str] | None = None) -> list[str]:
    """Names of the per-batch metrics, in the order they are logged (per arm: by the arm's name)."""
    labels = list(arm_names) if arm_names is not None else [str(a) for a in range(n_arms)]
    names = ["cumulative_regret", "regret_per_pull", "prob_best"]
    for prefix in ("prob_best_arm", "posterior_mean_arm", "posterior_sd_arm", "pulls_arm"):
        names += [f"{prefix}_{a}" for a in labels]
    return names


def _configure_http_retries() -> None:
    # MLflow's default HTTP retries (7, exponential backoff) would stall a task for minutes when
    # the server is down; a couple of quick retries keep the loop moving. Explicit env wins.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


class Tracker:
    """Logs the loop's phases to MLflow without ever failing the loop.

    Parameters
    ----------
    store : BanditStore
        Where run ids and tracking errors are kept.
    tracking_uri : str, optional
        Default ``BANDITOPS_MLFLOW_TRACKING_URI`` (else ``MLFLOW_TRACKING_URI``, else MLflow's default).
    experiment_name : str, optional
        Default ``BANDITOPS_MLFLOW_EXPERIMENT``.
    artifact_location : str, optional
        Artifact root of a newly created experiment; default ``BANDITOPS_MLFLOW_ARTIFACT_LOCATION``.
    """

    def __init__(
        self, store: StoreLike, *, tracking_uri: str | None = None, experiment_name: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        settings = get_settings()
        self.store = store
        self.tracking_uri = tracking_uri or settings.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.experiment_name = experiment_name or settings.mlflow_experiment
        #: Where a NEW experiment keeps artifacts (``BANDITOPS_MLFLOW_ARTIFACT_LOCATION``); ``None``:
        #: the tracking server's default (a server with ``--artifacts-destination`` proxies them).
        self.artifact_location = artifact_location or settings.mlflow_artifact_location or None
        self._client: MlflowClient | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            _configure_http_retries()
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _guard(self, action: str, fn: Callable[[], T]) -> T | None:
        try:
            result = fn()
        except Exception as exc:
            message = f"{action}: {type(exc).__name__}: {str(exc)[:300]}"
            log.warning("MLflow %s failed; the loop goes on: %s", action, message)
            try:
                if self.store.get_meta().get(META_ERROR) != message:
                    self.store.set_meta(**{META_ERROR: message, "mlflow_error_ts": f"{time.time():.3f}"})
                    self.store.append_event("mlflow_error", action=action, error=message)
            except Exception:  # the store being down is reported by the store's users
                log.warning("could not record the MLflow failure in the store", exc_info=True)
            return None
        try:
            if self.store.get_meta().get(META_ERROR):
                self.store.set_meta(**{META_ERROR: ""})
                self.store.append_event("mlflow_recovered", action=action)
        except Exception:
            log.warning("could not clear the MLflow failure in the store", exc_info=True)
        return result

    def _experiment_id(self) -> str:
        """The experiment's id, created (or re-tagged) as a classic ML experiment."""
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is None:
            return str(self.client.create_experiment(self.experiment_name, artifact_location=self.artifact_location,
                                                     tags={EXPERIMENT_KIND_TAG: CLASSIC_ML}))  # fmt: skip
        if exp.tags.get(EXPERIMENT_KIND_TAG) != CLASSIC_ML:
            self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, CLASSIC_ML)
        return str(exp.experiment_id)

    def _namespace_filter(self) -> str:
        return f"tags.`{NAMESPACE_TAG}` = '{self.store.namespace}'"

    def _close_running(self, exp_id: str, extra_filter: str, *, ended_by: str,
                       keep: Callable[[Run], bool] | None = None) -> int:  # fmt: skip
        """Finish every RUNNING run of this namespace matching ``extra_filter`` (and not ``keep``)."""
        query = f"attributes.status = 'RUNNING' and {self._namespace_filter()}"
        closed = 0
        for run in self.client.search_runs([exp_id], filter_string=f"{query} and {extra_filter}" if extra_filter
                                           else query, max_results=1000):  # fmt: skip
            if keep is not None and keep(run):
                continue
            if "ended_by" not in run.data.tags:
                self.client.set_tag(run.info.run_id, "ended_by", ended_by)
            self.client.set_terminated(run.info.run_id, status="FINISHED")
            closed += 1
        return closed

    def _parent_metrics(self, metrics: dict[str, float], step: int) -> None:
        """The figures people compare, on the parent run (so they are columns of the runs table)."""
        from mlflow.entities import Metric

        parent = self.store.get_meta().get(META_PARENT, "")
        if parent and metrics:
            ts = int(time.time() * 1000)
            self.client.log_batch(parent, metrics=[Metric(k, float(v), ts, int(step)) for k, v in metrics.items()])

    def run_ids(self) -> dict[str, str]:
        """Parent and phase run ids from the store's meta (empty strings when unknown)."""
        meta = self.store.get_meta()
        return {k: meta.get(k, "") for k in (META_EXPERIMENT, META_PARENT, META_PHASE, META_PHASE_EPOCH)}

    # -- runs -------------------------------------------------------------------------------------
    def start_experiment(self, config: ExperimentConfig, *, scenario: str, seed: int | None = None) -> str | None:
        """Open the experiment's parent run and the first phase run; returns the parent run id."""

        def open_parent() -> str:
            exp_id = self._experiment_id()
            # the previous experiment of this namespace (its parent and any phase) ends here
            self._close_running(exp_id, "", ended_by="new_experiment")
            run = self.client.create_run(
                exp_id, run_name=parent_run_name(scenario, time.time()),
                tags={"scenario": scenario, "reward_kind": config.reward_kind, "source": config.source,
                      "kind": "experiment", NAMESPACE_TAG: self.store.namespace},
            )
            run_id = str(run.info.run_id)
            self.client.log_batch(run_id, params=_params(config, seed=seed))
            self.store.set_meta(**{META_EXPERIMENT: exp_id, META_PARENT: run_id, META_PHASE: "", META_PHASE_EPOCH: ""})
            return run_id

        parent = self._guard("start_experiment", open_parent)
        if parent is not None:
            self.start_phase(epoch=self.store.epoch(), reason="experiment_started")
        return parent

    def _ensure_parent(self) -> str:
        parent = self.store.get_meta().get(META_PARENT, "")
        if parent:
            return str(parent)
        config = self.store.config()
        exp_id = self._experiment_id()
        run = self.client.create_run(exp_id, run_name=parent_run_name(config.name, time.time()),
                                     tags={"scenario": config.name, "kind": "experiment", "reopened": "true",
                                           NAMESPACE_TAG: self.store.namespace})
        run_id = str(run.info.run_id)
        self.client.log_batch(run_id, params=_params(config))
        self.store.set_meta(**{META_EXPERIMENT: exp_id, META_PARENT: run_id})
        return run_id

    def end_experiment(self, *, status: str = "FINISHED", ended_by: str = "experiment_ended") -> None:
        """Close the experiment's parent run and every phase run of it still RUNNING."""

        def end() -> None:
            meta = self.store.get_meta()
            exp_id = meta.get(META_EXPERIMENT) or self._experiment_id()
            self._close_running(exp_id, "", ended_by=ended_by)

        self._guard("end_experiment", end)

    def _generation(self) -> int:
        """How many times the live policy changed (promotions, rollbacks): each change opens a phase."""
        return int(self.store.get_meta().get(META_POLICY_GENERATION) or 0)

    def _find_phase(self, exp_id: str, parent: str, epoch: int, generation: int) -> str:
        """The phase's run in MLflow, if an opener created it but never recorded it."""
        runs = self.client.search_runs(
            [exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.kind = 'phase' and "
                                    f"tags.epoch = '{int(epoch)}' and tags.policy_generation = '{int(generation)}'",
            order_by=["attributes.start_time ASC"], max_results=1)  # fmt: skip
        return str(runs[0].info.run_id) if runs else ""

    def _open_phase(self, epoch: int, reason: str, tags: dict[str, Any], generation: int = 0) -> str:
        parent = self._ensure_parent()
        exp_id = self.store.get_meta().get(META_EXPERIMENT) or self._experiment_id()
        found = self._find_phase(exp_id, parent, epoch, generation)
        if found:
            return found
        state = self.store.state()
        name = phase_run_name(epoch, str(state.mode)) + (f" · policy {generation}" if generation else "")
        run = self.client.create_run(
            exp_id, run_name=name,
            tags={"mlflow.parentRunId": parent, "kind": "phase", "phase": str(state.mode), "epoch": str(epoch),
                  "policy_generation": str(generation), "opened_by": reason, NAMESPACE_TAG: self.store.namespace,
                  **{k: str(v) for k, v in tags.items() if v is not None}},
        )
        run_id = str(run.info.run_id)
        self.client.log_batch(run_id, params=_params(state.config))
        # an earlier phase still RUNNING (its archive failed or never ran, or the policy changed) is over now
        here = (int(epoch), int(generation))

        def later_or_same(run: Run) -> bool:
            tags_ = run.data.tags
            return (int(tags_.get("epoch", epoch)), int(tags_.get("policy_generation", generation))) >= here

        self._close_running(exp_id, f"tags.mlflow.parentRunId = '{parent}' and tags.kind = 'phase'",
                            ended_by="next_phase_opened", keep=later_or_same)  # fmt: skip
        return run_id

    def start_phase(self, *, epoch: int, reason: str, **tags: Any) -> str | None:
        """Open the child run of a learning phase (one per epoch and live policy); an open one is reused (retries)."""

        def start() -> str:
            run_id = self._phase_for(epoch, reason, tags)
            # a logger may have opened this epoch's run first: the phase's own tags still land on it
            for key, value in tags.items():
                if value is not None:
                    self.client.set_tag(run_id, key, str(value))
            return run_id

        return self._guard("start_phase", start)

    def _phase_run(self, epoch: int) -> str:
        return self._phase_for(epoch, "catch_up", {})

    def _phase_for(self, epoch: int, reason: str, tags: dict[str, Any], wait_s: float = 15.0) -> str:
        """The phase's run, opened ONCE whatever the order or concurrency of the callers.

        A phase is an epoch under one live policy (``policy_generation``, bumped by each
        promotion or rollback). The store's record (``phase_run``) answers every caller after the
        first. The first openers race for the claim ``mlflow_phase_claim:<epoch>``; the winner
        searches MLflow for the phase's run (a previous opener may have died before recording it),
        opens it if absent, records it. A failed opener drops its claim, so the next call retries.
        """
        generation = self._generation()
        deadline = time.monotonic() + wait_s
        while True:
            known = self.store.phase_run(epoch, generation)
            if known:
                return str(known)
            if self.store.claim_phase_run(epoch, reason, generation=generation):
                try:
                    run_id = self._open_phase(epoch, reason, tags, generation)
                    self.store.record_phase_run(epoch, run_id, generation)
                except BaseException:
                    self.store.release_phase_run(epoch, generation)
                    raise
                if int(epoch) >= int(self.store.get_meta().get(META_PHASE_EPOCH) or 0):
                    self.store.set_meta(**{META_PHASE: run_id, META_PHASE_EPOCH: str(epoch)})
                return run_id
            if time.monotonic() > deadline:
                raise TimeoutError(f"the phase run of epoch {epoch} is being opened by another task")
            time.sleep(0.1)

    # -- per-batch metrics ------------------------------------------------------------------------
    def log_batch(self, state: StoreState, posterior: Posterior, prob_best: np.ndarray) -> bool:
        """One point of every metric at ``step = total pulls``; ``True`` when logged."""
        from mlflow.entities import Metric

        def log_point() -> bool:
            run_id = self._phase_run(state.epoch)
            ts = int(time.time() * 1000)
            step = int(state.total_pulls)
            values = _metric_values(state, posterior, prob_best)
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v in values.items()])
            self._parent_metrics({"cumulative_regret": values["cumulative_regret"],
                                  "regret_per_pull": values["regret_per_pull"],
                                  "total_pulls": float(state.total_pulls)}, step)  # fmt: skip
            return True

        return bool(self._guard("log_batch", log_point))

    def mark_converged(self, state: StoreState, posterior: Posterior, verdict: ConvergenceVerdict,
                       truth: list[float] | None = None) -> None:
        """Tags and metrics of convergence, plus the snapshot and figure at that moment."""

        def mark() -> None:
            run_id = self._phase_run(state.epoch)
            self.client.set_tag(run_id, "phase", "MONITORING")
            self.client.set_tag(run_id, "converged", "true")
            self.client.set_tag(run_id, "leader", _arm_name(state, verdict.leader))
            self.client.log_metric(run_id, "pulls_to_converge", float(state.epoch_pulls), step=int(state.total_pulls))
            self._parent_metrics({"pulls_to_converge": float(state.epoch_pulls)}, int(state.epoch))
            self.client.log_dict(run_id, snapshot(state, posterior, verdict, truth), "posterior/converged.json")
            figure = posterior_figure(posterior, truth, title=f"epoch {state.epoch} at convergence",
                                      names=state.config.names)
            if figure is not None:
                self.client.log_figure(run_id, figure, "posterior/converged.png")

        self._guard("mark_converged", mark)

    def end_phase(self, state: StoreState, posterior: Posterior, *, truth: list[float] | None = None,
                  status: str = "FINISHED", epoch: int | None = None, detection_delay: float | None = None,
                  **tags: Any) -> None:  # fmt: skip
        """Archive the phase's final snapshot and figure, tag why it ended, close its run.

        ``epoch`` (default ``state.epoch``) names the phase that ends: a retried archive that runs
        after the next epoch opened closes epoch ``epoch``'s run, never the new one, and logs no
        snapshot (the store no longer holds that phase's posterior). ``detection_delay`` (pulls
        between the change and its detection) is logged on the phase and the parent run.
        """
        ended = state.epoch if epoch is None else int(epoch)

        def end() -> None:
            run_id = self._phase_for(ended, "end_phase", {})
            for key, value in tags.items():
                if value is not None:
                    self.client.set_tag(run_id, key, str(value))
            if detection_delay is not None:
                self.client.log_metric(run_id, "detection_delay_pulls", float(detection_delay),
                                       step=int(state.total_pulls))  # fmt: skip
                self._parent_metrics({"detection_delay_pulls": float(detection_delay)}, ended)
            if ended == state.epoch:
                self.client.log_dict(run_id, snapshot(state, posterior, None, truth), "posterior/final.json")
                figure = posterior_figure(posterior, truth, title=f"epoch {ended}, end of phase",
                                          names=state.config.names)
                if figure is not None:
                    self.client.log_figure(run_id, figure, "posterior/final.png")
            # the run id stays recorded: a logger arriving after this finds the finished run, opens none
            self.client.set_terminated(run_id, status=status)

        self._guard("end_phase", end)


    # -- off-policy evaluation ----------------------------------------------------------------------
    def log_evaluation(self, report: dict[str, Any], *, request: dict[str, Any] | None = None,
                       gate: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """ONE parent run for an evaluation, one child per policy (live and candidates); returns the parent id.

        Each child carries ``<estimator>_estimate``, ``_lo``, ``_hi`` as metrics, ``ess`` and
        ``max_weight``, the policy's config as params and a figure of its estimates with their
        intervals against the live policy's; the parent carries the request as params, the
        gate's decision as tags and metrics, and the figure comparing every policy. Runs end
        FINISHED, so MLflow's compare view lines the candidates up side by side.
        """
        from mlflow.entities import Metric, Param

        policies: dict[str, Any] = report["policies"]
        req = dict(request or {})

        def log() -> str:
            exp_id = self._experiment_id()
            ts = int(time.time() * 1000)
            parent = self.client.create_run(
                exp_id, run_name=f"evaluation · {datetime.fromtimestamp(ts / 1000, UTC):%Y-%m-%d %H:%M} UTC",
                tags={"kind": "evaluation", NAMESPACE_TAG: self.store.namespace,
                      **({"gate_candidate": str(gate["candidate"]), "gate_promote": str(gate["promote"]).lower()}
                         if gate and gate.get("candidate") else {})},
            )  # fmt: skip
            parent_id = str(parent.info.run_id)
            params = {"window_s": req.get("window_s"), "estimators": ",".join(req.get("estimators") or []),
                      "gate_estimator": req.get("gate_estimator"), "margin": req.get("margin"),
                      "candidates": ",".join(p for p in policies if p != "live"), "n_rows": report["n_rows"],
                      "arms": json.dumps(report["arms"])}  # fmt: skip
            metrics = {"n_rows": float(report["n_rows"]), "logged_mean_reward": float(report["logged_mean_reward"])}
            if gate and gate.get("candidate"):
                metrics.update(gate_live_estimate=float(gate["live_estimate"]),
                               gate_candidate_lo=float(gate["candidate_lo"]), gate_promote=float(bool(gate["promote"])))
            self.client.log_batch(parent_id, params=[Param(k, str(v)) for k, v in params.items() if v is not None],
                                  metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()])  # fmt: skip
            live = policies.get("live", {}).get("estimators", {})
            for name, result in policies.items():
                child = self.client.create_run(
                    exp_id, run_name=name,
                    tags={"mlflow.parentRunId": parent_id, "kind": "evaluation_policy", "policy_name": name,
                          "is_live": str(name == "live").lower(), NAMESPACE_TAG: self.store.namespace},
                )  # fmt: skip
                child_id = str(child.info.run_id)
                values: dict[str, float] = {}
                for est, r in result["estimators"].items():
                    values.update({f"{est}_estimate": r["estimate"], f"{est}_lo": r["lo"], f"{est}_hi": r["hi"]})
                    values.update(ess=r["ess"], max_weight=r["max_weight"])
                    if name != "live" and est in live:
                        values[f"{est}_lo_minus_live"] = r["lo"] - live[est]["estimate"]
                config = {f"config.{k}": v if isinstance(v, str) else json.dumps(v)
                          for k, v in result["config"].items()}  # fmt: skip
                self.client.log_batch(
                    child_id, params=[Param(k, str(v)[:6000]) for k, v in config.items()],
                    metrics=[Metric(k, float(v), ts, 0) for k, v in values.items() if np.isfinite(v)],
                )
                figure = evaluation_figure({name: result, **({"live": policies["live"]} if name != "live" else {})},
                                           title=f"{name}: estimates, 95% bootstrap intervals")  # fmt: skip
                if figure is not None:
                    self.client.log_figure(child_id, figure, "evaluation/estimates.png")
                self.client.set_terminated(child_id, status="FINISHED")
            self.client.log_dict(parent_id, {"report": report, "gate": gate, "request": req}, "evaluation/report.json")
            figure = evaluation_figure(policies, title="policy value: estimates, 95% bootstrap intervals")
            if figure is not None:
                self.client.log_figure(parent_id, figure, "evaluation/estimates.png")
            self.client.set_terminated(parent_id, status="FINISHED")
            return parent_id

        return self._guard("log_evaluation", log)


# -- pure helpers -------------------------------------------------------------------------------
def evaluation_figure(policies: dict[str, Any], *, title: str = "") -> Figure | None:
    """Each policy's estimate per estimator with its interval (error bars); ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    names = list(policies)
    estimators = sorted({e for p in policies.values() for e in p["estimators"]})
    figure = Figure(figsize=(7, 3.5))
    ax = figure.subplots()
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        ests = policies[name]["estimators"]
        xs = [j + (i - (len(names) - 1) / 2) * width for j, e in enumerate(estimators) if e in ests]
        mid = [ests[e]["estimate"] for e in estimators if e in ests]
        err = [[ests[e]["estimate"] - ests[e]["lo"] for e in estimators if e in ests],
               [ests[e]["hi"] - ests[e]["estimate"] for e in estimators if e in ests]]  # fmt: skip
        ax.errorbar(xs, mid, yerr=np.clip(np.asarray(err), 0, None), fmt="o", capsize=3, color=f"C{i % 10}",
                    label=name)  # fmt: skip
    ax.set_xticks(range(len(estimators)), estimators)
    ax.set_ylabel("estimated mean reward")
    ax.set_title(title)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure
def _arm_name(state: StoreState, arm: int | str) -> str:
    """An arm index (a verdict's leader) as its name, for tags a person reads."""
    try:
        return state.config.names[int(arm)]
    except (TypeError, ValueError, IndexError):
        return str(arm)


def _params(config: ExperimentConfig, seed: int | None = None) -> list[Param]:
    from mlflow.entities import Param

    values: dict[str, Any] = {
        "policy": "thompson_sampling", "scenario": config.name, "reward_kind": config.reward_kind,
        "n_arms": config.n_arms, "prior": json.dumps(config.prior, sort_keys=True), "agents": config.agents,
        "pulls_per_round": config.pulls_per_round, "rounds": config.rounds,
        "convergence_delta": config.convergence_delta, "value_remaining_threshold": config.value_remaining_threshold,
        "min_pulls_per_arm": config.min_pulls_per_arm, "drift_delta": config.drift_delta,
        "exploration_floor": config.exploration_floor, "relearn_budget": config.relearn_budget,
        "source": config.source,
    }
    names = json.dumps(list(config.names))
    if len(names) <= 6000:  # MLflow's limit of a param value; the names are in the snapshots anyway
        values["arm_names"] = names
    if seed is not None:
        values["seed"] = seed
    return [Param(k, str(v)) for k, v in values.items()]


def _metric_values(state: StoreState, posterior: Posterior, prob_best: np.ndarray) -> dict[str, float]:
    total = max(int(state.total_pulls), 1)
    mean, sd = np.asarray(posterior.mean()), np.asarray(posterior.sd())
    pb = np.asarray(prob_best, dtype=np.float64)
    values = {
        "cumulative_regret": float(state.regret),
        "regret_per_pull": float(state.regret) / total,
        "prob_best": float(pb.max()) if pb.size else 0.0,
    }
    for arm, name in enumerate(state.config.names):  # keyed by the arm's name ("0".. for integer arms)
        values[f"prob_best_arm_{name}"] = float(pb[arm]) if arm < pb.size else 0.0
        values[f"posterior_mean_arm_{name}"] = float(mean[arm]) if arm < mean.size else float("nan")
        values[f"posterior_sd_arm_{name}"] = float(sd[arm]) if arm < sd.size else float("nan")
        values[f"pulls_arm_{name}"] = float(state.stats.n[arm]) if arm < state.stats.n_arms else 0.0
    return {k: v for k, v in values.items() if np.isfinite(v)}


def snapshot(state: StoreState, posterior: Posterior, verdict: ConvergenceVerdict | None,
             truth: list[float] | None) -> dict[str, Any]:
    """The JSON artifact of a posterior: store counters, posterior summary, verdict, truth."""
    return {
        "mode": str(state.mode), "epoch": state.epoch, "total_pulls": state.total_pulls,
        "epoch_pulls": state.epoch_pulls, "regret": state.regret, "epoch_regret": state.epoch_regret,
        "stats": state.stats.to_dict(), "posterior": posterior.to_dict(),
        "verdict": verdict.to_dict() if verdict is not None else None, "truth_means": truth,
        "arm_names": list(state.config.names), "retired": [state.config.names[a] for a in sorted(state.retired)],
    }


def posterior_figure(posterior: Posterior, truth: list[float] | None, *, title: str = "",
                     names: Sequence[str] | None = None) -> Figure | None:
    """Posterior density of each arm's mean (from draws) with the true mean marked; ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    draws = np.asarray(posterior.sample(np.random.default_rng(0), 2000))
    figure = Figure(figsize=(7, 3.5))
    ax = figure.subplots()
    for arm in range(draws.shape[1]):
        color = f"C{arm % 10}"
        name = names[arm] if names is not None and arm < len(names) else str(arm)
        label = f"arm {name}" if name.isdigit() else name
        ax.hist(draws[:, arm], bins=60, density=True, histtype="step", color=color, label=label)
        if truth is not None and arm < len(truth):
            ax.axvline(truth[arm], color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("mean reward (dashed: truth)")
    ax.set_ylabel("posterior density")
    ax.set_title(title)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure
