"""Environment service throughput: simulated pulls/s through ``POST /pulls`` and req/s of ``POST /pull/{arm}``.

The service runs as it is deployed (``python -m uvicorn services.environment.app.main:app`` on
127.0.0.1, access log off) and is driven from a second process by ``wrk`` with a Lua script that
posts a fixed body and reports the request count and latency percentiles as JSON. Measured with
1 uvicorn worker (the supported mode: the world lives in memory) and with one worker per core
(several independent worlds: an upper bound of the HTTP layer, not a deployable setting).

After each 1-worker run the server's own pull counter is read back, so the pulls/s figure is
checked against what the world actually counted, not only what wrk saw.

Run: ``python -m benchmarks.env_bench [--duration 5] [--connections 8]``; writes the fragment
``benchmarks/results/environment.json`` and ``.md`` (assembled into RESULTS.md by ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from banditops.clients.env_client import EnvClient
from benchmarks.fragments import write_fragment as write_fragment_pair
from stack.env_server import EnvServer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGETS = {"pulls_per_s": 1_000_000, "pull_req_per_s": 3_000, "pull_p99_ms": 10.0}

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('BENCH {{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua(body: str | None) -> str:
    return LUA.format(body=json.dumps(body) if body is not None else "nil")


def wrk(url: str, script: str, *, duration_s: float, connections: int, threads: int = 1) -> dict[str, Any]:
    """One wrk run against ``url`` with ``script``; the JSON line its ``done`` hook printed."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk; or `make system-deps`)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            [binary, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
             "--timeout", "5s", "-s", handle.name, url],
            capture_output=True, text=True, check=False, timeout=duration_s + 60,
        )
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH "))
    stats: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    seconds = stats["duration_us"] / 1e6
    return {
        "requests": stats["requests"],
        "req_per_s": stats["requests"] / seconds,
        "errors": stats["errors"],
        "non_2xx": stats["non_2xx"],
        "p50_ms": stats["p50_us"] / 1000,
        "p90_ms": stats["p90_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
        "seconds": seconds,
    }


def _measure(workers: int, *, duration_s: float, connections: int, batch_size: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    batch = json.dumps({"arms": rng.integers(0, 5, batch_size).tolist()}, separators=(",", ":"))
    rows = []
    with EnvServer(seed=seed, workers=workers) as server:
        # warm-up: imports, first-request paths, and the connection pool of each worker
        wrk(f"{server.url}/pulls", _lua(batch), duration_s=1, connections=connections)
        with EnvClient(server.url) as client:
            before = client.truth()["total_pulls"]
        batched = wrk(f"{server.url}/pulls", _lua(batch), duration_s=duration_s, connections=connections)
        with EnvClient(server.url) as client:
            counted = client.truth()["total_pulls"] - before
        batched |= {"endpoint": "POST /pulls", "workers": workers, "batch_size": batch_size,
                    "connections": connections, "pulls_per_s": batched["req_per_s"] * batch_size,
                    # with several workers each has its own world: the one answering counts only its share
                    "server_counted_pulls": counted if workers == 1 else None}
        rows.append(batched)
        single = wrk(f"{server.url}/pull/1", _lua(None), duration_s=duration_s, connections=connections)
        single |= {"endpoint": "POST /pull/{arm}", "workers": workers, "batch_size": 1,
                   "connections": connections, "pulls_per_s": single["req_per_s"]}
        rows.append(single)
    return rows


def run(*, duration_s: float = 5.0, connections: int = 8, batch_size: int = 1000, seed: int = 0,
        workers: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Both endpoints with 1 worker and with one worker per core; returns the fragment's content."""
    cores = os.cpu_count() or 1
    worker_counts = workers or ((1, cores) if cores > 1 else (1,))
    rows = [row for w in worker_counts
            for row in _measure(w, duration_s=duration_s, connections=connections, batch_size=batch_size, seed=seed)]
    one = {r["endpoint"]: r for r in rows if r["workers"] == 1}
    return {
        "rows": rows,
        "targets": TARGETS,
        "met": {
            "pulls_per_s": one["POST /pulls"]["pulls_per_s"] >= TARGETS["pulls_per_s"],
            "pull_req_per_s": one["POST /pull/{arm}"]["req_per_s"] >= TARGETS["pull_req_per_s"],
            "pull_p99_ms": one["POST /pull/{arm}"]["p99_ms"] <= TARGETS["pull_p99_ms"],
        },
        "load_generator": f"wrk, 1 thread, {connections} connections, {duration_s:g} s per run, separate process",
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "note": "The load generator shares the cores with the service; timing depends on the machine, "
                "re-measure on a quiet one. Several workers are several independent worlds (upper bound only).",
    }


def markdown(result: dict[str, Any]) -> str:
    t = result["targets"]
    lines = [
        "## Environment service: simulated pulls through HTTP",
        "",
        f"uvicorn on 127.0.0.1 driven by {result['load_generator']}; {result['machine']}.",
        "",
        "| endpoint | workers | batch | req/s | pulls/s | p50 ms | p99 ms | non-2xx | server-counted pulls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        counted = f"{r['server_counted_pulls']:,}" if r.get("server_counted_pulls") is not None else "—"
        lines.append(f"| {r['endpoint']} | {r['workers']} | {r['batch_size']:,} | {r['req_per_s']:,.0f} | "
                     f"{r['pulls_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | {counted} |")
    met = {k: "yes" if v else "no" for k, v in result["met"].items()}
    lines += [
        "",
        "| target (1 worker) | met? |",
        "|---|---|",
        f"| ≥ {t['pulls_per_s']:,} pulls/s through POST /pulls (batches of 1,000) | {met['pulls_per_s']} |",
        f"| ≥ {t['pull_req_per_s']:,} req/s through POST /pull/{{arm}} | {met['pull_req_per_s']} |",
        f"| p99 ≤ {t['pull_p99_ms']:g} ms for POST /pull/{{arm}} | {met['pull_p99_ms']} |",
        "",
        result["note"],
        "",
    ]
    return "\n".join(lines)


def write_fragment(result: dict[str, Any], directory: Path = RESULTS) -> None:
    write_fragment_pair(directory, "environment", result, markdown(result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="*", help="uvicorn worker counts (default: 1 and cores)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the fragment")
    args = parser.parse_args(argv)
    result = run(duration_s=args.duration, connections=args.connections, batch_size=args.batch_size,
                 workers=tuple(args.workers) if args.workers else None)
    print(markdown(result))
    if not args.no_write:
        write_fragment(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
