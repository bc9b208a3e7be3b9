"""Every route refuses callers without a valid session or token; roles and CSRF gate what is allowed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.web.auth.middleware import PUBLIC_PATHS, SESSION_COOKIE
from runtime.web.routes import route_table
from tests.web.conftest import AppFixture

FORGED_SESSION = "eyJzdWIiOiJ4Iiwicm9sZSI6IkFkbWluIiwiZXhwIjo5OTk5OTk5OTk5fQ.forgedsignature"


def _concrete(path: str) -> str:
    """A request path for a route template: ids become plain values, ints become 1."""
    path = path.replace("{path:path}", "css/app.css")
    path = re.sub(r"\{(map_index|try_number|import_error_id)\}", "1", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def _requests(app: Any) -> list[tuple[str, str]]:
    pairs = []
    for info in route_table(app.routes):
        if info.path in PUBLIC_PATHS:
            continue
        for method in sorted(info.methods - {"HEAD"}):
            pairs.append((method, _concrete(info.path)))
    return pairs


def test_route_table_is_walked_and_covers_ui_api_and_static(web_app: AppFixture) -> None:
    """The walker sees included routers and mounts, so a new route is covered without editing the tests."""
    paths = {path for _, path in _requests(web_app.app)}
    assert "/api/v2/dags" in paths and "/" in paths and "/admin/variables" in paths
    assert "/static/css/app.css" in paths and "/api/v2/openapi.json" in paths and "/api/v2/docs" in paths
    assert len(paths) >= 45


def _expired_cookie(fx: AppFixture) -> str:
    from runtime.web.auth.roles import Principal, Role
    from runtime.web.auth.tokens import Signer, issue_session, secret_key

    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    return issue_session(Signer(secret_key(fx.settings)), Principal("test:admin", Role.ADMIN), past, 60)


@pytest.mark.parametrize("credential", ["none", "forged-bearer", "forged-session", "expired-bearer", "expired-session",
                                        "other-kind-token"])
def test_every_route_refuses_callers_without_a_valid_credential(web_app: AppFixture, credential: str) -> None:
    """No session, a forged or expired token or cookie, or a token of another kind: 401 on every route."""
    client = TestClient(web_app.app, base_url="http://127.0.0.1")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    headers: dict[str, str] = {}
    if credential == "forged-bearer":
        headers["Authorization"] = "Bearer " + web_app.token("Admin")[:-4] + "abcd"
    elif credential == "expired-bearer":
        headers["Authorization"] = "Bearer " + web_app.token("Admin", now=past, seconds=60)
    elif credential == "other-kind-token":  # a login token is not an API token
        headers["Authorization"] = "Bearer " + web_app.login_token("Admin")
    elif credential == "forged-session":
        client.cookies.set(SESSION_COOKIE, FORGED_SESSION)
    elif credential == "expired-session":
        client.cookies.set(SESSION_COOKIE, _expired_cookie(web_app))
    allowed = []
    for method, path in _requests(web_app.app):
        response = client.request(method, path, headers=headers, json={} if method in ("POST", "PATCH") else None,
                                  follow_redirects=False)
        if response.status_code != 401:
            allowed.append((method, path, response.status_code))
    assert allowed == []


def test_health_is_open_and_carries_no_data(web_app: AppFixture) -> None:
    """/health answers without sign-in with a constant body (the ALB's check)."""
    response = TestClient(web_app.app).get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_login_refuses_missing_forged_expired_and_replayed_tokens(web_app: AppFixture) -> None:
    """A login token works once, within its lifetime, and only with a valid signature."""
    client = TestClient(web_app.app, base_url="http://127.0.0.1")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    assert client.get("/login", follow_redirects=False).status_code == 401
    assert client.get("/login", params={"token": web_app.login_token("Admin")[:-3] + "xyz"},
                      follow_redirects=False).status_code == 401
    assert client.get("/login", params={"token": web_app.login_token("Admin", now=past)},
                      follow_redirects=False).status_code == 401
    token = web_app.login_token("Viewer")
    first = client.get("/login", params={"token": token}, follow_redirects=False)
    assert first.status_code == 303 and SESSION_COOKIE in first.cookies
    fresh = TestClient(web_app.app, base_url="http://127.0.0.1")
    replay = fresh.get("/login", params={"token": token}, follow_redirects=False)
    assert replay.status_code == 401 and "already used" in replay.text


def test_session_cookie_is_httponly_lax_and_secure_only_over_https(web_app: AppFixture) -> None:
    """The cookie flags: HttpOnly and SameSite=Lax always, Secure when the request came over HTTPS."""
    plain = TestClient(web_app.app, base_url="http://127.0.0.1").get(
        "/login", params={"token": web_app.login_token("Admin")}, follow_redirects=False)
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    tls = TestClient(web_app.app, base_url="https://127.0.0.1").get(
        "/login", params={"token": web_app.login_token("Admin")}, follow_redirects=False)
    assert "; secure" in tls.headers["set-cookie"].lower()


def test_security_headers_on_pages_and_refusals(web_app: AppFixture) -> None:
    """CSP with frame-ancestors 'none' and nosniff are on every response, refusals included."""
    client = TestClient(web_app.app)
    for response in (client.get("/"), client.get("/health"), client.get("/api/v2/dags")):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


def signed_in(fx: AppFixture, role: str) -> TestClient:
    """A browser-like client holding a session of ``role``."""
    client = TestClient(fx.app, base_url="http://127.0.0.1")
    assert client.get("/login", params={"token": fx.login_token(role)}, follow_redirects=False).status_code == 303
    return client


def csrf_of(client: TestClient, page: str = "/") -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert match, "the page has a CSRF field"
    return match.group(1)


def test_viewer_sees_no_trigger_button_and_its_post_is_refused(web_app: AppFixture) -> None:
    """Viewer reads the DAG page without Trigger/Pause controls; POSTing anyway is a 403."""
    viewer = signed_in(web_app, "Viewer")
    page = viewer.get("/dags/example_windsock")
    assert page.status_code == 200 and 'data-testid="trigger"' not in page.text
    csrf = csrf_of(viewer, "/dags/example_windsock")
    assert viewer.post("/dags/example_windsock/trigger", data={"csrf_token": csrf}).status_code == 403
    assert viewer.post("/dags/example_windsock/pause", data={"csrf_token": csrf, "is_paused": "true"}).status_code == 403
    assert viewer.get("/admin/variables").status_code == 403


def test_role_gates_follow_airflow(web_app: AppFixture) -> None:
    """User triggers but cannot manage variables; Op manages variables; Viewer reads only."""
    client = TestClient(web_app.app)
    body = {"key": "gate", "value": "1"}
    assert client.post("/api/v2/variables", json=body, headers=web_app.headers("User")).status_code == 403
    assert client.post("/api/v2/variables", json=body, headers=web_app.headers("Op")).status_code == 201
    assert client.get("/api/v2/variables", headers=web_app.headers("Viewer")).status_code == 403
    assert client.patch("/api/v2/dags/example_windsock", json={"is_paused": True},
                        headers=web_app.headers("Viewer")).status_code == 403
    assert client.patch("/api/v2/dags/example_windsock", json={"is_paused": True},
                        headers=web_app.headers("User")).status_code == 200


def test_state_changing_form_without_csrf_token_is_refused(web_app: AppFixture) -> None:
    """A cookie-authenticated POST needs the session's CSRF token (form field or X-CSRF-Token header)."""
    admin = signed_in(web_app, "Admin")
    assert admin.post("/dags/example_windsock/pause", data={"is_paused": "true"}).status_code == 403
    assert admin.post("/dags/example_windsock/pause", data={"is_paused": "true", "csrf_token": "wrong"}).status_code == 403
    ok = admin.post("/dags/example_windsock/pause", data={"is_paused": "false", "csrf_token": csrf_of(admin)},
                    follow_redirects=False)
    assert ok.status_code == 303


def test_every_action_route_declares_a_permission(web_app: AppFixture) -> None:
    """Each route (but the public ones and static files) has a role check, so none is open to any signed-in role."""
    missing = []
    for info in route_table(web_app.app.routes):
        dependant = getattr(info.route, "dependant", None)
        if info.path in PUBLIC_PATHS or dependant is None or info.path == "/logout":
            continue
        if info.path.startswith("/api/v2/openapi") or info.path == "/api/v2/docs":
            continue  # documentation: any signed-in principal may read it
        checks = [d.call for d in _all_dependencies(dependant) if hasattr(d.call, "permission")]
        if not checks:
            missing.append(info.path)
    assert missing == []


def _all_dependencies(dependant: Any) -> list[Any]:
    found = []
    for dep in dependant.dependencies:
        found.append(dep)
        found.extend(_all_dependencies(dep))
    return found


def test_logout_drops_the_cookie(web_app: AppFixture) -> None:
    """After signing out the same browser is refused again."""
    admin = signed_in(web_app, "Admin")
    out = admin.post("/logout", data={"csrf_token": csrf_of(admin)})
    assert out.status_code == 200 and "Signed out" in out.text
    assert admin.get("/").status_code == 401


def test_audit_log_records_who_did_what(web_app: AppFixture) -> None:
    """An API action writes an audit row with the caller's identity and role."""
    client = TestClient(web_app.app)
    client.patch("/api/v2/dags/example_windsock", json={"is_paused": False}, headers=web_app.headers("User"))
    page = signed_in(web_app, "Viewer").get("/admin/audit")
    assert "test:User" in page.text and "api_unpause" in page.text
