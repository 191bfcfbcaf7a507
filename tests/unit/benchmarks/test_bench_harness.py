"""The benchmark harness runs end to end on tiny sizes and merges other sections' fragments."""

from __future__ import annotations

import json

from benchmarks.run import main


def test_quick_bench_writes_core_and_keeps_other_fragments(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "store.json").write_text(json.dumps({"store": {"rows": [1]}}))
    (results / "store.md").write_text("## State store\n\nrow\n")
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "RESULTS.json").read_text())
    assert merged["store"] == {"rows": [1]}
    core = merged["core"]
    for key in ("scenario_1", "scenario_2", "scenario_3", "scenario_4", "scenario_5", "scenario_6", "meta"):
        assert key in core
    assert [r["figure"] for r in core["scenario_6"]["rows"]][2] == "system policy / plain TS"
    assert all({"figure", "value", "target", "met"} <= set(r) for r in core["scenario_3"]["rows"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.index("## Core") < text.index("## State store")
    assert "QUICK mode" in text and "6. Slowly varying" in text and "Code path: **sequential simulator**" in text
