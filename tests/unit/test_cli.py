"""The banditops CLI: simulate prints parseable JSON with the figures; errors are actionable."""

from __future__ import annotations

import json
import subprocess
import sys

from banditops.cli import main


def test_simulate_json_on_a_tiny_horizon(capsys):
    arms = '[{"kind":"gaussian","mean":1,"sd":1},{"kind":"gaussian","mean":3,"sd":1}]'
    changes = '[{"t":300,"arm":1,"mean":0}]'
    code = main(["simulate", "--arms", arms, "--changes", changes, "--horizon", "600", "--seeds", "2", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    summary = payload["summary"]
    for key in ("dynamic_regret", "detection_delay_median", "false_alarms_per_10k_stationary", "decisions_per_s",
                "exploration_share", "lai_robbins_bound"):
        assert key in summary
    assert summary["seeds"] == 2 and summary["lai_robbins_bound"] is None  # not stationary
    assert {"value", "lo", "hi"} <= set(summary["dynamic_regret"])
    assert len(payload["runs"]) == 2 and payload["runs"][0]["detections"][0]["t"] == 300


def test_simulate_stationary_reports_the_lai_robbins_bound(capsys):
    args = ["simulate", "--scenario", "banners", "--horizon", "300", "--seeds", "1", "--policy", "ts", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["lai_robbins_bound"] > 0


def test_bad_input_names_valid_values(capsys):
    assert main(["simulate", "--policy", "greedy", "--horizon", "10"]) == 2
    assert "valid policies: system, ts" in capsys.readouterr().err
    assert main(["simulate", "--arms", "[]", "--horizon", "10"]) == 2
    assert "non-empty JSON list" in capsys.readouterr().err
    # malformed JSON says which option and its valid form, not only where the decoder stopped
    assert main(["simulate", "--arms", "[{kind: gaussian}]", "--horizon", "10"]) == 2
    err = capsys.readouterr().err
    assert 'arms must be a non-empty JSON list like [{"kind": "gaussian"' in err and "not JSON" in err
    assert main(["simulate", "--changes", "t=5", "--horizon", "10"]) == 2
    err = capsys.readouterr().err
    assert 'changes must be a JSON list like [{"t": 10000' in err and "not JSON" in err
    # a null or text mean is a refusal naming what is valid, never a TypeError traceback
    for mean in ("null", '"six"', "true"):
        assert main(["simulate", "--changes", f'[{{"t": 5, "arm": 0, "mean": {mean}}}]', "--horizon", "10"]) == 2
        assert "change mean must be a finite number" in capsys.readouterr().err


def test_console_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "banditops.cli", "simulate", "--horizon", "200", "--seeds", "1", "--json", "--compact"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert json.loads(out.stdout)["summary"]["horizon"] == 200


def test_status_reads_the_store(redis_server, namespace, capsys):
    from banditops.store.redis_store import BanditStore
    from banditops.store.types import ExperimentConfig

    url = redis_server.url
    store = BanditStore.from_url(url, namespace=namespace)
    store.reset(ExperimentConfig(n_arms=3, reward_kind="bernoulli"))
    store.apply_batch("b1", 1, [0, 2, 2], [0.0, 1.0, 1.0])
    assert main(["status", "--redis-url", url, "--namespace", namespace, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["mode"] == "LEARNING" and status["epoch"] == 1 and status["total_pulls"] == 3
    assert status["leader"] == "2" and status["pulls_per_arm"] == [1, 0, 2]  # integer arms are named "0".."2"
    assert status["arms"] == ["0", "1", "2"] and status["retired"] == []


def test_arms_are_listed_added_and_retired_by_name(redis_server, namespace, capsys):
    from banditops.store.redis_store import BanditStore
    from banditops.store.types import ExperimentConfig

    url = redis_server.url
    store = BanditStore.from_url(url, namespace=namespace)
    store.reset(ExperimentConfig(n_arms=2, reward_kind="bernoulli", arm_names=("summer-sale", "winter")))
    where = ["--redis-url", url, "--namespace", namespace]
    assert main(["arms", "add", "spring", "--metadata", '{"title": "Spring"}', *where]) == 0
    assert json.loads(capsys.readouterr().out) == {"arm": "spring", "added": True}
    assert main(["arms", "retire", "winter", *where]) == 0
    assert json.loads(capsys.readouterr().out) == {"arm": "winter", "retired": True}
    assert main(["arms", "list", "--json", *where]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"arm": "summer-sale", "retired": False, "pulls": 0, "metadata": {}},
        {"arm": "winter", "retired": True, "pulls": 0, "metadata": {}},
        {"arm": "spring", "retired": False, "pulls": 0, "metadata": {"title": "Spring"}},
    ]
    before = store.snapshot()["keys"]
    assert main(["arms", "add", "winter", *where]) == 2
    assert "arm 'winter' is retired (index 1) and cannot come back" in capsys.readouterr().err
    assert main(["arms", "retire", "autumn", *where]) == 2
    assert "unknown arm 'autumn'; valid arms: summer-sale, spring" in capsys.readouterr().err
    assert main(["arms", "add", "x", "--metadata", "{oops", *where]) == 2
    assert "--metadata is not JSON" in capsys.readouterr().err
    assert main(["status", "--json", *where]) == 0
    assert json.loads(capsys.readouterr().out)["retired"] == ["winter"]
    assert store.snapshot()["keys"] == before
