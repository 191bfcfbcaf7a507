"""The memory benchmark's report says when its soak was shorter than the 10-minute target."""

from __future__ import annotations

from benchmarks import memory_bench


def _result(duration_s: float) -> dict:
    sample = {"t_s": 0.0, "used_memory": 2**20, "records": 1, "decisions_stream": 1, "feedback_stream": 1,
              "fold_markers": 0}
    soak = {"target_rate": 2000.0, "duration_s": duration_s, "ttl_s": 60, "stream_cap": 20_000, "connections": 16,
            "delay_ms": 4.0, "decisions": 10.0, "decisions_per_s": 1.0, "feedback_accepted": 10.0, "non_2xx": 0,
            "socket_errors": 0, "p99_ms": 1.0, "plateau_bytes": 2.0**20, "plateau_max_bytes": 2**20,
            "second_half_slope_bytes_per_s": 0.0, "second_half_records_slope_bytes_per_s": 0.0,
            "records_at_end": 1, "record_bytes_each": 90.0,
            "streams_bytes_at_end": 1000, "fold_rounds": 1, "folded": 10, "fold_per_s_in_soak": 100.0,
            "samples": [sample]}
    return {"bytes_per_decision_kept": 90.0, "bytes_per_decision_uncapped": 250.0, "fold_n": 10, "fold_per_s": 1.0,
            "soak": soak, "met": {"bytes_per_decision_kept": True, "fold_per_s": False,
                                  "soak_decisions_per_s": False, "soak_levels_off": True}}


def test_a_short_soak_is_reported_as_short_and_the_default_is_ten_minutes(monkeypatch) -> None:
    assert "Shorter than the 10-minute target" in memory_bench.markdown(_result(120))
    assert "Shorter than the 10-minute target" not in memory_bench.markdown(_result(600))
    seen = {}
    monkeypatch.setattr(memory_bench, "run", lambda **kw: seen.update(kw) or _result(600))
    monkeypatch.setattr(memory_bench, "write_fragment", lambda *a: None)
    assert memory_bench.main([]) == 0
    assert seen["soak_s"] == 600.0 and seen["rate"] == 2000.0
