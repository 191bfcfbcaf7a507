"""`banditops simulate --scenario contextual` prints a JSON report anyone can rerun."""

from __future__ import annotations

import json

import pytest

from banditops.cli import main


def test_contextual_scenario_prints_a_reproducible_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--scenario", "contextual", "--policy", "lin_ts", "--seeds", "2", "--horizon", "600",
            "--compact"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["scenario"], report["policy"], report["seeds"]) == ("contextual", "lin_ts", 2)
    assert report["horizon"] == 600
    regret = report["summary"]["cumulative_regret"]
    assert 0 < regret["lo"] <= regret["value"] <= regret["hi"]
    assert [r["seed"] for r in report["runs"]] == [0, 1]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["regret"] == report["runs"][0]["regret"]


def test_unknown_contextual_policy_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "contextual", "--policy", "system", "--seeds", "1"]) == 2
    assert "valid policies: lin_ts, ts" in capsys.readouterr().err
