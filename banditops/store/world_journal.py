"""The environment's world, kept in Redis, so a restart brings back the same world.

The environment service holds its world in memory. Without a record of it, a crash, a rollout or
a rescheduled pod brought back the service's *default* scenario in the middle of an experiment on
another one, without the drifts injected or the arms added, and every agent round then failed
(or, worse, learned from the wrong world). The world's one source of truth is therefore this
record; the service's memory is a copy of it:

* the service writes the record **before** it answers a change (write-ahead): a drift, an added
  arm or a reset that got a 2xx is in the record; one the record could not take is refused (503)
  and the world is unchanged;
* on start, the service loads the record when there is one and builds its world from it; the
  scenario in its settings is only the world of a first start, written to the record at once.

Keys (``ns`` is the experiment's namespace; documented with the store's keys in
:mod:`banditops.store.redis_store`):

=======================  ======  ===============================================================
key                      type    content
=======================  ======  ===============================================================
``ns.world:state``       string  JSON of the world as it is now: ``scenario``, ``seed``, ``arms``,
                                 the remaining ``schedule`` (``problem1``), ``version``
``ns.world:events``      list    JSON of every change, in the order applied (``scenario_reset``,
                                 ``drift``, ``arm_added``): the service's event log, capped
=======================  ======  ===============================================================

Why a sibling prefix (``ns.world``) and not ``ns:world``: starting an experiment resets the world
first and then the store, and the store's reset wipes every ``ns:*`` key. Under ``ns:`` the world a
new experiment has just set would be erased by the same start. State and event are written in one
``MULTI``, so the record never holds a change without the world it produced, or the reverse.

Examples
--------
Nothing is sent to Redis until a command needs it, so the keys can be named offline (the round
trip on a real server is ``tests/integration/test_environment_restart.py``):

>>> import redis
>>> journal = WorldJournal(redis.Redis(), "bo")
>>> journal.state_key, journal.events_key
('bo.world:state', 'bo.world:events')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import redis

#: Written into every state; a record of another format is refused rather than misread.
RECORD_FORMAT = "banditops-world/1"
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def world_prefix(namespace: str) -> str:
    """The prefix of every key of the world record of ``namespace``: ``<namespace>.world:``.

    The environment's Redis user (:mod:`banditops.store.acl`) may write exactly the keys under it.

    >>> world_prefix("bo")
    'bo.world:'
    """
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: use letters, digits, '_', '.' or '-' (no ':' or glob characters)"
        )
    return f"{namespace}.world:"


class WorldRecordError(RuntimeError):
    """The world record could not be read or written (Redis unreachable, or a record of another format)."""


@dataclass(frozen=True)
class WorldRecord:
    """What the record holds: the world now, and the changes since its last reset, oldest first."""

    state: dict[str, Any]
    events: list[dict[str, Any]]


class WorldJournal:
    """The environment's world record in Redis (see the module docstring).

    Parameters
    ----------
    client
        A redis-py client; the journal never closes it.
    namespace
        The experiment's namespace (``BANDITOPS_NAMESPACE``); the record lives under ``<namespace>.world``.
    max_events
        Most changes kept (oldest dropped first), like the service's own event log.
    """

    def __init__(self, client: redis.Redis, namespace: str = "bo", *, max_events: int = 10_000) -> None:
        prefix = world_prefix(namespace)
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1; got {max_events}")
        self.client = client
        self.namespace = namespace
        self.max_events = int(max_events)
        self.state_key = prefix + "state"
        self.events_key = prefix + "events"

    @classmethod
    def from_url(cls, url: str, namespace: str = "bo", **kwargs: Any) -> WorldJournal:
        """A journal on a new client for ``url`` (``redis://[:password@]host:port/db``)."""
        return cls(redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0), namespace, **kwargs)

    def load(self) -> WorldRecord | None:
        """The record, or ``None`` when there is none yet; :class:`WorldRecordError` when unreadable."""
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.get(self.state_key)
            pipe.lrange(self.events_key, 0, -1)
            raw_state, raw_events = pipe.execute()
        except redis.RedisError as exc:
            raise WorldRecordError(f"the world record in Redis could not be read: {exc}") from exc
        if raw_state is None:
            return None
        state = json.loads(raw_state)
        if not isinstance(state, dict) or state.get("format") != RECORD_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise WorldRecordError(
                f"{self.state_key} holds a record of format {found!r}, not {RECORD_FORMAT!r}; nothing was "
                f"changed. Delete the key to start the world afresh from the service's settings"
            )
        return WorldRecord(state, [json.loads(e) for e in raw_events])

    def save(self, state: dict[str, Any], *events: dict[str, Any]) -> None:
        """Write the world's state and append the changes that produced it, in one ``MULTI``.

        :class:`WorldRecordError` when Redis does not take it: the caller must then leave its
        world unchanged.
        """
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self.state_key, json.dumps({**state, "format": RECORD_FORMAT}))
            if events:
                pipe.rpush(self.events_key, *(json.dumps(e) for e in events))
                pipe.ltrim(self.events_key, -self.max_events, -1)
            pipe.execute()
        except redis.RedisError as exc:
            raise WorldRecordError(f"the world record in Redis could not be written: {exc}") from exc

    def clear(self) -> None:
        """Forget the record (the next start builds the world from the service's settings)."""
        self.client.delete(self.state_key, self.events_key)
