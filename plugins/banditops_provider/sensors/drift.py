"""``DriftSensor``: a deferrable sensor that hands the waiting to :class:`DriftTrigger`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context

from banditops.loop.drift_watch import DRIFT_CURSOR
from banditops_provider.triggers.drift import DriftTrigger


class DriftSensor(BaseSensorOperator):
    """Defers at once; wakes up with the trigger's event (a drift, or ``idle`` after ``max_wait``).

    It occupies no worker slot while waiting: the triggerer runs the per-arm tests. The event is
    returned, so it lands in XCom for the branch that records the drift.
    """

    template_fields: Sequence[str] = ("namespace", "cursor_name")

    def __init__(
        self,
        *,
        redis_conn_id: str = "redis_default",
        namespace: str | None = None,
        cursor_name: str = DRIFT_CURSOR,
        poll_interval: float = 1.0,
        max_wait: float = 600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", max_wait + 300)
        super().__init__(**kwargs)
        self.redis_conn_id = redis_conn_id
        self.namespace = namespace
        self.cursor_name = cursor_name
        self.poll_interval = poll_interval
        # Not ``self.max_wait``: that is BaseSensorOperator's longest back-off between pokes (a timedelta).
        self.drift_max_wait = float(max_wait)

    def execute(self, context: Context) -> None:
        self.defer(
            trigger=DriftTrigger(
                redis_conn_id=self.redis_conn_id, namespace=self.namespace, cursor_name=self.cursor_name,
                poll_interval=self.poll_interval, max_wait=self.drift_max_wait,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.drift_max_wait + 300),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        event = dict(event or {"status": "idle"})
        if event.get("status") == "drift":
            self.log.info("drift on arm %s, magnitude %.3f", event.get("arm"), float(event.get("magnitude", 0.0)))
        else:
            self.log.info("no drift sensed this run (%s)", event.get("status"))
        return event
