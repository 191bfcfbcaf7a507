"""The reward models q̂(x, a, k) of DM and the doubly robust estimators: cross-fitted logistic regressions.

Two models, for q̂'s two roles. In DM (and in Switch-DR's switched-out rows and DRos' shrunk
weights) q̂'s *values* are the estimate, so it must be as accurate as the log allows:
:class:`LogisticRewardModel`, one shared model with its regularisation chosen by cross-validated
log loss. In DR and SNDR q̂ is only a control variate: they are unbiased whatever q̂ is, and their
variance falls with how much of the reward's variation q̂ tracks, which a heavily regularised,
nearly flat q̂ does not. For them :class:`PerPositionLogisticRewardModel` is Open Bandit Pipeline's
own ``RegressionModel`` with logistic regression: one model per slate position on [context, the
arm's features], with OBP's published hyperparameters (``C = 100``), 3-fold cross-fitted.

Why this model: clicks are rare (a few per thousand rows), so a model with many free
parameters overfits the handful of positives. An L2-regularised logistic regression on
[context, one-hot arm, one-hot position] shares strength across arms and positions, and
its regularisation ``C`` is chosen by cross-validated log loss on the log itself (never on
any ground truth). Cross-fitting (predicting each fold with a model that did not see it)
keeps DR's correction term honest (Chernozhukov et al. 2018; OBP's ``fit_predict(n_folds)``).

References
----------
Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and structural
parameters. The Econometrics Journal 21(1). Saito, Y. et al. (2021). Open Bandit Dataset and
Pipeline. NeurIPS Datasets and Benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold

from banditops.bandit.ope.base import FloatArray, IntArray, LoggedBanditFeedback

DEFAULT_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


def one_hot_rows(values: IntArray, width: int) -> FloatArray:
    out = np.zeros((values.shape[0], width))
    out[np.arange(values.shape[0]), values] = 1.0
    return out


def _design(log: LoggedBanditFeedback, n_actions: int, n_positions: int) -> FloatArray:
    arm, pos = one_hot_rows(log.action, n_actions), one_hot_rows(log.position, n_positions)
    parts = [arm, pos] if log.context is None else [log.context, arm, pos]
    return np.hstack(parts)


@dataclass(frozen=True)
class LogisticRewardModel:
    """q̂(x, a, k) = σ(β·x + γ_a + δ_k + b), L2-regularised with inverse strength ``C``.

    >>> rng = np.random.default_rng(0)
    >>> n = 3000
    >>> action = rng.integers(0, 3, n)
    >>> reward = (rng.random(n) < np.array([0.1, 0.3, 0.5])[action]).astype(float)
    >>> log = LoggedBanditFeedback.build(action, reward, np.full(n, 1 / 3))
    >>> q = LogisticRewardModel(C=10.0).fit_predict(log, n_actions=3, n_positions=1, rng=np.random.default_rng(1))
    >>> np.round(q[0, :, 0], 2).tolist()
    [0.1, 0.3, 0.51]
    """

    C: float = 1.0
    n_folds: int = 3
    max_iter: int = 1000

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ValueError(f"C must be > 0; got {self.C}")
        if self.n_folds < 1:
            raise ValueError(f"n_folds must be >= 1; got {self.n_folds}")

    def _fit(self, x: FloatArray, y: FloatArray) -> LogisticRegression:
        if np.unique(y).size < 2:
            raise ValueError("the reward model needs both rewarded and unrewarded rows in every training fold")
        return LogisticRegression(C=self.C, max_iter=self.max_iter).fit(x, y)

    @staticmethod
    def _predict_all(model: LogisticRegression, log: LoggedBanditFeedback, n_actions: int,
                     n_positions: int) -> FloatArray:  # fmt: skip
        """q̂ for every arm and position at once: the logit is additive in context, arm and position."""
        coef = model.coef_[0]
        dim = 0 if log.context is None else log.context.shape[1]
        base = model.intercept_[0] + (np.zeros(log.n_rows) if log.context is None else log.context @ coef[:dim])
        arm, pos = coef[dim : dim + n_actions], coef[dim + n_actions :]
        logit = base[:, None, None] + arm[None, :, None] + pos[None, None, :]
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)

    def fit_predict(self, log: LoggedBanditFeedback, *, n_actions: int, n_positions: int,
                    rng: np.random.Generator) -> FloatArray:  # fmt: skip
        """Cross-fitted q̂ of shape (n_rows, n_actions, n_positions)."""
        x, y = _design(log, n_actions, n_positions), log.reward
        q_hat = np.empty((log.n_rows, n_actions, n_positions))
        if self.n_folds == 1:
            return self._predict_all(self._fit(x, y), log, n_actions, n_positions)
        folds = KFold(self.n_folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
        for train, test in folds.split(x):
            model = self._fit(x[train], y[train])
            q_hat[test] = self._predict_all(model, log.take(test), n_actions, n_positions)
        return q_hat


def select_c(log: LoggedBanditFeedback, *, n_actions: int, n_positions: int, rng: np.random.Generator,
             cs: Sequence[float] = DEFAULT_CS, n_folds: int = 5) -> float:  # fmt: skip
    """The regularisation with the lowest cross-validated log loss on the log (ties: the stronger one)."""
    x, y = _design(log, n_actions, n_positions), log.reward
    folds = list(KFold(n_folds, shuffle=True, random_state=int(rng.integers(2**31 - 1))).split(x))
    losses = []
    for c in cs:
        total = 0.0
        for train, test in folds:
            model = LogisticRegression(C=c, max_iter=1000).fit(x[train], y[train])
            total += log_loss(y[test], model.predict_proba(x[test])[:, 1], labels=[0, 1]) * test.size
        losses.append(total / y.size)
    return float(cs[int(np.argmin(losses))])



@dataclass(frozen=True)
class PerPositionLogisticRewardModel:
    """q̂(x, a, k) = σ(β_k·x + γ_k·c_a + b_k): per position, a logistic regression on context and arm features.

    As OBP's ``RegressionModel(base_model=LogisticRegression(C, max_iter))``: ``action_context``
    (n_actions, dim) describes each arm (OBD: its item features); the logit is additive in the
    context and the arm's features, so every arm is predicted at once.

    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> action, position = rng.integers(0, 3, n), rng.integers(0, 2, n)
    >>> reward = (rng.random(n) < np.array([0.1, 0.3, 0.5])[action]).astype(float)
    >>> log = LoggedBanditFeedback.build(action, reward, np.full(n, 1 / 3), position=position)
    >>> model = PerPositionLogisticRewardModel(action_context=np.eye(3), C=100.0)
    >>> q = model.fit_predict(log, n_actions=3, n_positions=2, rng=np.random.default_rng(1))
    >>> np.round(q[0], 1).tolist()
    [[0.1, 0.1], [0.3, 0.3], [0.5, 0.5]]
    """

    action_context: FloatArray
    C: float = 100.0
    n_folds: int = 3
    max_iter: int = 10000

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ValueError(f"C must be > 0; got {self.C}")
        if self.n_folds < 1:
            raise ValueError(f"n_folds must be >= 1; got {self.n_folds}")
        if np.asarray(self.action_context).ndim != 2:
            raise ValueError("action_context must be a 2-D array (n_actions, dim)")

    def _context(self, log: LoggedBanditFeedback) -> FloatArray:
        return np.zeros((log.n_rows, 0)) if log.context is None else log.context

    def _fit_predict_fold(self, train: LoggedBanditFeedback, test: LoggedBanditFeedback, n_actions: int,
                          n_positions: int) -> FloatArray:  # fmt: skip
        ac = np.asarray(self.action_context, dtype=np.float64)
        if ac.shape[0] != n_actions:
            raise ValueError(f"action_context has {ac.shape[0]} rows; the log has {n_actions} arms")
        ctx_train, ctx_test = self._context(train), self._context(test)
        dim = ctx_train.shape[1]
        q_hat = np.empty((test.n_rows, n_actions, n_positions))
        for k in range(n_positions):
            rows = np.flatnonzero(train.position == k)
            y = train.reward[rows]
            if np.unique(y).size < 2:
                raise ValueError(f"the reward model of position {k} needs rewarded and unrewarded rows in every fold")
            x = np.hstack([ctx_train[rows], ac[train.action[rows]]])
            model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(x, y)
            coef = model.coef_[0]
            logit = (model.intercept_[0] + ctx_test @ coef[:dim])[:, None] + (ac @ coef[dim:])[None, :]
            q_hat[:, :, k] = 1.0 / (1.0 + np.exp(-logit))
        return q_hat

    def fit_predict(self, log: LoggedBanditFeedback, *, n_actions: int, n_positions: int,
                    rng: np.random.Generator) -> FloatArray:  # fmt: skip
        """Cross-fitted q̂ of shape (n_rows, n_actions, n_positions)."""
        if self.n_folds == 1:
            return self._fit_predict_fold(log, log, n_actions, n_positions)
        q_hat = np.empty((log.n_rows, n_actions, n_positions))
        folds = KFold(self.n_folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
        for train, test in folds.split(np.arange(log.n_rows)):
            q_hat[test] = self._fit_predict_fold(log.take(train), log.take(test), n_actions, n_positions)
        return q_hat
