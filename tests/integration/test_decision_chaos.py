"""Chaos: stop the store under load. A real uvicorn decision service and a real Redis server.

While Redis is down the service keeps answering — from the cached posterior for up to
``max_staleness_s``, then with the static ranking (``fallback: true``) — and never with a 5xx.
Feedback is refused with 503 while the store is down (the documented choice: an accepted
feedback is durable in Redis, never only in a process's memory). When Redis is back, real
decisions resume within seconds, the decisions made during the outage reach the decision log
(feedback for them is then accepted), and every feedback that was accepted is in the stream.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import feedback_entries
from stack.decision_server import DecisionServer
from stack.redis_server import RedisServer

MAX_STALENESS_S = 1.0


@dataclass
class Load:
    """Users hammering /recommend and sending feedback for every other decision."""

    url: str
    answers: list[tuple[float, int, dict]] = field(default_factory=list)  # (start time, status, body)
    feedback: dict[str, int] = field(default_factory=dict)  # decision_id -> status
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                started = time.monotonic()
                r = client.post("/recommend", json={"user_id": f"w{worker}-{i}", "k": 2})
                body = r.json()
                self.answers.append((started, r.status_code, body))
                if r.status_code == 200 and i % 2 == 0:
                    f = client.post("/feedback", json={"decision_id": body["decision_id"], "reward": 1, "position": 0})
                    self.feedback[body["decision_id"]] = f.status_code
                time.sleep(0.003)


def test_store_outage_falls_back_without_errors_and_recovers(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", appendonly=True).start()
    store = BanditStore(server.client(), "chaos")
    store.reset(ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=5, source="production"))
    rng = np.random.default_rng(1)
    arms = np.repeat(np.arange(5), 200)
    store.apply_batch("seed/0/0/0", 1, arms, (rng.random(arms.size) < 0.1 + 0.15 * arms).astype(float))
    service = DecisionServer(server.url, namespace="chaos", log_path=tmp_path / "decision.log", settings={
        "static_ranking": "0,1,2,3,4", "max_staleness_s": MAX_STALENESS_S, "refresh_interval_s": 0.2,
        "redis_timeout_s": 0.2, "seed": 5,
    })
    load = Load(service.start().url)
    workers = [threading.Thread(target=load.run, args=(w,), daemon=True) for w in range(3)]
    try:
        service.wait_live()
        for w in workers:
            w.start()
        time.sleep(1.5)
        stopped_at = time.monotonic()
        server.stop()
        time.sleep(MAX_STALENESS_S + 2.0)
        restarted_at = time.monotonic()
        server.start()
        deadline = restarted_at + 15
        while time.monotonic() < deadline and not any(
            t > restarted_at and not body.get("fallback", True) for t, _, body in list(load.answers)
        ):
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        load.stop.set()
        for w in workers:
            w.join(10)
    try:
        answers = list(load.answers)
        # Never a 5xx (nor any other error) from /recommend, through the whole outage.
        assert {status for _, status, _ in answers} == {200}
        before = [b for t, _, b in answers if t < stopped_at]
        outage = [b for t, _, b in answers if stopped_at + MAX_STALENESS_S + 0.5 < t < restarted_at]
        assert before and not any(b["fallback"] for b in before)
        assert len(outage) > 20 and all(b["fallback"] and b["arms"] == ["0", "1"] for b in outage)
        resumed = [t for t, _, b in answers if t > restarted_at and not b["fallback"]]
        assert resumed and resumed[0] - restarted_at < 5.0
        # Feedback: refused (503) while the store was down, accepted otherwise.
        statuses = set(load.feedback.values())
        assert statuses <= {200, 503} and 503 in statuses and 200 in statuses
        # The fallback rate is visible in /metrics and matches what the users saw, exactly.
        metrics = httpx.get(f"{service.url}/metrics").text
        served = {flag: float(re.search(rf'banditops_recommendations_total{{fallback="{flag}"}} (\S+)', metrics)[1])
                  for flag in ("true", "false")}
        assert served["true"] == sum(1 for _, _, b in answers if b["fallback"])
        assert served["false"] == sum(1 for _, _, b in answers if not b["fallback"])
        # Decisions made during the outage were buffered and written once Redis came back:
        deadline = time.monotonic() + 10
        while httpx.get(f"{service.url}/healthz").json()["decisions_buffered"] and time.monotonic() < deadline:
            time.sleep(0.05)
        late = [b["decision_id"] for b in outage if b["decision_id"] not in load.feedback][:5]
        for decision_id in late:
            r = httpx.post(f"{service.url}/feedback", json={"decision_id": decision_id, "reward": 0, "position": 0})
            assert r.status_code == 200 and r.json()["status"] == "accepted"
        # ... and no feedback that was accepted is missing from the stream (AOF kept it over the restart).
        accepted = {d for d, status in load.feedback.items() if status == 200} | set(late)
        in_stream = {e["decision_id"] for e in feedback_entries(server.client(), "chaos")}
        assert accepted <= in_stream
        # A feedback may also be in the stream without a 200 seen by its client: written just as
        # Redis went down and answered 503 (the client's retry then gets "duplicate"). Never more.
        refused = {d for d, status in load.feedback.items() if status != 200}
        assert in_stream - accepted <= refused
    finally:
        service.stop()
        server.stop()
