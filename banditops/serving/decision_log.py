"""A background writer that logs decisions to Redis in batches, off the request path.

A decision must never wait on Redis, yet every decision — fallbacks included — must reach the
decision log, or feedback for it is refused and off-policy evaluation loses its denominator.
So a request only appends to an in-memory buffer; a writer drains it every few milliseconds
with one script call per batch (:func:`banditops.store.feedback.record_decisions`): an asyncio task
on the serving event loop (:meth:`DecisionLog.run_async`, what the decision service uses) or a
daemon thread (:meth:`DecisionLog.start`).
While Redis is unreachable the buffer keeps the decisions (up to ``max_buffer``; beyond that
the oldest are dropped and counted) and delivers them when Redis answers again.

Examples
--------
>>> log = DecisionLog(None, "bo")  # no client: buffering only, as on a cold start
>>> log.record(Decision("0" * 32, "u1", (2, 0), 1.0, 0, True, 0))
>>> log.buffered
1
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque

from banditops.store import connection as redis
from banditops.store.feedback import (
    DEFAULT_DECISION_TTL_S,
    DEFAULT_DECISIONS_MAXLEN,
    Decision,
    record_decisions,
    record_decisions_async,
)

log = logging.getLogger(__name__)


class DecisionLog:
    """Buffered, batched, retrying writer of :class:`~banditops.store.feedback.Decision` records.

    Parameters
    ----------
    client
        Redis client (``None`` only for buffering without a server, e.g. in a doctest).
    namespace
        Key prefix of the experiment.
    flush_interval_s
        Longest time a decision waits in the buffer while Redis is healthy.
    max_batch
        Decisions per script call.
    max_buffer
        Decisions kept while Redis is down; the oldest beyond this are dropped (counted in
        :attr:`dropped`) so an outage cannot exhaust the service's memory.
    """

    def __init__(
        self,
        client: redis.Redis | None,
        namespace: str,
        *,
        ttl_s: int = DEFAULT_DECISION_TTL_S,
        maxlen: int = DEFAULT_DECISIONS_MAXLEN,
        flush_interval_s: float = 0.005,
        max_batch: int = 1000,
        max_buffer: int = 200_000,
        retry_backoff_s: float = 0.25,
    ) -> None:
        if flush_interval_s <= 0 or max_batch < 1 or max_buffer < 1:
            raise ValueError("flush_interval_s must be > 0 and max_batch, max_buffer >= 1")
        self.client = client
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.maxlen = maxlen
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.retry_backoff_s = retry_backoff_s
        self._buffer: deque[Decision] = deque()
        self._lock = threading.Lock()  # one drainer at a time: the thread or an explicit flush()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight = 0  # decisions popped by the asyncio writer and not yet written
        self.written = 0
        self.dropped = 0
        self.failures = 0
        #: False while the last write attempt failed (Redis unreachable).
        self.healthy = True

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def record(self, decision: Decision) -> None:
        """Queue one decision; O(1), never blocks, never touches the network."""
        if len(self._buffer) >= self.max_buffer:
            try:
                self._buffer.popleft()
                self.dropped += 1
            except IndexError:  # drained concurrently
                pass
        self._buffer.append(decision)

    def flush(self, in_flight_timeout_s: float = 1.0) -> int:
        """Write everything buffered now (raises the Redis error if the server is down).

        Also waits (up to ``in_flight_timeout_s``) for a batch the asyncio writer is writing, so a
        caller that flushed knows every decision recorded before the call is in Redis.
        """
        if self.client is None:
            raise RuntimeError("DecisionLog has no Redis client to flush to")
        written = 0
        with self._lock:
            while self._buffer:
                written += self._write_batch()
        deadline = time.monotonic() + in_flight_timeout_s
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.001)
        return written

    def _write_batch(self) -> int:
        assert self.client is not None
        batch: list[Decision] = []
        while self._buffer and len(batch) < self.max_batch:
            batch.append(self._buffer.popleft())
        try:
            record_decisions(self.client, self.namespace, batch, ttl_s=self.ttl_s, maxlen=self.maxlen)
        except Exception:
            # Put the batch back in front, in order, so nothing is lost on a transient error.
            self._buffer.extendleft(reversed(batch))
            self.failures += 1
            self.healthy = False
            raise
        self.healthy = True
        self.written += len(batch)
        return len(batch)

    # -- the background thread ---------------------------------------------------------------
    def start(self) -> DecisionLog:
        if self.client is None:
            raise RuntimeError("DecisionLog has no Redis client to write to")
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
            self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the writer (thread or asyncio task) to finish its current batch and return."""
        self._stop.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread after a last best-effort flush."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        try:
            if self.client is not None and self._buffer:
                self.flush()
        except redis.RedisError as exc:
            log.warning("decision log: %s decisions not written at shutdown: %s", self.buffered, exc)

    async def run_async(self, client: redis.AsyncRedis) -> None:
        """The writer as an asyncio task on the serving event loop, instead of a thread.

        Why: a writer thread has to win the GIL from a CPU-bound event loop at every wake-up and
        every socket call, and those hand-offs cost the serving thread more than the writing
        itself. On the loop, the Redis call is plain non-blocking I/O. Stop it with :meth:`stop`
        (or by cancelling the task).
        """
        self._stop.clear()
        while not self._stop.is_set():
            await asyncio.sleep(self.flush_interval_s)
            while self._buffer and not self._stop.is_set():
                batch: list[Decision] = []
                while self._buffer and len(batch) < self.max_batch:
                    batch.append(self._buffer.popleft())
                self._in_flight += len(batch)
                try:
                    await record_decisions_async(client, self.namespace, batch, ttl_s=self.ttl_s, maxlen=self.maxlen)
                except redis.RedisError as exc:
                    self._buffer.extendleft(reversed(batch))
                    self.failures += 1
                    self.healthy = False
                    log.warning("decision log: Redis unavailable (%s); %s decisions buffered", exc, self.buffered)
                    await asyncio.sleep(self.retry_backoff_s)
                    break
                else:
                    self.healthy = True
                    self.written += len(batch)
                finally:
                    self._in_flight -= len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            if not self._buffer:
                continue
            try:
                with self._lock:
                    while self._buffer and not self._stop.is_set():
                        self._write_batch()
            except redis.RedisError as exc:
                log.warning("decision log: Redis unavailable (%s); %s decisions buffered", exc, self.buffered)
                self._stop.wait(self.retry_backoff_s)
            except Exception:  # a bug must not silently kill the writer thread
                log.exception("decision log: unexpected error; retrying")
                self._stop.wait(self.retry_backoff_s)
