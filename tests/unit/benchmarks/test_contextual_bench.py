"""The contextual benchmark runs end to end on tiny sizes and writes its fragment pair."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.contextual_bench import main


def test_quick_contextual_bench_writes_the_fragment(tmp_path: Path) -> None:
    names = "banditops_lin_ts,banditops_ts,mabwiser_lin_ts,vw_squarecb"
    assert main(["--quick", "--policies", names, "--out", str(tmp_path)]) == 0
    section = json.loads((tmp_path / "contextual.json").read_text())["contextual"]
    assert list(section["policies"]) == names.split(",")
    for policy in section["policies"].values():
        assert policy["cumulative_regret"]["n"] == 2 and policy["cumulative_regret"]["value"] > 0
        assert policy["decisions_per_s_batch_100"]["value"] > 0
    figures = [row["figure"] for row in section["targets"]]
    assert any("non-contextual TS" in f for f in figures) and any("MABWiser LinTS" in f for f in figures)
    text = (tmp_path / "contextual.md").read_text()
    assert text.startswith("## Contextual bandits") and "REDUCED configuration" in text


def test_reuse_keeps_the_seeded_rows_not_rerun_and_checks_the_rows_run_twice(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["--quick", "--policies", "banditops_lin_ts,banditops_ts", "--out", str(first)]) == 0
    assert main(["--quick", "--policies", "banditops_lin_ts", "--out", str(second),
                 "--reuse", str(first / "contextual.json")]) == 0
    before = json.loads((first / "contextual.json").read_text())["contextual"]
    after = json.loads((second / "contextual.json").read_text())["contextual"]
    assert list(after["policies"]) == ["banditops_lin_ts", "banditops_ts"]
    assert after["policies"]["banditops_ts"]["regret_per_seed"] == before["policies"]["banditops_ts"]["regret_per_seed"]
    assert after["policies"]["banditops_ts"]["label"].endswith("†")
    assert after["meta"]["reused_rows"] == ["banditops_ts"]
    assert after["meta"]["reused_check"] == {"banditops_lin_ts": True}
    assert any("non-contextual TS" in row["figure"] for row in after["targets"])  # targets use the reused row
    assert "† rows not rerun" in (second / "contextual.md").read_text()
