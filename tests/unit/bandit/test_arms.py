"""Reward models: bad arms are refused with which arm, which field and what is valid."""

from __future__ import annotations

import pytest

from banditops.bandit.arms import BernoulliArm, GaussianArm, parse_arms

VALID = 'Valid arms: {"kind": "bernoulli", "p": 0..1} or {"kind": "gaussian", "mean": finite, "sd": > 0}'


def test_good_arms_parse_from_json_and_dicts() -> None:
    assert parse_arms('[{"kind": "gaussian", "mean": 1}, {"kind": "gaussian", "mean": 2, "sd": 3}]') == [
        GaussianArm(mean=1.0, sd=1.0), GaussianArm(mean=2.0, sd=3.0)
    ]
    assert parse_arms([{"kind": "bernoulli", "p": 0.25}]) == [BernoulliArm(p=0.25)]


@pytest.mark.parametrize(("arms", "problem"), [
    ([{"kind": "bernoulli", "p": 0.5}, {"kind": "bernoulli", "p": 2}],
     "arm 1 (bernoulli) p: p must be a finite number in [0, 1] for a bernoulli arm; got 2."),
    ([{"kind": "gaussian", "mean": 1, "sd": 0}],
     "arm (gaussian) sd: sd must be a finite number > 0 for a gaussian arm; got 0."),
    ([{"kind": "gaussian", "mean": float("nan")}],
     "arm (gaussian) mean: mean must be a finite number for a gaussian arm; got nan."),
    ([{"kind": "gaussian", "mean": 1, "colour": "red"}], "arm (gaussian) colour: Extra inputs are not permitted"),
    ([{"kind": "poisson", "rate": 1}], "arm: Input tag 'poisson' found using 'kind' does not match"),
])
def test_bad_arms_name_the_arm_the_field_and_the_valid_forms(arms: list, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_arms(arms)
    message = str(refused.value)
    assert message.startswith(f"invalid arms: {problem}")
    assert message.endswith(VALID)
    assert "errors.pydantic.dev" not in message and "tagged-union" not in message


@pytest.mark.parametrize("payload", ["", "[", "{kind: gaussian}", "[]", "{}", "null"])
def test_not_a_list_of_arms_says_the_form(payload: str) -> None:
    with pytest.raises(ValueError, match=r'arms must be a non-empty JSON list like \[\{"kind": "gaussian"'):
        parse_arms(payload)
