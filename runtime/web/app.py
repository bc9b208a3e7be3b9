"""The ASGI application: routes, security headers, sign-in, error mapping and static files."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import runtime
from runtime.errors import UserError
from runtime.settings import Settings
from runtime.store.actions import NotFound
from runtime.store.session import open_store, transaction
from runtime.web import cli_endpoint, signin
from runtime.web.api import dags as api_dags
from runtime.web.api import resources as api_resources
from runtime.web.api import task_instances as api_tis
from runtime.web.auth.middleware import SESSION_COOKIE, AuthMiddleware, wants_json
from runtime.web.auth.tokens import Signer, TokenError, issue_session, redeem_login_token, secret_key
from runtime.web.context import WebContext, ctx
from runtime.web.ui import admin as ui_admin
from runtime.web.ui import pages as ui_pages
from runtime.web.ui import task_pages as ui_task_pages
from runtime.web.ui.render import page

STATIC = Path(__file__).with_name("static")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
log = logging.getLogger("windsock.web")


class SecurityHeaders:
    """Adds CSP (frame-ancestors none), nosniff, DENY framing and no-store to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap ``send`` to add the headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, clock: Callable[[], dt.datetime] | None = None) -> FastAPI:
    """The web application over the metadata database of ``settings``."""
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    _, factory = open_store(settings)
    signer = Signer(secret_key(settings))
    app = FastAPI(title="Windsock REST API", version="2", openapi_url="/api/v2/openapi.json", docs_url=None,
                  redoc_url=None, description="Apache Airflow 3's public REST API, served by Windsock "
                  f"{runtime.__version__}.")
    app.state.ctx = WebContext(settings=settings, session_factory=factory, signer=signer, clock=clock)
    for router in (api_dags.router, api_tis.router, api_resources.router):
        app.include_router(router)
    for router in (ui_pages.router, ui_task_pages.router, ui_admin.router, signin.router, cli_endpoint.router):
        app.include_router(router, include_in_schema=False)
    _add_core_routes(app)
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(AuthMiddleware, signer=signer, clock=clock)
    app.add_middleware(SecurityHeaders)
    return app


def _add_core_routes(app: FastAPI) -> None:
    @app.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        """Liveness for the load balancer: no data, no sign-in."""
        return JSONResponse({"status": "ok"})

    @app.get("/login", include_in_schema=False)
    def login(request: Request, token: str = "") -> Response:
        """Redeem a one-time login token for a session cookie, then go to the DAG list."""
        context = ctx(request)
        now = context.clock()
        try:
            with transaction(context.session_factory) as session:
                who = redeem_login_token(session, context.signer, token, now)
        except TokenError as exc:
            return HTMLResponse(page("Sign-in failed", f"{exc}. Ask for a fresh login link "
                                     "(windsock webserver login-link)."), status_code=401)
        minutes = int(context.setting("webserver", "session_lifetime_minutes"))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, issue_session(context.signer, who, now, minutes * 60),
                            max_age=minutes * 60, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        """Drop the session cookie (the page needs no session, so it is shown right here)."""
        response = HTMLResponse(page("Signed out", "Your session cookie was removed. Sign in again with a fresh "
                                     "login link."))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/api/v2/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI over the served OpenAPI document (vendored; no CDN, CSP-clean)."""
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>Windsock REST API</title>"
            "<link rel='stylesheet' href='/static/vendor/swagger-ui/swagger-ui.css'></head><body>"
            "<div id='swagger-ui'></div><script src='/static/vendor/swagger-ui/swagger-ui-bundle.js'></script>"
            "<script src='/static/js/swagger-init.js'></script></body></html>"
        )


def _add_error_handlers(app: FastAPI) -> None:
    def respond(request: Request, status: int, detail: object) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": detail}, status_code=status)
        return HTMLResponse(page(f"Error {status}", str(detail)), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return respond(request, exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return respond(request, 422, errors if wants_json(request) else "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return respond(request, 404, str(exc))

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        return respond(request, 400, str(exc))

    @app.exception_handler(sa.exc.IntegrityError)
    async def conflict(request: Request, exc: sa.exc.IntegrityError) -> Response:
        return respond(request, 409, "the change conflicts with stored data (it already exists or was changed)")

    @app.exception_handler(sa.exc.DataError)
    async def bad_data(request: Request, exc: sa.exc.DataError) -> Response:
        return respond(request, 400, "a value is not valid for the database (too long or out of range)")

    @app.exception_handler(sa.exc.OperationalError)
    async def db_down(request: Request, exc: sa.exc.OperationalError) -> Response:
        log.warning("metadata database error: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return respond(request, 503, "the metadata database is not reachable; try again")
