"""ASGI middleware that signs in every request (bearer token or session cookie) before any route.

Only ``PUBLIC_PATHS`` pass without a principal (``/health`` carries no data; ``/login`` and
the IAM sign-in routes refuse by themselves without a valid one-time token or proof). State-changing requests signed in by a
cookie must carry the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``). Request bodies are capped at ``MAX_BODY_BYTES`` (413 beyond).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.web.auth.roles import Principal
from runtime.web.auth.tokens import Signer, TokenError, read_api_token, read_session

# /health carries no data; /login and the IAM sign-in routes refuse by themselves without a valid
# one-time token or a proof verified by STS (runtime/web/signin.py); the SSO page only holds a script.
PUBLIC_PATHS = frozenset({"/health", "/login", "/iam/web-login-token", "/iam/cli-token", "/aws_mwaa/aws-console-sso",
                          "/aws_mwaa/sso.js"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "windsock_session"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
MAX_BODY_BYTES = 1_000_000

Clock = Callable[[], dt.datetime]


class AuthMiddleware:
    """Puts ``principal``, ``auth_kind`` and ``csrf`` into ``request.state`` or refuses the request."""

    def __init__(self, app: ASGIApp, signer: Signer, clock: Clock) -> None:
        self.app = app
        self.signer = signer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, check CSRF and body size, then call the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in PUBLIC_PATHS:
            await self._public(scope, receive, send)
            return
        request = Request(scope)
        found = self._authenticate(request)
        if isinstance(found, str):
            await _refuse(request, 401, found)(scope, receive, send)
            return
        principal, kind, csrf = found
        state = scope.setdefault("state", {})
        state.update(principal=principal, auth_kind=kind, csrf=csrf)
        if scope["method"] not in SAFE_METHODS:
            body = await _read_body(receive)
            if body is None:
                await _refuse(request, 413, "request body too large")(scope, receive, send)
                return
            if kind == "session" and not _csrf_ok(request, body, csrf):
                await _refuse(request, 403, "CSRF token missing or wrong; reload the page")(scope, receive, send)
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    async def _public(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A public route: no principal, but the body cap holds (IAM sign-in takes a POST body)."""
        if scope["method"] not in SAFE_METHODS:
            body = await _read_body(receive)
            if body is None:
                await _refuse(Request(scope), 413, "request body too large")(scope, receive, send)
                return
            receive = _replay(body)
        await self.app(scope, receive, send)

    def _authenticate(self, request: Request) -> tuple[Principal, str, str] | str:
        """(principal, kind, csrf), or the reason the caller is not signed in."""
        now = self.clock()
        header = request.headers.get("authorization", "")
        try:
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return "use 'Authorization: Bearer <token>'"
                return read_api_token(self.signer, token.strip(), now), "bearer", ""
            cookie = request.cookies.get(SESSION_COOKIE)
            if not cookie:
                return "not signed in"
            principal, csrf = read_session(self.signer, cookie, now)
            return principal, "session", csrf
        except TokenError as exc:
            return str(exc)


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON errors; browsers get a page."""
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def _refuse(request: Request, status: int, reason: str) -> Response:
    if wants_json(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": reason}, status_code=status, headers=headers)
    text = {401: "Sign-in required", 403: "Forbidden", 413: "Request too large"}.get(status, "Refused")
    hint = "Open a fresh login link (windsock webserver login-link)." if status == 401 else ""
    page = f"<!doctype html><title>{text}</title><h1>{text}</h1><p>{_escape(reason)}</p><p>{hint}</p>"
    return HTMLResponse(page, status_code=status)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it exceeds MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _csrf_ok(request: Request, body: bytes, expected: str) -> bool:
    """The header or the form field carries the session's CSRF secret."""
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        given = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0]
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def principal(request: Request) -> Principal:
    """The signed-in principal of a request that passed the middleware."""
    found: Any = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):  # only reachable if a public path asks for one
        raise PermissionError("not signed in")
    return found

