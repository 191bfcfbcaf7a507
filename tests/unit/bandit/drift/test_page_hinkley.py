"""Page–Hinkley (scale-aware) and the River adapters."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.drift import ADWINDetector, PageHinkley, RiverDetector, detector_from_dict


def first_alarm(detector, stream):
    for t, x in enumerate(stream):
        if detector.update(float(x)).drift_detected:
            return t
    return None


def test_page_hinkley_seeded_exact_alarm():
    rng = np.random.default_rng(1)
    stream = np.concatenate([rng.normal(10.0, 2.0, 300), rng.normal(2.0, 2.0, 50)])
    detector = PageHinkley()
    assert first_alarm(detector, stream) == 308
    assert detector.signal.change_point == 300
    assert detector.signal.magnitude == pytest.approx(-7.87, abs=0.01)
    assert detector.signal.threshold == 25.0


def test_page_hinkley_is_scale_aware():
    rng = np.random.default_rng(2)
    stream = np.concatenate([rng.normal(0.0, 1.0, 500), rng.normal(2.0, 1.0, 100)])
    a, b = PageHinkley(), PageHinkley()
    assert first_alarm(a, stream) == first_alarm(b, 0.01 * stream - 3.0) is not None
    assert a.signal.change_point == b.signal.change_point


def test_page_hinkley_quiet_on_stationary_streams_of_any_scale():
    rng = np.random.default_rng(3)
    for stream in (rng.normal(100.0, 30.0, 20_000), (rng.random(20_000) < 0.05).astype(float)):
        assert first_alarm(PageHinkley(), stream) is None


def test_page_hinkley_batch_of_one_equals_update_and_round_trip():
    rng = np.random.default_rng(4)
    stream = np.concatenate([rng.normal(0, 1, 200), rng.normal(-3, 1, 40)])
    a, b = PageHinkley(), PageHinkley()
    for x in stream[:100]:
        a.update(x)
        b.update_batch(1, x, x * x)
    assert a.state_dict() == b.state_dict()
    c = detector_from_dict(a.to_dict())
    assert first_alarm(a, stream[100:]) == first_alarm(c, stream[100:]) is not None
    assert a.signal == c.signal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sideways"}, "valid modes: both, up, down"),
        ({"threshold": 0.0}, "threshold must be"),
        ({"delta": -1.0}, "delta must be"),
    ],
)
def test_page_hinkley_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PageHinkley(**kwargs)


def test_adwin_adapter_detects_and_latches():
    rng = np.random.default_rng(0)
    stream = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(3.0, 1.0, 200)])
    detector = ADWINDetector()
    t = first_alarm(detector, stream)
    assert t == 1023
    assert detector.signal.change_point == 984
    assert detector.signal.magnitude > 1.0  # ADWIN's cut lands a little before the change
    detector.update(3.0)  # River forgets its alarm on the next value; the adapter latches it
    assert detector.drift_detected
    assert not detector.reset().drift_detected


def test_adwin_round_trip_replays_history():
    rng = np.random.default_rng(0)
    stream = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(3.0, 1.0, 200)])
    a = ADWINDetector(clock=1)
    for x in stream[:900]:
        a.update(x)
    b = detector_from_dict(a.to_dict())
    assert first_alarm(a, stream[900:]) == first_alarm(b, stream[900:]) is not None


def test_river_adapter_names_valid_classes():
    with pytest.raises(ValueError, match=r"valid: .*ADWIN"):
        RiverDetector("NoSuchDetector")
    assert RiverDetector("PageHinkley").name == "river_pagehinkley"
