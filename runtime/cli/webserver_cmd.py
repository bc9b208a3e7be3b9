"""``windsock webserver``: serve the UI and REST API; ``login-link`` and ``api-token`` sign someone in.

No passwords exist: a one-time login link (or an API bearer token) is minted by whoever can
read the web server's key (``[webserver] secret_key``, else ``$WINDSOCK_HOME/webserver_secret_key``),
as ``airflow standalone`` prints a password. IAM sign-in mints the same tokens for IAM identities.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from runtime.cli import common
from runtime.errors import UserError


def register(tree: Any) -> None:
    """Add ``webserver`` with its ``login-link`` and ``api-token`` sub-commands."""
    p = tree.command("webserver", help="Run the web UI and the REST API (or mint a login link / API token)",
                     func=cmd_webserver)
    p.add_argument("-H", "--hostname", help="address to bind (default [webserver] web_server_host)")
    p.add_argument("-p", "--port", type=int, help="port (default [webserver] web_server_port)")
    sub = p.add_subparsers(dest="webserver_command", metavar="SUBCOMMAND", required=False)
    for name, func, what in (("login-link", cmd_login_link, "a one-time web login link"),
                             ("api-token", cmd_api_token, "a REST API bearer token")):
        q = sub.add_parser(name, help=f"Print {what}")
        q.add_argument("--role", default="Admin", help="Admin, Op, User or Viewer (default Admin)")
        q.add_argument("--identity", help="who signs in (default local:<user>)")
        q.add_argument("--seconds", type=int, help="lifetime (default from [webserver] settings)")
        if name == "login-link":
            q.add_argument("--url", help="base URL of the web server (default http://127.0.0.1:<port>)")
        q.set_defaults(func=func)


def _principal(args: argparse.Namespace) -> Any:
    from runtime.web.auth.roles import Principal, parse_role

    try:
        role = parse_role(args.role)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return Principal(args.identity or f"local:{getpass.getuser()}", role)


def base_url(settings: Any, port: int | None = None) -> str:
    """Where a browser on this machine reaches the web server."""
    host = str(settings.get("webserver", "web_server_host"))
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{port or settings.get('webserver', 'web_server_port')}"


def login_link(settings: Any, principal: Any, seconds: float, url: str | None = None) -> str:
    """A one-time login URL for ``principal``."""
    from runtime.sdk import timezone
    from runtime.web.auth.tokens import Signer, issue_login_token, secret_key

    token = issue_login_token(Signer(secret_key(settings)), principal, timezone.utcnow(), seconds)
    return f"{(url or base_url(settings)).rstrip('/')}/login?token={token}"


def cmd_login_link(args: argparse.Namespace) -> int:
    """Print a one-time login link (60 s by default)."""
    settings = common.load_settings()
    seconds = args.seconds or int(settings.get("webserver", "login_token_seconds"))
    print(login_link(settings, _principal(args), seconds, args.url))
    return 0


def cmd_api_token(args: argparse.Namespace) -> int:
    """Print a REST API bearer token."""
    from runtime.sdk import timezone
    from runtime.web.auth.tokens import Signer, issue_api_token, secret_key

    settings = common.load_settings()
    seconds = args.seconds or int(settings.get("webserver", "api_token_seconds"))
    print(issue_api_token(Signer(secret_key(settings)), _principal(args), timezone.utcnow(), seconds))
    return 0


def cmd_webserver(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; the schema must be initialised."""
    settings = common.load_settings()
    return serve(settings, args.hostname, args.port)


def serve(settings: Any, hostname: str | None = None, port: int | None = None) -> int:
    """Check the schema, then serve the app with uvicorn until SIGTERM/SIGINT."""
    import uvicorn

    from runtime.store import db
    from runtime.store.session import open_store
    from runtime.web.app import create_app

    db.check(open_store(settings)[0])
    host = hostname or str(settings.get("webserver", "web_server_host"))
    port = port or int(settings.get("webserver", "web_server_port"))
    app = create_app(settings)
    print(f"[windsock] webserver: http://{host}:{port}  (sign in with a link from "
          "`windsock webserver login-link --role Admin`)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="*",
                            log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    server = _quiet_server(config)
    server.run()
    return 0 if server.started else 3  # uvicorn.run's code for a failed start-up


def _quiet_server(config: Any) -> Any:
    """A uvicorn server for ``config`` that wakes once a second when idle (see ``QuietServer``)."""
    import asyncio

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn's server, looking at its exit flag once a second instead of ten times: an idle web
        server then wakes once a second (a SIGTERM is seen within a second; the Date header, which
        uvicorn refreshes on every tenth tick, stays right to the second)."""

        async def main_loop(self) -> None:
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000
                await asyncio.sleep(1.0)

    return QuietServer(config)


def start_child(port: int | None = None, *, settings: Any = None) -> Any:
    """``windsock webserver`` as a child that gets SIGTERM when this process dies (standalone): a fork
    of this process serving ``settings`` when it may fork (a ``procs.ForkedChild``), else a fresh
    interpreter (a ``Popen``) that loads the settings from the environment."""
    from runtime import procs

    if settings is not None and procs.can_fork():
        return procs.fork_child(lambda: serve(settings, None, port), name="webserver")
    return procs.start_child([sys.executable, "-m", "runtime.cli.main", "webserver"] + (["--port", str(port)] if port else []))
