"""``AgentBatchOperator``: one agent's rounds against the environment, applied atomically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from banditops.loop.ids import run_key
from banditops.loop.rounds import run_agent_batch
from banditops.settings import get_settings
from banditops_provider.hooks.bandit_env import BanditEnvHook
from banditops_provider.hooks.bandit_state import BanditStateHook


class AgentBatchOperator(BaseOperator):
    """Runs ``rounds`` rounds of sample → ``POST /pulls`` → atomic update, for one (mapped) agent.

    With ``BANDITOPS_AGENT_TASK_S`` it keeps playing rounds for that many seconds, one per
    ``BANDITOPS_AGENT_ROUND_INTERVAL_S`` at most, while the run's bookkeeping branch (MLflow,
    convergence) runs beside it (``banditops.loop.rounds.run_agent_batch``), and past that budget
    until the branch is done (``BanditStore.booked``), so the next run's agents take over at once.

    Each round's batch id is ``<dag_id>/<run_id>/<map_index>/<round>`` and carries the epoch it
    sampled under, so a retry of this task applies nothing twice and a round that straddles a
    relearning is refused instead of polluting the new epoch. Returns a small JSON report.

    Parameters
    ----------
    agent : int
        The agent's index (mapped with ``.expand(agent=...)``).
    rounds, pulls_per_round : int, optional
        Default: the experiment's config in the store (never parse-time values).
    redis_conn_id, env_conn_id : str
        Airflow Connections of the state store and the environment.
    namespace : str, optional
        Store namespace override.
    """

    template_fields: Sequence[str] = ("agent", "rounds", "pulls_per_round", "namespace")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        agent: int = 0,
        rounds: int | None = None,
        pulls_per_round: int | None = None,
        redis_conn_id: str = "redis_default",
        env_conn_id: str = "bandit_env_default",
        namespace: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agent = agent
        self.rounds = rounds
        self.pulls_per_round = pulls_per_round
        self.redis_conn_id = redis_conn_id
        self.env_conn_id = env_conn_id
        self.namespace = namespace

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        map_index = int(ti.map_index) if ti.map_index is not None and ti.map_index >= 0 else int(self.agent)
        store = BanditStateHook(self.redis_conn_id, namespace=self.namespace).get_store()
        env = BanditEnvHook(self.env_conn_id).get_conn()
        settings = get_settings()
        report = run_agent_batch(
            store, env, dag_id=ti.dag_id, run_id=ti.run_id, map_index=map_index,
            rounds=int(self.rounds) if self.rounds else None,
            pulls=int(self.pulls_per_round) if self.pulls_per_round else None,
            seed=settings.seed, seconds=settings.agent_task_s, round_interval_s=settings.agent_round_interval_s,
            booked=lambda: store.booked(run_key(ti.dag_id, ti.run_id)),
        )
        self.log.info("applied %s pulls in %s rounds (%s duplicate, %s stale) in epoch %s, mode %s",
                      report.pulls_applied, report.applied, report.duplicate, report.stale_epoch,
                      report.last_epoch, report.last_mode)
        return report.to_dict()
