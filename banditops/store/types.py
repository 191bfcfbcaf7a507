"""The value types the state store reads and writes (no Redis here)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from banditops.bandit.arms import REWARD_KINDS, RewardKind
from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.names import check_policy
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.bandit.stats import ArmStats

#: One item of a raw Redis reply: ``bytes`` from a client without ``decode_responses``, ``str``
#: with it, numbers from a script. The store decodes each into text at its edge.
ReplyItem = bytes | str | int | float
#: An ``XRANGE`` reply: (entry id, fields) per entry, oldest first.
StreamEntries = list[tuple[ReplyItem, dict[ReplyItem, ReplyItem]]]


class Mode(StrEnum):
    """Where the loop is: learning, watching a converged posterior, or relearning after drift."""

    LEARNING = "LEARNING"
    MONITORING = "MONITORING"
    RELEARNING = "RELEARNING"

    @classmethod
    def parse(cls, value: str | Mode) -> Mode:
        try:
            return cls(str(value).upper())
        except ValueError:
            raise ValueError(
                f"unknown mode {value!r}; valid modes: {', '.join(m.value for m in cls)}"
            ) from None


#: An arm's name: 1 to 64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or digit
#: (safe in a URL path, a Prometheus label, an MLflow metric key and a CLI argument).
ARM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: How many names an error message lists before it says how many more there are.
_LISTED = 20


def default_arm_names(n_arms: int) -> tuple[str, ...]:
    """The names of an experiment started with integer arms: ``"0"``, ``"1"``, ...

    >>> default_arm_names(3)
    ('0', '1', '2')
    """
    return tuple(str(i) for i in range(n_arms))


def check_arm_name(name: object) -> str:
    """``name`` if it is a valid arm name, else ``ValueError`` saying what a name may be.

    >>> check_arm_name("summer-sale")
    'summer-sale'
    >>> check_arm_name("summer sale")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: invalid arm name 'summer sale': use 1-64 letters, digits, '_', '.' or '-', ...
    """
    if not isinstance(name, str) or not ARM_NAME_RE.match(name):
        raise ValueError(
            f"invalid arm name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


#: Largest metadata of one arm, as JSON text.
MAX_ARM_METADATA_BYTES = 4096


def check_arm_metadata(name: str, metadata: object) -> dict[str, Any]:
    """``metadata`` if it is a small JSON object, else ``ValueError`` saying what it may be."""
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata of arm {name!r} must be a JSON object, e.g. {{\"title\": \"Summer sale\"}}")
    try:
        size = len(json.dumps(metadata, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata of arm {name!r} must be JSON with finite numbers: {exc}") from None
    if size > MAX_ARM_METADATA_BYTES:
        raise ValueError(f"metadata of arm {name!r} is {size} bytes as JSON; the limit is {MAX_ARM_METADATA_BYTES}")
    return metadata


def listed(names: Iterable[str]) -> str:
    """Names for an error message: all of them, or the first few and how many more.

    >>> listed(["a", "b"])
    'a, b'
    """
    items = list(names)
    head = ", ".join(items[:_LISTED])
    return head if len(items) <= _LISTED else f"{head}, ... ({len(items)} in all)"


@dataclass(frozen=True)
class ArmTable:
    """The arms' names and metadata; an arm's internal index is its position in ``names``.

    The one place where a name becomes an index and back: the store, the decision API, the
    dashboard, MLflow, the DAGs and the CLI all translate through it, so the learning core
    (posteriors, batches, decision records) stays on indices. A name is never reused: a retired
    arm keeps its name and index, and adding that name again is refused.

    Examples
    --------
    >>> table = ArmTable(("summer-sale", "winter", "spring"), retired=frozenset({2}))
    >>> table.index("winter"), table.name(0), table.indices(["spring", "summer-sale"])
    (1, 'summer-sale', [2, 0])
    >>> table.active_names
    ('summer-sale', 'winter')
    >>> table.index("autumn")
    Traceback (most recent call last):
    ...
    ValueError: unknown arm 'autumn'; valid arms: summer-sale, winter
    >>> table.index("spring", active=True)
    Traceback (most recent call last):
    ...
    ValueError: arm 'spring' is retired; valid arms: summer-sale, winter
    """

    names: tuple[str, ...]
    #: Optional metadata per arm name (a banner's title, URL, ...): small JSON objects.
    metadata: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Indices of the retired arms (they keep their names: a name never comes back as another arm).
    retired: frozenset[int] = frozenset()
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {name: i for i, name in enumerate(self.names)}
        if len(index) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"arm names must be distinct; repeated: {listed(dup)}")
        object.__setattr__(self, "_index", index)

    @classmethod
    def default(cls, n_arms: int, retired: Iterable[int] = ()) -> ArmTable:
        """The table of an experiment started with integer arms (names ``"0"``..)."""
        return cls(default_arm_names(n_arms), retired=frozenset(retired))

    @property
    def n_arms(self) -> int:
        return len(self.names)

    @property
    def active_names(self) -> tuple[str, ...]:
        return tuple(n for i, n in enumerate(self.names) if i not in self.retired)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index(self, name: str, *, active: bool = False) -> int:
        """The internal index of arm ``name``; ``ValueError`` naming the valid (active) arms.

        With ``active`` a retired arm is refused too.
        """
        i = self._index.get(name) if isinstance(name, str) else None
        if i is None:
            raise ValueError(f"unknown arm {name!r}; valid arms: {listed(self.active_names)}")
        if active and i in self.retired:
            raise ValueError(f"arm {name!r} is retired; valid arms: {listed(self.active_names)}")
        return i

    def indices(self, names: Iterable[str], *, active: bool = False) -> list[int]:
        """Indices of ``names`` in order; every unknown name is named in one ``ValueError``."""
        wanted = list(names)
        unknown = [n for n in wanted if not (isinstance(n, str) and n in self._index)]
        if unknown:
            raise ValueError(f"unknown arms {listed(map(repr, unknown))}; valid arms: {listed(self.active_names)}")
        out = [self._index[n] for n in wanted]
        if active:
            gone = [n for n, i in zip(wanted, out, strict=True) if i in self.retired]
            if gone:
                raise ValueError(f"retired arms {listed(map(repr, gone))}; valid arms: {listed(self.active_names)}")
        return out

    def name(self, index: int) -> str:
        """The name of internal index ``index`` (``ValueError`` when out of range)."""
        if isinstance(index, bool) or not 0 <= int(index) < len(self.names):
            raise ValueError(f"arm index {index!r} out of range: valid indices are 0..{len(self.names) - 1}")
        return self.names[int(index)]

    def names_of(self, indices: Iterable[int]) -> list[str]:
        return [self.names[int(i)] for i in indices]


@dataclass(frozen=True)
class ExperimentConfig:
    """What an experiment is: its arms' reward kind, its prior, and the lifecycle's knobs.

    Stored once per experiment (``reset``); every agent, sensor and check reads it from the store
    so a running loop never depends on DAG-parse-time values.
    """

    name: str = "seed"
    reward_kind: RewardKind = "gaussian"
    n_arms: int = 5
    #: Beta prior ``{"alpha": 1, "beta": 1}`` or Normal–Inverse-Gamma ``{"mu0", "kappa0", "alpha0", "beta0"}``.
    prior: dict[str, float] = field(default_factory=dict)
    agents: int = 4
    pulls_per_round: int = 100
    rounds: int = 5
    #: Converged when P(best) >= 1 - convergence_delta ...
    convergence_delta: float = 0.05
    #: ... and the 95th percentile of the value remaining is below this share of the leader's value.
    value_remaining_threshold: float = 0.01
    #: ... and every arm has this many pulls in the epoch. In LEARNING the agents top every arm up to
    #: it with forced pulls, paid again in every epoch (a restart opens one): at 20 that top-up alone
    #: cost about 200 regret per epoch on benchmark scenario 3 and +40% on scenario 1 (issue 13), so
    #: the default asks for 5, enough to keep a never-tried arm from looking settled.
    min_pulls_per_arm: int = 5
    #: False-alarm level of the drift tests.
    drift_delta: float = 0.01
    #: Largest share of pulls the staleness exploration floor may take in MONITORING.
    exploration_floor: float = 0.01
    #: Forced round-robin pulls of a relearning a person asks for (RELEARNING), before LEARNING resumes.
    #: 0 (default): a new epoch is learnt by the policy itself, as after the agents' own restart.
    relearn_budget: int = 0
    #: The agents' policy, a name from ``banditops.bandit.policies.registry.POLICIES``.
    policy: str = "system"
    #: Grow the rounds of a fresh posterior: an agent's round is at most the posterior's pulls shared
    #: among the agents (1, 2, 4, ... per wave of rounds), up to ``pulls_per_round``; so the first rounds
    #: of an epoch are not drawn blind from the prior. Off: every round has ``pulls_per_round`` pulls.
    growing_rounds: bool = True
    #: ``simulation`` pulls the environment service; ``production`` folds the decision API's feedback.
    source: Literal["simulation", "production"] = "simulation"
    #: The contextual (LinTS) model, as :meth:`ContextModelSpec.to_dict`; ``None``: no contexts.
    #: With one, decisions that send a context are made by Linear Thompson Sampling and their
    #: feedback also folds into the linear statistics; decisions without one stay Beta/NIG TS.
    context: dict[str, Any] | None = None
    #: The arms' names, one per arm in index order. Empty: the default names ``"0"``, ``"1"``, ...
    #: (an experiment started with integer arms). Read back from the store, it holds the current
    #: arms (added ones included), and stays empty while they are the default names.
    arm_names: tuple[str, ...] = ()
    #: Optional metadata per arm name (small JSON objects), e.g. ``{"summer-sale": {"title": ...}}``.
    arm_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The arms' names, default ones included."""
        return self.arm_names or default_arm_names(self.n_arms)

    def __post_init__(self) -> None:
        if self.context is not None:
            object.__setattr__(self, "context", ContextModelSpec.from_dict(self.context).to_dict())
        if isinstance(self.arm_names, str) or not isinstance(self.arm_names, list | tuple):
            raise ValueError(f"arm_names must be a list of names; got {self.arm_names!r}")
        object.__setattr__(self, "arm_names", tuple(self.arm_names))
        for name in self.arm_names:
            check_arm_name(name)
        if self.arm_names and len(self.arm_names) != self.n_arms:
            raise ValueError(f"arm_names has {len(self.arm_names)} names for n_arms={self.n_arms}; give one per arm")
        ArmTable(self.arm_names)  # distinct
        if not isinstance(self.arm_metadata, dict):
            raise ValueError('arm_metadata must map arm names to JSON objects, e.g. {"summer-sale": {"title": "..."}}')
        for name, value in self.arm_metadata.items():
            check_arm_metadata(name, value)
        unknown_meta = sorted(set(self.arm_metadata) - set(self.names))
        if unknown_meta:
            raise ValueError(
                f"arm_metadata names unknown arms {listed(unknown_meta)}; valid arms: {listed(self.names)}"
            )
        if self.reward_kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {self.reward_kind!r}; valid kinds: {', '.join(REWARD_KINDS)}")
        if self.n_arms < 1:
            raise ValueError("n_arms must be >= 1")
        for name in ("convergence_delta", "drift_delta"):
            value = getattr(self, name)
            if not (0.0 < value < 1.0):
                raise ValueError(f"{name} must be in (0, 1); got {value}")
        if not (0.0 <= self.exploration_floor < 1.0):
            raise ValueError(f"exploration_floor must be in [0, 1); got {self.exploration_floor}")
        for name in ("agents", "pulls_per_round", "rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        check_policy(self.policy)
        if not isinstance(self.growing_rounds, bool):
            raise ValueError(f"growing_rounds must be true or false; got {self.growing_rounds!r}")
        if self.relearn_budget < 0 or self.min_pulls_per_arm < 0:
            raise ValueError("relearn_budget and min_pulls_per_arm must be >= 0")
        if not math.isfinite(self.value_remaining_threshold) or self.value_remaining_threshold <= 0:
            raise ValueError("value_remaining_threshold must be a positive number")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ExperimentConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in payload.items() if k in known})

    @property
    def context_model(self) -> ContextModelSpec | None:
        """The parsed contextual model, or ``None`` for a non-contextual experiment."""
        return None if self.context is None else ContextModelSpec.from_dict(self.context)


ApplyStatus = Literal["applied", "duplicate", "stale_epoch", "conflict"]


@dataclass(frozen=True)
class ApplyResult:
    """What the store did with a batch: applied it, or refused it as a duplicate or stale."""

    status: ApplyStatus
    epoch: int
    mode: Mode
    total_pulls: int

    @property
    def applied(self) -> bool:
        return self.status == "applied"


@dataclass(frozen=True)
class StoreState:
    """One consistent read of everything the loop decides with."""

    mode: Mode
    epoch: int
    config: ExperimentConfig
    #: Posterior sufficient statistics of the current epoch.
    stats: ArmStats
    #: Pulls applied over all epochs, and in the current epoch.
    total_pulls: int
    epoch_pulls: int
    #: Cumulative pseudo-regret over all epochs (from the environment's ground truth).
    regret: float
    epoch_regret: float
    #: Forced-exploration pulls left in RELEARNING (0 otherwise).
    explore_remaining: int
    #: Epoch pull count at which each arm was last pulled (-1: never in this epoch).
    last_pulled: np.ndarray
    #: Arms retired at runtime; never selected again.
    retired: frozenset[int] = frozenset()
    #: The current epoch's LinTS statistics (contextual experiments only; zeros before any
    #: contextual feedback), ``None`` when the config has no context model.
    linear: LinearGaussianStats | None = None

    @property
    def arms(self) -> ArmTable:
        """The arms' names, metadata and retired set (translate indices <-> names with it)."""
        return ArmTable(self.config.names, self.config.arm_metadata, self.retired)

    @property
    def active_arms(self) -> np.ndarray:
        """Indices of the arms a policy may select (all arms but the retired ones)."""
        return np.array([a for a in range(self.stats.n_arms) if a not in self.retired], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (APIs, dashboards, and comparing two reads: arrays have no ``==``)."""
        return {
            "mode": self.mode.value,
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "stats": self.stats.to_dict(),
            "total_pulls": self.total_pulls,
            "epoch_pulls": self.epoch_pulls,
            "regret": self.regret,
            "epoch_regret": self.epoch_regret,
            "explore_remaining": self.explore_remaining,
            "last_pulled": self.last_pulled.tolist(),
            "retired": sorted(self.retired),
            "arm_names": list(self.config.names),
        }


#: One stream record: an arm's reward and its pull position (the agents' pull count).
STREAM_RECORD = np.dtype([("x", "<f8"), ("t", "<i8")])


def pack_stream(values: np.ndarray, times: np.ndarray) -> str:
    """Stream records as hex text (binary-safe through clients that decode replies)."""
    out = np.empty(len(values), STREAM_RECORD)
    out["x"], out["t"] = values, times
    return out.tobytes().hex()


def unpack_stream(text: str | bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_stream`: (rewards, positions)."""
    raw = bytes.fromhex(text.decode() if isinstance(text, bytes) else text)
    records = np.frombuffer(raw, STREAM_RECORD)
    return records["x"].astype(np.float64), records["t"].astype(np.int64)


@dataclass(frozen=True)
class RoundState:
    """What an agent's round rebuilds its policy from: the state plus the policy's own records.

    ``streams[arm]`` holds the arm's rewards and pull positions since its last reset in this
    epoch (their totals are ``state.stats``); ``stream_lengths`` are their stored sizes, which a
    reaction names so the store can tell whether another round landed in between.
    """

    state: StoreState
    streams: list[tuple[np.ndarray, np.ndarray]]
    stream_lengths: list[int]
    #: The policy's confirmation state (``DriftAwarePolicy.control_state``), ``{}`` when none.
    control: dict[str, Any]
    #: Forced pulls so far (all epochs) and the staleness floor's share of them.
    forced: int
    floor_forced: int

    @property
    def epoch_start(self) -> int:
        """Total pulls when the current epoch opened: the epoch's pull 0 on the agents' clock."""
        return self.state.total_pulls - self.state.epoch_pulls


@dataclass(frozen=True)
class RoundWrite:
    """What a round's policy changed besides the posterior totals, written with the round's rewards.

    ``appends[arm]`` are the stream records to add (arms not reset); ``resets[arm]`` is
    ``(expected stored length, rewards, positions)`` of an arm the policy reset on its own;
    ``restart`` is set when the policy restarted: the round's first ``split`` pulls belong to the
    old epoch, and ``restart[arm]`` is what each arm keeps in the new one.
    """

    forced: int = 0
    floor_forced: int = 0
    control: dict[str, Any] | None = None
    alarms: list[dict[str, Any]] = field(default_factory=list)
    appends: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    resets: dict[int, tuple[int, np.ndarray, np.ndarray]] = field(default_factory=dict)
    restart: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
    split: int = 0
    #: The epoch's pull count in the read the restart was computed from (its fence).
    expected_pulls: int = 0


@dataclass(frozen=True)
class BatchSummary:
    """One applied batch as the drift tests see it (an entry of the summary stream)."""

    id: str
    batch_id: str
    epoch: int
    mode: Mode
    #: Epoch pull count before this batch: the change-point estimate's unit.
    pulls_before: int
    stats: ArmStats
    #: The batch's pseudo-regret as applied (None in entries written before the store recorded it).
    regret: float | None = None


@dataclass(frozen=True)
class Event:
    """A lifecycle event: experiment_started, converged, drift_detected, epoch_opened, ..."""

    id: str
    kind: str
    ts: float
    fields: dict[str, Any]
