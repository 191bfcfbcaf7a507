"""``DriftTrigger``: per-arm change-point tests over the reward-summary stream, in the triggerer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from banditops.loop.drift_watch import DRIFT_CURSOR, DriftWatch

# cast: Airflow leaves TriggerEvent.__init__ unannotated; it takes the JSON payload.
_event = cast(Callable[[dict[str, Any]], TriggerEvent], TriggerEvent)


class DriftTrigger(BaseTrigger):
    """Waits, without blocking the triggerer's event loop, until a drift is sensed in MONITORING.

    Every Redis call and every detector update runs through ``sync_to_async`` (a worker thread
    that may still reach Airflow's connection API), never on the loop itself. The stream position
    is persisted in Redis under ``cursor_name`` after each poll and the detectors are rebuilt by
    replaying the current epoch's summaries since convergence (``banditops.loop.drift_watch.DriftWatch``),
    so a restarted triggerer picks up where the old one was. Outside MONITORING it only waits.

    Parameters
    ----------
    redis_conn_id : str
        Airflow Connection of the state store.
    namespace : str or None
        Store namespace (``None``: the Connection's ``namespace`` extra or ``BANDITOPS_NAMESPACE``).
    cursor_name : str
        Name of the persisted stream cursor.
    poll_interval : float
        Seconds between polls of the stream.
    max_wait : float
        Seconds after which the trigger reports ``idle`` so the DAG run ends and a fresh one starts.

    Yields
    ------
    TriggerEvent
        ``{"status": "drift", "epoch", "arm", "change_point", "magnitude", "statistic", "detector",
        "stream_id", "pulls_before", "epoch_pulls"}`` or ``{"status": "idle", "cursor"}``.
    """

    def __init__(
        self,
        *,
        redis_conn_id: str = "redis_default",
        namespace: str | None = None,
        cursor_name: str = DRIFT_CURSOR,
        poll_interval: float = 1.0,
        max_wait: float = 600.0,
    ) -> None:
        cast(Callable[[], None], super().__init__)()  # cast: BaseTrigger.__init__ is unannotated
        self.redis_conn_id = redis_conn_id
        self.namespace = namespace
        self.cursor_name = cursor_name
        self.poll_interval = float(poll_interval)
        self.max_wait = float(max_wait)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "redis_conn_id": self.redis_conn_id,
                "namespace": self.namespace,
                "cursor_name": self.cursor_name,
                "poll_interval": self.poll_interval,
                "max_wait": self.max_wait,
            },
        )

    def _watch(self) -> DriftWatch:
        from banditops_provider.hooks.bandit_state import BanditStateHook

        store = BanditStateHook(self.redis_conn_id, namespace=self.namespace).get_store()
        return DriftWatch(store, cursor_name=self.cursor_name)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = await sync_to_async(self._watch)()
        deadline = time.monotonic() + self.max_wait
        while True:
            finding = await sync_to_async(watch.poll)()
            if finding is not None:
                self.log.info("drift sensed on arm %s (epoch %s, change point %s)", finding.arm, finding.epoch,
                              finding.change_point)
                yield _event({"status": "drift", **finding.to_dict()})
                return
            if time.monotonic() >= deadline:
                yield _event({"status": "idle", "cursor": watch.cursor})
                return
            await asyncio.sleep(self.poll_interval)
