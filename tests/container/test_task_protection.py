"""The ECS task-protection helper against a local stand-in for the ECS agent endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from runtime.container.task_protection import (
    TaskProtectionError,
    agent_uri,
    get_protection,
    set_protection,
)


class AgentState:
    """What the fake agent saw and holds."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.protection: dict[str, Any] = {"ProtectionEnabled": False, "ExpirationDate": None}
        self.fail = False


def handler_for(state: AgentState) -> type[BaseHTTPRequestHandler]:
    """A handler speaking the agent's JSON shape: {"protection": {...}} or {"failure": {...}}."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            state.requests.append(("PUT", self.path, body))
            if state.fail:
                self._reply({"failure": {"Reason": "TASK_NOT_VALID", "Arn": "arn:task"}})
                return
            state.protection = {
                "ProtectionEnabled": body["ProtectionEnabled"],
                "ExpirationDate": "2026-01-01T00:00:00Z" if body["ProtectionEnabled"] else None,
            }
            self._reply({"protection": state.protection})

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append(("GET", self.path, None))
            self._reply({"protection": state.protection})

        def log_message(self, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@pytest.fixture
def agent() -> Iterator[tuple[str, AgentState]]:
    """A fake ECS agent on 127.0.0.1 (a random port), stopped after the test."""
    state = AgentState()
    server = HTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/task-id", state
    finally:
        server.shutdown()
        server.server_close()


def test_protect_then_release(agent: tuple[str, AgentState]) -> None:
    """PUT enables protection with an expiry; GET reads it; PUT disables it."""
    uri, state = agent
    on = set_protection(uri, enabled=True, expires_minutes=30)
    assert on.enabled and on.expiration
    assert get_protection(uri).enabled
    off = set_protection(uri, enabled=False)
    assert not off.enabled
    assert state.requests[0] == (
        "PUT",
        "/api/task-id/task-protection/v1/state",
        {"ProtectionEnabled": True, "ExpiresInMinutes": 30},
    )
    assert state.requests[2][2] == {"ProtectionEnabled": False}


def test_expiry_is_clamped_to_the_ecs_limit(agent: tuple[str, AgentState]) -> None:
    """ECS accepts at most 2880 minutes (48 h)."""
    uri, state = agent
    set_protection(uri, enabled=True, expires_minutes=10_000)
    assert state.requests[-1][2] == {"ProtectionEnabled": True, "ExpiresInMinutes": 2880}


def test_agent_failure_is_an_error_with_the_reason(agent: tuple[str, AgentState]) -> None:
    """A {"failure": ...} answer raises TaskProtectionError naming the reason."""
    uri, state = agent
    state.fail = True
    with pytest.raises(TaskProtectionError, match="TASK_NOT_VALID"):
        set_protection(uri, enabled=True)


def test_unreachable_agent_is_an_error() -> None:
    """A closed port raises TaskProtectionError, not a raw socket error."""
    with pytest.raises(TaskProtectionError):
        get_protection("http://127.0.0.1:9/api/x", timeout=1)


def test_agent_uri_comes_from_the_ecs_environment() -> None:
    """ECS sets ECS_AGENT_URI; outside ECS there is none."""
    assert agent_uri({"ECS_AGENT_URI": "http://169.254.170.2/api/abc"}) == "http://169.254.170.2/api/abc"
    assert agent_uri({}) is None
