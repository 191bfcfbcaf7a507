"""The settings read the environment once, in one place: an env file's empty number means "unset",
an empty URL "not configured"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from banditops.settings import DagSettings, Settings


def test_an_empty_variable_means_unset_as_docs_airflow_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/airflow.md lists ``BANDITOPS_SEED=`` as a blank.
    for name in ("SEED", "DRIFT_POLL_S", "HTTP_TIMEOUT_S", "AIRFLOW_URL"):
        monkeypatch.setenv(f"BANDITOPS_{name}", "")
    settings = Settings()
    assert settings.seed is None
    assert settings.airflow_url == ""  # not configured: the dashboard says so rather than call 127.0.0.1
    assert settings.drift_poll_s == 1.0 and settings.http_timeout_s == 10.0
    assert DagSettings().drift_poll_s == 1.0


def test_a_set_variable_is_read_and_a_bad_one_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANDITOPS_SEED", "42")
    assert Settings().seed == 42
    monkeypatch.setenv("BANDITOPS_SEED", "forty-two")
    with pytest.raises(ValidationError, match="seed"):
        Settings()
