"""The in-process copy of the posterior that the decision API answers from.

A decision must not wait on Redis: the serving process keeps a read-only snapshot of the
current epoch's posterior and swaps it for a new one in a background thread, when the store
announces a change on its pub/sub channel or at the latest every ``refresh_interval_s``.
Swapping a reference is atomic under the GIL, so readers never see half a refresh and never
take a lock.

Each snapshot also carries Monte Carlo draws of the posterior, taken once at refresh time, from
which the decision API estimates the *propensity* of the arm it puts first — the probability
that one Thompson draw ranks it first, i.e. P(arm is best among the allowed arms) — which
off-policy evaluation needs.

Examples
--------
>>> import numpy as np
>>> from banditops.bandit.stats import ArmStats
>>> snap = CachedPosterior.build(
...     epoch=1, mode="LEARNING", reward_kind="bernoulli", prior={},
...     stats=ArmStats(np.array([100, 100]), np.array([10.0, 60.0]), np.array([10.0, 60.0])),
...     retired=frozenset(), rng=np.random.default_rng(0), draws=2000)
>>> snap.prob_best.tolist()
[0.0, 1.0]
>>> snap.propensity(1, None)
1.0
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors import make_posterior
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.bandit.stats import ArmStats
from banditops.serving.contextual import DEFAULT_PROPENSITY_DRAWS, ContextualSnapshot
from banditops.serving.live_policy import LivePolicy, LiveScores
from banditops.store import connection as redis
from banditops.store.types import ArmTable

if TYPE_CHECKING:
    from banditops.bandit.posteriors.base import Posterior
    from banditops.store.redis_store import BanditStore
    from banditops.store.types import StoreState

log = logging.getLogger(__name__)
#: The store's meta field holding the promoted policy's config (written by ``banditops.loop.promotion``).
LIVE_POLICY_META = "live_policy"


@dataclass(frozen=True)
class CachedPosterior:
    """One immutable snapshot of the store, ready to rank arms without I/O."""

    epoch: int
    mode: str
    reward_kind: str
    posterior: Posterior
    retired: frozenset[int]
    #: True for the arms that may be recommended (not retired).
    active: np.ndarray
    #: P(arm is best among the active arms), shape (K,), from ``draws`` joint draws.
    prob_best: np.ndarray
    #: The joint draws behind ``prob_best``: propensities restricted to candidate sets reuse them.
    theta: np.ndarray
    #: ``time.monotonic()`` of the refresh that built this snapshot.
    refreshed_at: float
    #: The LinTS snapshot that answers requests with a context (contextual experiments only).
    contextual: ContextualSnapshot | None = None
    #: The arms' names (index = position) and retired set, to translate at the API edge.
    arms: ArmTable = field(default_factory=lambda: ArmTable(()))
    _candidate_prob: dict[frozenset[int], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    #: The live policy (the promoted config) whose scores ``theta`` holds and decisions rank by.
    policy: LivePolicy = field(default_factory=LivePolicy)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows of the live policy's scores (a Thompson draw of the posterior by default)."""
        return self.policy.scores(self.posterior, rng, n)

    @functools.cached_property
    def scores(self) -> LiveScores:
        """This snapshot's score source: one object, so a draw block never outlives the snapshot."""
        return LiveScores(self.policy, self.posterior)

    @property
    def n_arms(self) -> int:
        return self.posterior.n_arms

    @property
    def active_arms(self) -> list[int]:
        return [int(a) for a in np.flatnonzero(self.active)]

    @classmethod
    def build(
        cls,
        *,
        epoch: int,
        mode: str,
        reward_kind: str,
        prior: dict[str, float],
        stats: ArmStats,
        retired: Iterable[int],
        rng: np.random.Generator,
        draws: int = 4000,
        refreshed_at: float | None = None,
        linear: LinearGaussianStats | None = None,
        context_model: ContextModelSpec | None = None,
        context_draws: int = DEFAULT_PROPENSITY_DRAWS,
        policy: LivePolicy | None = None,
        arms: ArmTable | None = None,
    ) -> CachedPosterior:
        """A snapshot; ``arms`` names the arms (default ``"0"``, ``"1"``, ...)."""
        live = policy or LivePolicy()
        posterior = make_posterior(reward_kind, stats, prior or None)
        contextual = None
        if context_model is not None and linear is not None:
            contextual = ContextualSnapshot.build(context_model, linear, rng, context_draws)
        retired_set = frozenset(int(a) for a in retired)
        active = np.ones(posterior.n_arms, dtype=bool)
        for arm in retired_set:
            if 0 <= arm < posterior.n_arms:
                active[arm] = False
        theta = live.scores(posterior, rng, draws)
        prob_best = _prob_best(theta, active)
        table = arms if arms is not None else ArmTable.default(posterior.n_arms, retired_set)
        if table.n_arms != posterior.n_arms:
            raise ValueError(f"{table.n_arms} arm names for {posterior.n_arms} arms")
        return cls(epoch, mode, reward_kind, posterior, retired_set, active, prob_best, theta,
                   time.monotonic() if refreshed_at is None else refreshed_at, contextual, table, policy=live)

    def propensity(self, arm: int, candidates: frozenset[int] | None) -> float:
        """Estimated P(one Thompson draw ranks ``arm`` first) among the allowed arms.

        Restricted to a candidate set, the estimate reuses the refresh-time draws; the result
        per set is memoised because real clients send the same few candidate sets over and over.
        Its Monte Carlo standard error is at most ``0.5 / sqrt(draws)``.
        """
        if candidates is None:
            return float(self.prob_best[arm])
        probs = self._candidate_prob.get(candidates)
        if probs is None:
            allowed = np.zeros_like(self.active)
            allowed[list(candidates)] = True
            probs = _prob_best(self.theta, allowed & self.active)
            if len(self._candidate_prob) < 1024:  # bounded: one snapshot lives about a second
                self._candidate_prob[candidates] = probs
        return float(probs[arm])


def _same(snap: CachedPosterior, state: StoreState, policy: LivePolicy) -> bool:
    """Whether ``state`` and ``policy`` are exactly what ``snap`` was built from (nothing learned or promoted since)."""
    old, stats, config = snap.posterior.stats, state.stats, state.config
    return (
        snap.policy == policy
        and snap.epoch == state.epoch and snap.mode == str(state.mode) and snap.reward_kind == config.reward_kind
        and snap.retired == state.retired and snap.arms.names == config.names
        and snap.posterior.prior == {**snap.posterior.prior, **config.prior}
        and old.n_arms == stats.n_arms
        and np.array_equal(old.n, stats.n) and np.array_equal(old.sum, stats.sum)
        and np.array_equal(old.sumsq, stats.sumsq)
    )


def _prob_best(theta: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    if not allowed.any():
        return np.zeros(theta.shape[1])
    masked = np.where(allowed, theta, -np.inf)
    return np.bincount(masked.argmax(axis=1), minlength=theta.shape[1]) / float(theta.shape[0])


class PosteriorCache:
    """Keeps a fresh :class:`CachedPosterior` of one store in the background.

    Parameters
    ----------
    store
        The experiment's store; only ``state()`` and ``changed_channel`` are used.
    refresh_interval_s
        Refresh at least this often even without a change notice (pub/sub messages can be
        lost while reconnecting; the timer bounds staleness anyway).
    min_interval_s
        Refresh at most this often: a burst of agent writes becomes one refresh.
    draws
        Joint posterior draws taken per refresh for the propensity estimates.
    hooks
        Called in the refresher thread after each successful refresh (metrics that also read
        Redis, e.g. the feedback lag, ride along without a thread of their own).
    """

    def __init__(
        self,
        store: BanditStore,
        *,
        refresh_interval_s: float = 1.0,
        min_interval_s: float = 0.05,
        draws: int = 4000,
        seed: int | None = None,
        hooks: Iterable[Callable[[], Any]] = (),
        context_draws: int = DEFAULT_PROPENSITY_DRAWS,
    ) -> None:
        if not 0 < min_interval_s <= refresh_interval_s:
            raise ValueError("need 0 < min_interval_s <= refresh_interval_s")
        self.store = store
        self.refresh_interval_s = refresh_interval_s
        self.min_interval_s = min_interval_s
        self.draws = draws
        self.context_draws = context_draws
        self.hooks = list(hooks)
        self._rng = np.random.default_rng(seed)
        self._current: CachedPosterior | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshes = 0
        self.failures = 0
        #: ``time.monotonic()`` of the last refresh attempt that failed (None: never).
        self.last_error: str | None = None

    @property
    def current(self) -> CachedPosterior | None:
        """The latest snapshot, or ``None`` before the first successful refresh."""
        return self._current

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the current snapshot was built (infinity when there is none)."""
        snap = self._current
        if snap is None:
            return float("inf")
        return (time.monotonic() if now is None else now) - snap.refreshed_at

    def refresh(self) -> CachedPosterior:
        """Read the store once and swap in a new snapshot (raises on a Redis error)."""
        state = self.store.state()
        config = state.config
        prev = self._current
        policy = self._live_policy(prev)
        if prev is not None and _same(prev, state, policy):
            # Nothing learned since: keep the draws (and memoised propensities), renew the age.
            snap = replace(prev, refreshed_at=time.monotonic())
            self._current = snap
            self.refreshes += 1
            return snap
        spec = config.context_model
        if spec is not None:
            # Read again with the linear sums (K·d² numbers), only when something was learned. Every
            # contextual pull is also a pull of the arm's Beta/NIG counts (one script applies both), so
            # unchanged counts mean unchanged linear sums: the check above needs no linear read.
            state = self.store.state(with_linear=True)
        snap = CachedPosterior.build(
            epoch=state.epoch, mode=str(state.mode), reward_kind=config.reward_kind, prior=dict(config.prior),
            stats=state.stats, retired=state.retired, rng=self._rng, draws=self.draws, policy=policy,
            linear=state.linear, context_model=state.config.context_model, context_draws=self.context_draws,
            arms=state.arms,
        )
        self._current = snap
        self.refreshes += 1
        return snap

    def _live_policy(self, prev: CachedPosterior | None) -> LivePolicy:
        """The promoted policy; an unreadable config keeps the one served (logged), never stops serving."""
        raw = self.store.get_meta().get(LIVE_POLICY_META)
        try:
            policy = LivePolicy.parse(raw)
            if prev is not None and policy != prev.policy:
                policy.scores(prev.posterior, np.random.default_rng(0), 1)  # refuse one it cannot serve here
            return policy
        except ValueError as exc:
            log.warning("live policy %r cannot be served (%s); keeping the current one", raw, exc)
            return prev.policy if prev is not None else LivePolicy()

    def request_refresh(self) -> None:
        """Ask the background thread to refresh now (e.g. after this process added an arm)."""
        self._wake.set()

    # -- background thread ---------------------------------------------------------------------
    def start(self) -> PosteriorCache:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="posterior-cache", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        pubsub: redis.PubSub | None = None
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self.store.changed_channel)
                started = time.monotonic()
                self.refresh()
                self.last_error = None
                for hook in self.hooks:
                    try:
                        hook()
                    except redis.RedisError:
                        raise
                    except Exception:
                        log.exception("posterior cache: refresh hook failed")
                self._wait_for_change(pubsub, started)
            except redis.RedisError as exc:
                self.failures += 1
                self.last_error = str(exc)
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError):
                        pubsub.close()
                    pubsub = None
                self._stop.wait(min(0.25, self.refresh_interval_s))
            except LookupError as exc:  # StoreNotInitializedError: no experiment yet, keep polling
                self.failures += 1
                self.last_error = str(exc)
                self._stop.wait(self.refresh_interval_s)
            except Exception as exc:  # never let a bad state kill the refresher
                self.failures += 1
                self.last_error = repr(exc)
                log.exception("posterior cache: refresh failed")
                self._stop.wait(self.refresh_interval_s)
        if pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                pubsub.close()

    def _wait_for_change(self, pubsub: redis.PubSub, started: float) -> None:
        # Rate limit first, so a burst of notices within min_interval_s costs one refresh.
        self._stop.wait(max(0.0, started + self.min_interval_s - time.monotonic()))
        deadline = started + self.refresh_interval_s
        while not self._stop.is_set():
            if self._wake.is_set():
                self._wake.clear()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short polls so request_refresh() and stop() are honoured quickly.
            message = pubsub.get_message(timeout=min(remaining, 0.05))
            if message is not None:
                while pubsub.get_message(timeout=0.0) is not None:  # coalesce the burst
                    pass
                return
