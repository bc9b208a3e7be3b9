"""ECS task scale-in protection through the ECS agent endpoint (``$ECS_AGENT_URI/task-protection/v1/state``).

A worker holds protection while it runs task tries so that scaling in never stops it mid-task;
the task role may call it thanks to ``ecs:UpdateTaskProtection``/``ecs:GetTaskProtection``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.errors import WindsockError

PATH = "/task-protection/v1/state"
MAX_EXPIRES_MINUTES = 2880  # ECS limit: 48 hours


class TaskProtectionError(WindsockError):
    """The ECS agent refused or failed a task-protection request."""


@dataclass(frozen=True)
class ProtectionState:
    """What the agent reports: whether protection is on and until when (ISO timestamp or None)."""

    enabled: bool
    expiration: str | None


def agent_uri(environ: Mapping[str, str]) -> str | None:
    """The ECS agent base URI, or None outside ECS (then protection is a no-op)."""
    return environ.get("ECS_AGENT_URI") or None


def _request(base: str, method: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    """One JSON request to the agent; errors become TaskProtectionError."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base.rstrip("/") + PATH, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read() or b"{}")
    except (OSError, ValueError) as exc:
        raise TaskProtectionError(f"task protection {method} failed: {exc}") from exc
    if "failure" in payload or "error" in payload:
        raise TaskProtectionError(
            f"task protection {method} refused: {payload.get('failure') or payload.get('error')}"
        )
    return dict(payload.get("protection") or {})


def _state(protection: Mapping[str, Any]) -> ProtectionState:
    return ProtectionState(
        enabled=bool(protection.get("ProtectionEnabled")), expiration=protection.get("ExpirationDate")
    )


def set_protection(
    base: str, *, enabled: bool, expires_minutes: int = 60, timeout: float = 5.0
) -> ProtectionState:
    """Turn protection on (for ``expires_minutes``, renewed by the caller) or off."""
    body: dict[str, Any] = {"ProtectionEnabled": enabled}
    if enabled:
        body["ExpiresInMinutes"] = max(1, min(expires_minutes, MAX_EXPIRES_MINUTES))
    return _state(_request(base, "PUT", body, timeout))


def get_protection(base: str, *, timeout: float = 5.0) -> ProtectionState:
    """The current protection state of this task."""
    return _state(_request(base, "GET", None, timeout))
