"""The Open Bandit Dataset (ZOZOTOWN, 80 items in 3 positions), read from the obp 0.4.1 wheel as data.

The small sample (10,000 rows per logging policy) ships inside the ``obp`` wheel on PyPI; we
download the wheel with ``pip download obp==0.4.1 --no-deps`` into a cache and read the
CSVs and the ZOZOTOWN Bernoulli-TS prior straight from the ZIP. obp itself is never
installed or imported. Preprocessing follows OBP's ``OpenBanditDataset``: rows sorted by
timestamp, positions ranked densely from 0, user features one-hot with the first level of
each dropped.

References
----------
Saito, Y., Aihara, S., Matsutani, M. and Narita, Y. (2021). Open Bandit Dataset and Pipeline:
Towards realistic and reproducible off-policy evaluation. NeurIPS Datasets and Benchmarks.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from banditops.bandit.ope.base import FloatArray, LoggedBanditFeedback

OBP_VERSION = "0.4.1"
WHEEL = f"obp-{OBP_VERSION}-py3-none-any.whl"
POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
N_ACTIONS = {"all": 80, "men": 34, "women": 46}


def ensure_wheel(cache: Path, python: str = sys.executable) -> Path:
    """The cached wheel, downloaded from PyPI if absent; a failed download is an error, not a skip."""
    wheel = cache / WHEEL
    if wheel.exists():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", "pip", "download", f"obp=={OBP_VERSION}", "--no-deps", "-d", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not wheel.exists():
        raise RuntimeError(
            f"could not download the Open Bandit Dataset (the obp {OBP_VERSION} wheel) into {cache}: "
            f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()[-400:]}"
        )
    return wheel


@dataclass(frozen=True)
class ObdLog:
    """One logging policy's rows, ready for the estimators."""

    log: LoggedBanditFeedback
    n_actions: int
    n_positions: int
    policy: str
    campaign: str
    #: Each item's features (n_actions, 4), encoded as OBP's ``OpenBanditDataset.action_context``:
    #: the three categorical ones label-encoded, then the numerical ``item_feature_0``.
    action_context: FloatArray


def _read_csv(archive: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    with archive.open(member) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))


def load(wheel: Path, policy: str, campaign: str = "all") -> ObdLog:
    """The ``policy`` logs of ``campaign`` (OBP's preprocessing, user features only as context)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown OBD logging policy {policy!r}; valid: {', '.join(POLICIES)}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"unknown OBD campaign {campaign!r}; valid: {', '.join(CAMPAIGNS)}")
    with zipfile.ZipFile(wheel) as archive:
        rows = _read_csv(archive, f"obp/dataset/obd/{policy}/{campaign}/{campaign}.csv")
        items = _read_csv(archive, f"obp/dataset/obd/{policy}/{campaign}/item_context.csv")
    items.sort(key=lambda r: int(r["item_id"]))
    item_columns = [np.unique([r[c] for r in items], return_inverse=True)[1].astype(np.float64)
                    for c in ("item_feature_1", "item_feature_2", "item_feature_3")]  # fmt: skip
    item_columns.append(np.array([float(r["item_feature_0"]) for r in items]))
    order = np.argsort(np.array([r["timestamp"] for r in rows]), kind="stable")
    rows = [rows[i] for i in order]
    raw_position = np.array([int(r["position"]) for r in rows])
    _, position = np.unique(raw_position, return_inverse=True)
    user_cols = sorted(k for k in rows[0] if k.startswith("user_feature"))
    blocks = []
    for col in user_cols:
        values = np.array([r[col] for r in rows])
        levels = np.unique(values)[1:]  # drop_first, as pandas.get_dummies(drop_first=True)
        blocks.append((values[:, None] == levels[None, :]).astype(np.float64))
    log = LoggedBanditFeedback.build(
        action=[int(r["item_id"]) for r in rows],
        reward=[float(r["click"]) for r in rows],
        pscore=[float(r["propensity_score"]) for r in rows],
        position=position,
        context=np.hstack(blocks),
    )
    return ObdLog(log, N_ACTIONS[campaign], int(position.max()) + 1, policy, campaign, np.stack(item_columns, axis=1))


def zozotown_prior(wheel: Path, campaign: str = "all") -> tuple[FloatArray, FloatArray]:
    """The Beta(α, β) prior per item that ZOZOTOWN's Bernoulli TS started from (prior_bts.yaml)."""
    with zipfile.ZipFile(wheel) as archive:
        prior = yaml.safe_load(archive.read("obp/policy/conf/prior_bts.yaml"))
    return np.asarray(prior[campaign]["alpha"], dtype=np.float64), np.asarray(prior[campaign]["beta"], dtype=np.float64)


def bts_action_dist(alpha: FloatArray, beta: FloatArray, *, len_list: int = 3, n_sim: int = 1_000_000,
                    seed: int = 12345, chunk: int = 50_000) -> FloatArray:  # fmt: skip
    """P(item a shown at position k) of Bernoulli TS with prior (α, β), by Monte Carlo: (n_actions, len_list).

    As OBP's ``BernoulliTS(is_zozotown_prior=True, random_state=seed).compute_batch_action_dist(n_sim)``:
    each simulation draws one Beta sample per item from a legacy ``RandomState(seed)`` stream
    and ranks the items by it; the same seed gives the same draws in the same order.

    >>> p = bts_action_dist(np.array([9.0, 1.0, 1.0]), np.array([1.0, 9.0, 9.0]), len_list=2, n_sim=2000)
    >>> p.round(2).tolist()
    [[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]]
    """
    if n_sim < 1:
        raise ValueError(f"n_sim must be >= 1; got {n_sim}")
    rng = np.random.RandomState(seed)  # the legacy stream is what OBP draws from
    counts = np.zeros((alpha.size, len_list))
    done = 0
    while done < n_sim:
        size = min(chunk, n_sim - done)
        draws = rng.beta(alpha, beta, size=(size, alpha.size))
        top = np.argsort(draws, axis=1)[:, ::-1][:, :len_list]
        for k in range(len_list):
            counts[:, k] += np.bincount(top[:, k], minlength=alpha.size)
        done += size
    return counts / n_sim
