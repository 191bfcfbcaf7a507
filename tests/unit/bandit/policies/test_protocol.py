"""Every policy (each name in POLICIES) and every detector against the one Policy protocol."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.drift import DETECTORS, make_detector
from banditops.bandit.drift.adwin import river_available
from banditops.bandit.policies.base import Policy, play
from banditops.bandit.policies.drift_aware import DriftAwarePolicy
from banditops.bandit.policies.registry import POLICIES, make_policy
from banditops.sim.simulation import refresh_blocks

MEANS = np.array([0.1, 0.5, 0.9])
HORIZON = 2_000


def _table(kind: str, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "bernoulli":
        return (rng.random((HORIZON, MEANS.size)) < MEANS).astype(float)
    return rng.normal(MEANS, 1.0, (HORIZON, MEANS.size))


def _play(spec: str, kind: str, blocks: list[int] | None) -> tuple[Policy, np.ndarray]:
    policy = make_policy(spec, MEANS.size, kind, np.random.default_rng(11))
    return policy, policy.run(_table(kind), blocks)


def _needs_river(detector: str) -> bool:
    return detector in ("adwin", "river_page_hinkley") and not river_available()


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("refresh", [1, 16])
@pytest.mark.parametrize("spec", POLICIES)
def test_every_policy_plays_the_table_by_the_protocol(spec: str, kind: str, refresh: int) -> None:
    if _needs_river(spec.partition(":")[2]):
        pytest.skip("river is not installed")
    blocks = None if refresh == 1 else refresh_blocks(HORIZON, refresh)
    policy, played = _play(spec, kind, blocks)
    assert isinstance(policy, Policy)
    assert played.dtype == np.int64 and played.shape == (HORIZON,)
    assert played.min() >= 0 and played.max() < MEANS.size
    assert 0 <= policy.explored <= HORIZON
    assert all(0 <= alarm.arm < MEANS.size and alarm.t < HORIZON for alarm in policy.alarms)
    # its name is a valid spec that builds the same policy
    assert make_policy(policy.name, MEANS.size, kind, np.random.default_rng(0)).name == policy.name
    # seeded: the same generator plays the same arms; run() is play() on the protocol's calls
    assert np.array_equal(_play(spec, kind, blocks)[1], played)
    again = make_policy(spec, MEANS.size, kind, np.random.default_rng(11))
    assert np.array_equal(play(again, _table(kind), blocks), played)
    # it learns: on a stationary table with gaps of 0.4, the best arm gets the late pulls. TS alone
    # gives it ~99 %; the floor explores <= ~5 %, a false alarm restarts a policy at most a few
    # times, so 60 % fails only for a policy that does not learn.
    assert np.mean(played[HORIZON // 2 :] == MEANS.argmax()) >= 0.6


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("spec", POLICIES)
def test_a_retired_arm_is_never_chosen(spec: str, kind: str) -> None:
    if _needs_river(spec.partition(":")[2]):
        pytest.skip("river is not installed")
    policy = make_policy(spec, MEANS.size, kind, np.random.default_rng(5))
    policy.retired = frozenset({2})  # type: ignore[misc]  # both implementations keep it as an attribute
    played = policy.run(_table(kind))
    assert 2 not in set(played.tolist())


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_a_policy_rebuilt_from_its_stored_state_is_the_same_policy(detector: str, kind: str) -> None:
    """What a stateless agent does every round: load() the state another process left."""
    if _needs_river(detector):
        pytest.skip("river is not installed")
    table = _table(kind)
    first = DriftAwarePolicy(MEANS.size, kind, np.random.default_rng(1), detector=detector)
    first.run(table[:1500])
    second = DriftAwarePolicy(MEANS.size, kind, np.random.default_rng(2), detector=detector)
    raised = second.load(stats=first.posterior.stats(), streams=[first.stream(a) for a in range(MEANS.size)],
                         t=1500, last_pulled=first.floor._last.copy() if first.floor else None,
                         floor_forced=first.floor_forced, control=first.control_state())
    assert raised == []  # the first policy reacted to whatever it saw: nothing is pending
    np.testing.assert_allclose(second.posterior.means(), first.posterior.means(), rtol=1e-9)
    assert second.control_state() == first.control_state() and second.floor_forced == first.floor_forced
    for arm in range(MEANS.size):
        np.testing.assert_array_equal(second.stream(arm)[0], first.stream(arm)[0])
        assert second._detectors[arm].n_seen == first._detectors[arm].n_seen


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_every_detector_rebuilt_from_a_stream_sees_the_change_it_shows(detector: str, kind: str) -> None:
    if _needs_river(detector):
        pytest.skip("river is not installed")
    rng = np.random.default_rng(4)
    if kind == "bernoulli":
        stream = np.concatenate([(rng.random(3000) < 0.9), (rng.random(400) < 0.1)]).astype(float)
    else:
        stream = np.concatenate([rng.normal(5.0, 1.0, 3000), rng.normal(0.0, 1.0, 400)])
    for part in (stream[:3000], stream):
        replayed = make_detector(detector, kind)
        for x in part.tolist():
            replayed.update(x)
        restored = make_detector(detector, kind).restore(part)
        assert restored.n_seen == replayed.n_seen == part.size
        assert restored.drift_detected == replayed.drift_detected
    assert restored.drift_detected  # the drop of 5 (or of 0.8) is seen by every detector
    if detector in ("glr", "page_hinkley"):  # scale-aware: quiet before the change
        assert not make_detector(detector, kind).restore(stream[:3000]).drift_detected
    with pytest.raises(ValueError):
        make_detector(detector, kind).restore(np.array([np.nan]))


def test_an_unknown_policy_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid policies: system, ts"):
        make_policy("ucb", 3, "bernoulli", np.random.default_rng(0))


def _wave(players: int, rise: float | None = None, t: int = 5_000) -> list[list[int]]:
    """One wave of rounds: ``players`` policies load one state (arm 0 played, the others behind).

    Without ``rise`` arms 1-4 are stale; with it, arm 2's stream ends with a probe of ``rise``
    that no control state has seen (the player that wrote the control did not pull it).
    """
    rng = np.random.default_rng(8)
    streams = [rng.normal(5.0, 1.0, 200)] + [rng.normal(-float(a), 1.0, 30) for a in range(1, 5)]
    last = np.array([t - 1, 29, 29, 29, 29])
    if rise is not None:
        streams[2] = np.append(streams[2], rise)
        last[1:] = t - 100  # nothing stale: only the suspicion calls for forced pulls
    positions = [np.arange(t - 200, t)] + [np.arange(s.size) for s in streams[1:]]
    source = DriftAwarePolicy(5, "gaussian", np.random.default_rng(0))
    for arm, values in enumerate(streams):
        source.posterior.set_arm(arm, values)
    rounds = []
    for player in range(players):
        policy = DriftAwarePolicy(5, "gaussian", np.random.default_rng(10 + player), players=players, player=player)
        raised = policy.load(
            stats=source.posterior.stats(), streams=list(zip(streams, positions, strict=True)), t=t, last_pulled=last
        )
        assert raised == []
        rounds.append([policy.choose(int(c), t + i)[0] for i, c in enumerate(policy.draw(50).tolist())])
    return rounds


def test_parallel_players_probe_each_stale_arm_once_by_its_owner() -> None:
    """Players reading one state: arm a's probe is player (a mod players)'s alone.

    Without the ownership every player would probe every due arm (players × the forced pulls of one).
    """
    for player, arms in enumerate(_wave(4)):
        assert sorted(set(arms) - {0}) == [a for a in range(1, 5) if a % 4 == player]
        assert all(arms.count(a) == 1 for a in set(arms) - {0})
    solo = _wave(1)[0]
    assert all(solo.count(arm) == 1 for arm in range(1, 5))  # one player: one probe each, as before


def test_a_rise_another_player_probed_is_confirmed_by_its_owner_in_the_next_wave() -> None:
    """The probe's rise (arm 2: -2 → 2) reaches the next wave only through the stream: its owner confirms it."""
    for player, arms in enumerate(_wave(4, rise=2.0)):
        assert arms.count(2) == (3 if player == 2 else 0)  # confirm_pulls = 3, by arm 2's owner only
    assert all(2 not in arms for arms in _wave(4, rise=-2.0))  # no rise, no confirmation


def test_a_player_outside_the_players_is_refused() -> None:
    with pytest.raises(ValueError, match=r"player must be an integer in \[0, players=4\); got 4"):
        DriftAwarePolicy(3, "gaussian", np.random.default_rng(0), players=4, player=4)


def test_wants_feedback_marks_the_probe_and_only_the_probe() -> None:
    # a round chosen from one read ends at the pull whose reward decides the next (issue 13)
    policy = make_policy("system", 3, "gaussian", np.random.default_rng(0),
                         floor_params={"min_staleness": 10, "jitter": 0.0, "budget": 1.0})
    marks = []
    for t in range(14):
        arm, forced = policy.choose(0, t)
        marks.append((arm, forced, policy.wants_feedback))
        policy.observe(arm, 1.0, t, forced=forced)
    assert marks[:10] == [(0, False, False)] * 10
    probes = [m for m in marks if m[2]]
    assert probes and all(arm != 0 and forced for arm, forced, _ in probes)
    plain = make_policy("ts", 3, "gaussian", np.random.default_rng(0))
    plain.choose(0, 0)
    assert plain.wants_feedback is False


def test_a_rise_past_the_leader_opens_a_phase_and_keeps_every_arms_evidence() -> None:
    # issue 13: the best arm changed (a new epoch for the loop's books), but nothing else did
    policy = DriftAwarePolicy(3, "gaussian", np.random.default_rng(0), floor=False)
    rng = np.random.default_rng(1)
    for t in range(600):
        arm = t % 3
        policy.observe(arm, float(rng.normal((1.0, 2.0, 3.0)[arm], 0.1)), t)
    before = policy.posterior.n.copy()
    alarm = None
    for t in range(600, 700):  # arm 0 jumps from 1 to 6, above the leader (arm 2, mean 3)
        alarm = alarm or policy.observe(0, float(rng.normal(6.0, 0.1)), t)
    assert alarm is not None and alarm.arm == 0 and alarm.restart and alarm.magnitude > 0
    assert policy.restarted and policy.posterior.n[1:].tolist() == before[1:].tolist()
    assert int(policy.posterior.means().argmax()) == 0
