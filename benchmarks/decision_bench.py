"""Decision API under load: ``/recommend`` vs a bare FastAPI endpoint, side by side, with wrk.

Both run under the same uvicorn (1 process, uvloop + httptools, no access log) on loopback;
wrk drives them from a second process with the same 8 connections and the same POST body, in
alternating rounds so machine noise hits both alike. The decision API is fully live: a real
Redis holds a 10-banner posterior, the cache refreshes in the background, every decision is
logged to Redis by the batched writer and counted in Prometheus metrics.

Targets (issue 8): p99 <= 5 ms at >= 3,000 req/s, and >= 75 % of the bare endpoint's throughput.

Run: ``python -m benchmarks.decision_bench [--duration 10] [--rounds 2]``; writes the fragment
``benchmarks/results/decision.json`` and ``.md`` (assembled into RESULTS.md by ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from banditops.bandit.arms import scenario
from banditops.store import BanditStore, ExperimentConfig
from benchmarks.fragments import write_fragment as write_fragment_pair
from stack.decision_server import DecisionServer
from stack.redis_server import RedisServer, free_port

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGETS = {"recommend_p99_ms": 5.0, "recommend_rps": 3000.0, "recommend_vs_bare": 0.75}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"user_id":"user-' .. n .. '","k":3}')
end
"""


def _to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """p50/p99/max latency (ms), requests/s and error counts from ``wrk --latency`` output."""
    pct = {int(p): _to_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", output, re.M)}
    latency = re.search(r"Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if not (latency and rps and requests and 50 in pct and 99 in pct):
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    return {
        "p50_ms": pct[50], "p99_ms": pct[99], "max_ms": _to_ms(latency.group(3)),
        "rps": float(rps.group(1)), "requests": int(requests.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def wrk(url: str, script: Path, *, duration_s: float, connections: int = 8, threads: int = 1) -> dict[str, float]:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (or make system-deps)")
    out = subprocess.run(
        [binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=duration_s + 30,
    )
    return parse_wrk(out.stdout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``): load-independent cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_p99_bound_ms(metrics: str, route: str = "/recommend") -> float | None:
    """Upper bound of the server-side p99 (ms): the first histogram bucket holding 99 % of requests.

    Measured inside the service (from the ASGI call to the last byte handed to uvicorn), so it
    excludes the client's and the kernel's queueing that dominate wrk's tail on a busy machine.
    """
    pattern = rf'banditops_decision_request_duration_seconds_bucket{{le="([^"]+)",route="{re.escape(route)}"}} (\S+)'
    buckets = [(float(le), float(count)) for le, count in re.findall(pattern, metrics)]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(le * 1000 for le, count in buckets if count >= 0.99 * total)


def alternating_rounds(
    targets: dict[str, tuple[str, Path, int]], redis_pid: int, *, rounds: int, duration_s: float, connections: int,
) -> dict[str, list[dict[str, float]]]:
    """``rounds`` rounds of one wrk run per target (``name -> (url, script, server pid)``), in turn.

    Alternating rounds spread the machine's load changes over every target alike. Each run also
    carries the CPU per request of the server process and of Redis (which logs every decision):
    unlike latency and throughput, these barely depend on what else the machine runs.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, script, pid) in targets.items():
            cpu0, redis0 = cpu_seconds(pid), cpu_seconds(redis_pid)
            run_result = wrk(url, script, duration_s=duration_s, connections=connections)
            run_result["server_cpu_us"] = (cpu_seconds(pid) - cpu0) / run_result["requests"] * 1e6
            run_result["redis_cpu_us"] = (cpu_seconds(redis_pid) - redis0) / run_result["requests"] * 1e6
            runs[name].append(run_result)
    return runs


def _start_bare(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"http://127.0.0.1:{port}/recommend", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bare baseline app did not start")


def _seed_posterior(store: BanditStore) -> None:
    """A 10-banner experiment with 20,000 simulated impressions, so the ranking is not trivial."""
    arms = scenario("banners")
    config = ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=len(arms), source="production")
    epoch = store.reset(config)
    rng = np.random.default_rng(7)
    pulls = rng.integers(0, len(arms), 20_000)
    rewards = (rng.random(pulls.size) < np.array([a.mean for a in arms])[pulls]).astype(float)
    store.apply_batch("bench/seed/0/0", epoch, pulls, rewards)


def run(
    *, duration_s: float = 10.0, rounds: int = 2, warmup_s: float = 2.0, connections: int = 8,
    settings: dict[str, object] | None = None,
) -> dict[str, Any]:
    """Measure both endpoints in alternating rounds; returns the ``decision`` results section."""
    work = Path(tempfile.mkdtemp(prefix="decision-bench-"))
    script = work / "recommend.lua"
    script.write_text(WRK_SCRIPT)
    redis_server = RedisServer(data_dir=work / "redis").start()
    bare_port = free_port()
    bare = None
    service = DecisionServer(redis_server.url, namespace="bench", settings={"seed": 1, **(settings or {})},
                             log_path=work / "decision.log")
    try:
        _seed_posterior(BanditStore(redis_server.client(), "bench"))
        service.start()
        service.wait_live()
        bare = _start_bare(bare_port)
        targets = {"recommend": f"{service.url}/recommend", "bare": f"http://127.0.0.1:{bare_port}/recommend"}
        for url in targets.values():
            wrk(url, script, duration_s=warmup_s, connections=connections)
        assert service.process is not None and redis_server.process is not None
        pids = {"recommend": service.process.pid, "bare": bare.pid}
        runs = alternating_rounds({name: (url, script, pids[name]) for name, url in targets.items()},
                                  redis_server.process.pid, rounds=rounds, duration_s=duration_s,
                                  connections=connections)  # fmt: skip
        health = httpx.get(f"{service.url}/healthz").json()
        metrics = httpx.get(f"{service.url}/metrics").text
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        service.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    fallbacks = re.search(r'banditops_recommendations_total\{fallback="true"\} ([\d.e+]+)', metrics)
    result: dict[str, Any] = {
        "recommend_p50_ms": median("recommend", "p50_ms"),
        "recommend_p99_ms": median("recommend", "p99_ms"),
        "recommend_max_ms": max(r["max_ms"] for r in runs["recommend"]),
        "recommend_rps": median("recommend", "rps"),
        "bare_p50_ms": median("bare", "p50_ms"),
        "bare_p99_ms": median("bare", "p99_ms"),
        "bare_max_ms": max(r["max_ms"] for r in runs["bare"]),
        "bare_rps": median("bare", "rps"),
        "recommend_server_cpu_us": median("recommend", "server_cpu_us"),
        "recommend_redis_cpu_us": median("recommend", "redis_cpu_us"),
        "bare_server_cpu_us": median("bare", "server_cpu_us"),
        "recommend_server_p99_bound_ms": server_p99_bound_ms(metrics),
        "recommend_non_2xx": sum(int(r["non_2xx"]) for r in runs["recommend"]),
        "recommend_fallbacks": float(fallbacks.group(1)) if fallbacks else None,
        "decisions_buffered_at_end": health.get("decisions_buffered"),
        "connections": connections, "duration_s": duration_s, "rounds": rounds,
        "runs": runs,
    }
    result["recommend_vs_bare"] = result["recommend_rps"] / result["bare_rps"]
    result["targets"] = TARGETS
    result["met"] = {
        "recommend_p99_ms": result["recommend_p99_ms"] <= TARGETS["recommend_p99_ms"],
        "recommend_rps": result["recommend_rps"] >= TARGETS["recommend_rps"],
        "recommend_vs_bare": result["recommend_vs_bare"] >= TARGETS["recommend_vs_bare"],
    }
    return result


#: The contextual load test (issue 15): 80 arms, d = 20 (intercept + 15 numeric + 4 hashed columns).
CONTEXT_ARMS = 80
CONTEXT_MODEL = {"numeric": [f"f{i}" for i in range(15)], "categorical": ["segment"], "n_buckets": 4}
CONTEXT_TARGETS = {"p99_ms": 5.0, "rps": 3000.0}


def _context_wrk_script(with_context: bool, pool: int = 256, seed: int = 11) -> str:
    """A wrk script cycling through ``pool`` precomputed bodies (so the client spends no CPU building them)."""
    lua_bodies = ",\n".join("[[" + b + "]]" for b in _bodies(with_context, pool, seed))
    return (
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{\n{lua_bodies}\n}}\nlocal n = 0\n"
        "request = function()\n  n = n % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[n])\nend\n"
    )


def _contextual_pulls(spec: Any, pulls: int = 40_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pulls`` simulated impressions of the 80-arm experiment: arms, encoded contexts, clicks."""
    rng = np.random.default_rng(8)
    arms = rng.integers(0, CONTEXT_ARMS, pulls)
    users = [{**{f"f{i}": float(v) for i, v in enumerate(row)}, "segment": f"s{int(s)}"}
             for row, s in zip(rng.normal(size=(pulls, 15)), rng.integers(0, 50, pulls), strict=True)]
    X = spec.encode(users)
    weights = rng.normal(0, 0.3, size=(CONTEXT_ARMS, spec.dim))
    weights[:, 0] = -1.5
    clicks = (rng.random(pulls) < 1 / (1 + np.exp(-np.einsum("nd,nd->n", X, weights[arms])))).astype(float)
    return arms, X, clicks


def _seed_contextual(store: BanditStore, pulls: int = 40_000) -> None:
    """An 80-arm contextual experiment with ``pulls`` simulated impressions, folded as the agents would."""
    from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats

    config = ExperimentConfig(name="banners-ctx", reward_kind="bernoulli", n_arms=CONTEXT_ARMS, source="production",
                              context=CONTEXT_MODEL)
    epoch = store.reset(config)
    spec = config.context_model
    assert spec is not None
    arms, X, clicks = _contextual_pulls(spec, pulls)
    linear = LinearGaussianStats.from_batch(CONTEXT_ARMS, arms, X, clicks)
    store.apply_batch("bench/seed-ctx/0/0", epoch, arms, clicks, linear=linear)


def _bodies(with_context: bool, pool: int = 256, seed: int = 11) -> list[str]:
    """The load test's request bodies (the wrk script cycles through them)."""
    rng = np.random.default_rng(seed)
    bodies = []
    for n in range(pool):
        body: dict[str, Any] = {"user_id": f"user-{n}", "k": 3}
        if with_context:
            context: dict[str, Any] = {f"f{i}": round(float(v), 4) for i, v in enumerate(rng.normal(size=15))}
            context["segment"] = f"s{int(rng.integers(0, 50))}"
            body["context"] = context
        bodies.append(json.dumps(body, separators=(",", ":")))
    return bodies


def in_process(calls: int = 20_000) -> dict[str, Any]:
    """Per-request cost of the decision itself, without HTTP: parse the body and call the function the
    route calls (``routes.recommend._decide`` -> ``Recommender.recommend`` / ``recommend_in_context``)
    on the load test's 80-arm snapshot and bodies. Wall and thread-CPU p50/p99 per call."""
    from types import SimpleNamespace

    from banditops.bandit.context_model import ContextModelSpec
    from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
    from banditops.bandit.stats import ArmStats
    from banditops.serving.posterior_cache import CachedPosterior
    from banditops.serving.recommender import Recommender
    from services.decision.app.api.routes.recommend import _decide
    from services.decision.app.models import RecommendRequest

    spec = ContextModelSpec.from_dict(CONTEXT_MODEL)
    arms, X, clicks = _contextual_pulls(spec)
    snap = CachedPosterior.build(
        epoch=1, mode="bench", reward_kind="bernoulli", prior={}, stats=ArmStats.from_pulls(arms, clicks, CONTEXT_ARMS),
        retired=[], rng=np.random.default_rng(1), linear=LinearGaussianStats.from_batch(CONTEXT_ARMS, arms, X, clicks),
        context_model=spec, refreshed_at=float("inf"))
    recommender = Recommender(lambda: snap, np.random.default_rng(2))
    runtime = SimpleNamespace(recommender=recommender)
    out: dict[str, Any] = {"calls": calls, "load_average_1m_at_start": round(os.getloadavg()[0], 1)}
    for name, with_context in (("contextual", True), ("plain", False)):
        bodies = [b.encode() for b in _bodies(with_context)]
        wall, cpu = np.empty(calls), np.empty(calls)
        for i in range(calls):
            t, c = time.perf_counter(), time.thread_time()
            _decide(runtime, RecommendRequest.model_validate_json(bodies[i % len(bodies)]))  # type: ignore[arg-type]
            cpu[i], wall[i] = time.thread_time() - c, time.perf_counter() - t
        for key, values in (("wall", wall), ("cpu", cpu)):
            out[f"{name}_{key}_p50_us"] = float(np.percentile(values, 50) * 1e6)
            out[f"{name}_{key}_p99_us"] = float(np.percentile(values, 99) * 1e6)
    out["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
    return out


def run_contextual(
    *, duration_s: float = 10.0, rounds: int = 2, warmup_s: float = 2.0, connections: int = 8,
) -> dict[str, Any]:
    """``/recommend`` with and without a d=20 context on ONE 80-arm service, in alternating rounds."""
    work = Path(tempfile.mkdtemp(prefix="decision-ctx-bench-"))
    scripts = {"contextual": work / "contextual.lua", "plain": work / "plain.lua"}
    scripts["contextual"].write_text(_context_wrk_script(True))
    scripts["plain"].write_text(_context_wrk_script(False))
    load_start = os.getloadavg()[0]
    redis_server = RedisServer(data_dir=work / "redis").start()
    service = DecisionServer(redis_server.url, namespace="bench-ctx", settings={"seed": 1},
                             log_path=work / "decision.log")
    try:
        _seed_contextual(BanditStore(redis_server.client(), "bench-ctx"))
        service.start(timeout_s=120)
        service.wait_live(timeout_s=30)
        url = f"{service.url}/recommend"
        for name, script in scripts.items():
            probe = httpx.post(url, content=_first_body(script), headers={"content-type": "application/json"})
            if probe.status_code != 200 or probe.json()["fallback"]:
                raise RuntimeError(f"{name} probe failed: {probe.status_code} {probe.text}")
            wrk(url, script, duration_s=warmup_s, connections=connections)
        assert service.process is not None and redis_server.process is not None
        runs = alternating_rounds({name: (url, script, service.process.pid) for name, script in scripts.items()},
                                  redis_server.process.pid, rounds=rounds, duration_s=duration_s,
                                  connections=connections)  # fmt: skip
        metrics = httpx.get(f"{service.url}/metrics").text
        load = os.getloadavg()
    finally:
        service.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    fallbacks = re.search(r'banditops_recommendations_total\{fallback="true"\} ([\d.e+]+)', metrics)
    result: dict[str, Any] = {"arms": CONTEXT_ARMS, "dim": 20, "k": 3, "connections": connections,
                              "duration_s": duration_s, "rounds": rounds, "runs": runs,
                              "fallbacks": float(fallbacks.group(1)) if fallbacks else None,
                              "load_average_1m_at_end": round(load[0], 1), "cores": os.cpu_count(),
                              "load_average_1m_at_start": round(load_start, 1)}
    for name, measured in runs.items():
        for key in ("p50_ms", "p99_ms", "rps", "server_cpu_us", "redis_cpu_us"):
            result[f"{name}_{key}"] = float(statistics.median(r[key] for r in measured))
        result[f"{name}_max_ms"] = max(r["max_ms"] for r in measured)
        result[f"{name}_non_2xx"] = sum(int(r["non_2xx"]) for r in measured)
    result["targets"] = CONTEXT_TARGETS
    result["met"] = {"contextual_p99_ms": result["contextual_p99_ms"] <= CONTEXT_TARGETS["p99_ms"],
                     "contextual_rps": result["contextual_rps"] >= CONTEXT_TARGETS["rps"]}
    return result


def _first_body(script: Path) -> bytes:
    text = script.read_text()
    return text[text.index("[[") + 2 : text.index("]]")].encode()


def _load(result: dict[str, Any]) -> str:
    start = result.get("load_average_1m_at_start")
    end = result["load_average_1m_at_end"]
    return f"{start} at the start, {end} at the end" if start is not None else f"{end} at the end"


def _machine(load: float | None) -> str:
    """How loaded the machine was, in words: a 1-minute load average under 1.5 on 2 cores is quiet."""
    return "quiet machine" if load is not None and load < 1.5 else "loaded machine"


def _in_process_rows(measured: dict[str, Any] | None) -> list[str]:
    """The decision function alone (``in_process``), below the HTTP figures."""
    if not measured:
        return []
    return [
        "",
        f"In-process, the function the route calls (body parse + `_decide`, {measured['calls']:,} calls each, "
        f"`python -m benchmarks.decision_bench --in-process`; {_machine(measured['load_average_1m_at_start'])}, "
        "load avg "
        f"{measured['load_average_1m_at_start']} → {measured['load_average_1m_at_end']}):",
        "",
        "| per request | with context (LinTS) | without context (TS) |",
        "|---|---|---|",
        *[f"| {what} {q} | {measured[f'contextual_{key}_{q}_us']:.0f} µs | {measured[f'plain_{key}_{q}_us']:.0f} µs |"
          for key, what in (("cpu", "thread CPU"), ("wall", "wall clock")) for q in ("p50", "p99")],
    ]


def markdown_contextual(result: dict[str, Any]) -> str:
    yes = {True: "yes", False: "**no**"}
    c, p = "contextual", "plain"
    rows = [
        ("p50 latency", f"{result[c + '_p50_ms']:.2f} ms", f"{result[p + '_p50_ms']:.2f} ms", "", ""),
        ("p99 latency", f"{result[c + '_p99_ms']:.2f} ms", f"{result[p + '_p99_ms']:.2f} ms", "<= 5 ms",
         yes[result["met"]["contextual_p99_ms"]]),
        ("max latency", f"{result[c + '_max_ms']:.2f} ms", f"{result[p + '_max_ms']:.2f} ms", "", ""),
        ("throughput", f"{result[c + '_rps']:,.0f} req/s", f"{result[p + '_rps']:,.0f} req/s", ">= 3,000 req/s",
         yes[result["met"]["contextual_rps"]]),
        ("server CPU per request",
         f"{result[c + '_server_cpu_us']:.0f} µs (+ Redis {result[c + '_redis_cpu_us']:.0f} µs)",
         f"{result[p + '_server_cpu_us']:.0f} µs (+ Redis {result[p + '_redis_cpu_us']:.0f} µs)", "", ""),
    ]
    return "\n".join([
        "## Decision API under load: contextual (LinTS) vs non-contextual, 80 arms",
        "",
        f"One decision service on one 80-arm experiment with a d=20 context model (intercept, 15 numeric "
        f"features, 4 hashed columns for a categorical `segment`), seeded with 40,000 contextual pulls. wrk, "
        f"{result['connections']} connections, {result['rounds']} alternating rounds of {result['duration_s']:g} s "
        "per body (medians; max over all rounds): `/recommend` with k=3 and a context (LinTS draw, 256-row Monte "
        "Carlo propensities for the slate, the encoded context logged) against the same endpoint without one "
        "(Beta TS over the same 80 arms).",
        "",
        f"All figures ({_machine(result.get('load_average_1m_at_start'))}, load avg {_load(result)}). The targets "
        "are the contextual endpoint's (issue 15); the one without context is measured beside it.",
        "",
        "| figure | with context (LinTS) | without context (TS) | target | met? |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        *_in_process_rows(result.get("in_process")),
        "",
        f"Non-2xx: {result[c + '_non_2xx']} / {result[p + '_non_2xx']}; fallback answers: {result['fallbacks']}. "
        f"Measured on a {result['cores']}-core machine that wrk shares with the service (1-minute load average "
        f"{result['load_average_1m_at_end']} at the end): latency tails and throughput are the machine's, server "
        "CPU per request barely depends on it. `python -m benchmarks.decision_bench --contextual`.",
        "",
    ])


def markdown(result: dict[str, Any]) -> str:
    yes = {True: "yes", False: "**no**"}
    rows = [
        ("p50 latency", f"{result['recommend_p50_ms']:.2f} ms", f"{result['bare_p50_ms']:.2f} ms", "", ""),
        ("p99 latency", f"{result['recommend_p99_ms']:.2f} ms", f"{result['bare_p99_ms']:.2f} ms", "<= 5 ms",
         yes[result["met"]["recommend_p99_ms"]]),
        ("max latency", f"{result['recommend_max_ms']:.2f} ms", f"{result['bare_max_ms']:.2f} ms", "", ""),
        ("throughput", f"{result['recommend_rps']:,.0f} req/s", f"{result['bare_rps']:,.0f} req/s", ">= 3,000 req/s",
         yes[result["met"]["recommend_rps"]]),
        ("server CPU per request", f"{result['recommend_server_cpu_us']:.0f} µs "
         f"(+ Redis {result['recommend_redis_cpu_us']:.0f} µs)", f"{result['bare_server_cpu_us']:.0f} µs", "", ""),
        ("ratio to bare", f"{result['recommend_vs_bare']:.0%}", "100%", ">= 75%",
         yes[result["met"]["recommend_vs_bare"]]),
    ]
    lines = [
        "## Decision API under load",
        "",
        f"wrk, {result['connections']} connections, 1 thread, {result['rounds']} alternating rounds of "
        f"{result['duration_s']:g} s per endpoint (medians shown; max over all rounds), one uvicorn process each, "
        "loopback. `/recommend` ranks 3 of 10 banners by one Thompson draw from the live cached posterior, "
        "logs each decision to Redis (batched) and counts it in Prometheus.",
        "",
        "| figure | /recommend | bare FastAPI | target | met? |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
        f"Non-2xx answers: {result['recommend_non_2xx']}; fallback answers: {result['recommend_fallbacks']}. "
        f"Server-side p99 of /recommend (service histogram, bucket bound): "
        f"<= {result['recommend_server_p99_bound_ms']} ms. Latency tails and throughput depend on what else "
        "the machine runs; server CPU per request barely does.",
        "",
    ]
    return "\n".join(lines)


def write_fragment(result: dict[str, Any], directory: Path = RESULTS) -> None:
    write_fragment_pair(directory, "decision", result, markdown(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per endpoint")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the fragment")
    parser.add_argument("--contextual", action="store_true",
                        help="the contextual load test (80 arms, d=20, with vs without context) instead")
    parser.add_argument("--in-process", action="store_true",
                        help="only the in-process cost of the contextual and plain decision (added to the fragment)")
    args = parser.parse_args(argv)
    if args.in_process:
        measured = in_process()
        print(json.dumps(measured, indent=2))
        path = RESULTS / "decision_contextual.json"
        if not args.no_write and path.exists():
            ctx = json.loads(path.read_text())["decision_contextual"]
            ctx["in_process"] = measured
            write_fragment_pair(RESULTS, "decision_contextual", ctx, markdown_contextual(ctx))
        return 0
    if args.contextual:
        ctx = run_contextual(duration_s=args.duration, rounds=args.rounds, connections=args.connections)
        print(markdown_contextual(ctx))
        if not args.no_write:
            write_fragment_pair(RESULTS, "decision_contextual", ctx, markdown_contextual(ctx))
        return 0
    result = run(duration_s=args.duration, rounds=args.rounds, connections=args.connections)
    print(markdown(result))
    if not args.no_write:
        write_fragment(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
