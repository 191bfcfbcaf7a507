"""Prometheus metrics of the environment service, in a registry of its own per app.

A registry per app (not the global one) lets tests build several apps in one process.
Request latency is timed by ``services.common.latency.LatencyMiddleware``, which calls
:meth:`EnvMetrics.observe_request`.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Scope

from services.environment.app.world import PullOutcome

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class EnvMetrics:
    """Pulls and rewards per arm, world events, ground-truth means, request latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.pulls = Counter("banditops_env_pulls", "Pulls per arm since the service started.", ["arm"],
                             registry=self.registry)
        self.reward_sum = Gauge("banditops_env_reward_sum", "Sum of rewards paid per arm since start.", ["arm"],
                                registry=self.registry)
        self.events = Counter("banditops_env_events", "World events (drift, arm_added, scenario_reset).",
                              ["kind"], registry=self.registry)
        self.arm_mean = Gauge("banditops_env_arm_mean", "True expected reward per arm.", ["arm"],
                              registry=self.registry)
        self.world_pulls = Gauge("banditops_env_world_pulls", "Pulls since the last scenario reset.",
                                 registry=self.registry)
        self.latency = Histogram("banditops_env_request_duration_seconds", "Request latency by route.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._per_arm: list[tuple[Any, Any]] = []

    def _children(self, arm: int) -> tuple[Any, Any]:
        """The per-arm series, resolved once: ``labels()`` costs a lock and a dict lookup per call."""
        while len(self._per_arm) <= arm:
            label = str(len(self._per_arm))
            self._per_arm.append((self.pulls.labels(label), self.reward_sum.labels(label)))
        return self._per_arm[arm]

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """One finished HTTP request, labelled by route template (bounded cardinality)."""
        route = getattr(scope.get("route"), "path", "unmatched")
        self.latency.labels(scope["method"], route, str(status)).observe(seconds)

    def observe_pulls(self, outcome: PullOutcome) -> None:
        counts = outcome.pulls_per_arm.tolist()
        sums = outcome.reward_per_arm.tolist()
        for arm, count in enumerate(counts):
            if count:
                pulls, reward_sum = self._children(arm)
                pulls.inc(count)
                reward_sum.inc(sums[arm])
        self.world_pulls.set(outcome.total_pulls)
        for event in outcome.events:
            self.events.labels(event["kind"]).inc()
            if event["arm"] is not None:
                self.arm_mean.labels(str(event["arm"])).set(_mean_of(event["after"]))

    def observe_event(self, event: dict[str, Any], truth: dict[str, Any]) -> None:
        self.events.labels(event["kind"]).inc()
        self.observe_truth(truth)

    def observe_truth(self, truth: dict[str, Any]) -> None:
        self.arm_mean.clear()  # a reset may leave fewer arms than before
        for arm, mean in enumerate(truth["means"]):
            self.arm_mean.labels(str(arm)).set(mean)
        self.world_pulls.set(truth["total_pulls"])


def _mean_of(arm: dict[str, Any]) -> float:
    return float(arm["mean"] if arm["kind"] == "gaussian" else arm["p"])
