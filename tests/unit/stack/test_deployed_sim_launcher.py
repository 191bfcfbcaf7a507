"""``python -m stack.deployed_sim``: a throwaway server for ``banditops simulate --deployed``, stopped after."""

from __future__ import annotations

import json

from stack import deployed_sim


def test_the_launcher_runs_the_deployed_simulator_on_its_own_server(capsys):
    args = ["--scenario", "seed", "--horizon", "200", "--seeds", "1", "--agents", "2", "--pulls-per-round", "20",
            "--json", "--compact"]
    assert deployed_sim.main(args) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["code_path"] == "deployed loop" and summary["horizon"] == 200


def test_the_launcher_refuses_a_server_of_yours(capsys):
    assert deployed_sim.main(["--redis-url", "redis://127.0.0.1:6379/0"]) == 2
    assert "run `banditops simulate --deployed` directly" in capsys.readouterr().err
