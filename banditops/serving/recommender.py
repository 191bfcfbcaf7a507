"""Rank arms for one user from the cached posterior, or fall back to a static ranking.

This is the decision API's algorithm without the HTTP: a Thompson ranking of ONE posterior draw
(the semantics of :meth:`~banditops.bandit.policies.thompson.ThompsonSampling.rank`) from the in-process snapshot kept
by :class:`~banditops.serving.posterior_cache.PosteriorCache`, the estimated propensity of the arm put
first, and a decision id under which the decision is logged and its feedback later accepted.

When no snapshot is usable — none yet (cold start) or older than ``max_staleness_s`` (the store
has been unreachable for that long) — the answer is the configured static ranking, marked
``fallback``, with propensity 1 (it is deterministic) and logged like any other decision, so
off-policy evaluation keeps every impression. A snapshot a few seconds old is still served:
the posterior moves slowly, and riding through a short Redis blip on it beats static banners.

Examples
--------
>>> import numpy as np
>>> rec = Recommender(lambda: None, np.random.default_rng(0), static_ranking=["2", "0", "1"])
>>> r = rec.recommend("user-1", 2)
>>> r.arms, r.names, r.fallback, r.propensity, r.epoch
((2, 0), ('2', '0'), True, 1.0, 0)
>>> rec.recommend("user-1", 4)
Traceback (most recent call last):
...
ValueError: k=4 is more than the 3 arms available; valid k: 1..3
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from banditops.bandit.features import ContextValue
from banditops.bandit.policies.thompson import DrawBlock
from banditops.bandit.validators import is_integer
from banditops.serving.posterior_cache import CachedPosterior
from banditops.store.context_codec import encode_vector
from banditops.store.feedback import Decision
from banditops.store.types import ArmTable

#: A default arm name ("0", "1", ...): the only names a replica that never reached the store can map.
_DEFAULT_NAME = re.compile(r"^(0|[1-9][0-9]{0,8})$")


class ArmNamesUnknownError(LookupError):
    """This process has not read the arms' names from the store yet, and the name given is not a
    default name (``"0"``, ``"1"``, ...): it cannot be mapped. Retry once the store is reached."""


@dataclass(slots=True)
class Recommendation:
    """The answer for one user: ranked arms, the decision id, and how it was made."""

    decision_id: str
    arms: tuple[int, ...]
    #: Estimated probability that the policy puts ``arms[0]`` first (1.0 for a fallback).
    propensity: float
    epoch: int
    fallback: bool
    reward_kind: str = ""
    #: P(one draw ranks this arm first), aligned with ``arms`` (``propensities[0] == propensity``).
    propensities: tuple[float, ...] = ()
    #: Contextual decisions: the encoded context and slate arms' features, as logged.
    context: str = ""
    arm_context: str = ""
    #: The arms' names, in the order of ``arms`` (what a client sees; ``arms`` stays internal).
    names: tuple[str, ...] = ()

    def decision(self, user_id: str, ts_ms: int | None = None) -> Decision:
        """The record of this answer for the decision log."""
        return Decision(
            self.decision_id, user_id, self.arms, self.propensity, self.epoch, self.fallback,
            int(time.time() * 1000) if ts_ms is None else ts_ms, self.reward_kind, self.context, self.arm_context,
        )


class _IdPool:
    """Dated random ids from the OS's CSPRNG, fetched 3 KiB at a time: one syscall per 256 ids.

    A ``getrandom`` call per request costs microseconds under load; ids must stay unguessable
    (a guessed id would let anyone send feedback for someone else's decision), so a faster
    non-cryptographic generator is not an option.
    """

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._pool = b""
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._next >= len(self._pool):
                self._pool = os.urandom(12 * self._batch)
                self._next = 0
            start = self._next
            self._next += 12
            # The Unix second first: the store files the record in that minute's bucket (one hash,
            # one expiry), see banditops.store.feedback. 96 random bits stay unguessable.
            return f"{int(time.time()):08x}" + self._pool[start:start + 12].hex()


#: 8 hex digits of the Unix second + 24 random hex characters: unguessable, so feedback cannot be
#: forged for others' decisions, and dated, so the store can bucket the records by minute.
new_decision_id = _IdPool()


class Recommender:
    """Thompson ranking from a cached posterior with a static fallback.

    Why not :meth:`~banditops.bandit.policies.thompson.ThompsonSampling.rank` per request: it draws
    with one numpy call per decision (tens of microseconds, mostly call overhead), which alone would eat the serving
    budget. The snapshot is fixed until the next refresh, so the recommender draws joint rows
    from it in blocks of ``block_size`` and gives each decision the next unused row: every
    decision still gets its own independent draw from exactly the posterior it would have
    sampled, and ranking one row of K floats is a Python sort of a few microseconds.

    Parameters
    ----------
    snapshot
        Returns the current :class:`CachedPosterior` or ``None`` (e.g. ``PosteriorCache``'s
        ``current``); called once per decision, so it must not do I/O.
    rng
        Source of the Thompson draws. Not thread-safe: call :meth:`recommend` from one thread
        (the service's event loop) or give each thread its own recommender.
    static_ranking
        The fallback order of arms, by NAME (what an operator writes; ``"0"``, ``"1"``, ... in an
        experiment started with integer arms). Names are resolved through the newest arm table
        seen (:meth:`static_indices`); before the store was ever read only default names can be
        resolved. Ints are taken as internal indices (the library's own callers). Empty: the last
        posterior's ranking by mean if one was ever seen, else the candidates in the order given,
        else arms ``0..k-1``.
    max_staleness_s
        Oldest snapshot still served; older means the store is unreachable: fall back.
    block_size
        Joint draws taken at once; a new snapshot discards the rest of the block.

    References
    ----------
    .. [1] W. R. Thompson, "On the likelihood that one unknown probability exceeds another in
       view of the evidence of two samples", Biometrika 25(3/4), 1933.
    .. [2] D. Russo, B. Van Roy, A. Kazerouni, I. Osband and Z. Wen, "A tutorial on Thompson
       Sampling", Foundations and Trends in Machine Learning 11(1), 2018 (ranking several
       slots by one posterior draw).
    .. [3] L. Li, W. Chu, J. Langford and X. Wang, "Unbiased offline evaluation of
       contextual-bandit-based news article recommendation algorithms", WSDM 2011 (why every
       decision, fallbacks included, is logged with its propensity).
    """

    def __init__(
        self,
        snapshot: Callable[[], CachedPosterior | None],
        rng: np.random.Generator,
        *,
        static_ranking: Sequence[str] | Sequence[int] = (),
        max_staleness_s: float = 3.0,
        block_size: int = 1024,
    ) -> None:
        if max_staleness_s <= 0:
            raise ValueError(f"max_staleness_s must be > 0; got {max_staleness_s}")
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1; got {block_size}")
        ranking: list[str | int] = list(static_ranking)
        names = [a for a in ranking if isinstance(a, str) and a]
        indices = [int(a) for a in ranking if not isinstance(a, str) and is_integer(a) and int(a) >= 0]
        if len(set(ranking)) != len(ranking) or len(ranking) not in (len(names), len(indices)):
            raise ValueError("static_ranking must list distinct arm names (or distinct arm indices >= 0); "
                             f"got {ranking}")
        self.snapshot = snapshot
        self.rng = rng
        #: The fallback ranking as configured: arm names (str) or internal indices (int).
        self.static_ranking: tuple[str | int, ...] = tuple(names or indices)
        self._static: tuple[ArmTable | None, tuple[int, ...]] | None = None
        self.max_staleness_s = max_staleness_s
        self.block_size = block_size
        self._last_seen: CachedPosterior | None = None
        self._last_ranking: tuple[int, ...] = ()
        self._active: list[int] = []
        self._active_set: frozenset[int] = frozenset()
        #: A contextual request's default arms: None when every arm is active (nothing to gather).
        self._active_idx: np.ndarray | None = np.zeros(0, dtype=np.intp)
        self._draws = DrawBlock(rng, first_rows=block_size, max_rows=block_size)

    def live(self, now: float | None = None) -> CachedPosterior | None:
        """The snapshot decisions are made from now, or ``None`` when it is missing or too old."""
        snap = self.snapshot()
        if snap is None:
            return None
        if snap is not self._last_seen:
            self._adopt(snap)
        if (time.monotonic() if now is None else now) - snap.refreshed_at > self.max_staleness_s:
            return None
        return snap

    def _adopt(self, snap: CachedPosterior) -> None:
        previous, self._last_seen = self._last_seen, snap
        if (previous is not None and previous.posterior is snap.posterior and previous.retired == snap.retired
                and previous.policy == snap.policy):
            return  # a refresh that found nothing new: the remaining draws are still valid

        self._active = snap.active_arms
        self._active_set = frozenset(self._active)
        every_arm = snap.active.all() and (snap.contextual is None or snap.contextual.n_arms == snap.n_arms)
        self._active_idx = None if every_arm else np.asarray(self._active, dtype=np.intp)
        means = snap.posterior.mean()
        self._last_ranking = tuple(int(a) for a in np.argsort(-means, kind="stable") if snap.active[a])
        # draws from the previous posterior are never used: the block is keyed on the posterior object

    def _draw(self, snap: CachedPosterior) -> list[float]:
        # the live policy's scores (a Thompson draw of the posterior by default), one cached block per snapshot
        row: list[float] = self._draws.next(snap.scores).tolist()  # K Python floats: the sort key below
        return row

    def arm_table(self) -> ArmTable | None:
        """The arms' names of the newest snapshot seen (None before the first one)."""
        snap = self.snapshot()
        if snap is not None:
            return snap.arms
        return self._last_seen.arms if self._last_seen is not None else None

    def candidate_indices(self, names: Sequence[str]) -> list[int]:
        """Internal indices of candidate arm names, for :meth:`recommend`.

        Unknown names raise ``ValueError`` naming the valid arms (retired names are known: the
        recommender skips them). Before the first snapshot only the default names ``"0"``, ``"1"``,
        ... (an experiment started with integer arms) can be mapped; any other name raises
        :class:`ArmNamesUnknownError` (the API answers 503, retry).
        """
        table = self.arm_table()
        if table is not None:
            return table.indices(names)
        odd = [n for n in names if not _DEFAULT_NAME.match(n)]
        if odd:
            raise ArmNamesUnknownError(
                f"arm names {odd[:5]} cannot be mapped yet: this replica has not read the arms from the store "
                "since it started; retry in a second"
            )
        return [int(n) for n in names]

    def _names(self, snap: CachedPosterior | None, arms: Sequence[int]) -> tuple[str, ...]:
        table = snap.arms if snap is not None else None
        return tuple(table.names[a] if table is not None and a < table.n_arms else str(a) for a in arms)

    def recommend(self, user_id: str, k: int, candidates: Sequence[int] | None = None) -> Recommendation:
        """The top ``k`` arms for one user; ``ValueError`` naming the valid values on bad input.

        Candidates that are retired are skipped (a client with a stale banner list still gets
        an answer); candidates that are not arms at all are refused.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        if candidates is not None and any(a < 0 for a in candidates):
            raise ValueError(f"candidate arms must be arm indices >= 0; got {list(candidates)}")
        snap = self.live()
        if snap is None:
            return self._fallback(k, candidates)
        subset: frozenset[int] | None = None
        if candidates is None:
            allowed = self._active
        else:
            subset = frozenset(candidates)
            unknown = sorted(a for a in subset if a >= snap.n_arms)
            if unknown:
                raise ValueError(f"unknown candidate arms {unknown}; valid arms: {self._active}")
            allowed = [a for a in self._active if a in subset]
        if k > len(allowed):
            raise ValueError(f"k={k} is more than the {len(allowed)} arms available; valid k: 1..{len(allowed)}")
        row = self._draw(snap)
        ranked = tuple(sorted(allowed, key=row.__getitem__, reverse=True)[:k])
        propensities = tuple(snap.propensity(a, subset) for a in ranked)
        return Recommendation(new_decision_id(), ranked, propensities[0], snap.epoch, False, snap.reward_kind,
                              propensities, names=self._names(snap, ranked))

    def recommend_in_context(
        self,
        user_id: str,
        k: int,
        context: Mapping[str, ContextValue] | Sequence[float],
        candidates: Sequence[str] | None = None,
        arm_features: Mapping[str, Mapping[str, float]] | None = None,
    ) -> Recommendation:
        """The top ``k`` arms for one user *in this context*, by Linear Thompson Sampling.

        ``context``: a dict of the experiment's named features (categorical values hashed) or the
        already-encoded vector of length d. ``candidates``: the names of the arms allowed (default:
        every active arm); unlike :meth:`recommend`, a retired or unknown candidate is refused, since
        its features were sent for it. ``arm_features``: each candidate's features by arm name,
        required when the model has arm features (its shared part). Every refusal is a
        ``ValueError`` naming what is valid, raised before anything is logged. Without a live
        snapshot: the static fallback.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1; got {k}")
        snap = self.live()
        if snap is None:
            return self._fallback(k, None if candidates is None else self.candidate_indices(candidates))
        model = snap.contextual
        if model is None:
            raise ValueError("this experiment has no context model: send no 'context' (non-contextual Thompson "
                             "Sampling), or start the experiment with ExperimentConfig.context")
        spec = model.spec
        x = spec.encode([context])[0] if isinstance(context, Mapping) else spec.check_vector(context)
        allowed = self.arm_indices(snap, candidates)
        if k > len(allowed):
            raise ValueError(f"k={k} is more than the {len(allowed)} candidate arms; valid k: 1..{len(allowed)}")
        features = None
        names = snap.arms.names
        if spec.shared_dim:
            given = arm_features or {}
            lacking = [names[a] for a in allowed if names[a] not in given]
            if lacking:
                raise ValueError(f"this experiment's model has arm features {list(spec.arm_features)}: send "
                                 f"candidates with 'features' for every arm; missing for arms {lacking[:10]}")
            features = np.stack([spec.encode_arm(given[names[a]], names[a]) for a in allowed])
        elif arm_features:
            raise ValueError("this experiment's model has no arm features: send candidates without 'features'")
        choice = model.decide(x, self._active_idx if candidates is None else allowed, k, self.rng, features)
        arm_context = ""
        if features is not None:
            position = {a: i for i, a in enumerate(allowed)}
            arm_context = ",".join(encode_vector(features[position[a]]) for a in choice.arms)
        return Recommendation(new_decision_id(), choice.arms, choice.propensities[0], snap.epoch, False,
                              snap.reward_kind, choice.propensities, encode_vector(x), arm_context,
                              self._names(snap, choice.arms))

    def arm_indices(self, snap: CachedPosterior, candidates: Sequence[str] | None) -> list[int]:
        """The arm indices a contextual request may rank, from the candidates' names.

        ``None``: every active arm. Otherwise distinct, existing, active arms, resolved through the
        snapshot's :class:`~banditops.store.types.ArmTable` (the one name -> index lookup), else
        ``ValueError`` naming the valid ones.
        """
        if candidates is None:
            return self._active
        if len(set(candidates)) != len(candidates):
            raise ValueError(f"candidate arms must be distinct; got {list(candidates)}")
        return snap.arms.indices(candidates, active=True)

    def static_indices(self) -> tuple[int, ...]:
        """The static ranking as internal indices, resolved through the newest arm table seen.

        Names the table does not know are left out (the service checks them against the store
        when it starts, and a name never goes away, so this only happens when the store was down
        then). Before any table: default names map to their indices and any other name raises
        :class:`ArmNamesUnknownError` (the API answers 503, retry) rather than guessing an order.
        """
        ranking = self.static_ranking
        if not ranking or not isinstance(ranking[0], str):
            return tuple(int(a) for a in ranking)
        table = self.arm_table()
        cached = self._static
        if cached is not None and cached[0] is table:
            return cached[1]
        if table is None:
            odd = [n for n in ranking if not _DEFAULT_NAME.match(str(n))]
            if odd:
                raise ArmNamesUnknownError(
                    f"static ranking arm names {odd[:5]} cannot be mapped yet: this replica has not read the "
                    "arms from the store since it started; retry in a second")
            indices = tuple(int(n) for n in ranking)
        else:
            indices = tuple(table.index(str(n)) for n in ranking if n in table)
        self._static = (table, indices)
        return indices

    def _fallback(self, k: int, candidates: Sequence[int] | None) -> Recommendation:
        last = self._last_seen
        retired = last.retired if last is not None else frozenset()
        ranking = self.static_indices() or self._last_ranking
        if ranking:
            order = [a for a in ranking if a not in retired]
            if candidates is not None:
                wanted = set(candidates)
                unknown = sorted(wanted - set(ranking))
                if unknown:
                    raise ValueError(f"unknown candidate arms {unknown}; valid arms: {sorted(ranking)}")
                order = [a for a in order if a in wanted]
        elif candidates is not None:
            order = [a for a in dict.fromkeys(candidates) if a not in retired]
        else:
            order = list(range(k))
        if k > len(order):
            raise ValueError(f"k={k} is more than the {len(order)} arms available; valid k: 1..{len(order)}")
        arms = tuple(order[:k])
        return Recommendation(new_decision_id(), arms, 1.0, last.epoch if last is not None else 0, True,
                              last.reward_kind if last is not None else "", (1.0,) + (0.0,) * (len(arms) - 1),
                              names=self._names(last, arms))
