"""Redis memory of the decision path, and fold throughput (issue 17 item 3).

Three measurements, all through the project's own code on a real Redis:

1. **Bytes per decision**: decisions written by the service's writer (``DecisionLog``), rewarded
   with ``accept_feedback`` and folded with ``fold_feedback``; ``INFO memory`` before and after.
   Once with the streams at small caps (what each decision *kept* for its TTL costs: the part that
   grows with traffic) and once uncapped (record + decision-log entry + feedback entry).
2. **Fold throughput**: feedback accepted through ``accept_feedback``, then one ``fold_feedback``
   round of N entries, timed.
3. **Soak**: the real decision service (``stack.decision_server``) under wrk at a paced rate, each
   ``/recommend`` followed by its ``/feedback`` on the same connection, while this process folds
   every second like a production agent and samples Redis memory every few seconds. Memory must
   level off: the streams reach their caps and records expire with their (short, for the soak) TTL,
   so the plateau is caps x entry size + rate x (TTL + 60 s) x record size.

Run: ``python -m benchmarks.memory_bench`` (the full 10-minute soak at 2,000 decisions/s);
``--soak-s 120`` for a shorter one. Writes ``benchmarks/results/memory.json`` and ``.md``
(assembled into RESULTS.md by ``python -m benchmarks.run --only assemble``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from banditops.serving.decision_log import DecisionLog
from banditops.serving.recommender import new_decision_id
from banditops.store import BanditStore, ExperimentConfig
from banditops.store.feedback import (
    Decision,
    accept_feedback,
    decision_bucket_prefix,
    decisions_stream,
    feedback_stream,
    fold_feedback,
)
from benchmarks.decision_bench import _seed_posterior, parse_wrk
from stack.decision_server import DecisionServer
from stack.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGETS = {"bytes_per_decision_kept": 150.0, "fold_per_s": 50_000.0, "soak_decisions_per_s": 2000.0}

#: wrk: a /recommend, then the /feedback of the decision it answered (position 0, reward 0/1),
#: paced by delay() per connection.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local ids, n = {}, 0
request = function()
  local id = table.remove(ids)
  if id then
    n = n + 1
    return wrk.format(nil, "/feedback", nil, '{"decision_id":"' .. id .. '","reward":' .. (n % 2) .. ',"position":0}')
  end
  return wrk.format(nil, "/recommend", nil, '{"user_id":"user-' .. n .. '","k":3}')
end
response = function(status, headers, body)
  local id = string.match(body, '"decision_id":"(%x+)","arms"')
  if id then ids[#ids + 1] = id end
end
delay = function() return DELAY_MS end
"""


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _store(client: redis.Redis, namespace: str) -> BanditStore:
    store = BanditStore(client, namespace)
    store.reset(ExperimentConfig(name="m", reward_kind="bernoulli", n_arms=10, source="production"))
    return store


def bytes_per_decision(client: redis.Redis, n: int, *, capped: bool) -> float:
    """Redis memory per decision with its feedback, folded (streams at a small cap, or uncapped)."""
    namespace = f"mem{'c' if capped else 'u'}{n}"
    store = _store(client, namespace)
    cap = 1000 if capped else 10 * n
    log = DecisionLog(client, namespace, maxlen=cap)

    def decide_and_reward(ids: list[str], round_name: str) -> int:
        for i, d in enumerate(ids):
            log.record(Decision(d, f"user-{i}", (i % 10, (i + 1) % 10, (i + 2) % 10), 0.4321, 1, False,
                                int(time.time() * 1000), "bernoulli"))
        log.flush()
        applied = 0
        for start in range(0, len(ids), cap // 2):  # folded as it comes, before a capped stream trims it
            for d in ids[start:start + cap // 2]:
                accept_feedback(client, namespace, d, 1.0, position=0, maxlen=cap)
            applied += fold_feedback(store, f"{round_name}/{start}", max_entries=cap).applied
        return applied

    decide_and_reward([new_decision_id() for _ in range(2 * 1000)], "warm")  # streams at cap, scripts loaded
    before = _used(client)
    assert decide_and_reward([new_decision_id() for _ in range(n)], "m") == n
    return (_used(client) - before) / n


def fold_rate(client: redis.Redis, n: int, rounds: int) -> tuple[list[float], list[float]]:
    """Feedback folded per second by one ``fold_feedback`` round of ``n`` entries, per round, and the
    longest single Redis command of each round in ms (the server's SLOWLOG at threshold 0): how long
    a fold holds Redis at a time."""
    store = _store(client, f"fold{n}")
    log = DecisionLog(client, store.namespace, maxlen=10 * n)
    rates, longest = [], []
    client.config_set("slowlog-max-len", 4096)
    for r in range(rounds):
        ids = [new_decision_id() for _ in range(n)]
        for i, d in enumerate(ids):
            log.record(Decision(d, "u", (i % 10,), 0.5, 1, False, 0, "bernoulli"))
        log.flush()
        for i, d in enumerate(ids):
            accept_feedback(client, store.namespace, d, float(i % 2), maxlen=10 * n)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        t0 = time.perf_counter()
        result = fold_feedback(store, f"bench/fold/{r}", max_entries=n)
        rates.append(n / (time.perf_counter() - t0))
        longest.append(max(int(e["duration"]) for e in client.slowlog_get(4096)) / 1000)
        client.config_set("slowlog-log-slower-than", 10_000)
        assert result.applied == n, result
    return rates, longest


def soak(
    *, rate: float, duration_s: float, ttl_s: int, cap: int, connections: int = 16, sample_s: float = 5.0
) -> dict[str, Any]:
    """The decision service at ``rate`` decisions/s (each with feedback) for ``duration_s``."""
    work = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    server = RedisServer(data_dir=work / "redis").start()
    client = server.client()
    namespace = "soak"
    service = DecisionServer(server.url, namespace=namespace, log_path=work / "decision.log",
                             settings={"seed": 1, "decision_ttl_s": ttl_s, "decisions_maxlen": cap,
                                       "feedback_maxlen": cap})
    # Each connection sends a /recommend and its /feedback per decision: 2 requests per decision.
    delay_ms = max(0.0, 1000.0 * connections / (2 * rate))
    script = work / "soak.lua"
    script.write_text(WRK_SCRIPT.replace("DELAY_MS", f"{delay_ms:.3f}"))
    samples: list[dict[str, float]] = []
    folds: list[tuple[int, float]] = []
    stop = threading.Event()
    try:
        store = BanditStore(client, namespace)
        _seed_posterior(store)
        try:
            service.start(timeout_s=120.0)  # a loaded machine imports slowly
        except RuntimeError:
            print((work / "decision.log").read_text(errors="replace")[-3000:])
            raise
        service.wait_live(timeout_s=60.0)
        t_start = time.monotonic()

        def fold_loop() -> None:  # what the production agent's round does, once a second
            i = 0
            while not stop.wait(1.0):
                t0 = time.perf_counter()
                result = fold_feedback(store, f"soak/fold/{i}", max_entries=50_000)
                if result.entries:
                    folds.append((result.entries, time.perf_counter() - t0))
                i += 1

        def sample_loop() -> None:
            while True:
                buckets = list(client.scan_iter(match=f"{decision_bucket_prefix(namespace)}*", count=1000))
                records = sum(int(client.hlen(b)) for b in buckets)
                samples.append({"t_s": time.monotonic() - t_start, "used_memory": _used(client),
                                "records": records, "buckets": len(buckets),
                                "decisions_stream": int(client.xlen(decisions_stream(namespace))),
                                "feedback_stream": int(client.xlen(feedback_stream(namespace))),
                                "fold_markers": sum(1 for _ in client.scan_iter(match=f"{namespace}:fold:*",
                                                                                 count=1000))})
                if stop.wait(sample_s):
                    return

        threads = [threading.Thread(target=fold_loop, daemon=True), threading.Thread(target=sample_loop, daemon=True)]
        for t in threads:
            t.start()
        binary = shutil.which("wrk")
        if binary is None:
            raise RuntimeError("wrk is not installed: apt-get install wrk (or make system-deps)")
        out = subprocess.run(
            [binary, "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency", "-s", str(script),
             service.url], capture_output=True, text=True, check=True, timeout=duration_s + 60,
        )
        load = parse_wrk(out.stdout)
        stop.set()
        for t in threads:
            t.join(30)
        metrics = httpx.get(f"{service.url}/metrics", timeout=5).text
        final_records = samples[-1]["records"] if samples else 0
        streams_bytes = sum(int(client.memory_usage(k, samples=0) or 0)
                            for k in (decisions_stream(namespace), feedback_stream(namespace)))
        buckets = list(client.scan_iter(match=f"{decision_bucket_prefix(namespace)}*", count=1000))
        records_bytes = sum(int(client.memory_usage(b, samples=0) or 0) for b in buckets)
        n_records = sum(int(client.hlen(b)) for b in buckets)
    finally:
        stop.set()
        service.stop()
        client.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    decisions = load["requests"] / 2
    tail = [s["used_memory"] for s in samples if s["t_s"] >= 0.8 * duration_s]
    accepted = sum(float(v) for v in re.findall(r'banditops_feedback_total\{status="accepted"\} (\S+)', metrics))
    return {
        "target_rate": rate, "duration_s": duration_s, "ttl_s": ttl_s, "stream_cap": cap,
        "connections": connections, "delay_ms": delay_ms,
        "decisions": decisions, "decisions_per_s": decisions / duration_s, "feedback_accepted": accepted,
        "non_2xx": load["non_2xx"], "socket_errors": load["socket_errors"], "p99_ms": load["p99_ms"],
        "plateau_bytes": statistics.mean(tail) if tail else None,
        "plateau_max_bytes": max(tail) if tail else None,
        "second_half_slope_bytes_per_s": second_half_slope(samples, duration_s),
        # The part of that trend that is the record count (the rate the loaded machine sustained varies).
        "second_half_records_slope_bytes_per_s": second_half_slope(
            samples, duration_s, "records", records_bytes / n_records if n_records else 0.0),
        "records_at_end": final_records, "record_bytes_each": records_bytes / n_records if n_records else None,
        "streams_bytes_at_end": streams_bytes,
        "fold_rounds": len(folds), "folded": sum(n for n, _ in folds),
        "fold_per_s_in_soak": (sum(n for n, _ in folds) / sum(t for _, t in folds)) if folds else None,
        "samples": samples,
    }


def second_half_slope(samples: list[dict[str, float]], duration_s: float, key: str = "used_memory",
                      scale: float = 1.0) -> float:
    """Least-squares slope (bytes/s) of used_memory over the soak's second half.

    A fit, not the two end points: records expire a whole minute bucket at a time, so memory is a
    sawtooth of one minute's records around its plateau, and two samples could land on a peak and
    a trough.
    """
    half = [(s["t_s"], s[key] * scale) for s in samples if s["t_s"] >= 0.5 * duration_s]
    if len(half) < 3:
        return 0.0
    t_mean = statistics.mean(t for t, _ in half)
    m_mean = statistics.mean(m for _, m in half)
    var = sum((t - t_mean) ** 2 for t, _ in half)
    return sum((t - t_mean) * (m - m_mean) for t, m in half) / var if var else 0.0


def levels_off(soak_result: dict[str, Any]) -> bool:
    """Memory levelled off: the peak of the last third of the soak is within 5% of the middle third's.

    Peaks, not a trend: memory is a sawtooth (a minute's records expire at once) whose trend over a
    short run follows whatever rate the machine sustained; an unbounded store raises every peak.
    """
    duration, samples = soak_result["duration_s"], soak_result["samples"]
    middle = [x["used_memory"] for x in samples if duration / 3 <= x["t_s"] < 2 * duration / 3]
    last = [x["used_memory"] for x in samples if x["t_s"] >= 2 * duration / 3]
    return bool(middle and last) and max(last) <= 1.05 * max(middle)


def run(*, soak_s: float, rate: float, ttl_s: int, cap: int, n: int, fold_n: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    server = RedisServer(data_dir=work / "redis").start()
    try:
        client = server.client()
        kept = bytes_per_decision(client, n, capped=True)
        uncapped = bytes_per_decision(client, n, capped=False)
        rates, longest = fold_rate(client, fold_n, rounds=3)
        client.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {
        "bytes_per_decision_kept": kept, "bytes_per_decision_uncapped": uncapped, "n": n,
        "fold_n": fold_n, "fold_per_s": statistics.median(rates), "fold_rounds_per_s": rates,
        "fold_longest_command_ms": statistics.median(longest),
    }
    if soak_s > 0:
        result["soak"] = soak(rate=rate, duration_s=soak_s, ttl_s=ttl_s, cap=cap)
    result["targets"] = TARGETS
    result["met"] = {"bytes_per_decision_kept": kept <= TARGETS["bytes_per_decision_kept"],
                     "fold_per_s": result["fold_per_s"] >= TARGETS["fold_per_s"]}
    if "soak" in result:
        s = result["soak"]
        result["met"]["soak_decisions_per_s"] = s["decisions_per_s"] >= 0.95 * rate
        result["met"]["soak_levels_off"] = levels_off(s)
    return result


def markdown(result: dict[str, Any]) -> str:
    yes = {True: "yes", False: "**no**"}
    met = result["met"]
    lines = [
        "## Redis memory of the decision path, and fold throughput",
        "",
        "Real Redis (the OS's redis-server), the project's own writer (`DecisionLog`), `accept_feedback` and "
        "`fold_feedback`; memory from `INFO memory` (`used_memory`). Timings were taken on a loaded shared "
        "2-core machine (load average well above 2): throughput figures are low bounds.",
        "",
        "| figure | measured | target | met? |",
        "|---|---|---|---|",
        f"| Redis memory per decision kept (record, rewarded and folded; streams at their cap) | "
        f"{result['bytes_per_decision_kept']:.0f} B | <= 150 B | {yes[met['bytes_per_decision_kept']]} |",
        f"| per decision with its stream entries (decision log + feedback, uncapped) | "
        f"{result['bytes_per_decision_uncapped']:.0f} B | | |",
        f"| fold throughput, one round of {result['fold_n']:,} entries (median of 3) | "
        f"{result['fold_per_s']:,.0f} /s | >= 50,000 /s | {yes[met['fold_per_s']]} |",
        f"| longest single Redis command of that round (SLOWLOG; the claim script) | "
        f"{result.get('fold_longest_command_ms', float('nan')):.0f} ms | | |",
    ]
    soak_result = result.get("soak")
    if soak_result:
        s = soak_result
        plateau = s["plateau_bytes"] or 0
        lines += [
            f"| soak: decisions/s sustained (each with feedback) | {s['decisions_per_s']:,.0f} /s | "
            f">= {s['target_rate']:,.0f} /s | {yes[met['soak_decisions_per_s']]} |",
            f"| soak: memory plateau (mean of the last 20%; peak of the last third within 5% of the middle "
            f"third's) | {plateau / 2**20:.1f} MiB | levels off | "
            f"{yes[met['soak_levels_off']]} |",
            "",
            f"Soak: {s['duration_s']:g} s through the real decision service (uvicorn, `stack.decision_server`) "
            f"under wrk ({s['connections']} connections, {s['delay_ms']:.1f} ms paced), a `/recommend` (k = 3) "
            f"then its `/feedback` per decision; decision TTL {s['ttl_s']} s and stream caps of "
            f"{s['stream_cap']:,} so the plateau is reached within the run; this process folded once a second "
            f"({s['fold_rounds']} rounds, {s['folded']:,} entries, "
            f"{(s['fold_per_s_in_soak'] or 0):,.0f} /s while folding). "
            f"{s['decisions']:,.0f} decisions, {s['feedback_accepted']:,.0f} feedback accepted, "
            f"{s['non_2xx']} non-2xx, p99 {s['p99_ms']:.1f} ms. Memory's fitted trend over the second half: "
            f"{s['second_half_slope_bytes_per_s'] * s['duration_s'] / 2 / 2**20:+.2f} MiB (a sawtooth of one "
            f"minute's records, as each minute's bucket expires whole), of which "
            f"{s['second_half_records_slope_bytes_per_s'] * s['duration_s'] / 2 / 2**20:+.2f} MiB is the record "
            "count following the rate the machine sustained, the rest the per-fold-round state (marker, "
            "dedupe id, summary entry: ~800 B a round, kept 7 days or to their caps); at the end "
            f"{s['records_at_end']:,} records of {(s['record_bytes_each'] or 0):.0f} B each "
            f"(`MEMORY USAGE` of the buckets) and {s['streams_bytes_at_end'] / 2**20:.1f} MiB of streams.",
            "",
            "| t (s) | used_memory (MiB) | records | decision log | feedback stream | fold markers |",
            "|---|---|---|---|---|---|",
            *[f"| {x['t_s']:.0f} | {x['used_memory'] / 2**20:.1f} | {x['records']:,} | {x['decisions_stream']:,} | "
              f"{x['feedback_stream']:,} | {x['fold_markers']} |"
              for x in s["samples"][:: max(1, len(s["samples"]) // 12)]],
        ]
        if s["duration_s"] < 600:
            lines += ["", f"**Shorter than the 10-minute target**: this run lasted {s['duration_s']:g} s "
                          "(the machine is shared); `python -m benchmarks.memory_bench` runs 600 s by default."]
    lines += ["", "Budget (docs/reliability.md, \"Memory budget\"): fixed = stream caps x entry size; "
                  "growing = decisions/s x (TTL + 60 s) x bytes per decision kept.", ""]
    return "\n".join(lines)


def write_fragment(result: dict[str, Any], directory: Path = RESULTS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.json").write_text(json.dumps({"memory": result}, indent=2) + "\n")
    (directory / "memory.md").write_text(markdown(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--soak-s", type=float, default=600.0, help="soak duration (0: no soak)")
    parser.add_argument("--rate", type=float, default=2000.0, help="decisions per second in the soak")
    parser.add_argument("--ttl-s", type=int, default=120, help="decision TTL during the soak")
    parser.add_argument("--cap", type=int, default=200_000, help="decision log and feedback stream caps in the soak")
    parser.add_argument("--n", type=int, default=20_000, help="decisions in the bytes-per-decision measurement")
    parser.add_argument("--fold-n", type=int, default=10_000, help="entries per fold round (fold_feedback's default)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the fragment")
    args = parser.parse_args(argv)
    result = run(soak_s=args.soak_s, rate=args.rate, ttl_s=args.ttl_s, cap=args.cap, n=args.n, fold_n=args.fold_n)
    print(markdown(result))
    if not args.no_write:
        write_fragment(result, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
