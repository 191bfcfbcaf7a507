"""GLR change-point tests: seeded exact alarms, stationary silence, batch equivalence, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from banditops.bandit.drift import BernoulliGLR, GaussianGLR, detector_from_dict, make_detector
from banditops.bandit.drift.glr import glr_threshold


def first_alarm(detector, stream):
    for t, x in enumerate(stream):
        if detector.update(float(x)).drift_detected:
            return t
    return None


def test_gaussian_glr_known_stream_alarm_at_known_index_and_statistic():
    # 50 zeros then 5s: the known-sigma statistic after 1 post-change reward is
    # s(n-s)/(2 n) * 25 = 50*1/(2*51)*25 = 12.25 > ln(3 * 51^1.5 / 0.01) = 11.60.
    detector = GaussianGLR(delta=0.01, sigma=1.0)
    t = first_alarm(detector, [0.0] * 50 + [5.0] * 5)
    assert t == 50
    signal = detector.signal
    assert signal.change_point == 50
    assert signal.magnitude == pytest.approx(5.0)
    assert signal.statistic == pytest.approx(50 * 1 / (2 * 51) * 25)
    assert signal.threshold == pytest.approx(math.log(3 * 51**1.5 / 0.01))
    assert signal.detector == "glr_gaussian" and signal.detected_at == 51


def test_bernoulli_glr_known_stream_alarm_at_known_index():
    # 200 ones then zeros: k zeros give 200*kl(1, mu) + k*kl(0, mu), mu = 200/(200+k).
    detector = BernoulliGLR(delta=0.01)
    t = first_alarm(detector, [1.0] * 200 + [0.0] * 10)
    assert t == 203
    s = detector.signal
    assert s.change_point == 200 and s.magnitude == pytest.approx(-1.0)
    mu = 200 / 204
    expected = 200 * math.log(1 / mu) + 4 * math.log(1 / (1 - mu))
    assert s.statistic == pytest.approx(expected, rel=1e-6)
    assert s.threshold == pytest.approx(glr_threshold(204, 0.01))


def test_seeded_gaussian_unknown_sigma_exact_delay():
    rng = np.random.default_rng(11)
    stream = np.concatenate([rng.normal(5.0, 1.0, 3000), rng.normal(0.0, 1.0, 30)])
    detector = GaussianGLR()
    assert first_alarm(detector, stream) == 3000
    assert detector.signal.change_point == 3000


@pytest.mark.parametrize(
    ("factory", "draw"),
    [
        (GaussianGLR, lambda rng: rng.normal(3.0, 2.0, 20_000)),
        (BernoulliGLR, lambda rng: (rng.random(20_000) < 0.2).astype(float)),
    ],
)
def test_no_alarm_on_long_stationary_seeded_stream(factory, draw):
    detector = factory()
    assert first_alarm(detector, draw(np.random.default_rng(2024))) is None
    assert detector.progress < 1.0


def test_scale_invariance_of_unknown_sigma_test():
    rng = np.random.default_rng(5)
    stream = np.concatenate([rng.normal(0.0, 1.0, 400), rng.normal(1.0, 1.0, 400)])
    a, b = GaussianGLR(), GaussianGLR()
    ta = first_alarm(a, stream)
    tb = first_alarm(b, 1000.0 * stream + 7.0)
    assert ta is not None and ta == tb
    assert a.signal.change_point == b.signal.change_point
    assert a.signal.statistic == pytest.approx(b.signal.statistic, rel=1e-6)


@pytest.mark.parametrize("factory", [GaussianGLR, lambda: GaussianGLR(sigma=1.0), BernoulliGLR])
def test_batch_of_one_is_exactly_update(factory):
    rng = np.random.default_rng(9)
    stream = np.concatenate([(rng.random(300) < 0.8), (rng.random(100) < 0.1)]).astype(float)
    a, b = factory(), factory()
    for x in stream:
        a.update(x)
        b.update_batch(1, x, x * x)
    assert a.state_dict() == b.state_dict()
    assert a.signal == b.signal


def test_batches_detect_at_batch_boundary():
    rng = np.random.default_rng(4)
    detector = GaussianGLR()
    for b in range(40):
        mean = 2.0 if b < 30 else 4.0
        x = rng.normal(mean, 1.0, 50)
        detector.update_batch(50, x.sum(), (x * x).sum())
        if detector.drift_detected:
            break
    assert b == 30 and detector.signal.change_point == 1500
    assert detector.signal.magnitude == pytest.approx(2.0, abs=0.5)


def test_keep_after_keeps_post_change_samples():
    detector = GaussianGLR(sigma=1.0)
    first_alarm(detector, [0.0] * 50 + [5.0] * 3)
    assert detector.totals_after(50) == (1, 5.0, 25.0)
    detector.keep_after(50)
    assert not detector.drift_detected
    assert detector.totals == (1, 5.0, 25.0)
    detector.update(5.0)
    assert detector.totals == (2, 10.0, 50.0) and not detector.drift_detected
    with pytest.raises(ValueError, match="entry boundary"):
        detector.keep_after(7)


def test_serialisation_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    stream = np.concatenate([rng.normal(0, 1, 500), rng.normal(2, 1, 50)])
    a = GaussianGLR()
    for x in stream[:300]:
        a.update(x)
    b = detector_from_dict(a.to_dict())
    ta, tb = first_alarm(a, stream[300:]), first_alarm(b, stream[300:])
    assert ta == tb and a.signal == b.signal and ta is not None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: BernoulliGLR(delta=0.0), r"delta .* in \(0, 1\)"),
        (lambda: BernoulliGLR(delta=1.5), r"delta .* in \(0, 1\)"),
        (lambda: GaussianGLR(sigma=-1.0), "sigma must be a positive"),
        (lambda: BernoulliGLR().update(2.0), r"rewards in \[0, 1\]"),
        (lambda: GaussianGLR().update(float("nan")), "finite"),
        (lambda: GaussianGLR().update_batch(0, 0.0, 0.0), "n must be an integer >= 1"),
        (lambda: GaussianGLR().update_batch(2, 10.0, 1.0), "inconsistent batch summary"),
        (lambda: BernoulliGLR().update_batch(2, 3.0, 5.0), r"need 0 <= sum <= n"),
        (lambda: make_detector("glr", "poisson"), "valid kinds: bernoulli, gaussian"),
        (lambda: make_detector("cusum", "gaussian"), "valid detectors: glr, page_hinkley"),
        (lambda: detector_from_dict({"detector": "nope"}), "valid: glr_bernoulli"),
    ],
)
def test_bad_arguments_raise_value_error_naming_valid_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_reward_leaves_state_unchanged():
    detector = BernoulliGLR()
    for x in [1.0, 0.0, 1.0]:
        detector.update(x)
    before = detector.state_dict()
    with pytest.raises(ValueError):
        detector.update(0.5 + 1.0)
    assert detector.state_dict() == before
