"""The soak's report says when it was short or slow, and its defaults are the issue's 10 minutes at 2,000/s."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import memory_bench, soak_bench


def _soak(duration_s: float, rate: float = 2000.0) -> dict[str, Any]:
    sample = {"t_s": 0.0, "used_memory": 2**20, "records": 1, "decisions_stream": 1, "feedback_stream": 1,
              "fold_markers": 0}
    return {"target_rate": 2000.0, "duration_s": duration_s, "ttl_s": 60, "stream_cap": 20_000, "connections": 16,
            "delay_ms": 4.0, "sample_s": 10.0, "load_avg": 7.5, "decisions": rate * duration_s,
            "decisions_per_s": rate, "feedback_accepted": 10.0, "non_2xx": 0, "socket_errors": 0, "p99_ms": 1.0,
            "baseline_bytes": 2**20, "plateau_bytes": 2.0**20, "plateau_max_bytes": 2**20,
            "second_half_slope_bytes_per_s": 0.0, "second_half_records_slope_bytes_per_s": 0.0,
            "records_at_end": 1, "record_bytes_each": 90.0, "bytes_per_decision_kept": 95.0,
            "streams_bytes_at_end": 1000, "fold_rounds": 1, "folded": 10, "fold_per_s_in_soak": 100.0,
            "samples": [sample]}


def test_a_short_or_slow_soak_is_reported_as_such_with_the_load() -> None:
    assert "Shorter than the 10-minute target" in soak_bench.markdown(_soak(150))
    assert "Shorter than the 10-minute target" not in soak_bench.markdown(_soak(600))
    slow = soak_bench.markdown(_soak(600, rate=700.0))
    assert "not sustained" in slow and "700 of 2,000" in slow
    assert "not sustained" not in soak_bench.markdown(_soak(600))
    assert "(loaded machine, load avg 7.5)" in slow and "| 95 B |" in slow


@pytest.mark.parametrize(("argv", "minutes", "ttl_s", "cap"), [
    ([], 10.0, 120, 200_000), (["--minutes", "3"], 3.0, 120, 200_000), (["--smoke"], 2.5, 30, 20_000),
])
def test_the_soak_runs_ten_minutes_at_2000_per_s_by_default(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], minutes: float, ttl_s: int, cap: int
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(soak_bench, "soak", lambda **kw: seen.update(kw) or _soak(kw["duration_s"]))
    monkeypatch.setattr(soak_bench, "write_fragment", lambda *a: None)
    assert soak_bench.main(argv) == 0
    assert (seen["duration_s"], seen["rate"], seen["ttl_s"], seen["cap"]) == (60 * minutes, 2000.0, ttl_s, cap)


def test_the_fold_rows_name_the_backlog_the_load_and_the_longest_command() -> None:
    fold = {"n": 50_000, "rounds": 3, "fold_per_s": 61_000.0, "fold_rounds_per_s": [61_000.0],
            "longest_command_ms": 31.5, "longest_command_ms_max": 60.0, "longest_command_ms_each": [31.5, 60.0],
            "longest_command": "EVALSHA abc",
            "load_avg": 6.2}
    text = memory_bench.markdown({"fold": [fold], "met": {}})
    assert "a backlog of 50,000 entries" in text and "load avg 6.2" in text
    assert "| 61,000 /s | >= 50,000 /s | yes |" in text and "| 31.5 ms | <= 50 ms | yes |" in text
    assert "max 60.0 ms" in text
