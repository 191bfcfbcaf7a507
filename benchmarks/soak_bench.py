"""The soak (issue 17 item 3): at a sustained 2,000 decisions/s with feedback, Redis memory levels off.

The real decision service (``stack.decision_server``: uvicorn, its own decision-log writer) is loaded
by wrk at a paced rate, each ``/recommend`` followed by its ``/feedback`` on the same connection,
while this process runs the production fold (``fold_feedback(store, batch_id)``, exactly as the
agents call it) every second and samples ``INFO memory`` every ``--sample-s`` seconds. Memory must
level off: the streams reach their caps and records expire with their (short, for the soak) TTL, so
the plateau is caps x entry size + rate x (TTL + 60 s) x record size.

wrk, not :class:`stack.traffic.TrafficSimulator`: the simulator plays one user after another over
one HTTP connection (and reads the environment's ground truth), some hundreds of decisions a second
at best; the soak needs thousands, from a generator that takes little of the service's CPU.

Run: ``python -m benchmarks.soak_bench`` (10 minutes at 2,000 decisions/s); ``--minutes 3``;
``--smoke`` (2.5 minutes, a 30 s TTL and caps of 20,000 so the plateau comes within the run). Writes
``benchmarks/results/soak.json`` and ``.md`` (assembled by ``python -m benchmarks.run --only assemble``).
"""

from __future__ import annotations

import argparse
import os
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

from banditops.store import BanditStore
from banditops.store.feedback import decision_bucket_prefix, decisions_stream, feedback_stream, fold_feedback
from benchmarks.decision_bench import _seed_posterior, parse_wrk
from benchmarks.fragments import write_fragment as write_fragment_pair
from stack.decision_server import DecisionServer
from stack.redis_server import RedisServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_RATE = 2000.0
TARGET_S = 600.0

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


def _records(client: redis.Redis, namespace: str) -> tuple[int, int, int]:
    """(records, buckets, bytes of the buckets by ``MEMORY USAGE``) of the decision records."""
    buckets = list(client.scan_iter(match=f"{decision_bucket_prefix(namespace)}*", count=1000))
    records = sum(int(client.hlen(b)) for b in buckets)
    return records, len(buckets), sum(int(client.memory_usage(b, samples=0) or 0) for b in buckets)


def soak(
    *, rate: float, duration_s: float, ttl_s: int, cap: int, connections: int = 16, sample_s: float = 10.0
) -> dict[str, Any]:
    """The decision service at ``rate`` decisions/s (each with feedback) for ``duration_s``."""
    work = Path(tempfile.mkdtemp(prefix="soak-bench-"))
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
            service.start(timeout_s=180.0)  # a loaded machine imports slowly
        except RuntimeError:
            print((work / "decision.log").read_text(errors="replace")[-3000:])
            raise
        service.wait_live(timeout_s=60.0)
        baseline = _used(client)
        t_start = time.monotonic()

        def fold_loop() -> None:  # the production agent's round, once a second, with its defaults
            i = 0
            while not stop.wait(1.0):
                t0 = time.perf_counter()
                result = fold_feedback(store, f"bandit_learning/soak/0/{i}")
                if result.entries:
                    folds.append((result.entries, time.perf_counter() - t0))
                i += 1

        def sample_loop() -> None:
            while True:
                records, buckets, _ = _records(client, namespace)
                samples.append({"t_s": time.monotonic() - t_start, "used_memory": _used(client),
                                "records": records, "buckets": buckets,
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
        used_end = _used(client)
        streams_bytes = sum(int(client.memory_usage(k, samples=0) or 0)
                            for k in (decisions_stream(namespace), feedback_stream(namespace)))
        n_records, _, records_bytes = _records(client, namespace)
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
        "connections": connections, "delay_ms": delay_ms, "sample_s": sample_s,
        "load_avg": os.getloadavg()[0],
        "decisions": decisions, "decisions_per_s": decisions / duration_s, "feedback_accepted": accepted,
        "non_2xx": load["non_2xx"], "socket_errors": load["socket_errors"], "p99_ms": load["p99_ms"],
        "baseline_bytes": baseline,
        "plateau_bytes": statistics.mean(tail) if tail else None,
        "plateau_max_bytes": max(tail) if tail else None,
        "second_half_slope_bytes_per_s": second_half_slope(samples, duration_s),
        # The part of that trend that is the record count (the rate the loaded machine sustained varies).
        "second_half_records_slope_bytes_per_s": second_half_slope(
            samples, duration_s, "records", records_bytes / n_records if n_records else 0.0),
        "records_at_end": n_records, "record_bytes_each": records_bytes / n_records if n_records else None,
        # What each decision kept costs, from INFO memory: all that is neither the fixed start nor the
        # capped streams, over the records then alive (fold markers, dedupe ids and summaries included).
        "bytes_per_decision_kept": (used_end - baseline - streams_bytes) / n_records if n_records else None,
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


def markdown(s: dict[str, Any]) -> str:
    yes = {True: "yes", False: "**no**"}
    sustained = s["decisions_per_s"] >= 0.95 * s["target_rate"]
    plateau = s["plateau_bytes"] or 0
    kept = s.get("bytes_per_decision_kept")
    lines = [
        f"## Soak: {s['target_rate']:,.0f} decisions/s with feedback, Redis memory "
        f"(loaded machine, load avg {s['load_avg']:.1f})",
        "",
        f"{s['duration_s']:g} s through the real decision service (uvicorn, `stack.decision_server`) under wrk "
        f"({s['connections']} connections, {s['delay_ms']:.1f} ms paced), a `/recommend` (k = 3) then its "
        f"`/feedback` per decision; decision TTL {s['ttl_s']} s and stream caps of {s['stream_cap']:,} so the "
        f"plateau is reached within the run; the production fold (`fold_feedback(store, batch_id)`, its "
        f"defaults) once a second; `INFO memory` every {s.get('sample_s', 10):g} s.",
        "",
        "| figure | measured | target | met? |",
        "|---|---|---|---|",
        f"| decisions/s sustained (each with feedback) | {s['decisions_per_s']:,.0f} /s | "
        f">= {s['target_rate']:,.0f} /s | {yes[sustained]} |",
        f"| memory plateau (`used_memory`, mean of the last 20%; peak of the last third within 5% of the "
        f"middle third's) | {plateau / 2**20:.1f} MiB | levels off | {yes[levels_off(s)]} |",
        f"| bytes per decision kept (`used_memory` at the end less the start and the streams, over the "
        f"records alive) | {kept or 0:.0f} B | <= 150 B | {yes[kept is not None and kept <= 150]} |",
        f"| the record alone (`MEMORY USAGE` of the buckets) | {(s['record_bytes_each'] or 0):.0f} B | | |",
        "",
        f"{s['decisions']:,.0f} decisions, {s['feedback_accepted']:,.0f} feedback accepted, {s['non_2xx']} "
        f"non-2xx, p99 {s['p99_ms']:.1f} ms; {s['fold_rounds']} fold rounds folded {s['folded']:,} entries "
        f"({(s['fold_per_s_in_soak'] or 0):,.0f} /s while folding). Memory's fitted trend over the second half: "
        f"{s['second_half_slope_bytes_per_s'] * s['duration_s'] / 2 / 2**20:+.2f} MiB (a sawtooth of one "
        f"minute's records, as each minute's bucket expires whole), of which "
        f"{s['second_half_records_slope_bytes_per_s'] * s['duration_s'] / 2 / 2**20:+.2f} MiB is the record "
        f"count following the rate the machine sustained; at the end {s['records_at_end']:,} records and "
        f"{s['streams_bytes_at_end'] / 2**20:.1f} MiB of streams.",
        "",
        "| t (s) | used_memory (MiB) | records | decision log | feedback stream | fold markers |",
        "|---|---|---|---|---|---|",
        *[f"| {x['t_s']:.0f} | {x['used_memory'] / 2**20:.1f} | {x['records']:,} | {x['decisions_stream']:,} | "
          f"{x['feedback_stream']:,} | {x['fold_markers']} |"
          for x in s["samples"][:: max(1, len(s["samples"]) // 12)]],
    ]
    if not sustained:
        lines += ["", f"**The target rate was not sustained**: {s['decisions_per_s']:,.0f} of "
                      f"{s['target_rate']:,.0f} decisions/s on this machine (load avg {s['load_avg']:.1f})."]
    if s["duration_s"] < TARGET_S:
        lines += ["", f"**Shorter than the 10-minute target**: this run lasted {s['duration_s']:g} s "
                      "(the machine is shared); `python -m benchmarks.soak_bench` runs 10 minutes by default."]
    lines += ["", "Budget (docs/reliability.md, \"Memory budget\"): fixed = stream caps x entry size; "
                  "growing = decisions/s x (TTL + 60 s) x bytes per decision kept.", ""]
    return "\n".join(lines)


def write_fragment(result: dict[str, Any], directory: Path = RESULTS) -> None:
    write_fragment_pair(directory, "soak", result, markdown(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=TARGET_S / 60, help="soak duration in minutes")
    parser.add_argument("--smoke", action="store_true",
                        help="2.5 minutes, a 30 s TTL and caps of 20,000: proves the soak works on a busy machine")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="decisions per second")
    parser.add_argument("--ttl-s", type=int, default=None, help="decision TTL (default 120 s; 30 s with --smoke)")
    parser.add_argument("--cap", type=int, default=None,
                        help="decision log and feedback stream caps (default 200,000; 20,000 with --smoke)")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between INFO memory samples")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the fragment")
    args = parser.parse_args(argv)
    minutes = 2.5 if args.smoke else args.minutes
    ttl_s = args.ttl_s if args.ttl_s is not None else (30 if args.smoke else 120)
    cap = args.cap if args.cap is not None else (20_000 if args.smoke else 200_000)
    result = soak(rate=args.rate, duration_s=60.0 * minutes, ttl_s=ttl_s, cap=cap, sample_s=args.sample_s)
    print(markdown(result))
    if not args.no_write:
        write_fragment(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
