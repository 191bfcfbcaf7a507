"""Schemathesis fuzzes the environment service against its own OpenAPI schema: no input yields a 5xx.

Bounded: a few dozen examples per operation, so the whole module stays well under a minute. The
world is small (``max_batch`` 50) so generated batches stay cheap, and every call carries the
admin token so generated drift, add-arm and reset calls reach the world instead of stopping at 401.
"""

from __future__ import annotations

import math

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from services.environment.app.core.config import Settings
from services.environment.app.main import create_app

TOKEN = "fuzz-admin-token"
app = create_app(Settings(seed=0, max_batch=50, admin_token=TOKEN))
truth_client = TestClient(app)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_service_fail(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                             content_type_conformance])
    assert response.status_code < 500
    # the world stays serviceable whatever was sent: ground truth still answers, with finite means
    truth = truth_client.get("/arms")
    assert truth.status_code == 200
    assert all(math.isfinite(m) for m in truth.json()["means"])
