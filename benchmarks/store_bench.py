"""State store throughput: ``BanditStore.apply_batch`` (one atomic Lua script per batch) under
concurrent agents, next to the server's floor (a PING round trip) measured the same way.

Each agent applies batches of ``batch_size`` Bernoulli pulls over K=10 arms with unique batch ids,
for ``duration_s`` seconds, as 1 thread, 8 threads sharing one client (an Airflow worker's
threads), and 8 processes with their own clients (separate Airflow task processes). Reported:
batches/s, pulls/s and the per-call latency p50/p99 seen by the agents. The server is a real
``redis-server`` on loopback (one core of its own at most; the agents share the rest).

Run: ``python -m benchmarks.store_bench [--duration 3] [--batch-size 100]``; writes the fragment
``benchmarks/results/store.json`` and ``.md`` (assembled into RESULTS.md by ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from banditops.store import BanditStore, ExperimentConfig
from benchmarks.fragments import write_fragment as write_fragment_pair
from stack.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
K = 10


def _agent(url: str, namespace: str, agent: int, start_at: float, duration_s: float, batch_size: int,
           kind: str, client: redis.Redis | None = None) -> list[float]:  # fmt: skip
    """Apply (or PING) until the deadline; returns the latency of every call in seconds."""
    own = client is None
    client = client if client is not None else redis.Redis.from_url(url)
    store = BanditStore(client, namespace)
    rng = np.random.default_rng(agent)
    # Pre-drawn batches: the benchmark measures the store, not the random generator.
    arms = rng.integers(0, K, size=(64, batch_size))
    rewards = (rng.random((64, batch_size)) < 0.3).astype(np.float64)
    epoch = store.epoch()
    latencies: list[float] = []
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + duration_s
    i = 0
    while True:
        t0 = time.perf_counter()
        if kind == "apply":
            result = store.apply_batch(f"bench/{agent}/{i}", epoch, arms[i % 64], rewards[i % 64])
            if not result.applied:
                raise RuntimeError(f"benchmark batch refused: {result.status}")
        else:
            client.ping()
        latencies.append(time.perf_counter() - t0)
        i += 1
        if time.time() >= deadline:
            break
    if own:
        client.close()
    return latencies


def _process_agent(args: tuple[Any, ...]) -> list[float]:
    return _agent(*args)


def _measure(server: RedisServer, *, kind: str, agents: int, processes: bool, duration_s: float,
             batch_size: int) -> dict[str, Any]:  # fmt: skip
    namespace = f"bench{os.getpid()}{kind}{agents}{int(processes)}"
    client = server.client()
    store = BanditStore(client, namespace, summaries_maxlen=10_000)
    store.reset(ExperimentConfig(name="store-bench", reward_kind="bernoulli", n_arms=K))
    start_at = time.time() + (3.0 if processes else 0.1)  # every agent ready before the clock starts
    args = [(server.url, namespace, a, start_at, duration_s, batch_size, kind) for a in range(agents)]
    if processes:
        # spawn, not fork: a forked child inherits locks held by the parent's other threads.
        with mp.get_context("spawn").Pool(agents) as pool:
            per_agent = pool.map(_process_agent, args)
    else:
        per_agent = [[] for _ in range(agents)]

        def run(a: int) -> None:
            per_agent[a] = _agent(*args[a], client=client)

        threads = [threading.Thread(target=run, args=(a,)) for a in range(agents)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    latencies = np.concatenate([np.asarray(x) for x in per_agent]) * 1e3
    calls = int(latencies.size)
    result: dict[str, Any] = {
        "kind": kind, "agents": agents, "mode": "processes" if processes else "threads",
        "batch_size": batch_size if kind == "apply" else 0, "duration_s": duration_s,
        "calls": calls, "calls_per_s": calls / duration_s,
        "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
    }  # fmt: skip
    if kind == "apply":
        state = store.state()
        # every call was applied exactly once: the store's own count must agree with the agents'
        if state.total_pulls != calls * batch_size:
            raise RuntimeError(f"store counted {state.total_pulls} pulls, agents sent {calls * batch_size}")
        result["pulls_per_s"] = calls * batch_size / duration_s
    client.close()
    return result


def run(*, duration_s: float = 3.0, batch_size: int = 100, agents: int = 8) -> dict[str, Any]:
    """Measure every configuration on one fresh server; returns a JSON-able dict."""
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        server = RedisServer(data_dir=Path(tmp)).start()
        try:
            configs = [
                ("apply", 1, False), ("apply", agents, False), ("apply", agents, True),
                ("ping", 1, False), ("ping", agents, True),
            ]
            rows = [
                _measure(server, kind=kind, agents=n, processes=proc, duration_s=duration_s, batch_size=batch_size)
                for kind, n, proc in configs
            ]
            version = server.client().info("server").get("redis_version", "?")
        finally:
            server.stop()
    return {
        "rows": rows,
        "batch_size": batch_size,
        "server": f"redis {version}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "note": "Timing depends on the machine; re-measure on a quiet one.",
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## State store: atomic batch updates",
        "",
        f"`BanditStore.apply_batch` (one Lua script: dedupe, epoch fence, posterior, counters, summary "
        f"stream, pub/sub), batches of {result['batch_size']} pulls, K={K}; {result['server']}; "
        f"{result['machine']}.",
        "",
        "| call | agents | as | calls/s | pulls/s | p50 ms | p99 ms |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        pulls = f"{r['pulls_per_s']:,.0f}" if "pulls_per_s" in r else "—"
        lines.append(
            f"| {r['kind']} | {r['agents']} | {r['mode']} | {r['calls_per_s']:,.0f} | {pulls} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    lines += ["", result["note"], ""]
    return "\n".join(lines)


def write_fragment(result: dict[str, Any], directory: Path = RESULTS) -> None:
    write_fragment_pair(directory, "store", result, markdown(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per configuration")
    parser.add_argument("--batch-size", type=int, default=100, help="pulls per batch")
    parser.add_argument("--agents", type=int, default=8, help="concurrent agents (threads / processes)")
    args = parser.parse_args(argv)
    result = run(duration_s=args.duration, batch_size=args.batch_size, agents=args.agents)
    write_fragment(result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
