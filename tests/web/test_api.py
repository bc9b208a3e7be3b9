"""The /api/v2 routes in process: Airflow's shapes, filters, pagination, actions and clean 4xx errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from runtime.store import runs
from runtime.store.models import TaskInstance
from runtime.store.session import transaction
from tests.web.conftest import AppFixture, make_app


@pytest.fixture
def fx(tmp_path_factory: pytest.TempPathFactory) -> AppFixture:
    """A fresh app per test (these tests change state)."""
    return make_app(tmp_path_factory.mktemp("api"))


@pytest.fixture
def client(fx: AppFixture) -> Iterator[TestClient]:
    """An Admin API client."""
    with TestClient(fx.app, headers=fx.headers("Admin")) as c:
        yield c


def _run_with_tasks(fx: AppFixture, states: dict[str, str | None]) -> str:
    """A run of example_windsock with one task instance per entry of ``states``."""
    now = dt.datetime.now(dt.UTC)
    with transaction(fx.factory) as session:
        run = runs.create_dag_run(session, dag_id="example_windsock", run_type="manual", logical_date=now,
                                  data_interval=(now, now), now=now, run_id="r1")
        for task_id, state in states.items():
            session.add(TaskInstance(dag_id="example_windsock", run_id=run.run_id, task_id=task_id, state=state,
                                     try_number=1 if state else 0))
    return "r1"


def test_dag_list_pagination_filters_and_404_shape(client: TestClient) -> None:
    """limit/offset/total_entries, tag and paused filters, and a 404 whose `detail` names the DAG."""
    body = client.get("/api/v2/dags", params={"limit": 1, "offset": 0}).json()
    assert body["total_entries"] == 2 and [d["dag_id"] for d in body["dags"]] == ["example_windsock"]
    assert client.get("/api/v2/dags", params={"tags": "nope"}).json()["total_entries"] == 0
    assert client.get("/api/v2/dags", params={"tags": "example", "paused": "false"}).json()["total_entries"] == 1
    assert client.get("/api/v2/dags", params={"paused": "true"}).json()["dags"][0]["dag_id"] == "web_typed"
    assert client.get("/api/v2/dags", params={"dag_id_pattern": "WINDSOCK"}).json()["total_entries"] == 1
    missing = client.get("/api/v2/dags/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    bad_order = client.get("/api/v2/dags", params={"order_by": "password"})
    assert bad_order.status_code == 400 and "password" in bad_order.json()["detail"]


def test_trigger_checks_conf_against_params_and_refuses_duplicates(client: TestClient) -> None:
    """A conf of the wrong type is a 400 naming the param; the same run id twice is a 409."""
    bad = client.post("/api/v2/dags/web_typed/dagRuns", json={"conf": {"n": "five"}})
    assert bad.status_code == 400 and "'n'" in bad.json()["detail"]
    ok = client.post("/api/v2/dags/example_windsock/dagRuns", json={"dag_run_id": "mine", "conf": {"greeting": "yo"}})
    assert ok.status_code == 200 and ok.json()["state"] == "queued" and ok.json()["conf"] == {"greeting": "yo"}
    again = client.post("/api/v2/dags/example_windsock/dagRuns", json={"dag_run_id": "mine"})
    assert again.status_code == 409
    assert client.post("/api/v2/dags/example_windsock/dagRuns", json={"dag_run_id": "../x"}).status_code == 400


def test_malformed_unknown_and_oversized_bodies_are_clean_4xx(client: TestClient) -> None:
    """Broken JSON, unknown fields, bad dates and huge bodies: 4xx with a `detail`, never 5xx."""
    url = "/api/v2/dags/example_windsock/dagRuns"
    broken = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    unknown = client.post(url, json={"dag_run_idd": "x"})
    bad_date = client.post(url, json={"logical_date": "yesterday"})
    huge = client.post(url, json={"conf": {"x": "a" * 2_000_000}})
    bad_query = client.get("/api/v2/dags", params={"limit": -1})
    for response in (broken, unknown, bad_date, huge, bad_query):
        assert 400 <= response.status_code < 500 and response.json()["detail"]
    assert huge.status_code == 413


def test_patch_run_state_follows_airflow(fx: AppFixture, client: TestClient) -> None:
    """Marking a run failed fails its running tasks and skips the unfinished rest; success marks them success."""
    run_id = _run_with_tasks(fx, {"start": "success", "say": "running", "done": None})
    failed = client.patch(f"/api/v2/dags/example_windsock/dagRuns/{run_id}", json={"state": "failed"})
    assert failed.status_code == 200 and failed.json()["state"] == "failed"
    tis = client.get(f"/api/v2/dags/example_windsock/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert {t["task_id"]: t["state"] for t in tis} == {"start": "success", "say": "failed", "done": "skipped"}
    assert client.patch(f"/api/v2/dags/example_windsock/dagRuns/{run_id}", json={"state": "running"}).status_code == 422


def test_clear_dry_run_lists_and_real_clear_resets(fx: AppFixture, client: TestClient) -> None:
    """dry_run lists what would be cleared without changing it; without it the tasks go back to none."""
    run_id = _run_with_tasks(fx, {"start": "success", "say": "failed", "numbers": "success"})
    body = {"dag_run_id": run_id, "task_ids": ["say"], "include_downstream": False, "only_failed": False}
    dry = client.post("/api/v2/dags/example_windsock/clearTaskInstances", json={**body, "dry_run": True}).json()
    assert [t["task_id"] for t in dry["task_instances"]] == ["say"] and dry["task_instances"][0]["state"] == "failed"
    client.post("/api/v2/dags/example_windsock/clearTaskInstances", json={**body, "dry_run": False})
    ti = client.get(f"/api/v2/dags/example_windsock/dagRuns/{run_id}/taskInstances/say").json()
    assert ti["state"] is None
    run = client.get(f"/api/v2/dags/example_windsock/dagRuns/{run_id}").json()
    assert run["state"] == "queued"
    unknown = client.post("/api/v2/dags/example_windsock/clearTaskInstances", json={"task_ids": ["nope"]})
    assert unknown.status_code == 400


def test_connection_password_is_never_returned(client: TestClient) -> None:
    """A stored password goes in and never comes out of the API."""
    made = client.post("/api/v2/connections", json={"connection_id": "db1", "conn_type": "postgres",
                                                    "password": "hunter2", "host": "h", "schema": "s"})
    assert made.status_code == 201 and made.json()["password"] is None and made.json()["schema"] == "s"
    listed = client.get("/api/v2/connections").text
    assert "hunter2" not in listed and "db1" in listed


def test_pools_report_slot_usage_and_protect_default_pool(fx: AppFixture, client: TestClient) -> None:
    """Pools show running/queued slots; default_pool cannot be deleted; slots below -1 are refused."""
    _run_with_tasks(fx, {"start": "running", "say": "queued"})
    pool = client.get("/api/v2/pools/default_pool").json()
    assert pool["running_slots"] == 1 and pool["queued_slots"] == 1 and pool["open_slots"] == pool["slots"] - 2
    assert client.delete("/api/v2/pools/default_pool").status_code == 400
    assert client.post("/api/v2/pools", json={"name": "p", "slots": -2}).status_code == 422
    assert client.post("/api/v2/pools", json={"name": "p", "slots": 3}).status_code == 201
    assert client.patch("/api/v2/pools/p", json={"slots": 5}).json()["slots"] == 5


def test_delete_run_removes_it(fx: AppFixture, client: TestClient) -> None:
    """DELETE answers 204 and the run is gone (404 after)."""
    run_id = _run_with_tasks(fx, {"start": "success"})
    assert client.delete(f"/api/v2/dags/example_windsock/dagRuns/{run_id}").status_code == 204
    assert client.get(f"/api/v2/dags/example_windsock/dagRuns/{run_id}").status_code == 404


def test_openapi_document_and_docs_page_are_served(client: TestClient) -> None:
    """/api/v2/openapi.json lists the Airflow paths; /api/v2/docs loads Swagger UI from our own static files."""
    spec = client.get("/api/v2/openapi.json").json()
    for path in ("/api/v2/dags", "/api/v2/dags/{dag_id}/dagRuns", "/api/v2/dags/{dag_id}/clearTaskInstances",
                 "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
                 "/api/v2/importErrors", "/api/v2/monitor/health", "/api/v2/version"):
        assert path in spec["paths"]
    assert not any(p.startswith("/admin") or p == "/" for p in spec["paths"])
    docs = client.get("/api/v2/docs")
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
