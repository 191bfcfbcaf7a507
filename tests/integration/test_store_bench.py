"""The store benchmark runs end to end (tiny durations: numbers are measured by `make bench`)."""

from __future__ import annotations

from benchmarks import store_bench


def test_store_bench_fragment_is_complete_and_consistent() -> None:
    result = store_bench.run(duration_s=0.2, batch_size=10, agents=2)
    rows = {(r["kind"], r["agents"], r["mode"]): r for r in result["rows"]}
    assert set(rows) == {("apply", 1, "threads"), ("apply", 2, "threads"), ("apply", 2, "processes"),
                         ("ping", 1, "threads"), ("ping", 2, "processes")}
    for row in rows.values():
        assert row["calls"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
    # run() itself checks that the store counted exactly the pulls the agents sent
    assert rows[("apply", 2, "processes")]["pulls_per_s"] == rows[("apply", 2, "processes")]["calls_per_s"] * 10
    assert "| apply | 2 | processes |" in store_bench.markdown(result)
