"""The deployed-loop benchmark section: every cell measured, labelled, targets judged; cells re-measured alone."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.deployed_bench import main


def test_quick_deployed_bench_writes_the_fragment_and_remeasures_one_cell(tmp_path: Path) -> None:
    assert main(["--quick", "--seeds", "2", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "deployed.json").read_text())["deployed"]
    assert set(results["cells"]) == {f"{n}:{w}" for n in ("s1", "s3", "s4", "s5", "slow", "common")
                                     for w in ("seq", "4x50", "4x5")}
    cell = results["cells"]["s3:4x50"]["deployed"]
    assert cell["code_path"] == "deployed loop" and cell["dynamic_regret"]["n"] == 2
    assert results["cells"]["s3:seq"]["system"]["code_path"] == "sequential simulator"
    md = (tmp_path / "deployed.md").read_text()
    assert "deployed loop" in md and "sequential simulator" in md and ("✓" in md or "✗" in md)
    assert "slowly varying" in md and "common drift" in md and "4 agents × 5" in md
    before = results["cells"]["s5:4x50"]
    assert main(["--quick", "--seeds", "3", "--cells", "s3:4x50", "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "deployed.json").read_text())["deployed"]["cells"]
    assert again["s3:4x50"]["deployed"]["dynamic_regret"]["n"] == 3 and again["s5:4x50"] == before


def test_every_learning_fragment_names_the_code_path_it_measured() -> None:
    results = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
    labels = {"core": "sequential simulator", "contextual": "sequential simulator", "deployed": "deployed loop",
              "demo": "deployed loop"}
    for name, path in labels.items():
        text = (results / f"{name}.md").read_text()
        assert f"Code path: **{path}**" in text, name
