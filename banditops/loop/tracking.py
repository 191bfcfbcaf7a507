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
``drift_magnitude``.

Examples
--------
>>> metric_names(2)[:4]
['cumulative_regret', 'regret_per_pull', 'prob_best', 'prob_best_arm_0']
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from banditops.settings import get_settings
from banditops.store.types import ExperimentConfig, StoreState

log = logging.getLogger(__name__)
T = TypeVar("T")

META_PARENT = "mlflow_parent_run_id"
META_PHASE = "mlflow_phase_run_id"
META_PHASE_EPOCH = "mlflow_phase_epoch"
META_EXPERIMENT = "mlflow_experiment_id"
META_ERROR = "mlflow_error"


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
        self, store: Any, *, tracking_uri: str | None = None, experiment_name: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        settings = get_settings()
        self.store = store
        self.tracking_uri = tracking_uri or settings.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.experiment_name = experiment_name or settings.mlflow_experiment
        #: Where a NEW experiment keeps artifacts (``BANDITOPS_MLFLOW_ARTIFACT_LOCATION``); ``None``:
        #: the tracking server's default (a server with ``--artifacts-destination`` proxies them).
        self.artifact_location = artifact_location or os.environ.get("BANDITOPS_MLFLOW_ARTIFACT_LOCATION") or None
        self._client: Any = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
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
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(self.experiment_name, artifact_location=self.artifact_location))

    def run_ids(self) -> dict[str, str]:
        """Parent and phase run ids from the store's meta (empty strings when unknown)."""
        meta = self.store.get_meta()
        return {k: meta.get(k, "") for k in (META_EXPERIMENT, META_PARENT, META_PHASE, META_PHASE_EPOCH)}

    # -- runs -------------------------------------------------------------------------------------
    def start_experiment(self, config: ExperimentConfig, *, scenario: str, seed: int | None = None) -> str | None:
        """Open the experiment's parent run and the first phase run; returns the parent run id."""

        def open_parent() -> str:
            exp_id = self._experiment_id()
            run = self.client.create_run(
                exp_id, run_name=f"{scenario}-{int(time.time())}",
                tags={"scenario": scenario, "reward_kind": config.reward_kind, "source": config.source,
                      "kind": "experiment"},
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
        run = self.client.create_run(exp_id, run_name=f"{config.name}-{int(time.time())}",
                                     tags={"scenario": config.name, "kind": "experiment", "reopened": "true"})
        run_id = str(run.info.run_id)
        self.client.log_batch(run_id, params=_params(config))
        self.store.set_meta(**{META_EXPERIMENT: exp_id, META_PARENT: run_id})
        return run_id

    def _open_phase(self, epoch: int, reason: str, tags: dict[str, Any]) -> str:
        parent = self._ensure_parent()
        exp_id = self.store.get_meta().get(META_EXPERIMENT) or self._experiment_id()
        state = self.store.state()
        run = self.client.create_run(
            exp_id, run_name=f"phase-{epoch}",
            tags={"mlflow.parentRunId": parent, "kind": "phase", "phase": str(state.mode), "epoch": str(epoch),
                  "opened_by": reason, **{k: str(v) for k, v in tags.items()}},
        )
        run_id = str(run.info.run_id)
        self.client.log_batch(run_id, params=_params(state.config))
        self.store.set_meta(**{META_PHASE: run_id, META_PHASE_EPOCH: str(epoch)})
        return run_id

    def start_phase(self, *, epoch: int, reason: str, **tags: Any) -> str | None:
        """Open the child run of a learning phase (one per epoch); an open one is reused (retries)."""
        return self._guard("start_phase", lambda: self._phase_for(epoch, reason, tags))

    def _phase_run(self, epoch: int) -> str:
        return self._phase_for(epoch, "catch_up", {})

    def _phase_for(self, epoch: int, reason: str, tags: dict[str, Any], wait_s: float = 15.0) -> str:
        """The epoch's phase run, opened ONCE even when several tasks ask at the same moment.

        Why a claim: the experiment (or relearning) DAG opens the phase while the continuous
        learning DAG's logging task may already ask for it; both seeing "no run yet" opened two
        runs per phase. The first to claim ``mlflow_phase_claim:<epoch>`` in Redis opens it, the
        others wait for its id. A failed opener drops its claim, so the next call retries.
        """
        deadline = time.monotonic() + wait_s
        while True:
            meta = self.store.get_meta()
            if meta.get(META_PHASE) and meta.get(META_PHASE_EPOCH) == str(epoch):
                return str(meta[META_PHASE])
            if self.store.claim_phase_run(epoch, reason):
                try:
                    return self._open_phase(epoch, reason, tags)
                except BaseException:
                    self.store.release_phase_run(epoch)
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"the phase run of epoch {epoch} is being opened by another task")
            time.sleep(0.1)

    # -- per-batch metrics ------------------------------------------------------------------------
    def log_batch(self, state: StoreState, posterior: Any, prob_best: np.ndarray) -> bool:
        """One point of every metric at ``step = total pulls``; ``True`` when logged."""
        from mlflow.entities import Metric

        def log_point() -> bool:
            run_id = self._phase_run(state.epoch)
            ts = int(time.time() * 1000)
            step = int(state.total_pulls)
            values = _metric_values(state, posterior, prob_best)
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v in values.items()])
            return True

        return bool(self._guard("log_batch", log_point))

    def mark_converged(self, state: StoreState, posterior: Any, verdict: Any, truth: list[float] | None = None) -> None:
        """Tags and metrics of convergence, plus the snapshot and figure at that moment."""

        def mark() -> None:
            run_id = self._phase_run(state.epoch)
            self.client.set_tag(run_id, "phase", "MONITORING")
            self.client.set_tag(run_id, "converged", "true")
            self.client.set_tag(run_id, "leader", _arm_name(state, verdict.leader))
            self.client.log_metric(run_id, "pulls_to_converge", float(state.epoch_pulls), step=int(state.total_pulls))
            self.client.log_dict(run_id, snapshot(state, posterior, verdict, truth), "posterior/converged.json")
            figure = posterior_figure(posterior, truth, title=f"epoch {state.epoch} at convergence",
                                      names=state.config.names)
            if figure is not None:
                self.client.log_figure(run_id, figure, "posterior/converged.png")

        self._guard("mark_converged", mark)

    def end_phase(self, state: StoreState, posterior: Any, *, truth: list[float] | None = None,
                  status: str = "FINISHED", **tags: Any) -> None:
        """Archive the phase's final snapshot and figure, tag why it ended, close its run."""

        def end() -> None:
            run_id = self._phase_run(state.epoch)
            for key, value in tags.items():
                if value is not None:
                    self.client.set_tag(run_id, key, str(value))
            self.client.log_dict(run_id, snapshot(state, posterior, None, truth), "posterior/final.json")
            figure = posterior_figure(posterior, truth, title=f"epoch {state.epoch}, end of phase",
                                      names=state.config.names)
            if figure is not None:
                self.client.log_figure(run_id, figure, "posterior/final.png")
            self.client.set_terminated(run_id, status=status)
            self.store.set_meta(**{META_PHASE: "", META_PHASE_EPOCH: ""})

        self._guard("end_phase", end)


# -- pure helpers -------------------------------------------------------------------------------
def _arm_name(state: StoreState, arm: Any) -> str:
    """An arm index (a verdict's leader) as its name, for tags a person reads."""
    try:
        return state.config.names[int(arm)]
    except (TypeError, ValueError, IndexError):
        return str(arm)


def _params(config: ExperimentConfig, seed: int | None = None) -> list[Any]:
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


def _metric_values(state: StoreState, posterior: Any, prob_best: np.ndarray) -> dict[str, float]:
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


def snapshot(state: StoreState, posterior: Any, verdict: Any | None, truth: list[float] | None) -> dict[str, Any]:
    """The JSON artifact of a posterior: store counters, posterior summary, verdict, truth."""
    return {
        "mode": str(state.mode), "epoch": state.epoch, "total_pulls": state.total_pulls,
        "epoch_pulls": state.epoch_pulls, "regret": state.regret, "epoch_regret": state.epoch_regret,
        "stats": state.stats.to_dict(), "posterior": posterior.to_dict(),
        "verdict": verdict.to_dict() if verdict is not None else None, "truth_means": truth,
        "arm_names": list(state.config.names), "retired": [state.config.names[a] for a in sorted(state.retired)],
    }


def posterior_figure(posterior: Any, truth: list[float] | None, *, title: str = "",
                     names: Sequence[str] | None = None) -> Any:
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
