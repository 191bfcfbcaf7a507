"""Prometheus metrics of the decision service, in a registry of its own per app.

What operators alert on (see ``monitoring/alerts.yml``): the fallback rate
(``banditops_recommendations_total{fallback="true"}`` over all), the posterior staleness, the
p99 of ``banditops_decision_request_duration_seconds`` and drift detections, which this service
sees by tailing the store's event stream (``banditops_lifecycle_events_total{kind=...}``).

Request latency is timed by ``services.common.latency.LatencyMiddleware``, which calls
:meth:`DecisionMetrics.observe_request`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Scope

from banditops.serving.recommender import Recommendation

LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_ROUTES = frozenset({"/recommend", "/feedback", "/arms", "/healthz", "/metrics"})


def route_label(path: str) -> str:
    """Bounded label values: known routes, ``/arms/{arm}...`` templates, else ``other``."""
    if path in _ROUTES:
        return path
    if path.startswith("/arms/"):
        return "/arms/{arm}/retire" if path.endswith("/retire") else "/arms/{arm}"
    return "other"


class LoopCounter(Collector):
    """A labelled counter for the event-loop thread only: a dict increment, no lock.

    ``prometheus_client``'s metrics take a lock per update (they must be thread-safe); at
    thousands of requests per second four of them per request cost more than the decision
    itself. Everything counted here is updated and scraped on the event loop, so it is safe.
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str], initial: Sequence[tuple[str, ...]] = ()):
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.counts: dict[tuple[str, ...], float] = dict.fromkeys(initial, 0.0)

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, count in list(self.counts.items()):
            family.add_metric(list(values), count)
        yield family

    def describe(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labels)


class LoopHistogram(Collector):
    """A histogram by route for the event-loop thread only (see :class:`LoopCounter`)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]):
        self.name, self.documentation = name, documentation
        self.buckets = list(buckets)
        self.series: dict[str, list[float]] = {}  # route -> per-bucket counts (+Inf last), then the sum

    def observe(self, route: str, seconds: float) -> None:
        series = self.series.get(route)
        if series is None:
            series = self.series[route] = [0.0] * (len(self.buckets) + 2)
        series[bisect_left(self.buckets, seconds)] += 1
        series[-1] += seconds

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["route"])
        for route, series in list(self.series.items()):
            cumulative, running = [], 0.0
            for bound, count in zip([*map(str, self.buckets), "+Inf"], series[:-1], strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([route], cumulative, series[-1])
        yield family

    def describe(self) -> Iterable[Metric]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=["route"])


class DecisionMetrics:
    """Latency, decisions per arm, fallbacks, staleness, feedback outcomes and lag, lifecycle events."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.latency = LoopHistogram("banditops_decision_request_duration_seconds", "Request latency by route.",
                                     LATENCY_BUCKETS)
        self.responses = LoopCounter("banditops_decision_responses", "Responses by route and HTTP status.",
                                     ["route", "status"])
        self.decisions = LoopCounter("banditops_decisions", "Decisions by the arm ranked first (its name).", ["arm"])
        # Both series exist from the start, so a fallback-rate query has data before the first fallback.
        self.recommendations = LoopCounter("banditops_recommendations",
                                           "Recommendations served, by whether they were static fallbacks.",
                                           ["fallback"], initial=[("true",), ("false",)])
        for collector in (self.latency, self.responses, self.decisions, self.recommendations):
            r.register(collector)
        self.feedback = Counter("banditops_feedback", "Feedback by outcome (accepted, duplicate, conflict, "
                                "unknown, invalid, unavailable).", ["status"], registry=r)
        self.feedback_lag = Gauge("banditops_feedback_lag_seconds",
                                  "Age of the oldest feedback not yet folded into the posterior.", registry=r)
        self.feedback_dead = Gauge("banditops_feedback_dead_letters",
                                   "Feedback entries the fold could not apply, kept with their reason in the "
                                   "dead-letter stream.", registry=r)
        self.redis_used_memory = Gauge("banditops_redis_used_memory_bytes",
                                       "Memory the state store's Redis uses (INFO memory used_memory).", registry=r)
        self.redis_maxmemory = Gauge("banditops_redis_maxmemory_bytes",
                                     "The state store's maxmemory (0: no cap); at it, writes are refused.", registry=r)
        self.lifecycle_events = Counter("banditops_lifecycle_events",
                                        "Lifecycle events of the experiment seen in the store (drift_detected, "
                                        "converged, epoch_opened, ...).", ["kind"], registry=r)
        self.staleness = Gauge("banditops_posterior_staleness_seconds",
                               "Seconds since the cached posterior was refreshed (+Inf before the first).",
                               registry=r)
        self.epoch = Gauge("banditops_posterior_epoch", "Epoch of the cached posterior (0 before the first).",
                           registry=r)
        self.refresh_failures = Gauge("banditops_posterior_refresh_failures",
                                      "Failed refreshes of the cached posterior since start.", registry=r)
        self.log_buffered = Gauge("banditops_decision_log_buffered",
                                  "Decisions waiting to be written to Redis.", registry=r)
        self.log_dropped = Gauge("banditops_decision_log_dropped",
                                 "Decisions dropped from a full buffer during a long outage, since start.",
                                 registry=r)
        self._arm_keys: dict[str, tuple[str]] = {}

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """One finished HTTP request (``services.common.latency.LatencyMiddleware`` calls it; it sits
        outside the body cap, so its 413s are counted too): latency and status by route template."""
        route = route_label(scope["path"])
        self.latency.observe(route, seconds)
        counts = self.responses.counts
        key = (route, str(status))
        counts[key] = counts.get(key, 0.0) + 1

    def count(self, rec: Recommendation) -> None:
        """Count one recommendation (event-loop thread only)."""
        self.recommendations.counts[("true",) if rec.fallback else ("false",)] += 1
        top = rec.names[0]  # the arm's name: bounded by the catalogue, and what a person reads
        key = self._arm_keys.get(top)
        if key is None:
            key = self._arm_keys[top] = (top,)
        counts = self.decisions.counts
        counts[key] = counts.get(key, 0.0) + 1
