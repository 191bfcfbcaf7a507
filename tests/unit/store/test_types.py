"""The store's value types and script loading: no server needed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banditops.bandit.stats import ArmStats
from banditops.store import ApplyResult, ExperimentConfig, Mode, StoreState
from banditops.store.redis_store import _SCRIPTS, _script_source


@pytest.mark.parametrize(("raw", "mode"), [("learning", Mode.LEARNING), ("MONITORING", Mode.MONITORING),
                                           (Mode.RELEARNING, Mode.RELEARNING)])
def test_mode_parse_accepts_any_case(raw: str, mode: Mode) -> None:
    assert Mode.parse(raw) is mode


def test_mode_parse_names_the_valid_modes() -> None:
    with pytest.raises(ValueError, match="unknown mode 'paused'; valid modes: LEARNING, MONITORING, RELEARNING"):
        Mode.parse("paused")


def test_config_round_trips_through_json_and_ignores_unknown_fields() -> None:
    config = ExperimentConfig(name="banners", reward_kind="bernoulli", n_arms=4, prior={"alpha": 1.0, "beta": 1.0})
    payload = json.loads(json.dumps(config.to_dict())) | {"added_in_a_later_version": 1}
    assert ExperimentConfig.from_dict(payload) == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward_kind": "poisson"}, "valid kinds: bernoulli, gaussian"),
        ({"n_arms": 0}, "n_arms"),
        ({"convergence_delta": 1.0}, "convergence_delta"),
        ({"drift_delta": 0.0}, "drift_delta"),
        ({"exploration_floor": 1.0}, "exploration_floor"),
        ({"agents": 0}, "agents"),
        ({"relearn_budget": -1}, "relearn_budget"),
        ({"value_remaining_threshold": float("nan")}, "value_remaining_threshold"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(**kwargs)


def test_apply_result_applied_only_when_applied() -> None:
    assert ApplyResult("applied", 1, Mode.LEARNING, 10).applied
    assert not ApplyResult("duplicate", 1, Mode.LEARNING, 10).applied
    assert not ApplyResult("stale_epoch", 2, Mode.RELEARNING, 10).applied


def test_state_to_dict_is_json_and_active_arms_skip_retired() -> None:
    stats = ArmStats.from_pulls([0, 2, 2], [1.0, 0.5, 1.5], n_arms=3)
    state = StoreState(
        mode=Mode.MONITORING, epoch=2, config=ExperimentConfig(n_arms=3), stats=stats, total_pulls=9,
        epoch_pulls=3, regret=1.25, epoch_regret=0.5, explore_remaining=0,
        last_pulled=np.array([1, -1, 3]), retired=frozenset({1}),
    )
    payload = json.loads(json.dumps(state.to_dict()))
    assert payload["mode"] == "MONITORING" and payload["stats"]["n"] == [1, 0, 2]
    assert payload["last_pulled"] == [1, -1, 3] and payload["retired"] == [1]
    assert state.active_arms.tolist() == [0, 2]


@pytest.mark.parametrize("name", _SCRIPTS)
def test_every_script_ships_with_the_shared_helpers(name: str) -> None:
    source = _script_source(name)
    assert "local function add_event" in source
    assert source.count("local function now_s") == 1


def test_a_context_model_is_validated_normalised_and_round_trips() -> None:
    config = ExperimentConfig(n_arms=3, context={"numeric": ["age"], "categorical": ["country"], "n_buckets": 8})
    assert config.context == {"numeric": ["age"], "categorical": ["country"], "n_buckets": 8, "arm_features": [],
                              "ridge": 1.0, "scale": 0.15}  # the default LinTS width (linear_gaussian.DEFAULT_SCALE)
    again = ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.context_model is not None and again.context_model.dim == 10
    assert ExperimentConfig(n_arms=3).context_model is None  # the default: no contexts
    with pytest.raises(ValueError, match="unknown context-model keys"):
        ExperimentConfig(n_arms=3, context={"numeric": ["age"], "buckets": 8})
    with pytest.raises(ValueError, match="scale must be a finite number > 0"):
        ExperimentConfig(n_arms=3, context={"numeric": ["age"], "scale": 0})
    with pytest.raises(ValueError, match="feature names must be unique"):
        ExperimentConfig(n_arms=3, context={"numeric": ["age"], "categorical": ["age"]})
