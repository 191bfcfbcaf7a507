"""Decisions and their delayed feedback in Redis: the production source of rewards.

The decision API answers from an in-process posterior and never waits on Redis, so the
decision log is written behind its back (:class:`~banditops.serving.decision_log.DecisionLog` batches
:func:`record_decisions`). Feedback arrives later — seconds to hours — and is accepted once
per decision by one server-side script (:func:`accept_feedback`). The Airflow agents then fold
the feedback stream into the shared posterior (:func:`fold_feedback`) through the store's
atomic ``apply_batch``, so the production path converges, drifts and relearns exactly like the
simulated one.

Key layout (under ``{namespace}:``) and memory budget

``decision_bucket:{second // 60}``
    hash, one field per decision made in that minute (the decision id carries its Unix second:
    8 hex digits, then 24 random ones). The field is the id's last 26 hex digits, its value
    ``{epoch}:{slate}`` (a contextual decision appends ``:{ctx}`` and
    ``:{actx}``: the encoded user context and the slate arms' encoded features); when the feedback
    is accepted the same script appends the feedback entry
    (which carries everything the fold and the evaluation need) and compacts the value to
    ``={reward}``: a replay of that reward stays a duplicate and a different one a conflict while
    the bucket lives. The bucket expires ``ttl_s`` after its last second, so feedback is accepted
    between ``ttl_s`` and ``ttl_s`` + 60 s after the decision, and a record costs no key, no expiry
    entry and no field names of its own: about 90 bytes of Redis memory, rewarded or not
    (``tests/integration/test_memory.py`` holds it at <= 150). ``decision:{id}`` hashes written by
    earlier versions are still read (and rewarded once) until their own TTL ends.
``decisions``
    capped stream, the decision log for off-policy evaluation: ``decision_id, user_id, arms``
    (the ranked slate), ``arm`` (the top one), ``propensity``, ``epoch``, ``fallback``, ``ts``
    (+ ``ctx`` and ``actx`` for a contextual decision, so off-policy evaluation can re-score it).
``feedback``
    capped stream of accepted rewards: ``decision_id, arm, epoch, reward, decided_ms, position``
    (the clicked arm and its slot in the slate; ``decided_ms`` is the decision's second; + ``ctx``
    and that arm's ``actx`` when the decision had a context: the fold adds those pulls to the LinTS
    statistics too).
    Consumer group ``fold`` tracks what has been folded into the posterior.
``fold:{batch_id}``
    marker that a batch id has claimed entries (``{server ms}:{token}``: the first chunk's claim time,
    for the store's dedupe-window check, and the fold call that may claim further chunks under it);
    it never claims again in another call. Kept for the store's dedupe window (7 days), and
    only by a round that claimed something: a round that found nothing leaves no key.
``feedback:dead``
    capped stream of claimed entries the fold could not apply (the original fields plus
    ``reason`` and ``batch_id``): moved there, acknowledged, never retried, never lost silently.

The budget, then: the three streams are capped (``MAXLEN ~``; about 90, 75 and 150 bytes an
entry), so they cost a fixed amount whatever the traffic (about 165 MB at the default 1M / 1M /
100k); what grows with traffic is the records, rate x (TTL + 60 s) x ~90 B — 30M decisions a day
kept 24 h is about 2.7 GB — plus one ~100 B marker per claiming fold round for 7 days. See
docs/reliability.md ("Memory budget") for the figures measured on a real server.

Exactly once, even on Airflow retries
    Each fold call reads as *consumers named by its batch id*, one per chunk of at most
    :data:`FOLD_CHUNK_ENTRIES` entries (the batch id, then ``{batch_id}#c1``, ``#c2``...: no script
    holds Redis for long, whatever the backlog). It first re-reads the chunks it already claimed
    (their pending lists) and only then claims new ones, applies each chunk under its consumer's
    name, and acknowledges it before claiming the next. A retried task therefore re-applies the same
    entries under the same batch id, which the store refuses as a duplicate; a crashed
    consumer's claim is adopted by the next fold *under the dead consumer's name*, with the
    same effect; and a batch id that has folded once never claims new entries again (a retry of
    a task that failed *after* its fold folds nothing). No entry is counted twice and none is
    lost (short of stream trimming).

Feedback for a decision made under an older epoch is refused by the store (``stale_epoch``):
a relearning posterior must not be polluted by rewards of slates sampled before the drift.

Examples
--------
>>> decision_bucket_key("bo", "6553f100" + "9f" * 12)  # decided at second 0x6553f100
'bo:decision_bucket:28333333'
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
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import orjson
import redis
import redis.asyncio

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.store.context_codec import decode_vector
from banditops.store.types import ReplyItem, StreamEntries

if TYPE_CHECKING:
    from banditops.store.redis_store import BanditStore
    from banditops.store.types import ExperimentConfig

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

#: Width of a decision record bucket (one hash per minute; at most 256 s, see ``_decisions.lua``).
DECISION_BUCKET_S = 60


def _lua(name: str, *, with_slot: bool = False) -> str:
    folder = resources.files("banditops.store") / "lua"
    source = (folder / f"{name}.lua").read_text(encoding="utf-8")
    return ((folder / "_decisions.lua").read_text(encoding="utf-8") + "\n" + source) if with_slot else source


_RECORD_DECISIONS = _lua("record_decisions", with_slot=True)
_ACCEPT_FEEDBACK = _lua("accept_feedback", with_slot=True)
_CLAIM_FEEDBACK = _lua("claim_feedback")
_FINISH_CLAIM = _lua("finish_claim")


class UnknownDecisionError(LookupError):
    """Feedback for a decision id that was never recorded or whose record has expired."""


class FeedbackConflictError(ValueError):
    """Feedback for a decision that already has a *different* reward."""


def decision_key(namespace: str, decision_id: str) -> str:
    """The per-decision hash of versions before the bucketed records (still read until it expires)."""
    return f"{namespace}:decision:{decision_id}"


def decision_bucket_prefix(namespace: str) -> str:
    return f"{namespace}:decision_bucket:"


def decision_bucket_key(namespace: str, decision_id: str) -> str:
    """The hash holding the record of ``decision_id`` (its time bucket, from the id's first 8 hex digits)."""
    return f"{decision_bucket_prefix(namespace)}{int(decision_id[:8], 16) // DECISION_BUCKET_S}"


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
    """Write a batch of decisions in ONE script call (record in its time bucket + decision-log entry).

    One call per batch keeps the client-side cost of logging thousands of decisions per second
    to one serialisation and one round trip. Returns the number of records written: a decision
    whose id is not of :func:`~banditops.serving.recommender.new_decision_id`'s form, or dates
    from more than ``ttl_s`` ago or more than an hour ahead, gets a log entry but no record.
    """
    if not decisions:
        return 0
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be >= 1 second; got {ttl_s}")
    payload = orjson.dumps(decisions)  # dataclasses serialise natively; the script reads the fields
    script = client.register_script(_RECORD_DECISIONS)
    return int(script(keys=[decisions_stream(namespace)],
                      args=[decision_bucket_prefix(namespace), ttl_s, maxlen, payload, DECISION_BUCKET_S]))


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
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be >= 1 second; got {ttl_s}")
    args: list[str | int | bytes] = [decision_bucket_prefix(namespace), ttl_s, maxlen, payload, DECISION_BUCKET_S]
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
    raw = script(keys=[feedback_stream(namespace), decision_key(namespace, decision_id)],
                 args=[decision_bucket_prefix(namespace), DECISION_BUCKET_S, decision_id, repr(value), maxlen,
                       "" if arm is None else int(arm), "" if position is None else int(position),
                       f"{namespace}:state"])
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


def _decode(value: ReplyItem) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fold_marker(namespace: str, consumer: str) -> str:
    return f"{namespace}:fold:{consumer}"


def _issued_ms(marker: ReplyItem | None) -> int | None:
    """When the fold claimed (server ms, kept in its marker ``{ms}:{token}``): the store refuses a batch
    older than its dedupe window. A marker of the oldest format ("1") tells nothing; a lost one means
    older than it. Every chunk of a fold carries its first chunk's time: earlier than its own first
    apply, so the store's check can only refuse more, never count twice."""
    if marker is None:
        return 0
    text = _decode(marker).split(":", 1)[0]
    return int(text) if text.isdigit() and text != "1" else None


#: Entries claimed per claim-script call. The claim, the apply and the acknowledgement of one chunk
#: each hold Redis for a few ms (a 10,000-entry claim in one call held it for 50 ms on an idle
#: machine and up to 500 ms on a loaded one; the rule is never more than 50 ms at a time).
FOLD_CHUNK_ENTRIES = 2_000
_CHUNK = re.compile(r"#c(\d+)$")


def chunk_consumer(batch_id: str, chunk: int) -> str:
    """The consumer (and the store's batch-id stem) of chunk ``chunk`` of the fold ``batch_id``.

    Chunk 0 is the batch id itself, so a claim made before the chunked fold is completed under the
    same store batch id as before.

    >>> chunk_consumer("dag/run/0/3", 0), chunk_consumer("dag/run/0/3", 2)
    ('dag/run/0/3', 'dag/run/0/3#c2')
    """
    return batch_id if chunk == 0 else f"{batch_id}#c{chunk}"


def _chunk_of(consumer: str) -> tuple[str, int]:
    """(batch id, chunk index) of a fold consumer: the inverse of :func:`chunk_consumer`."""
    match = _CHUNK.search(consumer)
    return (consumer[: match.start()], int(match.group(1))) if match else (consumer, 0)


@dataclass
class Claim:
    """One chunk a fold consumer holds, as columns (``nan`` where the entry's value is no plain number)."""

    issued_ms: int | None
    ids: list[str]
    arms: np.ndarray
    epochs: np.ndarray
    rewards: np.ndarray
    #: Contextual fields per entry ("" when none); empty lists when no entry of the chunk has a context.
    ctx: list[str]
    actx: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def _columns(text: bytes | str | None) -> np.ndarray:
    return np.array(text.split(), dtype=np.float64) if text else np.zeros(0)


def _read_claim(
    client: redis.Redis, namespace: str, consumer: str, max_entries: int | None,
    *, claim_ttl_s: int = FOLD_CLAIM_TTL_S, token: str | None = None,
) -> Claim:
    """The consumer's pending chunk if it has one, else a new chunk of up to ``max_entries``
    (``None``: the pending chunk only).

    A batch id claims new entries in one fold call of its life only (a marker set *before* its first
    chunk's claim, in the same script, dropped again when that claim took nothing; later chunks claim
    only under the call's ``token``): a retry after a completed fold must not claim fresh entries
    under ids the store already applied, or they would be refused as duplicates and lost.
    """
    batch_id, chunk = _chunk_of(consumer)
    script = client.register_script(_CLAIM_FEEDBACK)
    marker, ids, arms, epochs, rewards, ctx, actx = script(
        keys=[feedback_stream(namespace), fold_marker(namespace, batch_id)],
        args=[FOLD_GROUP, consumer, "" if max_entries is None else int(max_entries), int(claim_ttl_s), chunk,
              token or secrets.token_hex(8)],
    )
    entry_ids = _decode(ids).split()
    return Claim(_issued_ms(marker) if entry_ids else None, entry_ids, _columns(arms), _columns(epochs),
                 _columns(rewards), [_decode(x) for x in ctx], [_decode(x) for x in actx])


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


def _foldable(claim: Claim, kind: str, n_arms: int) -> np.ndarray:
    """Mask of the entries that pass :func:`_entry_pull`'s checks, decided on the columns at once.

    Only a fast path: an entry outside the mask is re-read and judged by :func:`_entry_pull` itself,
    so the reason a dead letter gives (and whether an unusual but valid value is folded) is the
    per-entry rule's, whatever this mask says.
    """
    a, e, r = claim.arms, claim.epochs, claim.rewards
    with np.errstate(invalid="ignore"):
        ok: np.ndarray = (a >= 0) & (a < n_arms) & (e >= 1) & np.isfinite(e)
        ok &= np.isfinite(r) & (np.abs(r) <= MAX_FEEDBACK_REWARD)
        if kind == "bernoulli":
            ok &= (r == 0.0) | (r == 1.0)
    return ok


def _fields(client: redis.Redis, stream: str, entry_ids: Sequence[str]) -> list[dict[str, str]]:
    """The stored fields of these entries ({} for one trimmed from the stream), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for entry_id in entry_ids:
        pipe.xrange(stream, min=entry_id, max=entry_id)
    rows: list[Any] = pipe.execute()
    return [{_decode(k): _decode(v) for k, v in row[0][1].items()} if row else {} for row in rows]


def _apply_claim(
    store: BanditStore, consumer: str, claim: Claim, result: FoldResult, config: ExperimentConfig | None = None,
    *, dead_maxlen: int = DEFAULT_DEAD_LETTER_MAXLEN,
) -> None:
    """Fold a chunk; entries that cannot be applied go to the dead-letter stream, the rest are folded.

    The dead-letter writes, the XACK of the whole chunk and the removal of the consumer run in ONE
    script after the applies (``finish_claim.lua``): a crash before it leaves the chunk pending,
    and the retry re-applies under the same batch ids (refused as duplicates) and writes the dead
    letters once.
    """
    if not claim:  # the claim script already dropped the empty consumer
        return
    config = config or store.config()
    spec = config.context_model
    stream = feedback_stream(store.namespace)
    ok = _foldable(claim, config.reward_kind, config.n_arms)
    arms = np.where(ok, claim.arms, 0).astype(np.int64)
    epochs = np.where(ok, claim.epochs, 0).astype(np.int64)
    rewards = claim.rewards.copy()
    contexts: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(claim)
    dead: list[tuple[int, str]] = []
    suspect = np.flatnonzero(~ok)
    if suspect.size:  # the per-entry rule on the stored fields (an arm added since: judged on the current arms)
        if np.any(claim.arms[suspect] >= config.n_arms):
            config = store.config()
        originals = dict(zip(suspect.tolist(), _fields(store.client, stream, [claim.ids[i] for i in suspect]),
                             strict=True))
        for i, data in originals.items():
            try:
                arms[i], epochs[i], rewards[i] = _entry_pull(data, config.reward_kind, config.n_arms)
                ok[i] = True
            except ValueError as exc:
                dead.append((i, str(exc)))
    if spec is not None and claim.ctx:
        for i in np.flatnonzero(ok).tolist():
            try:
                contexts[i] = _entry_context({"ctx": claim.ctx[i], "actx": claim.actx[i]}, spec.dim, spec.shared_dim)
            except ValueError as exc:
                ok[i] = False
                dead.append((i, str(exc)))
    for epoch in np.unique(epochs[ok]).tolist():
        rows = np.flatnonzero(ok & (epochs == epoch))
        linear = (_linear_batch(config.n_arms, spec, arms[rows], rewards[rows], [contexts[i] for i in rows])
                  if spec is not None else None)
        try:
            # One store batch per epoch; the suffix keeps the id deterministic for a given chunk.
            outcome = store.apply_batch(f"{consumer}#e{epoch}", epoch, arms[rows], rewards[rows],
                                        issued_ms=claim.issued_ms, linear=linear)
        except ValueError as exc:  # the store's own checks (and BatchTooOldError): never wedge the claim
            dead.extend((i, f"store refused the batch: {exc}") for i in rows.tolist())
            continue
        if outcome.status == "applied":
            result.applied += rows.size
        elif outcome.status == "duplicate":
            result.duplicate += rows.size
        else:
            result.stale += rows.size
    dead.sort()
    stored = dict(zip([i for i, _ in dead], _fields(store.client, stream, [claim.ids[i] for i, _ in dead]),
                      strict=True)) if dead else {}
    letters = [[x for pair in {**stored[i], "entry_id": claim.ids[i], "reason": reason, "batch_id": consumer}.items()
                for x in pair] for i, reason in dead]
    store.client.register_script(_FINISH_CLAIM)(
        keys=[stream, dead_letter_stream(store.namespace)],
        args=[FOLD_GROUP, consumer, dead_maxlen, orjson.dumps(letters), " ".join(claim.ids)],
    )
    result.invalid += len(dead)
    result.dead_lettered += len(dead)
    result.entries += len(claim)


def _linear_batch(
    n_arms: int, spec: ContextModelSpec, arms: np.ndarray, rewards: np.ndarray,
    contexts: list[tuple[np.ndarray, np.ndarray] | None],
) -> LinearGaussianStats:
    """The LinTS statistics of the group's contextual entries (zeros when none had a context)."""
    rows = [i for i, c in enumerate(contexts) if c is not None]
    zeros = LinearGaussianStats.zeros(n_arms, spec.dim, spec.shared_dim)
    if not rows:
        return zeros
    X = np.stack([contexts[i][0] for i in rows])  # type: ignore[index]
    Z = np.stack([contexts[i][1] for i in rows]) if spec.shared_dim else None  # type: ignore[index]
    return zeros.add_batch(arms[rows], X, rewards[rows], Z)


def dead_letter_count(client: redis.Redis, namespace: str) -> int:
    """Length of the dead-letter stream (the decision service exports it as a gauge)."""
    return int(client.xlen(dead_letter_stream(namespace)))


def redis_memory(client: redis.Redis) -> tuple[int, int]:
    """(``used_memory``, ``maxmemory``) of the server in bytes (0: no cap), for the memory alert.

    The decision service exports both, so Prometheus can alert at 80% of the cap without a Redis
    exporter: at the cap a ``noeviction`` server refuses the decision log's writes.
    """
    info = cast("dict[str, int]", client.info("memory"))
    return int(info["used_memory"]), int(info.get("maxmemory", 0))


def dead_letters(client: redis.Redis, namespace: str, count: int = 1000) -> list[dict[str, Any]]:
    """Entries of the dead-letter stream (oldest first): what the fold refused, and why."""
    rows = cast(StreamEntries, client.xrange(dead_letter_stream(namespace), count=count))
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]


def _consumers(client: redis.Redis, namespace: str) -> list[tuple[str, int]]:
    """(name, idle ms) of every fold consumer holding unacknowledged feedback."""
    try:
        consumers = client.xinfo_consumers(feedback_stream(namespace), FOLD_GROUP)
    except redis.ResponseError:
        return []
    return [(_decode(c["name"]), int(c["idle"])) for c in consumers if int(c["pending"]) > 0]


def orphaned_claims(client: redis.Redis, namespace: str, min_idle_ms: int) -> list[str]:
    """Consumers (batch ids, or chunks of one) holding unacknowledged feedback for at least ``min_idle_ms``."""
    return [name for name, idle in _consumers(client, namespace) if idle >= min_idle_ms]


def fold_feedback(
    store: BanditStore,
    batch_id: str,
    *,
    max_entries: int = 10_000,
    adopt_after_ms: int | None = 60_000,
    chunk_entries: int = FOLD_CHUNK_ENTRIES,
) -> FoldResult:
    """Fold pending feedback into the posterior, exactly once, under ``batch_id``.

    This is the production agent's round: where a simulation agent samples, pulls the
    environment and applies, a production agent folds what real users answered. Use the
    agent's own batch id (``<dag_id>/<run_id>/<map_index>/<round>``) so a retried task
    re-applies the same claim and the store refuses it as a duplicate.

    The fold claims, applies and acknowledges in chunks of ``chunk_entries``, each chunk a consumer
    of its own (:func:`chunk_consumer`), so no script holds Redis for long whatever the backlog, and a
    crash leaves at most one chunk pending. First it completes what earlier attempts of the same
    batch id left pending (any chunk) and, after ``adopt_after_ms``, other consumers' orphaned chunks.

    Parameters
    ----------
    store
        The experiment's store; its ``apply_batch`` does the atomic update.
    batch_id
        Stable across retries of the same task; names the ``fold`` group's consumers.
    max_entries
        Largest number of new feedback entries claimed by this call.
    adopt_after_ms
        Claims left unacknowledged by another consumer for this long are completed first,
        under that consumer's batch id (``None``: never adopt).
    chunk_entries
        Largest number of entries one claim-script call reads (a bound on how long it holds Redis).

    Returns
    -------
    FoldResult
        Pulls applied, refused as duplicate, refused as stale (older epoch), invalid.
    """
    if not batch_id:
        raise ValueError("batch_id must be a non-empty string, e.g. '<dag_id>/<run_id>/<map_index>/<round>'")
    if max_entries < 1:
        raise ValueError(f"max_entries must be >= 1; got {max_entries}")
    if chunk_entries < 1:
        raise ValueError(f"chunk_entries must be >= 1; got {chunk_entries}")
    client = store.client
    ensure_fold_group(client, store.namespace)
    result = FoldResult(batch_id)
    config = store.config()
    for name, idle in _consumers(client, store.namespace):
        own = _chunk_of(name)[0] == batch_id
        if own or (adopt_after_ms is not None and idle >= adopt_after_ms):
            _apply_claim(store, name, _read_claim(client, store.namespace, name, None), result, config)
            if not own:
                result.adopted.append(name)
    # The marker lives as long as the store remembers the batch id: after that a new claim under it
    # is applied as new, so nothing is lost; before it, a second claim would be refused as duplicate.
    claim_ttl_s = max(1, math.ceil(store.dedupe_window_s))
    token = secrets.token_hex(8)
    claimed, chunk = 0, 0
    while claimed < max_entries:
        want = min(chunk_entries, max_entries - claimed)
        consumer = chunk_consumer(batch_id, chunk)
        claim = _read_claim(client, store.namespace, consumer, want, claim_ttl_s=claim_ttl_s, token=token)
        _apply_claim(store, consumer, claim, result, config)
        claimed, chunk = claimed + len(claim), chunk + 1
        if len(claim) < want:  # the backlog is folded (or this batch id may claim no more)
            break
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
    undelivered = cast(StreamEntries, client.xrange(stream, min=f"({last}" if last != "0-0" else "-", count=1))
    if undelivered:
        oldest.append(_decode(undelivered[0][0]))
    if not oldest:
        return 0.0
    first_ms = min(int(eid.split("-")[0]) for eid in oldest)
    now_ms = (time.time() if now is None else now) * 1000.0
    return max(0.0, (now_ms - first_ms) / 1000.0)


def read_decisions(client: redis.Redis, namespace: str, since: str = "-", count: int = 1000) -> list[dict[str, Any]]:
    """Entries of the decision log (oldest first), for off-policy evaluation and tests."""
    rows = cast(StreamEntries, client.xrange(decisions_stream(namespace), min=since, count=count))
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]


def feedback_entries(client: redis.Redis, namespace: str, count: int = 100_000) -> list[dict[str, Any]]:
    """Entries of the feedback stream (oldest first)."""
    rows = cast(StreamEntries, client.xrange(feedback_stream(namespace), count=count))
    return [{"id": _decode(eid), **{_decode(k): _decode(v) for k, v in data.items()}} for eid, data in rows]
