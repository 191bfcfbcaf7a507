"""The Redis state store: the one source of truth of the loop.

Every agent, sensor, dashboard and decision replica reads and writes the experiment through
:class:`BanditStore`. Every write that changes learning state is ONE server-side Lua script
(``banditops/store/lua/*.lua``, registered with ``register_script`` so calls are ``EVALSHA``),
so concurrent agents never lose an update, a retried Airflow task (same batch id) applies
nothing twice, and a batch sampled under an older epoch never pollutes the new posterior.

Key layout (``ns`` is the namespace; several experiments can share one server):

=============================  ======  ===========================================================
key                            type    content
=============================  ======  ===========================================================
``ns:config``                  string  :class:`ExperimentConfig` as JSON (as given to ``reset``)
``ns:state``                   hash    ``mode``, ``epoch``, ``first_epoch`` (the experiment's
                                       first), ``n_arms`` (grows with ``add_arm``), ``kind``
                                       (reward kind), ``explore_remaining``
``ns:counters``                hash    ``total_pulls``, ``regret``, ``batches_applied``,
                                       ``batches_duplicate``, ``batches_stale`` (all epochs)
``ns:epoch:{e}``               hash    ``pulls``, ``regret``, ``opened_ts``, ``reason`` of epoch e
``ns:posterior:{e}``           hash    ``n:{arm}``, ``sum:{arm}``, ``sumsq:{arm}`` of epoch e
``ns:last_pulled:{e}``         hash    ``{arm}`` -> epoch pull count just after the arm's last pull
``ns:linear:{e}``              hash    contextual experiments: ``a:{arm}`` -> "n xx.. xr.. xz.." and
                                       ``shared`` -> "zz.. zr.." (LinTS sums of epoch e, space-
                                       separated exact doubles, row-major; see
                                       :class:`~banditops.bandit.posteriors.linear_gaussian.LinearGaussianStats`)
``ns:seen:{e}``                zset    batch ids applied in epoch e, scored by server time
``ns:retired``                 set     retired arm indices
``ns:arms``                    hash    the name table: ``{arm name}`` -> internal index; written by
                                       ``reset``, ``add_arm`` in the same script as ``n_arms``;
                                       never shrinks (a retired name is never reused). Absent in a
                                       state written before names: its arms are ``"0".."n-1"``
``ns:arm_meta``                hash    ``{arm name}`` -> the arm's optional metadata (JSON object)
``ns:meta``                    hash    small metadata (MLflow run ids, ...)
``ns:mlflow_phase_runs``       hash    ``{epoch}`` (``{epoch}.{g}`` after the g-th promotion) -> the
                                       phase's MLflow run id
``ns:mlflow_phase_claim:{e}``  string  who is opening that phase's run (expires after 120 s)
``ns:cursors``                 hash    named stream positions (the drift sensor's, ...)
``ns:summaries``               stream  one entry per applied batch: ``epoch``, ``mode``,
                                       ``batch_id``, ``pulls_before``, ``stats`` (ArmStats JSON),
                                       ``regret`` (the batch's pseudo-regret; absent in entries
                                       written before it was recorded); capped with
                                       ``MAXLEN ~ summaries_maxlen``
``ns:events``                  stream  lifecycle events: ``kind``, ``ts``, ``fields`` (JSON);
                                       capped with ``MAXLEN ~ events_maxlen``
``ns:changed``                 pubsub  a small JSON note ``{"what", "epoch", "mode"}`` after each change
``ns.world:state``             string  the environment's world now (scenario, seed, arms, schedule);
                                       written by ``banditops.store.world_journal``, not by this
                                       class, and outside ``ns:*`` so a reset never erases it
``ns.world:events``            list    the environment's changes (reset, drift, arm added), in order
=============================  ======  ===========================================================

Why epochs never restart in a namespace: ``reset`` opens epoch *previous epoch + 1* (1 only on
an empty namespace), not 1. Agent tasks of the previous experiment may still be in flight when
the experiment DAG resets the store (the learning DAG runs continuously); had numbering restarted
at 1, a batch sampled under epoch 1 of the old experiment would carry the same epoch as the new
one and be accepted into it. With monotonic epochs every batch sampled before a reset claims an
epoch below the new one and is refused as ``stale_epoch`` (the reset also wiped the old dedupe
sets, so it cannot be reported ``duplicate`` either). Code must therefore never assume the epoch
is 1 after a reset: use the epoch ``reset`` returns, or read it from the store.

Why the dedupe set is per epoch: a batch is only ever applied to the epoch it was sampled
under, so a duplicate can only collide with a batch id of that same epoch. The set of the
current epoch is trimmed by age (``dedupe_window_s``, default 7 days — far longer than any
Airflow retry) and by size (``dedupe_max``); when an epoch closes, its set expires after the
same window. Inside the window a late retry is reported ``duplicate``; after it, ``stale_epoch``
— in both cases nothing is applied, so memory stays bounded without ever double counting.

Why sums are kept as exact double text rather than with ``HINCRBYFLOAT``: that command rounds
to 17 decimal places (a reward scale of 1e-10 loses its sum of squares) and adds in long double;
the scripts add IEEE doubles and store the shortest exact text, so the stored posterior equals
the float sum the agents would compute, bit for bit.

The scripts derive epoch keys from the namespace, so the store needs a standalone server (or a
single-shard deployment), not Redis Cluster.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import redis

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.bandit.stats import ArmStats
from banditops.bandit.validators import is_integer
from banditops.store.types import (
    ApplyResult,
    ArmTable,
    BatchSummary,
    Event,
    ExperimentConfig,
    Mode,
    ReplyItem,
    RoundState,
    RoundWrite,
    StoreState,
    check_arm_metadata,
    check_arm_name,
    default_arm_names,
    pack_stream,
    unpack_stream,
)

#: ``set_mode`` reasons that are lifecycle milestones: each also becomes an event of its own kind.
LIFECYCLE_REASONS: frozenset[str] = frozenset(
    {"converged", "relearning_done", "drift_detected", "relearn_requested", "experiment_stopped"}
)
SNAPSHOT_FORMAT = "banditops-store/1"
#: Largest |reward| accepted: its square must stay far from float overflow in the sums.
MAX_ABS_REWARD = 1e100

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_STREAM_ID_RE = re.compile(r"^\d+-\d+$")
#: Keys per SCAN + UNLINK round of :meth:`BanditStore.wipe`.
WIPE_CHUNK = 500
_SCRIPTS = (
    "apply_batch", "open_epoch", "set_mode", "reset", "read_state",
    "add_arm", "retire_arm", "append_event", "dump", "restore", "drop",
)  # fmt: skip


def changed_channel(namespace: str) -> str:
    """The pub/sub channel a namespace's store publishes on after every state change."""
    return f"{namespace}:changed"


class StoreNotInitializedError(LookupError):
    """The namespace holds no experiment yet: call :meth:`BanditStore.reset` first."""


class BatchTooOldError(ValueError):
    """A batch issued before the dedupe window (or before an id the set evicted): it may have been
    applied already and its id forgotten, so it is refused rather than risk counting it twice."""


@cache
def _script_source(name: str) -> str:
    """A script's text with the shared helpers prepended (Redis scripts cannot include files)."""
    folder = resources.files("banditops.store") / "lua"
    lib = (folder / "_lib.lua").read_text(encoding="utf-8")
    return lib + "\n" + (folder / f"{name}.lua").read_text(encoding="utf-8")


def _text(value: ReplyItem) -> str:
    """Reply item as text, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[ReplyItem]) -> dict[str, str]:
    """A flat ``[field, value, ...]`` reply (HGETALL, stream entries) as a dict."""
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _as_pairs(value: Mapping[bytes | str, ReplyItem] | Sequence[ReplyItem]) -> dict[str, str]:
    """A hash or stream-entry reply as a dict (RESP2 gives a flat list, some clients a dict)."""
    if isinstance(value, Mapping):
        return {_text(k): _text(v) for k, v in value.items()}
    return _pairs(value)


def _stats_from_hash(posterior: dict[str, str], n_arms: int) -> ArmStats:
    n = np.zeros(n_arms, np.int64)
    s = np.zeros(n_arms)
    ss = np.zeros(n_arms)
    for field, value in posterior.items():
        kind, _, arm_text = field.partition(":")
        arm = int(arm_text)
        if arm >= n_arms:
            continue
        if kind == "n":
            n[arm] = int(value)
        elif kind == "sum":
            s[arm] = float(value)
        elif kind == "sumsq":
            ss[arm] = float(value)
    return ArmStats(n, s, ss)


def _linear_from_hash(fields: dict[str, str], n_arms: int, spec: ContextModelSpec | None) -> LinearGaussianStats | None:
    """The LinTS sums stored as text (see the key table), zeros for arms without contextual pulls."""
    if spec is None:
        return None
    d, k = spec.dim, spec.shared_dim
    stats = LinearGaussianStats.zeros(n_arms, d, k)
    n, xx, xr, xz = stats.n.copy(), stats.xx.copy(), stats.xr.copy(), stats.xz.copy()
    zz, zr = stats.zz.copy(), stats.zr.copy()
    for field, text in fields.items():
        values = np.array(text.split(), dtype=np.float64)
        if field == "shared":
            zz[:], zr[:] = values[: k * k].reshape(k, k), values[k * k:]
            continue
        arm = int(field.partition(":")[2])
        if arm >= n_arms:
            continue
        n[arm] = values[0]
        xx[arm] = values[1 : 1 + d * d].reshape(d, d)
        xr[arm] = values[1 + d * d : 1 + d * d + d]
        xz[arm] = values[1 + d * d + d :].reshape(d, k)
    return LinearGaussianStats(n, xx, xr, zz, zr, xz)


def _linear_text(values: np.ndarray) -> str:
    """Exact (round-trip) decimal text of a flat float array, as the script stores it."""
    return " ".join(repr(float(x)) for x in values.ravel())


def _named_config(config: ExperimentConfig, n_arms: int, arms: Any, meta: Any) -> ExperimentConfig:
    """The stored config with the current arms: ``n_arms`` and the name table's names and metadata.

    Migration: a state written before names has no table, and its arms read as ``"0".."n-1"``
    (``arm_names`` stays empty, as it does whenever the names are the default ones).
    """
    table = {name: int(index) for name, index in _as_pairs(arms).items()}
    names = list(default_arm_names(n_arms))
    for name, index in table.items():
        if 0 <= index < n_arms:
            names[index] = name
    metadata = {name: json.loads(text) for name, text in _as_pairs(meta).items()}
    arm_names = () if tuple(names) == default_arm_names(n_arms) else tuple(names)
    return replace(config, n_arms=n_arms, arm_names=arm_names, arm_metadata=metadata)


class BanditStore:
    """State of one experiment in Redis: config, mode, epoch, posterior, streams, counters.

    Parameters
    ----------
    client
        A redis-py client (decoded responses or not); the store never closes it.
    namespace
        Key prefix; letters, digits, ``_``, ``.``, ``-`` (no ``:``, so one namespace can never
        match another's keys).
    summaries_maxlen, events_maxlen
        Approximate caps of the two streams (``XADD MAXLEN ~``): the drift sensor reads the
        summaries incrementally, so only a bounded tail is needed.
    dedupe_window_s, dedupe_max
        How long and how many batch ids of an epoch are remembered (see the module docstring).

    Examples
    --------
    A store sends nothing to Redis until a command needs it, so its keys can be named offline
    (the batch round trip on a real server is ``tests/integration/test_store_example.py``):

    >>> store = BanditStore(redis.Redis(host="127.0.0.1", port=6379), namespace="doc")
    >>> store.summaries_key, store.events_key, store.changed_channel
    ('doc:summaries', 'doc:events', 'doc:changed')
    >>> BanditStore(redis.Redis(), namespace="doc:*")
    Traceback (most recent call last):
    ValueError: invalid namespace 'doc:*': use letters, digits, '_', '.' or '-' (no ':' or glob characters)
    """

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "bo",
        *,
        summaries_maxlen: int = 100_000,
        events_maxlen: int = 10_000,
        dedupe_window_s: float = 7 * 24 * 3600.0,
        dedupe_max: int = 1_000_000,
    ) -> None:
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise ValueError(
                f"invalid namespace {namespace!r}: use letters, digits, '_', '.' or '-' (no ':' or glob characters)"
            )
        for name, value in (("summaries_maxlen", summaries_maxlen), ("events_maxlen", events_maxlen),
                            ("dedupe_max", dedupe_max)):  # fmt: skip
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1; got {value}")
        if not (math.isfinite(dedupe_window_s) and dedupe_window_s > 0):
            raise ValueError(f"dedupe_window_s must be a positive number of seconds; got {dedupe_window_s}")
        self.client = client
        self.namespace = namespace
        self.summaries_maxlen = int(summaries_maxlen)
        self.events_maxlen = int(events_maxlen)
        self.dedupe_window_s = float(dedupe_window_s)
        self.dedupe_max = int(dedupe_max)
        self._scripts = {name: client.register_script(_script_source(name)) for name in _SCRIPTS}
        # Reward kind and arm count, to validate before the script; refreshed when the script says
        # they changed (a reset or add_arm by another process).
        self._shape: tuple[str, int] | None = None

    @classmethod
    def from_url(cls, url: str, namespace: str = "bo", **kwargs: Any) -> BanditStore:
        """A store on a new client for ``url`` (``redis://[:password@]host:port/db``)."""
        return cls(redis.Redis.from_url(url), namespace, **kwargs)

    # -- channels and keys other components may listen to --------------------------------------
    @property
    def changed_channel(self) -> str:
        """Pub/sub channel published after every state change (decision service refresh)."""
        return changed_channel(self.namespace)

    @property
    def summaries_key(self) -> str:
        """The batch-summary stream (for consumers that XREAD it themselves, e.g. async triggers)."""
        return self._key("summaries")

    @property
    def events_key(self) -> str:
        """The lifecycle-event stream."""
        return self._key("events")

    def _key(self, suffix: str) -> str:
        return f"{self.namespace}:{suffix}"

    # -- claims ------------------------------------------------------------------------------
    @staticmethod
    def _phase_field(epoch: int, generation: int) -> str:
        return str(int(epoch)) if not generation else f"{int(epoch)}.{int(generation)}"

    def claim_phase_run(self, epoch: int, holder: str, ttl_s: int = 120, generation: int = 0) -> bool:
        """Claim ``mlflow_phase_claim:<epoch>[.<generation>]`` (SET NX EX): the first caller opens the phase run."""
        key = self._key(f"mlflow_phase_claim:{self._phase_field(epoch, generation)}")
        return bool(self.client.set(key, holder, nx=True, ex=ttl_s))

    def release_phase_run(self, epoch: int, generation: int = 0) -> None:
        """Drop the phase-run claim (a failed opener), so the next call retries."""
        self.client.delete(self._key(f"mlflow_phase_claim:{self._phase_field(epoch, generation)}"))

    def record_phase_run(self, epoch: int, run_id: str, generation: int = 0) -> None:
        """Remember the MLflow phase run of ``epoch`` (under live-policy ``generation``) while the experiment lives.

        Why a hash and not the claim: the claim expires (it only orders concurrent openers);
        this record is what every later caller (a late logger, a retried archive) finds, so a
        phase gets one run whatever the order of the tasks. ``reset`` wipes it with the rest.
        """
        if not run_id:
            raise ValueError("record_phase_run needs a run id")
        self.client.hset(self._key("mlflow_phase_runs"), self._phase_field(epoch, generation), run_id)

    def phase_run(self, epoch: int, generation: int = 0) -> str:
        """The recorded MLflow phase run of ``epoch`` under ``generation`` ("" when none is recorded yet)."""
        return _text(self.client.hget(self._key("mlflow_phase_runs"), self._phase_field(epoch, generation)) or "")

    def mark_booked(self, run: str, ttl_s: int = 3600) -> None:
        """Record that ``run``'s bookkeeping (MLflow point, convergence check, its record) is done.

        Why: an Airflow run of the learning DAG ends when its last task does, and only then can the
        next run's agents start; agents that stop while the bookkeeping still runs leave the
        experiment unplayed, and a drift then waits for the next run. Agents playing for time keep
        playing until this mark (``banditops.loop.rounds.run_agent_batch``). It expires on its own.
        """
        if not isinstance(run, str) or not run:
            raise ValueError("mark_booked needs a run key, e.g. '<dag_id>/<run_id>'")
        self.client.set(self._key(f"booked:{run}"), "1", ex=int(ttl_s))

    def booked(self, run: str) -> bool:
        """Whether :meth:`mark_booked` was called for ``run`` (and has not expired)."""
        return bool(self.client.exists(self._key(f"booked:{run}")))

    def _run(self, name: str, *args: Any) -> Any:
        reply = self._scripts[name](keys=[], args=[self.namespace, *args])
        if isinstance(reply, list) and reply and _text(reply[0]) == "not_initialized":
            raise StoreNotInitializedError(
                f"namespace {self.namespace!r} holds no experiment; call reset(config) first"
            )
        return reply

    # -- lifecycle ---------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the namespace holds an experiment (``reset`` was called)."""
        return bool(self.client.exists(self._key("state")))

    def wipe(self, *, keep: Sequence[str] = (), count: int = WIPE_CHUNK) -> int:
        """Delete every key of the namespace (but the suffixes in ``keep``); returns how many.

        In bounded chunks: one ``SCAN ... COUNT count`` then one ``UNLINK`` of what it found, each a
        command of its own, so Redis is never held for longer than one chunk (well under 50 ms at
        the default 500; ``UNLINK`` frees big values in a background thread) and the decision API's
        writes and the liveness probe are served between chunks. A single script collecting the
        whole namespace held the server for as long as the scan took. Not atomic, by design: a key
        written during the wipe may survive it (see :meth:`reset`). Other namespaces are never
        touched (the namespace admits no glob characters).
        """
        if count < 1:
            raise ValueError(f"count must be >= 1; got {count}")
        kept = {f"{self.namespace}:{suffix}".encode() for suffix in keep}
        deleted, cursor = 0, 0
        while True:
            cursor, found = self.client.scan(cursor, match=f"{self.namespace}:*", count=count)
            doomed = [k for k in found if (k if isinstance(k, bytes) else str(k).encode()) not in kept]
            if doomed:
                deleted += int(self.client.unlink(*doomed))
            if cursor == 0:
                return deleted

    def reset(self, config: ExperimentConfig) -> int:
        """Wipe this namespace and start: a new epoch, LEARNING, empty posterior, event
        ``experiment_started``. Returns the new experiment's epoch.

        The epoch is the namespace's previous epoch + 1 (1 on an empty namespace), never a restart
        at 1: an agent batch sampled under the previous experiment and applied after the reset then
        always claims an older epoch and is refused as ``stale_epoch`` (see the module docstring).

        The namespace is first wiped in chunks (:meth:`wipe`), keeping only ``state`` (its epoch is
        the fence); then one script deletes again the few keys a writer may have re-created in the
        meantime (the fixed ones and the current epoch's) and starts the experiment. A decision
        record or fold marker written during the wipe can survive it: it belongs to an older epoch,
        so it is refused as stale at the fold, and it expires with its TTL. Readers may see a
        half-wiped namespace while the wipe runs.
        """
        if not isinstance(config, ExperimentConfig):
            raise ValueError(f"reset needs an ExperimentConfig; got {type(config).__name__}")
        self.wipe(keep=("state",))
        metadata = {name: json.dumps(value, allow_nan=False) for name, value in config.arm_metadata.items()}
        epoch = self._run(
            "reset", json.dumps(config.to_dict()), config.n_arms, config.reward_kind,
            self.events_maxlen, config.name, json.dumps(list(config.names)), json.dumps(metadata) if metadata else "",
        )  # fmt: skip
        self._shape = (config.reward_kind, config.n_arms)
        return int(epoch)

    def drop(self) -> int:
        """Delete every key of this namespace (one script); returns how many keys were deleted.

        For throwaway namespaces, such as each seed of the deployed-loop simulator on a shared
        server; an experiment that goes on is restarted with :meth:`reset` instead.
        """
        self._shape = None
        return int(self._scripts["drop"](keys=[], args=[self.namespace]))

    def config(self) -> ExperimentConfig:
        """The experiment's config, with the current arms: ``n_arms``, names and metadata count
        the arms added at runtime (see :attr:`ExperimentConfig.arm_names`)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self._key("config"))
        pipe.hget(self._key("state"), "n_arms")
        pipe.hgetall(self._key("arms"))
        pipe.hgetall(self._key("arm_meta"))
        raw, n_arms, arms, meta = pipe.execute()
        if raw is None or n_arms is None:
            raise StoreNotInitializedError(
                f"namespace {self.namespace!r} holds no experiment; call reset(config) first"
            )
        return _named_config(ExperimentConfig.from_dict(json.loads(raw)), int(n_arms), arms, meta)

    def arms(self) -> ArmTable:
        """The arms' names, metadata and retired set: translate names to indices with it."""
        return self.state().arms

    def _state_field(self, field: str) -> str:
        value = self.client.hget(self._key("state"), field)
        if value is None:
            raise StoreNotInitializedError(
                f"namespace {self.namespace!r} holds no experiment; call reset(config) first"
            )
        return _text(value)

    def mode(self) -> Mode:
        return Mode(self._state_field("mode"))

    def epoch(self) -> int:
        return int(self._state_field("epoch"))

    def _read(self, epoch: int | None, with_linear: bool = False) -> StoreState:
        reply = self._run("read_state", "" if epoch is None else int(epoch), "1" if with_linear else "0", "0")
        return self._parse_state(reply, epoch, with_linear)

    def round_state(self) -> RoundState:
        """One consistent read of the state plus each arm's reward stream and the policy's control
        state: what an agent's round rebuilds the policy from (one round trip)."""
        reply = self._run("read_state", "", "0", "1")
        if not reply:
            self._parse_state(reply, None, False)  # raises: no experiment
        # the state's ten items (read_state.lua), then the arms' reward streams and the control state
        state = self._parse_state(reply[:10], None, False)
        counters = _as_pairs(reply[1])
        streams = [unpack_stream(_text(raw)) for raw in reply[10]]
        control_raw = _text(reply[11])
        return RoundState(
            state=state, streams=streams, stream_lengths=[len(_text(raw)) for raw in reply[10]],
            control=json.loads(control_raw) if control_raw else {},
            forced=int(counters.get("forced", 0)), floor_forced=int(counters.get("floor_forced", 0)),
        )

    def _parse_state(self, reply: Any, epoch: int | None, with_linear: bool) -> StoreState:
        if not reply:
            raise StoreNotInitializedError(
                f"namespace {self.namespace!r} holds no experiment; call reset(config) first"
            )
        state, counters, config_raw, epoch_hash, posterior, last, retired, linear_hash, arms, arm_meta = reply
        state_d, counters_d, epoch_d = _as_pairs(state), _as_pairs(counters), _as_pairs(epoch_hash)
        n_arms = int(state_d["n_arms"])
        first = int(state_d.get("first_epoch", 1))  # absent in snapshots taken before resets kept numbering
        if epoch is not None and not first <= epoch <= int(state_d["epoch"]):
            raise ValueError(
                f"epoch {epoch} is not an epoch of this experiment; valid epochs: {first}..{state_d['epoch']}"
            )
        config = _named_config(ExperimentConfig.from_dict(json.loads(_text(config_raw))), n_arms, arms, arm_meta)
        last_pulled = np.full(n_arms, -1, np.int64)
        for arm, value in _as_pairs(last).items():
            if int(arm) < n_arms:
                last_pulled[int(arm)] = int(value)
        self._shape = (state_d["kind"], n_arms)
        return StoreState(
            mode=Mode(state_d["mode"]),
            epoch=int(state_d["epoch"]) if epoch is None else int(epoch),
            config=config,
            stats=_stats_from_hash(_as_pairs(posterior), n_arms),
            total_pulls=int(counters_d.get("total_pulls", 0)),
            epoch_pulls=int(epoch_d.get("pulls", 0)),
            regret=float(counters_d.get("regret", 0.0)),
            epoch_regret=float(epoch_d.get("regret", 0.0)),
            explore_remaining=int(state_d.get("explore_remaining", 0)),
            last_pulled=last_pulled,
            retired=frozenset(int(_text(a)) for a in retired),
            linear=_linear_from_hash(_as_pairs(linear_hash), n_arms, config.context_model) if with_linear else None,
        )

    def state(self, epoch: int | None = None, *, with_linear: bool = False) -> StoreState:
        """One consistent read (a single round trip) of mode, epoch, stats, counters.

        With ``epoch``: that epoch's posterior, pulls and last-pulled positions (e.g. a phase the
        agents closed by a restart, archived after the fact); mode and counters are the current ones.
        ``with_linear``: also the epoch's LinTS statistics (``StoreState.linear``; contextual
        experiments only) — K·d² numbers, so only readers that sample from them ask.
        """
        if epoch is not None and (not is_integer(epoch) or epoch < 1):
            raise ValueError(f"epoch must be an integer >= 1; got {epoch!r}")
        return self._read(None if epoch is None else int(epoch), with_linear)

    def stats(self, epoch: int | None = None) -> ArmStats:
        """Posterior statistics of ``epoch`` (default: the current one), over the current arms."""
        if epoch is not None and (not is_integer(epoch) or epoch < 1):
            raise ValueError(f"epoch must be an integer >= 1; got {epoch!r}")
        return self._read(epoch).stats

    def counters(self) -> dict[str, float]:
        """Totals over all epochs: pulls, regret, batches applied / refused as duplicate / stale."""
        raw = _as_pairs(self.client.hgetall(self._key("counters")))
        return {k: (float(v) if k == "regret" else int(v)) for k, v in raw.items()}

    def set_mode(
        self, mode: Mode | str, *, reason: str, expected_epoch: int | None = None, **event_fields: Any
    ) -> bool:
        """Switch mode and append event ``mode_changed`` (plus ``reason`` as its own event kind when
        it is one of :data:`LIFECYCLE_REASONS`). Refused (returns False, nothing written) when
        ``expected_epoch`` is given and is not the current epoch — a convergence check that ran on
        an epoch that has since been replaced must not flip the new one. Switching to the mode
        already set writes nothing and returns True (a retried task is harmless). Leaving RELEARNING
        zeroes ``explore_remaining``; to relearn, use :meth:`open_epoch` (a bare switch to RELEARNING
        has no budget, so the next batch switches back to LEARNING). Unknown mode: ``ValueError``."""
        target = Mode.parse(mode)
        self._check_reason(reason)
        expected = self._check_expected(expected_epoch)
        reply = self._run(
            "set_mode", target.value, reason, expected, self._fields_json(event_fields),
            self.events_maxlen, "1" if reason in LIFECYCLE_REASONS else "0",
        )  # fmt: skip
        return int(reply[0]) == 1

    def open_epoch(
        self, *, reason: str, explore_budget: int, expected_epoch: int | None = None, **event_fields: Any
    ) -> int:
        """Atomically: epoch + 1, fresh (prior-only) posterior, mode RELEARNING with
        ``explore_remaining = explore_budget``, event ``epoch_opened``. Returns the new epoch.

        A budget of 0 goes straight to LEARNING. With ``expected_epoch`` (additive to the contract)
        nothing is written unless it is the current epoch, and the current epoch is returned: a
        retried relearning task or a second drift sensor racing the first opens no second epoch.
        """
        self._check_reason(reason)
        if not is_integer(explore_budget) or explore_budget < 0:
            raise ValueError(
                f"explore_budget must be an integer >= 0 (forced-exploration pulls); got {explore_budget!r}"
            )
        expected = self._check_expected(expected_epoch)
        reply = self._run(
            "open_epoch", reason, int(explore_budget), self._fields_json(event_fields), self.events_maxlen,
            expected, int(self.dedupe_window_s * 1000),
        )  # fmt: skip
        return int(reply[1])

    # -- learning ----------------------------------------------------------------------------
    def _validate_batch(
        self, arms: Sequence[int] | np.ndarray, rewards: Sequence[float] | np.ndarray, kind: str, n_arms: int
    ) -> tuple[np.ndarray, ArmStats]:
        a = np.asarray(arms)
        r = np.asarray(rewards)
        if a.size == 0 and r.size == 0:
            a, r = a.astype(np.int64).reshape(0), r.astype(np.float64).reshape(0)
        if r.dtype == object or (r.size and not np.issubdtype(r.dtype, np.number)):
            raise ValueError("rewards must be numbers")
        r = r.astype(np.float64)
        finite = np.isfinite(r)
        if np.any(finite & (np.abs(np.where(finite, r, 0.0)) > MAX_ABS_REWARD)):
            raise ValueError(f"rewards must lie within ±{MAX_ABS_REWARD:g}")
        stats = ArmStats.from_pulls(a, r, n_arms)  # lengths, integer arms, 0..K-1, finite rewards
        if kind == "bernoulli" and not np.all((r == 0.0) | (r == 1.0)):
            bad = r[(r != 0.0) & (r != 1.0)][:3].tolist()
            raise ValueError(f"Bernoulli rewards must be 0 or 1; got {bad}")
        return a.astype(np.int64), stats

    def apply_round(
        self,
        batch_id: str,
        epoch: int,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        write: RoundWrite,
        *,
        regret: float = 0.0,
    ) -> ApplyResult:
        """Apply an agent round and what its policy did, in the one atomic round script.

        Everything :meth:`apply_batch` does, plus (see :class:`~banditops.store.types.RoundWrite`)
        the policy's stream records, forced-pull counters and confirmation state, and its reaction
        to a change: an arm reset (its stream and totals replaced) or a restart (epoch + 1 opened
        with what the policy kept, event ``epoch_opened`` with reason ``drift_restart`` and
        ``carried_pulls``, the pulls it opens with), each alarm
        recorded as event ``drift_detected``. A reaction is applied only if no other round landed
        since the read it was computed from; otherwise status ``conflict`` and nothing is written.
        """
        return self.apply_batch(batch_id, epoch, arms, rewards, regret=regret, _write=write)

    def _policy_args(self, write: RoundWrite, a: np.ndarray) -> list[Any]:
        args: list[Any] = [int(write.forced), int(write.floor_forced),
                           "" if write.control is None else json.dumps(write.control),
                           json.dumps(write.alarms, allow_nan=False) if write.alarms else "[]"]
        args += [len(write.appends)]
        for arm, (values, times) in sorted(write.appends.items()):
            args += [int(arm), pack_stream(values, times)]
        args += [len(write.resets)]
        for arm, (expected, values, times) in sorted(write.resets.items()):
            args += [int(arm), int(expected), pack_stream(values, times), int(values.size),
                     repr(float(values.sum())), repr(float((values * values).sum()))]
        if write.restart is None:
            return [*args, "0"]
        after = a[write.split:]
        last = np.zeros(int(a.max(initial=0)) + 1, np.int64)
        np.maximum.at(last, after, np.arange(1, after.size + 1))
        kept = sorted(write.restart.items())
        args += ["1", int(write.expected_pulls), int(after.size), len(kept)]
        for arm, (values, times) in kept:
            args += [int(arm), pack_stream(values, times), int(values.size), repr(float(values.sum())),
                     repr(float((values * values).sum())), int(last[arm]) if arm < last.size else 0]
        return args

    def apply_batch(
        self,
        batch_id: str,
        epoch: int,
        arms: Sequence[int] | np.ndarray,
        rewards: Sequence[float] | np.ndarray,
        *,
        regret: float = 0.0,
        issued_ms: int | None = None,
        linear: LinearGaussianStats | None = None,
        _write: RoundWrite | None = None,
    ) -> ApplyResult:
        """Apply one agent round atomically (one Lua script).

        ``linear`` (contextual experiments): the LinTS statistics of the batch's pulls that came
        with a context — a subset of ``arms``/``rewards``, so ``linear.n[a] <= pulls of a`` — folded
        into ``ns:linear:{epoch}`` by the SAME script call, under the same dedupe and epoch fencing:
        a batch's Beta/NIG counts and its linear sums are applied together or not at all.

        ``issued_ms`` (server-clock milliseconds when the batch's content was fixed, the same on
        every retry — the fold passes its newest stream id's time) lets the store tell a batch
        whose id it may have forgotten: one issued before ``now - dedupe_window_s``, or at or before
        the newest id the set evicted for size, raises :class:`BatchTooOldError`, nothing written.

        Validates first (``ValueError`` naming what is valid, nothing written): empty batch id,
        non-integer epoch, non-finite or negative regret, non-finite reward, arm out of range,
        Bernoulli reward not in {0, 1}, mismatched lengths. Then the script:
        a batch id seen before -> ``duplicate``; ``epoch`` != current -> ``stale_epoch``;
        else adds the per-arm n/sum/sumsq to the epoch's posterior, updates counters, regret and
        last-pulled, appends a summary to the summary stream, in RELEARNING decrements
        ``explore_remaining`` and switches to LEARNING (event ``relearning_done``) when spent,
        and publishes on ``changed_channel``. Rewards for a retired arm are still accepted
        (late feedback is real data); retiring only stops selection.
        """
        if not isinstance(batch_id, str) or not batch_id.strip():
            raise ValueError("batch_id must be a non-empty string, e.g. '<dag_id>/<run_id>/<map_index>/<round>'")
        if not is_integer(epoch) or epoch < 1:
            raise ValueError(f"epoch must be the integer epoch the batch was sampled under (>= 1); got {epoch!r}")
        regret_f = float(regret)
        if not math.isfinite(regret_f) or regret_f < 0:
            raise ValueError(f"regret must be a finite number >= 0 (pseudo-regret of the batch); got {regret!r}")
        if issued_ms is not None and (isinstance(issued_ms, bool) or int(issued_ms) < 0):
            raise ValueError(f"issued_ms must be a server time in milliseconds >= 0, or None; got {issued_ms!r}")
        shape, fresh = (self._shape, False) if self._shape else (self._read_shape(), True)
        for _ in range(3):
            try:
                a, stats = self._validate_batch(arms, rewards, *shape)
            except ValueError:
                if fresh:
                    raise
                # Another process may have reset the experiment or added an arm: re-read, re-check.
                shape, fresh = self._read_shape(), True
                continue
            if linear is not None:
                self._check_linear(linear, stats)
            args = self._apply_args(batch_id, int(epoch), a, stats, regret=regret_f, kind=shape[0],
                                    issued_ms=issued_ms, linear=linear, write=_write, rewards=rewards)
            reply = self._run("apply_batch", *args)
            status = _text(reply[0])
            if status == "too_old":
                raise BatchTooOldError(
                    f"batch {batch_id!r} was issued at {issued_ms} ms, before the dedupe window "
                    f"(ids seen since {_text(reply[1])} ms, window {self.dedupe_window_s:g} s): it may already "
                    "be counted, so it is refused; nothing was applied"
                )
            if status == "invalid":  # validated against a stale shape; the script wrote nothing
                shape, fresh = (_text(reply[1]), int(reply[2])), True
                continue
            self._shape = shape
            return ApplyResult(
                status=status,  # type: ignore[arg-type]
                epoch=int(reply[1]),
                mode=Mode(_text(reply[2])),
                total_pulls=int(reply[3]),
            )
        raise RuntimeError("the experiment's shape kept changing while applying a batch; retry the batch")

    def _check_linear(self, linear: LinearGaussianStats, stats: ArmStats) -> None:
        """``ValueError`` (nothing written) unless ``linear`` fits the experiment's context model."""
        if not isinstance(linear, LinearGaussianStats):
            raise ValueError(f"linear must be LinearGaussianStats; got {type(linear).__name__}")
        spec = self.config().context_model
        if spec is None:
            raise ValueError("this experiment has no context model (ExperimentConfig.context): "
                             "it cannot fold contextual statistics")
        want = (stats.n_arms, spec.dim, spec.shared_dim)
        got = (linear.n_arms, linear.dim, linear.shared_dim)
        if got != want:
            raise ValueError(f"linear statistics have (K, d, k)={got}; this experiment's model is (K, d, k)={want}")
        if np.any(linear.n > stats.n) or np.any(linear.n < 0):
            raise ValueError("linear.n counts the batch's contextual pulls per arm: it must lie within 0..pulls")

    def _read_shape(self) -> tuple[str, int]:
        kind, n_arms = self.client.hmget(self._key("state"), ["kind", "n_arms"])
        if kind is None or n_arms is None:
            raise StoreNotInitializedError(
                f"namespace {self.namespace!r} holds no experiment; call reset(config) first"
            )
        return _text(kind), int(n_arms)

    def _apply_args(
        self, batch_id: str, epoch: int, a: np.ndarray, stats: ArmStats, *, regret: float, kind: str,
        issued_ms: int | None = None, linear: LinearGaussianStats | None = None, write: RoundWrite | None = None,
        rewards: Sequence[float] | np.ndarray = (),
    ) -> list[Any]:
        """The script's ARGV: header, (arm, n, sum, sumsq, last_offset[, linear]) per pulled arm, the policy section.

        ``stats`` (the summary) covers the whole round; the per-arm totals added to the epoch's
        posterior leave out what a reaction replaces: after a restart only the round's first
        ``split`` pulls reach the old epoch, and a reset arm's totals are set, not added.
        """
        part, posted = a, stats
        if write is not None and write.restart is not None:
            part = a[: write.split]
            posted = ArmStats.from_pulls(part, np.asarray(rewards, np.float64)[: write.split], stats.n_arms)
        pulled = np.flatnonzero(posted.n)
        # 1-based position of each arm's last pull in the batch: last_pulled = pulls_before + it.
        last_offset = np.zeros(stats.n_arms, np.int64)
        np.maximum.at(last_offset, part, np.arange(1, part.size + 1))
        replaced = set(write.resets) if write is not None else set()
        args: list[Any] = [
            batch_id, epoch, kind, int(a.size), repr(regret), json.dumps(stats.to_dict()),
            self.summaries_maxlen, self.events_maxlen, repr(self.dedupe_window_s), self.dedupe_max,
            int(a.max()) + 1 if a.size else 0, "" if issued_ms is None else int(issued_ms),
        ]  # fmt: skip
        with_linear = linear is not None and bool(linear.n.sum())
        if linear is not None and with_linear:
            d, k = linear.dim, linear.shared_dim
            args += [1 + d * d + d + d * k, _linear_text(np.concatenate([linear.zz.ravel(), linear.zr])) if k else ""]
        else:
            args += ["", ""]
        args.append(int(pulled.size))
        for arm in pulled.tolist():
            if arm in replaced:  # its totals are set by the policy section, not added
                args += [arm, 0, "0.0", "0.0", int(last_offset[arm])]
            else:
                args += [arm, int(posted.n[arm]), repr(float(posted.sum[arm])), repr(float(posted.sumsq[arm])),
                         int(last_offset[arm])]  # fmt: skip
            if linear is not None and with_linear:
                args.append(_linear_text(np.concatenate([
                    linear.n[arm : arm + 1], linear.xx[arm].ravel(), linear.xr[arm], linear.xz[arm].ravel(),
                ])) if linear.n[arm] else "")
        if write is not None:
            args += self._policy_args(write, a)
        return args

    def add_arm(self, name: str | None = None, metadata: dict[str, Any] | None = None) -> int:
        """A new arm (a new banner) named ``name``, starting from the prior; returns its index.

        The cold start: a new index has no statistics, so its posterior is the experiment's prior
        (``config.prior``) until rewards arrive, and Thompson Sampling explores it as it would any
        arm it knows nothing about. Without ``name`` the arm is named by its index (``"5"``), as
        in an experiment started with integer arms. ``ValueError`` (nothing written) for an
        invalid name or metadata, a name that is taken, or a retired name: a retired name can
        never come back as a different arm, because decisions, feedback and MLflow runs already
        refer to it.
        """
        if name is not None:
            check_arm_name(name)
        meta = "" if metadata is None else json.dumps(check_arm_metadata(name or "the new arm", metadata),
                                                      allow_nan=False)
        reply = self._run("add_arm", self.events_maxlen, name or "", meta)
        self._shape = None
        status, index, taken = _text(reply[0]), int(reply[1]), _text(reply[2])
        if status == "retired":
            raise ValueError(
                f"arm {taken!r} is retired (index {index}) and cannot come back as a new arm; choose another name"
            )
        if status == "exists":
            raise ValueError(f"arm {taken!r} already exists (index {index}); choose another name")
        return index

    def retire_arm(self, arm: str | int) -> int:
        """An arm that is never selected again (its statistics and its name are kept); returns
        its index.

        ``arm`` is the arm's name (a string) or its internal index (an integer, for the core).
        ``ValueError`` for an unknown arm (naming the valid ones) or the last active arm; retiring
        twice is a no-op.
        """
        if isinstance(arm, str):
            name, index = arm, ""
        elif not is_integer(arm):
            raise ValueError(f"arm must be an arm name or an integer arm index; got {arm!r}")
        else:
            name, index = "", str(int(arm))
        reply = self._run("retire_arm", name, index or "-1", self.events_maxlen)
        status, n_arms = _text(reply[0]), int(reply[1])
        if status == "out_of_range":
            raise ValueError(f"arm index out of range: valid arms are 0..{n_arms - 1}")
        if status == "unknown":
            self.arms().index(name)  # raises, naming the valid arms
            raise ValueError(f"unknown arm {name!r}")  # the table changed in between
        if status == "last_arm":
            raise ValueError("cannot retire the last active arm: at least one arm must stay selectable")
        return int(reply[2])

    # -- streams -----------------------------------------------------------------------------
    def append_event(self, kind: str, **fields: Any) -> str:
        """Append a lifecycle event; returns its stream id."""
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError("event kind must be a non-empty string, e.g. 'drift_detected'")
        return _text(self._scripts["append_event"](
            keys=[], args=[self.namespace, kind, self._fields_json(fields), self.events_maxlen]
        ))  # fmt: skip

    def events(self, since: str = "0-0", count: int = 1000) -> list[Event]:
        """Lifecycle events after stream id ``since`` (exclusive), oldest first."""
        entries = self._xread(self._key("events"), since, count, None)
        return [
            Event(id=entry_id, kind=f["kind"], ts=float(f["ts"]), fields=json.loads(f.get("fields") or "{}"))
            for entry_id, f in entries
        ]

    def summaries(self, since: str = "0-0", count: int = 1000, block_ms: int | None = None) -> list[BatchSummary]:
        """Batch summaries after stream id ``since`` (exclusive), oldest first.

        With ``block_ms`` the call waits up to that long for a first new entry (XREAD BLOCK);
        ``since="$"`` is then allowed and means "only batches applied from now on".
        """
        entries = self._xread(self._key("summaries"), since, count, block_ms)
        return [
            BatchSummary(
                id=entry_id,
                batch_id=f["batch_id"],
                epoch=int(f["epoch"]),
                mode=Mode(f["mode"]),
                pulls_before=int(f["pulls_before"]),
                stats=ArmStats.from_dict(json.loads(f["stats"])),
                regret=float(f["regret"]) if "regret" in f else None,
            )
            for entry_id, f in entries
        ]

    def _xread(self, key: str, since: str, count: int, block_ms: int | None) -> list[tuple[str, dict[str, str]]]:
        if not (since == "$" and block_ms is not None):  # "$": only what arrives while blocking
            self._check_stream_id(since)
        if not is_integer(count) or count < 1:
            raise ValueError(f"count must be an integer >= 1; got {count!r}")
        if block_ms is not None and (not isinstance(block_ms, int) or block_ms < 0):
            raise ValueError(f"block_ms must be None or an integer >= 0; got {block_ms!r}")
        reply: Any = self.client.xread({key: since}, count=count, block=block_ms)
        if not reply:
            return []
        stream_entries = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [(_text(entry_id), _as_pairs(fields)) for entry_id, fields in stream_entries]

    def get_cursor(self, name: str) -> str:
        """A named stream position (e.g. the drift sensor's), ``"0-0"`` when unset."""
        value = self.client.hget(self._key("cursors"), name)
        return "0-0" if value is None else _text(value)

    def set_cursor(self, name: str, stream_id: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("cursor name must be a non-empty string")
        self._check_stream_id(stream_id)
        self.client.hset(self._key("cursors"), name, stream_id)

    # -- small metadata (MLflow run ids, ...) ------------------------------------------------
    def set_meta(self, **fields: str) -> None:
        if not fields:
            return
        bad = [k for k, v in fields.items() if not isinstance(v, str | int | float) or isinstance(v, bool)]
        if bad:
            raise ValueError(f"meta values must be strings or numbers; bad fields: {', '.join(bad)}")
        self.client.hset(self._key("meta"), mapping={k: str(v) for k, v in fields.items()})

    def get_meta(self) -> dict[str, str]:
        return _as_pairs(self.client.hgetall(self._key("meta")))

    # -- whole state -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole state of the namespace as JSON-able data.

        Read atomically by one script; every key is kept with its type, exact text and absolute
        expiry (``expire_at_ms``, -1 for none — absolute, so two snapshots of an unchanged state
        are equal and a restored dedupe set still expires when the original would have); stream
        entries keep their ids, so cursors stay valid after :meth:`restore`, and a stream's consumer
        groups keep their last-delivered id (their pending-entry lists are not kept).
        """
        prefix = f"{self.namespace}:"
        keys: dict[str, Any] = {}
        for key, kind_raw, expire_at_ms, value, stream_meta in self._scripts["dump"](keys=[], args=[self.namespace]):
            kind = _text(kind_raw)
            if kind == "string":
                payload: Any = _text(value)
            elif kind == "hash":
                payload = _as_pairs(value)
            elif kind in ("set", "list"):
                payload = sorted(_text(v) for v in value) if kind == "set" else [_text(v) for v in value]
            elif kind == "zset":
                payload = [[_text(value[i]), _text(value[i + 1])] for i in range(0, len(value), 2)]
            else:  # stream
                payload = [[_text(entry_id), _as_pairs(fields)] for entry_id, fields in value]
            entry: dict[str, Any] = {"type": kind, "expire_at_ms": int(expire_at_ms), "value": payload}
            if kind == "stream":
                entry["last_id"] = _text(stream_meta[0])
                entry["groups"] = [[_text(name), _text(delivered)] for name, delivered in stream_meta[1]]
            keys[_text(key)[len(prefix):]] = entry
        return {"format": SNAPSHOT_FORMAT, "namespace": self.namespace, "taken_at": time.time(),
                "keys": dict(sorted(keys.items()))}  # fmt: skip

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace the namespace's state with a snapshot (inverse of :meth:`snapshot`).

        The snapshot may come from another namespace; keys are stored relative to it. The old keys
        are wiped in chunks (:meth:`wipe`), then one script writes the snapshot's keys (each
        replaced whole), so readers never see a mix of two snapshots' keys.
        """
        if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a store snapshot: expected a dict with format {SNAPSHOT_FORMAT!r}")
        keys = snapshot.get("keys")
        if not isinstance(keys, dict) or "state" not in keys or "config" not in keys:
            raise ValueError("store snapshot has no 'keys' with 'state' and 'config': nothing restored")
        valid = {"string", "hash", "set", "zset", "list", "stream"}
        for suffix, entry in keys.items():
            if not isinstance(entry, dict) or entry.get("type") not in valid:
                raise ValueError(f"snapshot key {suffix!r} has no valid type; valid types: {', '.join(sorted(valid))}")
        self.wipe()  # in chunks; the script then replaces the snapshot's keys in one go
        self._scripts["restore"](keys=[], args=[self.namespace, json.dumps(keys)])
        self._shape = None

    # -- validation helpers ------------------------------------------------------------------
    @staticmethod
    def _check_reason(reason: str) -> None:
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("reason must be a non-empty string, e.g. 'converged' or 'drift_detected'")

    @staticmethod
    def _check_expected(expected_epoch: int | None) -> str:
        if expected_epoch is None:
            return ""
        if not is_integer(expected_epoch) or expected_epoch < 1:
            raise ValueError(f"expected_epoch must be None or an integer >= 1; got {expected_epoch!r}")
        return str(int(expected_epoch))

    @staticmethod
    def _check_stream_id(stream_id: str) -> None:
        if not isinstance(stream_id, str) or not _STREAM_ID_RE.match(stream_id):
            raise ValueError(f"invalid stream id {stream_id!r}: expected '<ms>-<seq>', e.g. '0-0'")

    @staticmethod
    def _fields_json(fields: dict[str, Any]) -> str:
        try:
            return json.dumps(fields, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event fields must be JSON-serialisable finite values: {exc}") from None

