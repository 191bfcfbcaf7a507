"""What every BanditOps DAG shares: start date, retries with backoff, schedules from the environment.

Kept here (not in ``dags/``) so DAG files stay one data-flow sentence and nothing imports ``dags/``.
Schedules and the sensor's timing are read from the environment at parse time, through
:class:`banditops.settings.DagSettings` (cheap, no database, no network; a fresh read per call, so a
parse sees the environment of that moment); an Airflow Variable would cost a metadata-DB query on
every parse.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from banditops.settings import DagSettings

#: Timezone-aware and in the past, so the first run is due at once; catchup is off everywhere.
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "banditops",
    "retries": 3,
    "retry_delay": timedelta(seconds=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(seconds=30),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def schedule_from(value: str) -> str | timedelta | None:
    """``"@continuous"``, a cron/preset string, ``"none"``, or a duration like ``"15s"`` / ``"2m"``.

    >>> schedule_from("15s")
    datetime.timedelta(seconds=15)
    >>> schedule_from("@continuous")
    '@continuous'
    """
    text = value.strip()
    if text.lower() in ("", "none", "manual"):
        return None
    match = _DURATION.match(text)
    if match:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return text


def learning_schedule() -> str | timedelta | None:
    """``BANDITOPS_LEARNING_SCHEDULE``, default ``@continuous`` (back-to-back runs, one at a time)."""
    return schedule_from(DagSettings().learning_schedule)


def drift_monitor_schedule() -> str | timedelta | None:
    """``BANDITOPS_DRIFT_MONITOR_SCHEDULE``, default ``@continuous`` (a sensor is always waiting)."""
    return schedule_from(DagSettings().drift_monitor_schedule)


def drift_poll_interval() -> float:
    """``BANDITOPS_DRIFT_POLL_S``, default 1 s: how often the drift trigger polls the store."""
    return float(DagSettings().drift_poll_s)


def drift_max_wait() -> float:
    """``BANDITOPS_DRIFT_MAX_WAIT_S``, default 600 s: how long one drift sensor run waits."""
    return float(DagSettings().drift_max_wait_s)
