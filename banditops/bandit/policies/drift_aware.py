"""The system's drift-aware policy: Thompson Sampling that keeps watching every arm.

What it does on every pull, in order:

1. **Confirmation pulls** — when a pull raises a non-leading arm's change statistic past
   ``confirm_at`` (0.3) of its threshold on an upward change, that arm gets ``confirm_pulls``
   (3) pulls at once, and up to ``confirm_rounds`` (3) rounds while each raises the statistic
   further: a poor arm that may have become the best is settled in a few pulls instead of a
   whole staleness period.
2. **Staleness floor** — an arm unsampled for longer than L(t) gets a pull
   (:class:`~banditops.bandit.policies.staleness_floor.StalenessFloor`), so a change on an arm that is
   no longer played is seen at all.
3. Otherwise the **Thompson** choice, from the posterior of the current statistics.

Every reward then goes to its arm's change-point test (GLR by default, on every pull: testing
only at batch refreshes triples the regret of a drop of the played arm). On an alarm:

- the **leader dropped** → full restart: every arm forgets, except that the alarming arm
  keeps its post-change rewards (the freshest evidence there is), and the floor's clock
  restarts;
- any other change → only that arm is reset to its post-change rewards.

The posterior is the shared :class:`~banditops.bandit.posteriors.arrays.PosteriorArrays`. The
simulator plays this class through :func:`~banditops.bandit.policies.base.play`; an Airflow agent's
round plays the very same object: it rebuilds it from the store with :meth:`DriftAwarePolicy.load`
(posterior totals, each arm's reward stream since its last reset, the floor's clock, the
confirmation state), draws and chooses the round, observes the round's rewards pull by pull, and
writes back what changed — including a reaction — in the store's one round script.

Parallel agents (``players`` > 1) read one state per wave of rounds: each due probe and each
confirmation is one agent's (``player``), so a wave pays what the sequential policy pays.

Optional forced pulls the deployed loop needs and the simulator does not use: ``min_pulls``
(every active arm gets that many pulls per epoch first, for the convergence rule's minimum) and
a round-robin budget (:meth:`DriftAwarePolicy.set_round_robin`, a relearning a person asked for).

References
----------
Besson, L., Kaufmann, E., Maillard, O.-A., Seznec, J. (2022). Efficient change-point detection
for tackling piecewise-stationary bandits. JMLR 23(77). (GLR tests, restarts, forced exploration.)
Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in view
of the evidence of two samples. Biometrika 25(3/4).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> rewards = np.column_stack([rng.normal(1.0, 1.0, 6000), rng.normal(3.0, 1.0, 6000)])
>>> rewards[3000:, 1] -= 4.0                       # the leader drops to -1 at pull 3000
>>> policy = DriftAwarePolicy(2, "gaussian", np.random.default_rng(1))
>>> arms = policy.run(rewards)
>>> [(a.t, a.arm, a.restart) for a in policy.alarms]
[(3001, 1, True)]
>>> int((arms[3100:] == 0).mean() > 0.95)
1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from banditops.bandit.arms import REWARD_KINDS
from banditops.bandit.drift import DETECTORS, make_detector
from banditops.bandit.drift.base import DriftDetector
from banditops.bandit.policies.active_arms import active_mask
from banditops.bandit.policies.base import Alarm, play
from banditops.bandit.policies.staleness_floor import StalenessFloor
from banditops.bandit.policies.thompson import thompson_choice
from banditops.bandit.posteriors.arrays import PosteriorArrays
from banditops.bandit.stats import ArmStats

__all__ = ["Alarm", "DriftAwarePolicy", "PosteriorArrays"]


class DriftAwarePolicy:
    """TS + staleness floor + per-pull change-point tests + confirmation pulls + restarts.

    Parameters
    ----------
    n_arms : int
        Number of arms.
    reward_kind : {"bernoulli", "gaussian"}
        Posterior and GLR test kind.
    rng : numpy.random.Generator
        Source of posterior draws and floor jitter.
    detector : str, default "glr"
        Per-arm test, a name from :data:`banditops.bandit.drift.DETECTORS`.
    delta : float, default 0.01
        False-alarm level of the GLR tests.
    floor : bool, default True
        Use the staleness floor (``False``: tests watch only the arms TS plays).
    confirm_pulls : int, default 3
        Confirmation pulls for a suspected rise of a non-leading arm (0 disables).
    confirm_at : float, default 0.3
        Share of the threshold that makes a rise suspect.
    confirm_rounds : int, default 3
        Further rounds of confirmation pulls while each round raises the statistic.
    prior : dict, optional
        Posterior prior (the posteriors' defaults otherwise).
    floor_params, detector_params : dict, optional
        Passed to :class:`StalenessFloor` and to the detector.
    min_pulls : int, default 0
        Pulls every active arm gets first (per epoch, counting what the posterior holds).
    players : int, default 1
        Players sharing the posterior at once (parallel agents): each gives an arm only its share,
        ``ceil((min_pulls - n) / players)``, of the pulls it lacks, so together they top it up once.
    player : int, default 0
        Which of the ``players`` this one is, in ``[0, players)``. With several players, arm ``a``'s
        staleness probe and its confirmation pulls belong to player ``a mod players`` alone: players
        that read the same state would otherwise all probe the due arm (a forced pull each, the
        sequential policy's cost times ``players``). A suspicion the owner's probe raises reaches
        the next wave through the arm's stream: :meth:`load` re-applies the confirmation rule to the
        restored tests, so every player agrees on it (the store keeps one player's control state)
        and the owner takes the ``confirm_pulls``, as the sequential policy does after its probe.
    """

    def __init__(
        self,
        n_arms: int,
        reward_kind: str,
        rng: np.random.Generator,
        *,
        detector: str = "glr",
        delta: float = 0.01,
        floor: bool = True,
        confirm_pulls: int = 3,
        confirm_at: float = 0.3,
        confirm_rounds: int = 3,
        prior: Mapping[str, float] | None = None,
        floor_params: Mapping[str, Any] | None = None,
        detector_params: Mapping[str, Any] | None = None,
        min_pulls: int = 0,
        players: int = 1,
        player: int = 0,
    ) -> None:
        if reward_kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {reward_kind!r}; valid kinds: {', '.join(REWARD_KINDS)}")
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; valid detectors: {', '.join(DETECTORS)}")
        if confirm_pulls < 0 or not (0.0 < confirm_at < 1.0):
            raise ValueError("confirm_pulls must be >= 0 and confirm_at in (0, 1)")
        if isinstance(min_pulls, bool) or int(min_pulls) != min_pulls or min_pulls < 0:
            raise ValueError(f"min_pulls must be an integer >= 0; got {min_pulls!r}")
        self.n_arms = int(n_arms)
        self.reward_kind = reward_kind
        self.rng = rng
        self.detector = detector
        self.delta = float(delta)
        self.confirm_pulls = int(confirm_pulls)
        self.confirm_at = float(confirm_at)
        self.confirm_rounds = int(confirm_rounds)
        self.min_pulls = int(min_pulls)
        self.players = max(int(players), 1)
        if isinstance(player, bool) or int(player) != player or not (0 <= player < self.players):
            raise ValueError(f"player must be an integer in [0, players={self.players}); got {player!r}")
        self.player = int(player)
        self.detector_params = dict(detector_params or {})
        self.posterior = PosteriorArrays(reward_kind, self.n_arms, prior)
        self.floor = StalenessFloor(self.n_arms, rng, **dict(floor_params or {})) if floor else None
        self._detectors = [self._new_detector() for _ in range(self.n_arms)]
        self._values: list[list[float]] = [[] for _ in range(self.n_arms)]
        self._times: list[list[int]] = [[] for _ in range(self.n_arms)]
        self._confirm_arm = -1
        self._confirm_left = 0
        self._last_progress = np.zeros(self.n_arms)
        self._rounds = np.zeros(self.n_arms, np.int64)
        self._next_pool = 0
        self._pending = np.zeros(self.n_arms, np.int64)
        self._rr_left = 0
        self._rr_next = 0
        #: Arms never chosen (retired at runtime).
        self.retired: frozenset[int] = frozenset()
        self.alarms: list[Alarm] = []
        #: Pulls not chosen by Thompson Sampling (every kind of forced pull).
        self.explored = 0
        #: Since the last :meth:`load`: whether a restart happened, and the arms reset on their own.
        self.restarted = False
        self.reset_arms: set[int] = set()
        #: Whether the pull just chosen was a watch pull (see ``Policy.wants_feedback``).
        self.wants_feedback = False
        self._read_at = 0  # the pull count of the last load (deals the top-up among the players)

    @property
    def name(self) -> str:
        base = "system" if self.floor is not None else "ts"
        return base if (self.detector == "glr" and self.floor is not None) else f"{base}:{self.detector}"

    def _new_detector(self) -> DriftDetector:
        return make_detector(self.detector, self.reward_kind, delta=self.delta, **self.detector_params)

    # -- the Policy protocol -------------------------------------------------------------------
    def draw(self, size: int) -> np.ndarray:
        draws = self.posterior.draw(self.rng) if size == 1 else self.posterior.draw(self.rng, size)
        return np.atleast_1d(thompson_choice(draws, self.retired))

    def choose(self, ts_choice: int, t: int) -> tuple[int, bool]:
        arm, forced, watched = ts_choice, True, False
        if self._rr_left > 0:
            active = np.flatnonzero(active_mask(self.n_arms, self.retired))
            arm = int(active[self._rr_next % active.size])
            self._rr_left -= 1
            self._rr_next += 1
        elif self.min_pulls and (short := self._short_arm()) is not None:
            arm = short
        elif self._confirm_left > 0 and self._owns(self._confirm_arm):
            self._confirm_left -= 1
            arm, watched = self._confirm_arm, True
        else:
            self._confirm_left = 0  # (another player's confirmation pulls: its owner takes them)
            stale = self.floor.due(t) if self.floor is not None else None
            if stale is not None and (stale in self.retired or not self._owns(stale)):
                assert self.floor is not None
                # A retired arm is never due again: nothing to watch. Another player's probe is not
                # due for this one: its owner takes it in the same wave.
                self.floor.pulled(stale, t)
                stale = None
            if stale is not None:
                arm, watched = stale, True
            else:
                forced = False
        if self.floor is not None:
            self.floor.pulled(arm, t, forced=watched)
        # (more confirmation pulls of this arm still queued: they need no reward first)
        self.wants_feedback = watched and not (self._confirm_left > 0 and self._owns(self._confirm_arm))
        if forced:
            self.explored += 1
        self._pending[arm] += 1
        return arm, forced

    def observe(self, arm: int, x: float, t: int, *, forced: bool = False) -> Alarm | None:
        if self._pending[arm] > 0:
            self._pending[arm] -= 1
        self.posterior.add(arm, x)
        self._values[arm].append(x)
        self._times[arm].append(t)
        detector = self._detectors[arm]
        if t >= self._next_pool:
            self._pool_noise(t)
        detector.update(x)
        if detector.drift_detected:
            return self._on_alarm(arm, t)
        if self.confirm_pulls:
            self._maybe_confirm(arm, detector, confirming=forced and self._confirm_arm == arm)
        return None

    def run(self, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
        """Play ``rewards`` (shape ``(T, K)``) with :func:`~banditops.bandit.policies.base.play`."""
        return play(self, rewards, blocks)

    # -- forced pulls the deployed loop may ask for -----------------------------------------------
    def _owns(self, arm: int) -> bool:
        """Whether this player takes ``arm``'s probes and confirmations (see ``player``)."""
        return self.players == 1 or arm % self.players == self.player

    def _short_arm(self) -> int | None:
        # The i-th missing pull of arm a is player (a + i + t) mod players's, t the pull count the
        # state was read at: the players that read one state top each arm up to min_pulls exactly,
        # not players × ceil(missing / players); the next read deals them anew, so a missing pull
        # whose player is not running goes to another.
        need = np.maximum(self.min_pulls - self.posterior.n, 0).astype(np.int64)
        first = (self.player - np.arange(self.n_arms) - self._read_at) % self.players
        share = np.maximum(need - first + self.players - 1, 0) // self.players
        for arm in np.flatnonzero(self._pending < share).tolist():
            if arm not in self.retired:
                return int(arm)
        return None

    def set_round_robin(self, pulls: int, start: int = 0) -> None:
        """Force the next ``pulls`` pulls round-robin over the active arms, from cycle position ``start``."""
        self._rr_left, self._rr_next = max(int(pulls), 0), max(int(start), 0)

    # -- state a stateless agent keeps in the store ----------------------------------------------
    def load(
        self,
        *,
        stats: ArmStats,
        streams: Sequence[tuple[np.ndarray, np.ndarray]],
        t: int,
        last_pulled: np.ndarray | None = None,
        floor_forced: int = 0,
        control: Mapping[str, Any] | None = None,
        retired: Iterable[int] = (),
    ) -> list[Alarm]:
        """Become the policy the store describes, at pull ``t``; returns the alarms that raises.

        ``stats`` are the posterior totals, ``streams[arm]`` the arm's rewards and their pull
        positions since its last reset (their totals are ``stats``), ``last_pulled`` the floor's
        clock, ``floor_forced`` its forced pulls so far, ``control`` :meth:`control_state`. The
        rebuilt detectors test the streams as they stand: a change that concurrent rounds put in
        the stream between two tests is raised (and reacted to) here.
        """
        self.posterior.set_stats(stats)
        self._read_at = int(t)
        self._values = [np.asarray(v, np.float64).tolist() for v, _ in streams]
        self._times = [np.asarray(p, np.int64).tolist() for _, p in streams]
        self._values += [[] for _ in range(self.n_arms - len(self._values))]
        self._times += [[] for _ in range(self.n_arms - len(self._times))]
        self.retired = frozenset(int(a) for a in retired)
        self._detectors = [self._new_detector() for _ in range(self.n_arms)]
        self._next_pool = 0
        self._pool_noise(t)
        for detector, values in zip(self._detectors, self._values, strict=True):
            if values:
                detector.restore(values)
        if self.floor is not None:
            self.floor.resume(np.zeros(self.n_arms) if last_pulled is None else last_pulled, forced=floor_forced)
        control = dict(control or {})
        self._confirm_arm = int(control.get("confirm_arm", -1))
        self._confirm_left = int(control.get("confirm_left", 0))
        self._last_progress = _padded(control.get("last_progress"), self.n_arms, float)
        self._rounds = _padded(control.get("rounds"), self.n_arms, int)
        self._pending[:] = 0
        self.restarted, self.reset_arms = False, set()
        before = len(self.alarms)
        for arm in range(self.n_arms):
            if self._detectors[arm].drift_detected:
                self._on_alarm(arm, t)
        if self.players > 1 and self.confirm_pulls:
            # A player sees only its own pulls, and of one wave's control states the store keeps the
            # last written: a suspicion another player's probe raised is seen here instead, from the
            # stream it left, by every player of the next wave alike (its owner takes the pulls).
            # It continues the stored episode (its round count), never starts one: only a pull of the arm
            # that is not a confirmation does (observe), so concurrent re-reads cannot renew it forever.
            for arm in range(self.n_arms):
                if self._values[arm]:
                    self._maybe_confirm(arm, self._detectors[arm], confirming=True)
        return self.alarms[before:]

    def stream(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        """``arm``'s rewards and pull positions since its last reset (what :meth:`load` takes back)."""
        return np.asarray(self._values[arm], np.float64), np.asarray(self._times[arm], np.int64)

    def control_state(self) -> dict[str, Any]:
        """The confirmation state, JSON-able (what :meth:`load` takes back as ``control``)."""
        return {"confirm_arm": self._confirm_arm, "confirm_left": self._confirm_left,
                "last_progress": self._last_progress.tolist(), "rounds": self._rounds.tolist()}

    @property
    def floor_forced(self) -> int:
        """Pulls the staleness floor and the confirmations have taken on the floor's clock."""
        return 0 if self.floor is None else self.floor.forced

    # -- internals ---------------------------------------------------------------------------
    def _pool_noise(self, t: int) -> None:
        # Gaussian arms share one noise level far more often than not: the pooled
        # within-arm sd steadies the tests of rarely pulled arms (GaussianGLR.noise_sd).
        self._next_pool = t + 1000
        post = self.posterior
        if post.kind != "gaussian":
            return
        dof = float(np.sum(np.maximum(post.n - 1, 0)))
        if dof < 10:
            return
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = np.where(post.n > 0, post.q - post.s * post.s / np.maximum(post.n, 1), 0.0)
        sd = float(np.sqrt(max(float(centred.sum()), 0.0) / dof))
        if sd > 0:
            for detector in self._detectors:
                if hasattr(detector, "noise_sd"):
                    detector.noise_sd = sd

    def _maybe_confirm(self, arm: int, detector: DriftDetector, *, confirming: bool) -> None:
        # A suspicion is a rise of the statistic past confirm_at on an upward change; it buys a
        # round of confirmation pulls, and another (up to confirm_rounds) while each round
        # keeps raising the statistic. A pull that is not a confirmation starts a new episode.
        progress = detector.progress
        rising = progress > self._last_progress[arm]
        self._last_progress[arm] = progress
        if not confirming:
            self._rounds[arm] = 0
        if self._confirm_left > 0 or progress <= self.confirm_at or detector.trend <= 0 or not rising:
            return
        if self._rounds[arm] >= self.confirm_rounds or arm == int(self.posterior.means().argmax()):
            return
        self._rounds[arm] += 1
        self._confirm_arm, self._confirm_left = arm, self.confirm_pulls

    def _lost_lead(self, arm: int, kept: np.ndarray, magnitude: float) -> bool:
        """Whether an alarm of ``arm`` calls for a full restart: the leader dropped below its rivals.

        A drop of the leader that leaves it ahead of the runner-up (the kept post-change mean more
        than one standard error above the runner-up's mean) changes nothing another arm could
        win: resetting the leader alone keeps everything still true, where a restart would pay
        the learning of every arm again (the slowly varying world). A drop that puts the leader
        level with or below another arm may mean the whole ranking changed: restart.
        """
        means = self.posterior.means()
        if magnitude >= 0 or arm != int(means.argmax()):
            return False
        rivals = [m for a, m in enumerate(means.tolist()) if a != arm and a not in self.retired]
        if not rivals or kept.size == 0:
            return True
        centre = float(kept.mean())
        spread = float(kept.std()) if self.reward_kind == "gaussian" else float(np.sqrt(centre * (1.0 - centre)))
        return bool(centre - spread / np.sqrt(kept.size) <= max(rivals))

    def _took_lead(self, arm: int, kept: np.ndarray, magnitude: float) -> bool:
        """Whether a rise of ``arm`` puts it clearly above the leader: the best arm changed.

        The arms' evidence stays true (only ``arm`` changed, as far as the tests can tell), so the
        reaction keeps all of it, as a reset would; but the experiment's best arm changed, which is a
        new phase for the loop's books (a new epoch, its MLflow phase, a ``bandit_relearning``
        record), as after a drop of the leader. A rise that leaves the leader ahead is a reset.
        """
        means = np.where(active_mask(self.n_arms, self.retired), self.posterior.means(), -np.inf)
        leader = int(means.argmax())
        if magnitude <= 0 or arm == leader or kept.size == 0:
            return False
        centre = float(kept.mean())
        spread = float(kept.std()) if self.reward_kind == "gaussian" else float(np.sqrt(centre * (1.0 - centre)))
        return bool(centre - spread / np.sqrt(kept.size) > float(means[leader]))

    def _on_alarm(self, arm: int, t: int) -> Alarm:
        detector = self._detectors[arm]
        signal = detector.signal
        assert signal is not None
        times, values = self._times[arm], self._values[arm]
        cut = min(max(signal.change_point, 0), len(times) - 1)
        kept_times, kept = times[cut:], np.asarray(values[cut:], np.float64)
        restart = self._lost_lead(arm, kept, float(signal.magnitude))
        took_lead = not restart and self._took_lead(arm, kept, float(signal.magnitude))
        alarm = Alarm(t, arm, kept_times[0], float(signal.magnitude), restart or took_lead, times[0], detector.name)
        self.alarms.append(alarm)
        if restart:
            self.posterior.clear()
            self._detectors = [self._new_detector() for _ in range(self.n_arms)]
            self._values = [[] for _ in range(self.n_arms)]
            self._times = [[] for _ in range(self.n_arms)]
            self._last_progress[:] = 0.0
            self._confirm_left = 0
            self.restarted, self.reset_arms = True, set()
            # The floor keeps its clock: its limit tracks the age of the whole run, so a
            # restart does not buy a second round of frequent (costly) staleness pulls.
        else:
            self._detectors[arm] = self._new_detector()
            self._last_progress[arm] = 0.0
            if self._confirm_arm == arm:
                self._confirm_left = 0
            if took_lead:
                # A new phase that keeps everything still true: every arm's evidence, the alarming
                # arm's after its change (the deployed loop opens an epoch holding all of it).
                self.restarted, self.reset_arms = True, set()
            else:
                self.reset_arms.add(arm)
        self.posterior.set_arm(arm, kept)
        self._next_pool = 0
        self._pool_noise(t)
        self._detectors[arm].restore(kept)
        self._values[arm] = kept.tolist()
        self._times[arm] = list(kept_times)
        return alarm


def _padded(values: Sequence[Any] | None, size: int, kind: type) -> np.ndarray:
    out = np.zeros(size, np.float64 if kind is float else np.int64)
    if values:
        given = np.asarray(list(values)[:size], out.dtype)
        out[: given.size] = given
    return out
