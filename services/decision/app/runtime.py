"""The long-lived parts of one decision service process and their background threads.

``Runtime`` wires the core library's pieces together: the store client, the posterior cache
(refreshed in the background), the decision log writer (batched in the background), the
recommender (pure, in-process) and the metrics. The app starts it in its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np

from banditops.serving.decision_log import DecisionLog
from banditops.serving.posterior_cache import PosteriorCache
from banditops.serving.recommender import Recommender
from banditops.store import BanditStore
from banditops.store.connection import AsyncRedis, AsyncRetry, ExponentialBackoff, Redis, RedisError, Retry
from banditops.store.feedback import dead_letter_count, feedback_lag_seconds, redis_memory
from banditops.store.types import ArmTable, listed
from services.decision.app.core.config import Settings
from services.decision.app.metrics import DecisionMetrics

log = logging.getLogger(__name__)


def redis_client(settings: Settings) -> Redis:
    """A client that fails fast: a down store must cost a refresh, not stall the service."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=5,
    )


def async_redis_client(settings: Settings) -> AsyncRedis:
    """The event loop's client (the decision-log writer), failing as fast as the other."""
    return AsyncRedis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        retry=AsyncRetry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        health_check_interval=5,
    )


class Runtime:
    """Store, cache, decision log, recommender and metrics of one service process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis_client(settings)
        self.store = BanditStore(self.client, settings.namespace)
        self.metrics = DecisionMetrics()
        self.cache = PosteriorCache(
            self.store,
            refresh_interval_s=settings.refresh_interval_s,
            min_interval_s=min(0.2, settings.refresh_interval_s),  # a burst of writes: one refresh
            draws=settings.propensity_draws,
            context_draws=settings.context_propensity_draws,
            seed=settings.seed,
            hooks=[self._observe_store],
        )
        self.log = DecisionLog(self.client, settings.namespace, ttl_s=settings.decision_ttl_s,
                               maxlen=settings.decisions_maxlen, flush_interval_s=settings.log_flush_interval_s)
        self.recommender = Recommender(
            lambda: self.cache.current,
            np.random.default_rng(settings.seed),
            static_ranking=settings.ranking,
            max_staleness_s=settings.max_staleness_s,
        )
        self._aclient: AsyncRedis | None = None
        self._writer: asyncio.Task[None] | None = None
        self._events_cursor = "0-0"
        self._last_observed = 0.0
        m = self.metrics
        m.staleness.set_function(self.cache.age_s)
        m.epoch.set_function(lambda: float(self.cache.current.epoch) if self.cache.current else 0.0)
        m.refresh_failures.set_function(lambda: float(self.cache.failures))
        m.log_buffered.set_function(lambda: float(self.log.buffered))
        m.log_dropped.set_function(lambda: float(self.log.dropped))

    def arm_table(self, *, fresh: bool = False) -> ArmTable:
        """The arms' names: the cached snapshot's, or the store's (``fresh``, or before the first
        refresh). ``ValueError`` when the namespace holds no experiment."""
        table = None if fresh else self.recommender.arm_table()
        if table is not None:
            return table
        try:
            return self.store.arms()
        except LookupError as exc:  # no experiment yet
            raise ValueError(str(exc)) from exc

    def arm_index(self, name: str) -> int:
        """The internal index of arm ``name`` (``ValueError`` naming the valid arms); an arm added
        since the last refresh is found in the store."""
        table = self.arm_table()
        if name not in table:
            table = self.arm_table(fresh=True)
        return table.index(name)

    def check_static_ranking(self) -> None:
        """Refuse a static ranking that names arms the experiment does not have, naming the valid ones.

        Skipped when the store is unreachable or holds no experiment yet: the names are then
        resolved at the first refresh (and default names ``"0"``, ``"1"``, ... before it).
        """
        names = self.settings.ranking
        if not names:
            return
        try:
            table = self.store.arms()
        except (LookupError, RedisError):
            return
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ValueError(f"BANDITOPS_DECISION_STATIC_RANKING names arms this experiment does not have: {unknown}; "
                             f"valid arms: {listed(table.names)}")

    async def start(self) -> Runtime:
        """Check the static ranking, then start the cache thread and, on the running event loop,
        the decision-log writer."""
        self.check_static_ranking()
        self.cache.start()
        self._aclient = async_redis_client(self.settings)
        self._writer = asyncio.get_running_loop().create_task(self.log.run_async(self._aclient))
        return self

    async def stop(self) -> None:
        self.cache.stop()
        self.log.request_stop()
        if self._writer is not None:
            try:  # let it finish the batch in flight rather than cancel it mid-write
                await asyncio.wait_for(self._writer, timeout=self.settings.redis_timeout_s * 4 + 1.0)
            except TimeoutError:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
        self.log.stop()  # a last, synchronous flush of what is still buffered
        if self._aclient is not None:
            await self._aclient.aclose()
        self.client.close()

    def _observe_store(self) -> None:
        """Metrics that need Redis, run in the refresher thread at most once a second."""
        now = time.monotonic()
        if now - self._last_observed < 1.0:
            return
        self._last_observed = now
        self.metrics.feedback_lag.set(feedback_lag_seconds(self.client, self.settings.namespace))
        self.metrics.feedback_dead.set(dead_letter_count(self.client, self.settings.namespace))
        used, cap = redis_memory(self.client)
        self.metrics.redis_used_memory.set(used)
        self.metrics.redis_maxmemory.set(cap)
        while True:
            events = self.store.events(since=self._events_cursor, count=1000)
            for event in events:
                self.metrics.lifecycle_events.labels(event.kind).inc()
            if not events:
                break
            self._events_cursor = events[-1].id
