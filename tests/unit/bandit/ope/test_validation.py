"""Bad logs and bad candidates are refused with a message naming what is missing; nothing is estimated."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.ope import LoggedBanditFeedback, evaluate


def _pi(n: int, probs: list[float]) -> np.ndarray:
    return np.broadcast_to(np.array(probs)[None, :, None], (n, len(probs), 1)).copy()


def test_missing_propensities_are_refused():
    with pytest.raises(ValueError, match=r"2 rows without a usable propensity \(2 missing.*rows \[1, 3\]"):
        LoggedBanditFeedback.build([0, 1, 0, 1], [1, 0, 0, 1], [0.5, None, 0.5, float("nan")])


def test_zero_propensities_are_refused():
    with pytest.raises(ValueError, match=r"1 rows without a usable propensity \(0 missing, 1 zero"):
        LoggedBanditFeedback.build([0, 1], [1, 0], [0.5, 0.0])


def test_candidate_playing_arms_the_log_never_saw_is_refused():
    log = LoggedBanditFeedback.build([0, 1, 0, 1], [1, 0, 0, 1], [0.5] * 4)
    with pytest.raises(ValueError, match=r"no pulls of arms \[2\] that the candidate plays"):
        evaluate(log, _pi(4, [0.2, 0.3, 0.5]), estimators=["ipw"], rng=np.random.default_rng(0))


def test_candidate_without_the_logged_arms_is_refused():
    log = LoggedBanditFeedback.build([0, 3, 0, 1], [1, 0, 0, 1], [0.5] * 4)
    with pytest.raises(ValueError, match=r"no probability for logged arms \[3\]"):
        evaluate(log, _pi(4, [0.5, 0.5]), estimators=["ipw"], rng=np.random.default_rng(0))


def test_unknown_estimator_and_missing_reward_model_name_the_valid_values():
    log = LoggedBanditFeedback.build([0, 1], [1, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="valid: dm, ipw, snipw, dr, sndr, switch_dr, dros"):
        evaluate(log, _pi(2, [0.5, 0.5]), estimators=["ips"], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\['dm'\] need a reward model"):
        evaluate(log, _pi(2, [0.5, 0.5]), estimators=["dm"], rng=np.random.default_rng(0))


def test_action_dist_must_be_a_distribution():
    log = LoggedBanditFeedback.build([0, 1], [1, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        evaluate(log, _pi(2, [0.5, 0.6]), estimators=["ipw"], rng=np.random.default_rng(0))
