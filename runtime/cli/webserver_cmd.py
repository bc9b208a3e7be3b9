"""``windsock webserver``: serve the UI and REST API; ``login-link`` and ``api-token`` sign someone in.

No passwords exist: a one-time login link (or an API bearer token) is minted by whoever can
read the web server's key (``[webserver] secret_key``, else ``$WINDSOCK_HOME/webserver_secret_key``),
as ``airflow standalone`` prints a password. IAM sign-in mints the same tokens for IAM identities.
"""

from __future__ import annotations

import argparse
import getpass
import os
import select
import socket
import sys
import time
from typing import Any

from runtime.cli import common
from runtime.errors import UserError


def register(tree: Any) -> None:
    """Add ``webserver`` with its ``login-link`` and ``api-token`` sub-commands."""
    p = tree.command("webserver", help="Run the web UI and the REST API (or mint a login link / API token)",
                     func=cmd_webserver)
    p.add_argument("-H", "--hostname", help="address to bind (default [webserver] web_server_host)")
    p.add_argument("-p", "--port", type=int, help="port (default [webserver] web_server_port)")
    p.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)  # standalone hands over its bound port
    p.add_argument("--idle-exit", type=float, default=0.0, help=argparse.SUPPRESS)
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
    if args.socket_fd is not None:
        return serve(settings, sock=socket.socket(fileno=args.socket_fd), idle_exit=args.idle_exit)
    return serve(settings, args.hostname, args.port)


def serve(settings: Any, hostname: str | None = None, port: int | None = None, *,
          sock: socket.socket | None = None, idle_exit: float = 0.0) -> int:
    """Check the schema, then serve the app with uvicorn until SIGTERM/SIGINT (on ``sock``, a bound
    listening socket, if given; with ``idle_exit`` > 0 also until that many seconds pass without a
    request or an open connection)."""
    import uvicorn

    from runtime.store import db
    from runtime.store.session import open_store
    from runtime.web.app import create_app

    db.check(open_store(settings)[0])
    host = hostname or str(settings.get("webserver", "web_server_host"))
    port = port or int(settings.get("webserver", "web_server_port"))
    app = create_app(settings)
    if sock is None:
        print(f"[windsock] webserver: http://{host}:{port}  (sign in with a link from "
              "`windsock webserver login-link --role Admin`)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="*",
                            log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    server = _quiet_server(config, idle_exit)
    server.run(sockets=[sock] if sock is not None else None)
    return 0 if server.started else 3  # uvicorn.run's code for a failed start-up


def _quiet_server(config: Any, idle_exit: float = 0.0) -> Any:
    """A uvicorn server for ``config`` that wakes once a second when idle (see ``QuietServer``)."""
    import asyncio

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn's server, looking at its exit flag once a second instead of ten times: an idle web
        server then wakes once a second (a SIGTERM is seen within a second; the Date header, which
        uvicorn refreshes on every tenth tick, stays right to the second). With ``idle_exit`` it
        also exits, gracefully, once no connection was open and no request came for that long."""

        async def main_loop(self) -> None:
            counter, quiet, seen = 0, 0.0, -1
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000
                await asyncio.sleep(1.0)
                state = self.server_state
                busy = bool(state.connections) or state.total_requests != seen
                seen, quiet = state.total_requests, 0.0 if busy else quiet + 1.0
                if idle_exit > 0 and quiet >= idle_exit:
                    return

    return QuietServer(config)


def start_child(port: int | None = None, *, settings: Any = None) -> Any:
    """``windsock webserver`` as a child that gets SIGTERM when this process dies: a fork of this
    process serving ``settings`` when it may fork (a ``procs.ForkedChild``), else a fresh
    interpreter (a ``Popen``) that loads the settings from the environment."""
    from runtime import procs

    if settings is not None and procs.can_fork():
        return procs.fork_child(lambda: serve(settings, None, port), name="webserver")
    return procs.start_child(procs.python_module("runtime.cli.main", "webserver", *(["--port", str(port)] if port else [])))


class OnDemand:
    """standalone's web server, started by the first connection: this process binds the port (so it
    is taken, and a clash is reported, at start-up) and waits on it with its other events; a
    connection forks the server, which serves on the same socket and exits after
    ``[webserver] standalone_idle_exit`` seconds without a request. Meanwhile this process waits on
    the server's exit (a pidfd) instead of the socket, and then on the socket again: connections
    that arrive in between wait in the socket's backlog, none is refused. A server that dies is
    started again by the next connection (at most once a second). An idle environment then holds
    no web server and no web app modules (~65 MiB of PSS, ``bench/idle.py``), at the price of ~0.5 s
    on the first request after a quiet period (the web app's imports).
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.idle_exit = float(settings.get("webserver", "standalone_idle_exit"))
        host = str(settings.get("webserver", "web_server_host"))
        self.sock = bind(host, int(settings.get("webserver", "web_server_port")))
        self.child: Any = None
        self._pidfd: int | None = None
        self._last_start = -1e9

    def fds(self) -> list[int]:
        """What to wake on: the socket while no server runs, else the server's exit."""
        if self.child is None:  # one that just died waits out its second (its next wake-up starts it)
            return [self.sock.fileno()] if time.monotonic() - self._last_start >= 1.0 else []
        return [self._pidfd] if self._pidfd is not None else []

    def tend(self) -> None:
        """Collect a server that exited; start one if a connection waits."""
        if self.child is not None and self.child.poll() is not None:
            if self.child.returncode != 0:
                print(f"[windsock] webserver: exited with {self.child.returncode}; the next connection starts it again",
                      file=sys.stderr, flush=True)
            self._forget()
        if self.child is None and _readable(self.sock) and time.monotonic() - self._last_start >= 1.0:
            self.start()

    def start(self) -> None:
        """Start the server now (standalone does at once when ``standalone_idle_exit`` is 0): a fork of
        this process, or a fresh interpreter handed the socket where forking is unsafe."""
        from runtime import procs

        self._last_start = time.monotonic()
        fd, idle = self.sock.fileno(), self.idle_exit
        if procs.can_fork():
            self.child = procs.fork_child(lambda: serve(self.settings, sock=self.sock, idle_exit=idle),
                                          name="webserver", keep_fds=[fd])
        else:
            self.child = procs.start_child(procs.python_module("runtime.cli.main", "webserver", "--socket-fd", str(fd),
                                                                "--idle-exit", str(idle)), pass_fds=[fd])
        try:
            self._pidfd = os.pidfd_open(self.child.pid)
        except (AttributeError, OSError):  # no pidfd: the exit is seen at this process's next wake-up
            self._pidfd = None

    def stop(self) -> None:
        """Stop the server, close the port."""
        from runtime import procs

        if self.child is not None:
            procs.stop_child(self.child)
            self._forget()
        self.sock.close()

    def _forget(self) -> None:
        self.child = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv4 or IPv6, as the host resolves); UserError if taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UserError(f"webserver: cannot use {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UserError(f"webserver: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])
