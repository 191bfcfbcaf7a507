"""Decisions and their delayed feedback in Redis: the production source of rewards.

The decision API answers from an in-process posterior and never waits on Redis, so the
decision log is written behind its back (:class:`~banditops.serving.decision_log.DecisionLog` batches
:func:`record_decisions`). Feedback arrives later — seconds to hours — and is accepted once
per decision by one server-side script (:func:`accept_feedback`). The Airflow agents then fold
the feedback stream into the shared posterior (:func:`fold_feedback`) through the store's
atomic ``apply_batch``, so the production path converges, drifts and relearns exactly like the
simulated one.

Key layout (under ``{namespace}:``)

``decision:{id}``
    hash ``arm, epoch, kind, fallback, ts, slate`` (+ ``ctx``, ``actx`` for a contextual decision:
    the encoded user context and the slate arms' encoded features; + ``feedback``, ``feedback_id``
    once rewarded), expiring after the decision TTL: feedback for an expired decision is refused.
``decisions``
    capped stream, the decision log for off-policy evaluation: ``decision_id, user_id, arms``
    (the ranked slate), ``arm`` (the top one), ``propensity``, ``epoch``, ``fallback``, ``ts``
    (+ ``ctx`` and ``actx`` for a contextual decision, so off-policy evaluation can re-score it).
``feedback``
    capped stream of accepted rewards: ``decision_id, arm, epoch, reward, decided_ms, position``
    (the clicked arm and its slot in the slate; + ``ctx`` and that arm's ``actx`` when the
    decision had a context: the fold adds those pulls to the LinTS statistics too).
    Consumer group ``fold`` tracks what has been folded into the posterior.
``fold:{batch_id}``
    marker (7 days) that a batch id has claimed its entries; it never claims again.
``feedback:dead``
    capped stream of claimed entries the fold could not apply (the original fields plus
    ``reason`` and ``batch_id``): moved there, acknowledged, never retried, never lost silently.

Exactly once, even on Airflow retries
    Each fold call reads as the *consumer named by its batch id*. It first re-reads the
    entries it already claimed (its pending list) and only then claims new ones, applies them
    with that same batch id, and acknowledges. A retried task therefore re-applies the same
    entries under the same batch id, which the store refuses as a duplicate; a crashed
    consumer's claim is adopted by the next fold *under the dead consumer's name*, with the
    same effect; and a batch id that has folded once never claims new entries again (a retry of
    a task that failed *after* its fold folds nothing). No entry is counted twice and none is
    lost (short of stream trimming).

Feedback for a decision made under an older epoch is refused by the store (``stale_epoch``):
a relearning posterior must not be polluted by rewards of slates sampled before the drift.

Examples
--------
>>> decision_key("bo", "9f" * 16)
'bo:decision:9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f'
>>> check_reward(1.0, "bernoulli")
1.0
>>> check_reward(0.5, "bernoulli")
Traceback (most recent call last):
...
ValueError: a bernoulli reward must be 0 or 1; got 0.5
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
import redis
import redis.asyncio

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.store.context_codec import decode_vector

if TYPE_CHECKING:
    from banditops.store.redis_store import BanditStore

#: Consumer group of the feedback stream that the posterior folds read through.
FOLD_GROUP = "fold"
#: Default life of a decision record: feedback later than this is refused as expired.
DEFAULT_DECISION_TTL_S = 24 * 3600
#: Caps of the two streams (approximate, ``MAXLEN ~``): memory stays bounded under any traffic.
DEFAULT_DECISIONS_MAXLEN = 1_000_000
DEFAULT_FEEDBACK_MAXLEN = 1_000_000
#: How long a fold batch id is remembered as used (the store's dedupe window, 7 days).
FOLD_CLAIM_TTL_S = 7 * 24 * 3600
DECISION_ID = re.compile(r"^[0-9a-f]{32}$")
#: Largest |reward| accepted as feedback for a Gaussian experiment. Click values, revenue in
#: cents or ratings all fit; 1e300 would overflow the sum of squares and wedge the posterior.
MAX_FEEDBACK_REWARD = 1e6
DEFAULT_DEAD_LETTER_MAXLEN = 100_000

FeedbackStatus = Literal["accepted", "duplicate"]

_RECORD_DECISIONS = (resources.files("banditops.store") / "lua" / "record_decisions.lua").read_text(encoding="utf-8")

_ACCEPT_FEEDBACK = (resources.files("banditops.store") / "lua" / "accept_feedback.lua").read_text(encoding="utf-8")


class UnknownDecisionError(LookupError):
    """Feedback for a decision id that was never recorded or whose record has expired."""


class FeedbackConflictError(ValueError):
    """Feedback for a decision that already has a *different* reward."""


def decision_key(namespace: str, decision_id: str) -> str:
    return f"{namespace}:decision:{decision_id}"


def decisions_stream(namespace: str) -> str:
    return f"{namespace}:decisions"


def feedback_stream(namespace: str) -> str:
    return f"{namespace}:feedback"


def dead_letter_stream(namespace: str) -> str:
    return f"{namespace}:feedback:dead"


def check_reward(reward: float, kind: str | None = None) -> float:
    """A reward valid for ``kind`` (bernoulli: 0 or 1; else finite, |r| <= 1e6), else ``ValueError``."""
    value = float(reward)
    if kind == "bernoulli" and value not in (0.0, 1.0):
        raise ValueError(f"a bernoulli reward must be 0 or 1; got {reward!r}")
    if not math.isfinite(value) or abs(value) > MAX_FEEDBACK_REWARD:
        raise ValueError(f"reward must be a finite number within ±{MAX_FEEDBACK_REWARD:g}; got {reward!r}")
    return value


@dataclass(slots=True)
class Decision:
    """One answer of the decision API, as logged (fallback answers included).

    Not frozen: a frozen dataclass pays an ``object.__setattr__`` per field at creation, and one
    is created per request; nothing mutates it after.
    """

    decision_id: str
    user_id: str
    arms: tuple[int, ...]
    propensity: float
    epoch: int
    fallback: bool
    ts_ms: int
    #: The experiment's reward kind when known (feedback is validated against it), else "".
    reward_kind: str = ""
    #: Contextual decisions only: the encoded user context the model saw
    #: (:func:`~banditops.store.context_codec.encode_vector`); "" for a non-contextual decision.
    context: str = ""
    #: With arm features (the model's shared part): each slate arm's encoded features, comma-joined
    #: in slate order; the fold takes the clicked position's.
    arm_context: str = ""


def record_decisions(
    client: redis.Redis,
    namespace: str,
    decisions: Sequence[Decision],
    *,
    ttl_s: int = DEFAULT_DECISION_TTL_S,
    maxlen: int = DEFAULT_DECISIONS_MAXLEN,
) -> int:
    """Write a batch of decisions in ONE script call (record with TTL + decision-log entry).

    One call per batch keeps the client-side cost of logging thousands of decisions per second
    to one serialisation and one round trip. Returns the number written.
    """
    if not decisions:
        return 0
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be >= 1 second; got {ttl_s}")
    payload = orjson.dumps(decisions)  # dataclasses serialise natively; the script reads the fields
    script = client.register_script(_RECORD_DECISIONS)
    return int(script(keys=[decisions_stream(namespace)],
                      args=[f"{namespace}:decision:", ttl_s, maxlen, payload]))


async def record_decisions_async(
    client: redis.asyncio.Redis,
    namespace: str,
    decisions: Sequence[Decision],
    *,
    ttl_s: int = DEFAULT_DECISION_TTL_S,
    maxlen: int = DEFAULT_DECISIONS_MAXLEN,
) -> int:
    """:func:`record_decisions` on an asyncio client (the service's writer runs on its event loop)."""
    if not decisions:
        return 0
    payload = orjson.dumps(decisions)
    script = client.register_script(_RECORD_DECISIONS)
    args: list[str | int | bytes] = [f"{namespace}:decision:", ttl_s, maxlen, payload]
    return int(await script(keys=[decisions_stream(namespace)], args=args))


@dataclass(frozen=True)
class FeedbackReceipt:
    """What happened to one feedback: ``accepted`` (new stream entry) or ``duplicate``."""

    decision_id: str
    status: FeedbackStatus
    reward: float
    #: Stream id of the accepted entry ("" for a duplicate).
    entry_id: str = ""


def accept_feedback(
    client: redis.Redis,
    namespace: str,
    decision_id: str,
    reward: float,
    *,
    arm: int | None = None,
    position: int | None = None,
    maxlen: int = DEFAULT_FEEDBACK_MAXLEN,
) -> FeedbackReceipt:
    """Append the reward of a decision to the feedback stream, at most once per decision.

    One script checks the decision record and appends, so two concurrent deliveries of the
    same feedback cannot both be counted. The same reward again is a ``duplicate`` (safe
    client retries); a different reward raises :class:`FeedbackConflictError`; an unknown or
    expired id raises :class:`UnknownDecisionError`; a malformed id or reward raises ``ValueError``.
    For a slate (k > 1) the caller names the clicked ``arm`` or its ``position``; the reward is
    credited to that arm and the position kept on the entry for evaluation. A k = 1 decision
    defaults to its single arm.
    """
    if not DECISION_ID.match(decision_id):
        raise ValueError(f"decision_id must be 32 lowercase hex characters; got {decision_id!r}")
    value = check_reward(reward)
    script = client.register_script(_ACCEPT_FEEDBACK)
    # The state key is read only, so it is an argument, not a declared key: Redis requires write
    # access to every key a script declares, and the decision API's user may only read the state.
    raw = script(keys=[decision_key(namespace, decision_id), feedback_stream(namespace)],
                 args=[decision_id, repr(value), maxlen, "" if arm is None else int(arm),
                       "" if position is None else int(position), f"{namespace}:state"])
    status, detail = (x.decode() if isinstance(x, bytes) else str(x) for x in raw)
    if status == "unknown":
        raise UnknownDecisionError(
            f"unknown or expired decision_id {decision_id!r}: feedback is accepted only for decisions "
            "this service made within the decision TTL"
        )
    if status == "invalid":
        raise ValueError(f"{detail}; got reward {reward!r}")  # the experiment's kind, known only to the store
    if status == "duplicate":
        if float(detail) != value:
            raise FeedbackConflictError(
                f"decision {decision_id} already has reward {float(detail)}; a different reward ({value}) is refused"
            )
        return FeedbackReceipt(decision_id, "duplicate", value)
    return FeedbackReceipt(decision_id, "accepted", value, detail)


# -- folding feedback into the posterior ---------------------------------------------------------


@dataclass
class FoldResult:
    """What one fold did with the feedback it read (pulls counted per outcome)."""

    batch_id: str
    entries: int = 0
    applied: int = 0
    duplicate: int = 0
    stale: int = 0
    invalid: int = 0
    #: Entries moved to the dead-letter stream (``invalid`` included), each with its reason.
    dead_lettered: int = 0
    #: Batch ids of orphaned claims adopted from crashed consumers.
    adopted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "entries": self.entries, "applied": self.applied,
                "duplicate": self.duplicate, "stale": self.stale, "invalid": self.invalid,
                "dead_lettered": self.dead_lettered, "adopted": list(self.adopted)}


def ensure_fold_group(client: redis.Redis, namespace: str) -> None:
    """Create the ``fold`` consumer group (from the stream's start) if it does not exist."""
    try:
        client.xgroup_create(feedback_stream(namespace), FOLD_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_stream(reply: Any) -> list[Any]:
    # XREADGROUP answers a list of [stream, entries] (RESP2) or a {stream: entries} map (RESP3).
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values())))
    return list(reply[0][1])


def fold_marker(namespace: str, consumer: str) -> str:
    return f"{namespace}:fold:{consumer}"


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _claim_issued_ms(client: redis.Redis, namespace: str, consumer: str) -> int | None:
    """When the claim was made (server ms, kept in its marker): the store refuses a batch older than
    its dedupe window. A marker of the old format ("1") tells nothing; a lost one means older than it."""
    raw = client.get(fold_marker(namespace, consumer))
    if raw is None:
        return 0
    text = _decode(raw)
    return int(text) if text.isdigit() and text != "1" else None


def _read_claim(
    client: redis.Redis, namespace: str, consumer: str, max_entries: int | None, claim_ttl_s: int = FOLD_CLAIM_TTL_S
) -> list[tuple[str, dict]]:
    """The consumer's pending claim if it has one, else a new claim of up to ``max_entries``.

    A batch id claims new entries only once in its life (a marker set *before* the claim): a
    retry after a completed fold must not claim fresh entries under an id the store already
    applied, or they would be refused as duplicates and lost.
    """
    stream = feedback_stream(namespace)
    # No COUNT on the pending read: a retry must see the WHOLE earlier claim, whatever its size.
    pending: Any = client.xreadgroup(FOLD_GROUP, consumer, {stream: "0"})
    entries: Any = _first_stream(pending)
    if not entries and max_entries is not None and client.set(
        fold_marker(namespace, consumer), str(_server_ms(client)), nx=True, ex=claim_ttl_s
    ):
        fresh: Any = client.xreadgroup(FOLD_GROUP, consumer, {stream: ">"}, count=max_entries)
        entries = _first_stream(fresh)
    return [(_decode(eid), {_decode(k): _decode(v) for k, v in (data or {}).items()}) for eid, data in entries]


def _entry_context(data: dict, dim: int, shared_dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The (x, z) logged with a contextual decision, ``None`` for a non-contextual one."""
    text = data.get("ctx", "")
    if not text:
        return None
    x = decode_vector(text)
    if x.shape != (dim,) or not np.isfinite(x).all():
        raise ValueError(f"logged context has {x.size} values; the experiment's model has d={dim}")
    z = decode_vector(data.get("actx", "")) if shared_dim else np.zeros(0)
    if z.shape != (shared_dim,) or not np.isfinite(z).all():
        raise ValueError(f"logged arm features have {z.size} values; the experiment's model has k={shared_dim}")
    return x, z


def _entry_pull(data: dict, kind: str, n_arms: int) -> tuple[int, int, float]:
    """(arm, epoch, reward) of one feedback entry, or ``ValueError`` saying why it cannot be folded."""
    try:
        arm, epoch, raw = int(data["arm"]), int(data["epoch"]), data["reward"]
    except KeyError as exc:
        raise ValueError(f"entry lacks the field {exc.args[0]!r}") from None
    if epoch < 1:
        raise ValueError(f"decision epoch {epoch} is no epoch (a fallback made before any posterior was seen)")
    if not 0 <= arm < n_arms:
        raise ValueError(f"arm {arm} is out of range 0..{n_arms - 1}")
    return arm, epoch, check_reward(float(raw), kind)


def _apply_claim(
    store: BanditStore, consumer: str, entries: list[tuple[str, dict]], result: FoldResult,
    *, dead_maxlen: int = DEFAULT_DEAD_LETTER_MAXLEN,
) -> None:
    """Fold a claim; entries that cannot be applied go to the dead-letter stream, the rest are folded.

    The dead-letter writes and the XACK of the whole claim run in ONE transaction, after the
    applies: a crash before it leaves the claim pending, and the retry re-applies under the same
    batch ids (refused as duplicates) and writes the dead letters once.
    """
    config = store.config()
    spec = config.context_model
    n_arms = store.state().stats.n_arms
    issued_ms = _claim_issued_ms(store.client, store.namespace, consumer) if entries else None
    dead: list[tuple[str, dict, str]] = []
    by_epoch: dict[int, list[_Pull]] = {}
    for entry_id, data in entries:
        try:
            arm, epoch, reward = _entry_pull(data, config.reward_kind, n_arms)
            context = _entry_context(data, spec.dim, spec.shared_dim) if spec is not None else None
        except ValueError as exc:
            dead.append((entry_id, data, str(exc)))
            continue
        by_epoch.setdefault(epoch, []).append((entry_id, data, arm, reward, context))
    for epoch in sorted(by_epoch):
        group = by_epoch[epoch]
        arms, rewards = [g[2] for g in group], [g[3] for g in group]
        linear = _linear_batch(n_arms, spec, group) if spec is not None else None
        try:
            # One store batch per epoch; the suffix keeps the id deterministic for a given claim.
            outcome = store.apply_batch(f"{consumer}#e{epoch}", epoch, arms, rewards, issued_ms=issued_ms,
                                        linear=linear)
        except ValueError as exc:  # the store's own checks (and BatchTooOldError): never wedge the claim
            dead.extend((eid, data, f"store refused the batch: {exc}") for eid, data, *_ in group)
            continue
        if outcome.status == "applied":
            result.applied += len(arms)
        elif outcome.status == "duplicate":
            result.duplicate += len(arms)
        else:
            result.stale += len(arms)
    stream = feedback_stream(store.namespace)
    if entries:
        pipe = store.client.pipeline(transaction=True)
        for entry_id, data, reason in dead:
            pipe.xadd(dead_letter_stream(store.namespace),
                      {**data, "entry_id": entry_id, "reason": reason, "batch_id": consumer},
                      maxlen=dead_maxlen, approximate=True)
        pipe.xack(stream, FOLD_GROUP, *[eid for eid, _ in entries])
        pipe.execute()
    result.invalid += len(dead)
    result.dead_lettered += len(dead)
    # A consumer with an empty pending list carries no state: drop it so the group stays small.
    store.client.xgroup_delconsumer(stream, FOLD_GROUP, consumer)
    result.entries += len(entries)


_Pull = tuple[str, dict, int, float, tuple[np.ndarray, np.ndarray] | None]


def _linear_batch(n_arms: int, spec: ContextModelSpec, group: list[_Pull]) -> LinearGaussianStats:
    """The LinTS statistics of the group's contextual entries (zeros when none had a context)."""
    rows = [(g[2], g[3], g[4]) for g in group if g[4] is not None]
    if not rows:
        return LinearGaussianStats.zeros(n_arms, spec.dim, spec.shared_dim)
    arms = np.array([r[0] for r in rows], dtype=np.int64)
    rewards = np.array([r[1] for r in rows], dtype=np.float64)
    X = np.stack([r[2][0] for r in rows if r[2] is not None])
    Z = np.stack([r[2][1] for r in rows if r[2] is not None]) if spec.shared_dim else None
    return LinearGaussianStats.zeros(n_arms, spec.dim, spec.shared_dim).add_batch(arms, X, rewards, Z)


def dead_letter_count(client: redis.Redis, namespace: str) -> int:
    """Length of the dead-letter stream (the decision service exports it as a gauge)."""
    return int(client.xlen(dead_letter_stream(namespace)))


def dead_letters(client: redis.Redis, namespace: str, count: int = 1000) -> list[dict[str, Any]]:
    """Entries of the dead-letter stream (oldest first): what the fold refused, and why."""
    rows: Any = client.xrange(dead_letter_stream(namespace), count=count)
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]


def orphaned_claims(client: redis.Redis, namespace: str, min_idle_ms: int) -> list[str]:
    """Consumers (batch ids) holding unacknowledged feedback for at least ``min_idle_ms``."""
    try:
        consumers = client.xinfo_consumers(feedback_stream(namespace), FOLD_GROUP)
    except redis.ResponseError:
        return []
    return [_decode(c["name"]) for c in consumers if int(c["pending"]) > 0 and int(c["idle"]) >= min_idle_ms]


def fold_feedback(
    store: BanditStore,
    batch_id: str,
    *,
    max_entries: int = 10_000,
    adopt_after_ms: int | None = 60_000,
) -> FoldResult:
    """Fold pending feedback into the posterior, exactly once, under ``batch_id``.

    This is the production agent's round: where a simulation agent samples, pulls the
    environment and applies, a production agent folds what real users answered. Use the
    agent's own batch id (``<dag_id>/<run_id>/<map_index>/<round>``) so a retried task
    re-applies the same claim and the store refuses it as a duplicate.

    Parameters
    ----------
    store
        The experiment's store; its ``apply_batch`` does the atomic update.
    batch_id
        Stable across retries of the same task; one consumer of the ``fold`` group.
    max_entries
        Largest number of feedback entries claimed by this call.
    adopt_after_ms
        Claims left unacknowledged by another consumer for this long are completed first,
        under that consumer's batch id (``None``: never adopt).

    Returns
    -------
    FoldResult
        Pulls applied, refused as duplicate, refused as stale (older epoch), invalid.
    """
    if not batch_id:
        raise ValueError("batch_id must be a non-empty string, e.g. '<dag_id>/<run_id>/<map_index>/<round>'")
    if max_entries < 1:
        raise ValueError(f"max_entries must be >= 1; got {max_entries}")
    client = store.client
    ensure_fold_group(client, store.namespace)
    result = FoldResult(batch_id)
    if adopt_after_ms is not None:
        for orphan in orphaned_claims(client, store.namespace, adopt_after_ms):
            if orphan == batch_id:
                continue
            _apply_claim(store, orphan, _read_claim(client, store.namespace, orphan, None), result)
            result.adopted.append(orphan)
    _apply_claim(store, batch_id, _read_claim(client, store.namespace, batch_id, max_entries), result)
    return result


def feedback_lag_seconds(client: redis.Redis, namespace: str, now: float | None = None) -> float:
    """Age in seconds of the oldest feedback not yet folded into the posterior (0 when none).

    Stream ids carry the server's millisecond clock, so the age needs no extra field: the
    oldest unfolded entry is the oldest pending claim or, if none, the first entry the group
    has not delivered yet.
    """
    stream = feedback_stream(namespace)
    oldest: list[str] = []
    try:
        summary = client.xpending(stream, FOLD_GROUP)
        if summary and summary.get("pending"):
            oldest.append(_decode(summary["min"]))
        groups = client.xinfo_groups(stream)
        last = next((_decode(g["last-delivered-id"]) for g in groups if _decode(g["name"]) == FOLD_GROUP), "0-0")
    except redis.ResponseError:  # no stream or no group yet: everything is unfolded
        last = "0-0"
    undelivered = client.xrange(stream, min=f"({last}" if last != "0-0" else "-", count=1)
    if undelivered:
        oldest.append(_decode(undelivered[0][0]))
    if not oldest:
        return 0.0
    first_ms = min(int(eid.split("-")[0]) for eid in oldest)
    now_ms = (time.time() if now is None else now) * 1000.0
    return max(0.0, (now_ms - first_ms) / 1000.0)


def read_decisions(client: redis.Redis, namespace: str, since: str = "-", count: int = 1000) -> list[dict[str, Any]]:
    """Entries of the decision log (oldest first), for off-policy evaluation and tests."""
    rows: Any = client.xrange(decisions_stream(namespace), min=since, count=count)
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]


def feedback_entries(client: redis.Redis, namespace: str, count: int = 100_000) -> list[dict[str, Any]]:
    """Entries of the feedback stream (oldest first)."""
    rows: Any = client.xrange(feedback_stream(namespace), count=count)
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]
