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

The posterior math is the project's own (:func:`~banditops.bandit.posteriors.beta_params`,
:func:`~banditops.bandit.posteriors.nig_params`, :func:`~banditops.bandit.posteriors.sample_nig_mean`),
run on per-arm arrays kept here so a simulation does not build a posterior object per pull.

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

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from banditops.bandit.arms import REWARD_KINDS
from banditops.bandit.drift import DETECTORS, make_detector
from banditops.bandit.drift.base import DriftDetector
from banditops.bandit.policies.staleness_floor import StalenessFloor
from banditops.bandit.posteriors import beta_params, make_posterior, nig_params, sample_nig_mean
from banditops.bandit.stats import ArmStats


class PosteriorArrays:
    """Per-arm sufficient statistics and posterior parameters, for hot loops.

    The parameters come from the posteriors' own :func:`~banditops.bandit.posteriors.beta_params`
    and :func:`~banditops.bandit.posteriors.nig_params` whenever an arm is (re)set, and are moved
    one reward at a time with the conjugate update in between (Beta: a success adds to
    alpha, a failure to beta; Normal–Inverse-Gamma: the recursive form of ``nig_params``),
    so a pull costs O(1) scalar work; ``draw`` uses ``rng.beta`` /
    :func:`~banditops.bandit.posteriors.sample_nig_mean` exactly as the posterior classes do, and a
    unit test holds both to ``make_posterior(kind, stats, prior)``.
    """

    def __init__(self, reward_kind: str, n_arms: int, prior: Mapping[str, float] | None = None) -> None:
        # Building one posterior validates the kind and the prior and completes its defaults.
        self.prior = make_posterior(reward_kind, ArmStats.zeros(n_arms), prior).prior
        self.kind = reward_kind
        self.n_arms = n_arms
        self.n = np.zeros(n_arms, np.int64)
        self.s = np.zeros(n_arms)
        self.q = np.zeros(n_arms)
        self._stale: set[int] = set()
        self._column = 0
        self._refit()

    #: Draws kept per arm for :meth:`draw_sequential`.
    buffer_depth = 64

    def _refit(self) -> None:
        self._buffer: np.ndarray | None = None  # every arm's parameters may have moved
        if self.kind == "bernoulli":
            self._a, self._b = beta_params(self.n, self.s, self.prior["alpha"], self.prior["beta"])
        else:
            self._mu, self._kappa, self._alpha, self._beta = nig_params(self.n, self.s, self.q, **self.prior)

    def clear(self) -> None:
        self.n[:] = 0
        self.s[:] = 0.0
        self.q[:] = 0.0
        self._refit()

    def set_arm(self, arm: int, rewards: np.ndarray) -> None:
        self.n[arm] = rewards.size
        self.s[arm] = float(rewards.sum())
        self.q[arm] = float((rewards * rewards).sum())
        self._refit()

    def add(self, arm: int, x: float) -> None:
        self._stale.add(arm)
        self.n[arm] += 1
        self.s[arm] += x
        self.q[arm] += x * x
        if self.kind == "bernoulli":
            self._a[arm] += x
            self._b[arm] += 1.0 - x
        else:
            kappa = float(self._kappa[arm])
            mu = float(self._mu[arm])
            self._beta[arm] += kappa * (x - mu) ** 2 / (2.0 * (kappa + 1.0))
            self._mu[arm] = (kappa * mu + x) / (kappa + 1.0)
            self._kappa[arm] = kappa + 1.0
            self._alpha[arm] += 0.5

    def add_batch(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        k = self.n_arms
        self.n += np.bincount(arms, minlength=k)
        self.s += np.bincount(arms, weights=rewards, minlength=k)
        self.q += np.bincount(arms, weights=rewards * rewards, minlength=k)
        self._refit()

    def stats(self) -> ArmStats:
        return ArmStats(self.n.copy(), self.s.copy(), self.q.copy())

    def draw_arm(self, rng: np.random.Generator, arm: int, size: int) -> np.ndarray:
        """``size`` posterior draws of one arm's mean."""
        if self.kind == "bernoulli":
            return rng.beta(self._a[arm], self._b[arm], size=size)
        return sample_nig_mean(self._mu[arm], self._kappa[arm], self._alpha[arm], self._beta[arm], rng, size=(size,))

    def draw_sequential(self, rng: np.random.Generator) -> np.ndarray:
        """One joint draw ``(K,)`` for a sequential decision, from per-arm buffers of draws.

        Why: a sequential loop changes one arm's posterior per pull, yet a fresh joint draw
        redraws all K arms (``rng.beta`` on K elements costs ~9 µs, mostly call overhead).
        Each arm keeps ``buffer_depth`` draws from its current posterior, each used once; after
        :meth:`add` only that arm's unused draws are redrawn. Every returned vector is still an
        exact, independent draw from the current posterior (unused draws of an unchanged
        posterior are as good as new ones), at about half the cost. Use one generator per
        instance: the buffer is filled from the first one given.
        """
        depth = self.buffer_depth
        if self._buffer is None or self._column >= depth:
            self._buffer = np.ascontiguousarray(self.draw(rng, depth).T)
            self._column = 0
            self._stale.clear()
        if self._stale:
            for arm in self._stale:
                self._buffer[arm, self._column:] = self.draw_arm(rng, arm, depth - self._column)
            self._stale.clear()
        column = self._column
        self._column += 1
        return self._buffer[:, column]

    def draw(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """Posterior draws of the arm means: ``(K,)`` for ``None``, else ``(size, K)``."""
        if self.kind == "bernoulli":
            return rng.beta(self._a, self._b) if size is None else rng.beta(self._a, self._b, size=(size, self.n_arms))
        shape = None if size is None else (size, self.n_arms)
        return sample_nig_mean(self._mu, self._kappa, self._alpha, self._beta, rng, size=shape)

    def means(self) -> np.ndarray:
        """Posterior means of the arm means (the leader is their argmax)."""
        if self.kind == "bernoulli":
            return np.asarray(self._a / (self._a + self._b))
        return self._mu.copy()


@dataclass(frozen=True)
class Alarm:
    """One alarm of the policy, in the simulation's pull count."""

    t: int
    arm: int
    change_point: int
    magnitude: float
    #: True for a full restart (the leader dropped), False for a reset of the arm only.
    restart: bool
    #: First pull of the evidence the test looked at (for telling true from false alarms).
    since: int
    detector: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    ) -> None:
        if reward_kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {reward_kind!r}; valid kinds: {', '.join(REWARD_KINDS)}")
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; valid detectors: {', '.join(DETECTORS)}")
        if confirm_pulls < 0 or not (0.0 < confirm_at < 1.0):
            raise ValueError("confirm_pulls must be >= 0 and confirm_at in (0, 1)")
        self.n_arms = int(n_arms)
        self.reward_kind = reward_kind
        self.rng = rng
        self.detector = detector
        self.delta = float(delta)
        self.confirm_pulls = int(confirm_pulls)
        self.confirm_at = float(confirm_at)
        self.confirm_rounds = int(confirm_rounds)
        self.detector_params = dict(detector_params or {})
        self.posterior = PosteriorArrays(reward_kind, self.n_arms, prior)
        self.floor = StalenessFloor(self.n_arms, rng, **dict(floor_params or {})) if floor else None
        self._detectors = [self._new_detector() for _ in range(self.n_arms)]
        self._times: list[list[int]] = [[] for _ in range(self.n_arms)]
        self._confirm_arm = -1
        self._confirm_left = 0
        self._last_progress = np.zeros(self.n_arms)
        self._rounds = np.zeros(self.n_arms, np.int64)
        self._next_pool = 0
        self.alarms: list[Alarm] = []
        #: Pulls not chosen by Thompson Sampling (floor and confirmation pulls).
        self.explored = 0

    @property
    def name(self) -> str:
        base = "system" if self.floor is not None else "ts"
        return base if (self.detector == "glr" and self.floor is not None) else f"{base}:{self.detector}"

    def _new_detector(self) -> DriftDetector:
        return make_detector(self.detector, self.reward_kind, delta=self.delta, **self.detector_params)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, rewards: np.ndarray, blocks: Iterable[int] | None = None) -> np.ndarray:
        """Play ``rewards`` (shape ``(T, K)``: the reward each arm would pay at each pull).

        ``blocks`` are the posterior refresh intervals (default: refresh every pull); within
        a block the Thompson choices come from one posterior snapshot, but the floor, the
        confirmations and the tests still act on every pull, and an alarm refreshes at once.
        Returns the arm played at each pull.
        """
        horizon = rewards.shape[0]
        played = np.empty(horizon, np.int64)
        schedule = iter(blocks) if blocks is not None else None
        t = 0
        while t < horizon:
            size = min(next(schedule, 1) if schedule is not None else 1, horizon - t)
            choices = (
                (int(self.posterior.draw(self.rng).argmax()),)
                if size == 1
                else self.posterior.draw(self.rng, size).argmax(axis=1).tolist()
            )
            for choice in choices:
                arm, forced = self._choose(int(choice), t)
                x = float(rewards[t, arm])
                played[t] = arm
                self.posterior.add(arm, x)
                self._times[arm].append(t)
                if self.floor is not None:
                    self.floor.pulled(arm, t, forced=forced)
                if forced:
                    self.explored += 1
                detector = self._detectors[arm]
                if t >= self._next_pool:
                    self._pool_noise(t)
                detector.update(x)
                t += 1
                if detector.drift_detected:
                    self._on_alarm(arm, t - 1, rewards)
                    break  # the agent that saw the alarm refreshes its posterior at once
                if self.confirm_pulls:
                    self._maybe_confirm(arm, detector, confirming=forced and self._confirm_arm == arm)
        return played

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

    def _choose(self, ts_choice: int, t: int) -> tuple[int, bool]:
        if self._confirm_left > 0:
            self._confirm_left -= 1
            return self._confirm_arm, True
        if self.floor is not None:
            stale = self.floor.due(t)
            if stale is not None:
                return stale, True
        return ts_choice, False

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

    def _on_alarm(self, arm: int, t: int, rewards: np.ndarray) -> None:
        detector = self._detectors[arm]
        signal = detector.signal
        assert signal is not None
        times = self._times[arm]
        cut = min(max(signal.change_point, 0), len(times) - 1)
        kept_times = times[cut:]
        kept = rewards[kept_times, arm].astype(np.float64)
        restart = arm == int(self.posterior.means().argmax()) and signal.magnitude < 0
        self.alarms.append(
            Alarm(t, arm, kept_times[0], float(signal.magnitude), restart, times[0], detector.name)
        )
        if restart:
            self.posterior.clear()
            self._detectors = [self._new_detector() for _ in range(self.n_arms)]
            self._times = [[] for _ in range(self.n_arms)]
            self._last_progress[:] = 0.0
            self._confirm_left = 0
            # The floor keeps its clock: its limit tracks the age of the whole run, so a
            # restart does not buy a second round of frequent (costly) staleness pulls.
        else:
            self._detectors[arm] = self._new_detector()
            self._last_progress[arm] = 0.0
            if self._confirm_arm == arm:
                self._confirm_left = 0
        self.posterior.set_arm(arm, kept)
        self._next_pool = 0
        self._pool_noise(t)
        fresh = self._detectors[arm]
        for x in kept:
            fresh.update(float(x))
        self._times[arm] = list(kept_times)
