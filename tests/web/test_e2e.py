"""End to end against one `windsock standalone`: the official Airflow client and Chromium through Playwright.

Both use the session's standalone (SQLite, local executor, web server child on a free 127.0.0.1 port).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.services import wait_for
from tests.web.conftest import Standalone

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def test_airflow_client_lists_triggers_reads_task_instances_and_a_log(standalone: Standalone) -> None:
    """apache-airflow-client, unchanged: get_dags, trigger_dag_run, get_task_instances, get_log."""
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api import dag_api, dag_run_api, task_instance_api

    config = client.Configuration(host=standalone.url, access_token=standalone.api_token("User"))
    with client.ApiClient(config) as api:
        dags = dag_api.DAGApi(api).get_dags(limit=100)
        assert "example_windsock" in [d.dag_id for d in dags.dags] and dags.total_entries >= 2
        dag_api.DAGApi(api).patch_dag("example_windsock", client.DAGPatchBody(is_paused=False))
        run = dag_run_api.DagRunApi(api).trigger_dag_run(
            "example_windsock", client.TriggerDAGRunPostBody(dag_run_id="from_client", conf={"greeting": "hi"}))
        assert run.dag_run_id == "from_client" and run.conf == {"greeting": "hi"}
        runs = dag_run_api.DagRunApi(api)
        wait_for(lambda: runs.get_dag_run("example_windsock", "from_client").state.value in ("success", "failed"),
              120, "the triggered run to finish")
        assert runs.get_dag_run("example_windsock", "from_client").state.value == "success"
        tis = task_instance_api.TaskInstanceApi(api).get_task_instances("example_windsock", "from_client")
        states = {t.task_id: t.state.value for t in tis.task_instances if t.state is not None}
        assert states["say"] == "success" and tis.total_entries >= 8
        log = task_instance_api.TaskInstanceApi(api).get_log("example_windsock", "from_client", "say", 1)
        text = "\n".join(m.event for m in log.content.actual_instance)
        assert "hi from" in text


def _page(browser: Any, viewport: str = "desktop") -> tuple[Any, list[str]]:
    """A fresh context (no cookies) whose page records console errors and failed requests."""
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page, errors


def test_login_link_unpause_trigger_grid_turns_green_and_log_opens(browser: Any, standalone: Standalone) -> None:
    """The standalone banner's link signs in; the example DAG is paused, unpaused, triggered; its grid turns green."""
    page, errors = _page(browser)
    page.goto(standalone.login_link)
    row = page.locator('tr[data-dag-id="example_windsock"]')
    assert row.is_visible() and page.locator("#role").inner_text() == "Admin"
    toggle = row.locator('[data-testid="pause-toggle"]')
    if toggle.get_attribute("aria-pressed") == "true":
        toggle.click()  # pause first, so that unpausing is a real change
        page.wait_for_load_state()
    page.locator('tr[data-dag-id="example_windsock"] [data-testid="pause-toggle"]').click()
    page.wait_for_load_state()
    assert page.locator('tr[data-dag-id="example_windsock"] [data-testid="pause-toggle"]').get_attribute(
        "aria-pressed") == "true"
    page.locator('tr[data-dag-id="example_windsock"] a.dag-link').click()
    page.locator('[data-testid="trigger"]').click()
    page.locator('input[name="param.greeting"]').fill("browser")
    page.locator("#trigger-submit").click()
    page.wait_for_url(f"{standalone.url}/dags/example_windsock")
    page.locator('#grid-body[data-active="false"]').wait_for(timeout=120_000)  # the page polls until done
    last_run = page.locator("#grid-body thead a.dot").last
    assert last_run.get_attribute("data-run-state") == "success"
    page.locator('tr[data-task="say"] a.cell').last.click()
    page.locator("#log-status").filter(has_text="Try finished").wait_for()
    assert "browser from" in page.locator("#log").inner_text()
    page.goto(f"{standalone.url}/dags/example_windsock/graph")
    page.locator('#graph g.node[data-task="say"][data-state="success"]').wait_for()
    assert errors == []


def test_viewer_cannot_trigger_and_tokens_are_one_time(browser: Any, standalone: Standalone) -> None:
    """A Viewer sees no Trigger button and its POST gets 403; a replayed or expired link is refused."""
    page, _ = _page(browser)
    link = standalone.link("Viewer")
    page.goto(link)
    page.goto(f"{standalone.url}/dags/example_windsock")
    assert page.locator('[data-testid="trigger"]').count() == 0
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = page.request.post(f"{standalone.url}/dags/example_windsock/trigger", form={"csrf_token": csrf})
    assert response.status == 403
    other, _ = _page(browser)
    assert other.goto(link).status == 401  # replayed
    assert other.goto(standalone.link("Admin", seconds=-1)).status == 401  # expired
    assert other.goto(f"{standalone.url}/").status == 401


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pages_render_without_errors_at_both_sizes(browser: Any, standalone: Standalone, viewport: str) -> None:
    """Every main page loads without console errors at 1280x800 and 390x844, and nothing overflows the phone."""
    page, errors = _page(browser, viewport)
    page.goto(standalone.link("Admin"))
    for path in ("/", "/dags/example_windsock", "/dags/example_windsock/graph", "/dags/web_typed",
                 "/dags/example_windsock/runs", "/dags/example_windsock/code", "/dags/example_windsock/details",
                 "/dags/web_typed/trigger", "/import-errors", "/admin/variables", "/admin/connections",
                 "/admin/pools", "/admin/audit", "/admin/health", "/api/v2/docs"):
        response = page.goto(standalone.url + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{path} is wider than the {viewport} viewport"
    page.goto(standalone.url + "/api/v2/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert errors == []
