"""Template rendering for the UI: the Jinja2 environment, filters and the page context."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from runtime.store.states import TaskInstanceState
from runtime.web.auth.middleware import CSRF_FIELD, principal
from runtime.web.auth.roles import Permission

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
STATE_COLOURS = (*(s.value for s in TaskInstanceState), "none")


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}" if whole >= 60 else f"{seconds:.2f}s"


def _state(value: str | None) -> str:
    return value if value in STATE_COLOURS else "none"


def _tojson(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


TEMPLATES.env.filters.update(when=_when, duration=_duration, state=_state, pretty=_tojson)
TEMPLATES.env.globals.update(Permission=Permission)


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """Render ``name`` with the signed-in principal, its permissions and the CSRF token."""
    who = principal(request)
    values.update(
        request=request, who=who, csrf=getattr(request.state, "csrf", ""), csrf_field=CSRF_FIELD,
        can_edit=who.can(Permission.EDIT_DAGS), can_config=who.can(Permission.CONFIG),
    )
    return TEMPLATES.TemplateResponse(request, name, values, status_code=status)


def page(title: str, message: str) -> str:
    """A minimal standalone page (errors, sign-in results) that needs no session."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
