"""Fuzz /api/v2 from its served OpenAPI document (schemathesis): no 5xx, every error a 4xx with a `detail`.

Bounded: a few examples per operation, derandomized, no deadline; the whole module takes well under 2 min.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.web.conftest import AppFixture, make_app

schemathesis = pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> AppFixture:
    """An app of its own (fuzzing changes and deletes things)."""
    return make_app(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def api_schema(fuzz_app: AppFixture) -> Any:
    """The served OpenAPI document, fetched with an Admin token."""
    return schemathesis.openapi.from_asgi("/api/v2/openapi.json", fuzz_app.app, headers=fuzz_app.headers("Admin"))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx_and_errors_carry_detail(case: Any, fuzz_app: AppFixture) -> None:
    """Generated (valid and invalid) requests get a non-5xx answer; each 4xx says why in `detail`."""
    response = case.call(headers=fuzz_app.headers("Admin"))
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert body.get("detail"), f"{case.method} {case.formatted_path}: {response.status_code} without detail"
