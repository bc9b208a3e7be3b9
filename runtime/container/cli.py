"""``windsock container ROLE``: the one entrypoint of the image (scheduler | worker | webserver).

Steps: check the role's component is built into this image, build the component's environment
(DB URL and fernet key from the ECS secrets), run dag_sync's first sync and ``startup.sh``, start
the background sync, run ``windsock db init`` (PostgreSQL advisory lock: containers starting
together take turns), run the component as a child forwarding SIGTERM/SIGINT, exit with its code.
The entrypoint records its phase (starting, running) in ``WINDSOCK_HOME`` for the health check.

``--check`` only verifies that this image can start the role (``selfcheck``); ``--health`` is the
ECS container health check (``health``: job heartbeat age).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from runtime.container.environment import FERNET_KEY, SQL_ALCHEMY_CONN, component_environment
from runtime.container.process import run_forwarding_signals
from runtime.errors import ConfigError, UserError, WindsockError

# role -> the ``windsock`` command that runs its component
COMPONENTS = {"scheduler": "scheduler", "worker": "worker", "webserver": "webserver"}

CREDENTIAL_KEYS = (SQL_ALCHEMY_CONN, FERNET_KEY)

log = logging.getLogger("windsock.container")


class ComponentMissing(UserError):
    """The image has no command for the role's component (not built yet)."""


class DagSyncUnavailable(WindsockError):
    """``dag_sync.entry`` cannot be imported in this image."""


def register(tree: Any) -> None:
    """Add ``windsock container ROLE [--check | --health]``."""
    parser = tree.command(
        "container",
        "Run one role inside the container image: sync DAGs from S3, run startup.sh, start the component.",
        lambda args: dispatch(args, available_commands(tree)),
    )
    parser.add_argument("role", choices=sorted(COMPONENTS), help="which component this container runs")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check that this image can start the role")
    mode.add_argument("--health", action="store_true", help="container health check: job heartbeat age")


def dispatch(args: Any, commands: Collection[str]) -> int:
    """Run the container, or only its self-check or health check."""
    if args.check:
        return self_check(args.role, commands)
    if args.health:
        return health_check(args.role)
    return run(args.role, commands)


def self_check(role: str, commands: Collection[str], environ: Mapping[str, str] | None = None) -> int:
    """Print one line per check; 0 when every check passed."""
    from runtime.container.selfcheck import run_checks

    findings = run_checks(role, commands, COMPONENTS[role], os.environ if environ is None else environ)
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if not f.ok]
    print(f"container {role}: {'ready' if not failed else f'{len(failed)} check(s) failed'}")
    return 0 if not failed else 1


def health_check(role: str, environ: Mapping[str, str] | None = None) -> int:
    """One line; 0 healthy, 1 unhealthy (what ECS expects of a health check command)."""
    from runtime.container import health
    from runtime.sdk import timezone

    environ = dict(os.environ if environ is None else environ)
    result = health.check(role, environ, home_of(environ), timezone.utcnow())
    print(result.message)
    return 0 if result.healthy else 1


def home_of(environ: Mapping[str, str]) -> Path:
    """``WINDSOCK_HOME`` as the settings resolve it."""
    from runtime.settings import Settings

    return Settings.load(environ).home


def available_commands(tree: Any) -> Collection[str]:
    """Top-level command names registered in the CLI (the tree is complete when a handler runs)."""
    return tuple(tree._top.choices)  # CommandTree keeps its sub-parsers action private


def component_argv(
    role: str, commands: Collection[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    """The child command line of ``role``; fails with one line if that command is not built yet."""
    command = COMPONENTS[role]
    if command not in commands:
        raise ComponentMissing(
            f"container role {role!r}: this image has no 'windsock {command}' command yet, so the {role} "
            "cannot start"
        )
    return [sys.executable, "-m", "runtime.cli.main", command, *component_options(role, environ or {})]


def component_options(role: str, environ: Mapping[str, str]) -> list[str]:
    """Options the stack passes by environment: the worker's ``-c`` from WINDSOCK_WORKER_CONCURRENCY."""
    raw = environ.get("WINDSOCK_WORKER_CONCURRENCY", "")
    if role != "worker" or not raw:
        return []
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"WINDSOCK_WORKER_CONCURRENCY={raw!r}: expected a whole number >= 1")
    return ["-c", raw]


def role_args(role: str, env: Mapping[str, str]) -> list[str]:
    """Extra arguments of a role: the web server binds every interface on ``WINDSOCK_WEB_PORT`` (the ALB's target)."""
    if role != "webserver":
        return []
    return ["--hostname", "0.0.0.0", "--port", str(env.get("WINDSOCK_WEB_PORT") or 8080)]


def init_database(env: Mapping[str, str], commands: Collection[str]) -> int:
    """``windsock db init`` before the component: creates or upgrades the schema (idempotent, locked)."""
    if "db" not in commands:
        log.warning("container: this image has no 'windsock db' command; schema not checked")
        return 0
    return run_forwarding_signals([sys.executable, "-m", "runtime.cli.main", "db", "init"], env)


def dag_sync_entry() -> Any:
    """The ``dag_sync.entry`` module, imported lazily; a clear error if this build lacks it."""
    try:
        return importlib.import_module("dag_sync.entry")
    except ImportError as exc:
        raise DagSyncUnavailable(
            f"dag_sync.entry is not importable in this image ({exc}); cannot sync DAGs"
        ) from exc


def prepare(environ: Mapping[str, str], entry: Any) -> tuple[dict[str, str], Callable[[], None]]:
    """First sync + startup.sh, then the background sync; returns the child env and the stop function.

    dag_sync and the user's startup.sh never see the DB URL or the fernet key: they are added
    to the component's environment afterwards (and win over anything startup.sh exported).
    """
    full = component_environment(environ)
    credentials = {key: full[key] for key in CREDENTIAL_KEYS if key in full}
    public = {key: value for key, value in full.items() if key not in CREDENTIAL_KEYS}
    prepared = dict(entry.prepare_container(public))
    stop = entry.start_background_sync(prepared)
    return {**prepared, **credentials}, stop


def run(role: str, commands: Collection[str], environ: Mapping[str, str] | None = None) -> int:
    """The whole container life: prepare, run the component, stop syncing, return its exit code."""
    from runtime.container.health import Phase, mark_phase
    from runtime.sdk import timezone

    environ = dict(os.environ if environ is None else environ)
    argv = component_argv(role, commands, environ)
    home = home_of(environ)
    mark_phase(home, role, Phase.STARTING, timezone.utcnow())
    env, stop_sync = prepare(environ, dag_sync_entry())
    try:
        code = init_database(env, commands)
        if code != 0:
            return code
        log.info("container: starting %s", role)
        mark_phase(home, role, Phase.RUNNING, timezone.utcnow())
        return run_forwarding_signals(argv + role_args(role, env), env)
    finally:
        stop_sync()
