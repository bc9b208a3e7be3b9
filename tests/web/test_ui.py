"""UI pages in process: the trigger form from params, the grid, graph, code, clear dry run, admin pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from runtime.store import runs
from runtime.store.models import DagRun, TaskInstance
from runtime.store.session import transaction
from tests.web.conftest import AppFixture, make_app
from tests.web.test_auth_routes import csrf_of, signed_in


@pytest.fixture
def fx(tmp_path_factory: pytest.TempPathFactory) -> AppFixture:
    """A fresh app per test, with one broken DAG file beside the good ones."""
    home = tmp_path_factory.mktemp("ui")
    (home / "dags").mkdir()
    (home / "dags" / "broken.py").write_text("from airflow import DAG\n\nx = (\n")
    return make_app(home)


def test_trigger_form_is_generated_from_params_and_converts_types(fx: AppFixture) -> None:
    """Integer, enum, boolean and array params get matching inputs; the run's conf has the typed values."""
    admin = signed_in(fx, "Admin")
    form = admin.get("/dags/web_typed/trigger").text
    assert re.search(r'type="number" name="param.n" value="3"[^>]*min="1"', form)
    assert '<select name="param.mode">' in form and 'type="checkbox" name="param.flag"' in form
    assert '<textarea name="param.items"' in form
    csrf = csrf_of(admin, "/dags/web_typed/trigger")
    bad = admin.post("/dags/web_typed/trigger", data={"csrf_token": csrf, "param.n": "zero"})
    assert bad.status_code == 400 and "param &#39;n&#39;" in bad.text
    ok = admin.post("/dags/web_typed/trigger", follow_redirects=False, data={
        "csrf_token": csrf, "param.n": "4", "param.mode": "slow", "param.flag": "on", "param.items": "[7]"})
    assert ok.status_code == 303
    with fx.factory() as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == "web_typed")).one()
    assert run.conf == {"n": 4, "mode": "slow", "flag": True, "items": [7]}
    json_editor = admin.post("/dags/web_typed/trigger", data={"csrf_token": csrf, "conf_json": "[1]"})
    assert json_editor.status_code == 400 and "must be an object" in json_editor.text


def _run(fx: AppFixture, states: dict[str, str | None], dag_id: str = "web_typed") -> str:
    now = dt.datetime.now(dt.UTC)
    with transaction(fx.factory) as session:
        run = runs.create_dag_run(session, dag_id=dag_id, run_type="manual", logical_date=now,
                                  data_interval=(now, now), now=now, run_id="r1", state="running")
        for task_id, state in states.items():
            session.add(TaskInstance(dag_id=dag_id, run_id="r1", task_id=task_id, state=state, try_number=1))
    return run.run_id


def test_grid_shows_states_and_a_foldable_group(fx: AppFixture) -> None:
    """The grid has a row per task, a group header with a fold button, and cells coloured by state."""
    _run(fx, {"first": "success", "grp.inner_a": "failed", "grp.inner_b": "upstream_failed"})
    page = signed_in(fx, "Viewer").get("/dags/web_typed").text
    assert 'data-fold="grp"' in page
    assert re.search(r'data-task="grp"[^>]*>.*?s-failed', page, re.S), "the group shows its worst state"
    assert 'data-state="success"' in page and 'data-state="upstream_failed"' in page
    assert 'data-active="true"' in page  # a running run: the page keeps refreshing the grid


def test_graph_code_and_details_come_from_the_store(fx: AppFixture) -> None:
    """The graph's data island has nodes and edges; code is the stored source; details list the params schema."""
    _run(fx, {"first": "success"})
    viewer = signed_in(fx, "Viewer")
    graph = viewer.get("/dags/web_typed/graph").text
    assert '"source": "first", "target": "grp.inner_a"' in graph and '"state": "success"' in graph
    assert "/static/vendor/dagre/dagre.min.js" in graph
    code = viewer.get("/dags/web_typed/code").text
    assert "Param(3, type=&#34;integer&#34;" in code or 'Param(3, type="integer"' in code
    details = viewer.get("/dags/web_typed/details").text
    assert "minimum" in details and "how many" in details


def test_clear_shows_a_dry_run_list_before_clearing(fx: AppFixture) -> None:
    """Clear with downstream lists the task and its downstream first; confirming resets them."""
    run_id = _run(fx, {"first": "failed", "grp.inner_a": "upstream_failed", "grp.inner_b": "upstream_failed"})
    admin = signed_in(fx, "User")
    csrf = csrf_of(admin, f"/dags/web_typed/runs/{run_id}/tasks/first")
    url = f"/dags/web_typed/runs/{run_id}/tasks/first/clear"
    dry = admin.post(url, data={"csrf_token": csrf, "downstream": "on"})
    assert dry.status_code == 200 and dry.text.count("<tr><td>") == 3
    with fx.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).where(TaskInstance.state.is_(None))) == 0
    done = admin.post(url, data={"csrf_token": csrf, "downstream": "true", "confirm": "true"}, follow_redirects=False)
    assert done.status_code == 303
    with fx.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(TaskInstance).where(
            TaskInstance.state.is_(None))) == 3


def test_dag_list_filters_and_import_error_banner(fx: AppFixture) -> None:
    """Search, tag and paused filters narrow the list; the banner counts import errors and links to them."""
    viewer = signed_in(fx, "Viewer")
    page = viewer.get("/").text
    assert 'data-dag-id="example_windsock"' in page and 'data-dag-id="web_typed"' in page
    assert 'id="import-error-banner"' in page and "1 DAG file failed to load" in page
    assert 'data-dag-id="example_windsock"' not in viewer.get("/?tag=web").text
    assert 'data-dag-id="web_typed"' not in viewer.get("/?paused=active").text
    assert 'data-dag-id="web_typed"' not in viewer.get("/?q=example").text
    errors = viewer.get("/import-errors").text
    assert "broken.py" in errors and "line" in errors.lower()


def test_admin_pages_never_send_a_connection_password(fx: AppFixture) -> None:
    """An Op adds a connection with a password; the page shows only that one is set."""
    op = signed_in(fx, "Op")
    csrf = csrf_of(op, "/admin/connections")
    op.post("/admin/connections", data={"csrf_token": csrf, "conn_id": "pg", "conn_type": "postgres",
                                        "password": "s3cret-pw", "host": "db"})
    page = op.get("/admin/connections").text
    assert "pg" in page and "s3cret-pw" not in page and ">set<" in page
    op.post("/admin/pools", data={"csrf_token": csrf, "name": "small", "slots": "2"})
    assert "small" in op.get("/admin/pools").text
    op.post("/admin/variables", data={"csrf_token": csrf, "key": "v", "value": "42"})
    assert "42" in op.get("/admin/variables").text


def test_health_page_shows_heartbeats(fx: AppFixture) -> None:
    """A beating scheduler is healthy, a stale one unhealthy; the API's monitor/health agrees."""
    from runtime.store import jobs
    from runtime.store.states import JobType

    now = dt.datetime.now(dt.UTC)
    with transaction(fx.factory) as session:
        jobs.start(session, JobType.SCHEDULER, now)
        stale = jobs.start(session, JobType.DAG_PROCESSOR, now - dt.timedelta(minutes=10))
        jobs.beat(session, stale, now - dt.timedelta(minutes=10))
    health = TestClient(fx.app).get("/api/v2/monitor/health", headers=fx.headers("Viewer")).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert health["scheduler"]["status"] == "healthy" and health["dag_processor"]["status"] == "unhealthy"
    page = signed_in(fx, "Viewer").get("/admin/health").text
    assert "healthy" in page and "unhealthy" in page
    # a triggerer that exited (no try deferred) is no fault; one that is gone while tries wait is
    with transaction(fx.factory) as session:
        old = jobs.start(session, JobType.TRIGGERER, now - dt.timedelta(minutes=10))
        jobs.beat(session, old, now - dt.timedelta(minutes=10))
    health = TestClient(fx.app).get("/api/v2/monitor/health", headers=fx.headers("Viewer")).json()
    assert health["triggerer"]["status"] is None and health["triggerer"]["latest_triggerer_heartbeat"]
