"""Off-policy evaluation on the stack's own decision log, written through the store API the decision service uses."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from banditops import cli
from banditops.bandit.ope import evaluate
from banditops.loop.evaluation import action_probabilities, as_action_dist
from banditops.serving.recommender import new_decision_id
from banditops.store import connection as redis
from banditops.store.feedback import Decision, accept_feedback, decisions_stream, feedback_stream, record_decisions
from banditops.store.log_feedback import LogBanditFeedback
from banditops.store.redis_store import BanditStore
from banditops.store.types import ExperimentConfig
from stack.redis_server import RedisServer


def _write_log(client: redis.Redis, ns: str, n: int, propensity: float, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    now_ms = int(time.time() * 1000)
    decisions, rewards = [], []
    for _ in range(n):
        arm = int(rng.integers(0, 2)) * 4 + 3  # arms 3 and 7, uniformly: propensity 0.5
        decisions.append(Decision(new_decision_id(), "u", (arm,), propensity, 1, False, now_ms))
        rewards.append(float(rng.random() < (0.7 if arm == 7 else 0.2)))
    record_decisions(client, ns, decisions)
    for d, r in zip(decisions, rewards, strict=True):
        accept_feedback(client, ns, d.decision_id, r)
    return rewards


def test_candidate_equal_to_logging_policy_gives_the_logged_mean(redis_client: redis.Redis, namespace: str) -> None:
    rewards = _write_log(redis_client, namespace, 400, 0.5)
    log = LogBanditFeedback.read(redis_client, namespace, window_s=3600)
    assert log.arms == (3, 7) and log.feedback.n_rows == 400
    probs = action_probabilities({"policy": "uniform"}, log.arms, successes=[0, 0], failures=[0, 0])
    out = evaluate(log.feedback, as_action_dist(probs, 400), estimators=["ipw", "snipw"],
                   rng=np.random.default_rng(0), n_boot=200)
    assert out["ipw"].estimate == pytest.approx(np.mean(rewards), abs=1e-12)
    assert out["ipw"].ess == pytest.approx(400)


def test_greedy_candidate_estimate_is_the_logged_mean_of_its_arm(redis_client: redis.Redis, namespace: str) -> None:
    _write_log(redis_client, namespace, 600, 0.5, seed=1)
    log = LogBanditFeedback.read(redis_client, namespace)
    probs = action_probabilities({"policy": "greedy"}, log.arms, successes=[1, 9], failures=[9, 1])
    out = evaluate(log.feedback, as_action_dist(probs, log.feedback.n_rows), estimators=["snipw"],
                   rng=np.random.default_rng(0), n_boot=200)
    arm7 = log.feedback.action == log.arms.index(7)
    assert out["snipw"].estimate == pytest.approx(log.feedback.reward[arm7].mean(), abs=1e-12)


def test_thompson_candidate_probabilities_sum_to_one_and_favour_the_better_arm() -> None:
    p = action_probabilities({"policy": "thompson", "prior": [1, 1]}, (3, 7), successes=[2, 20], failures=[20, 2],
                             rng=np.random.default_rng(0))
    assert p.sum() == pytest.approx(1.0) and p[1] > 0.99


def test_zero_propensities_are_refused(redis_client: redis.Redis, namespace: str) -> None:
    _write_log(redis_client, namespace, 20, 0.0)
    with pytest.raises(ValueError, match=r"20 rows without a usable propensity \(0 missing, 20 zero"):
        LogBanditFeedback.read(redis_client, namespace)


def test_missing_propensities_are_refused(redis_client: redis.Redis, namespace: str) -> None:
    """A log entry without the field (an older writer): the same streams, written raw."""
    _write_log(redis_client, namespace, 5, 0.5)
    redis_client.xadd(decisions_stream(namespace), {"decision_id": "a" * 32, "arm": 3, "epoch": 1})
    redis_client.xadd(feedback_stream(namespace), {"decision_id": "a" * 32, "arm": 3, "epoch": 1, "reward": 1.0})
    with pytest.raises(ValueError, match=r"1 rows without a usable propensity \(1 missing"):
        LogBanditFeedback.read(redis_client, namespace)


def test_empty_log_and_foreign_static_ranking_are_refused(redis_client: redis.Redis, namespace: str) -> None:
    with pytest.raises(ValueError, match="no decision with feedback"):
        LogBanditFeedback.read(redis_client, namespace)
    with pytest.raises(ValueError, match="none of the logged arms"):
        action_probabilities({"policy": "static", "ranking": [11, 12]}, (3, 7), successes=[0, 0], failures=[0, 0])
    with pytest.raises(ValueError, match="valid: thompson"):
        action_probabilities({"policy": "bogus"}, (3, 7), successes=[0, 0], failures=[0, 0])


def test_cli_ope_log_evaluates_live_and_candidates(redis_server: RedisServer, redis_client: redis.Redis,
                                                   namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    BanditStore(redis_client, namespace).reset(ExperimentConfig(reward_kind="bernoulli", n_arms=8))
    rewards = _write_log(redis_client, namespace, 300, 0.5)
    args = ["ope", "log", "--window", "3600", "--redis-url", redis_server.url, "--namespace", namespace,
            "--candidates", json.dumps({"uni": {"policy": "uniform"}, "top7": {"policy": "static", "ranking": [7]}})]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["policies"]) == {"live", "uni", "top7"}
    assert report["policies"]["uni"]["estimators"]["ipw"]["estimate"] == pytest.approx(np.mean(rewards), abs=1e-12)
    assert report["policies"]["top7"]["estimators"]["snipw"]["estimate"] > 0.5  # arm 7 pays 0.7, arm 3 pays 0.2


def test_cli_ope_log_refuses_zero_propensities_and_prints_no_estimate(
        redis_server: RedisServer, redis_client: redis.Redis, namespace: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    BanditStore(redis_client, namespace).reset(ExperimentConfig(reward_kind="bernoulli", n_arms=8))
    _write_log(redis_client, namespace, 10, 0.0)
    assert cli.main(["ope", "log", "--redis-url", redis_server.url, "--namespace", namespace]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "without a usable propensity" in captured.err
