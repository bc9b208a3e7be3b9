"""MWAA's CLI endpoint: ``POST /aws_mwaa/cli`` runs an allow-listed ``windsock`` command in a child process.

The body is the command line as MWAA takes it (``dags trigger my_dag``, ``dags list -o json``);
the answer is ``{"stdout": base64, "stderr": base64}`` as MWAA's, plus ``exit_code``. The
command runs as the CLI module (``procs.python_module("runtime.cli.main", ...)``) in a child of the web process (which never
imports DAG code), with a time limit, without the web server's signing key in its environment,
and with the caller's IAM ARN as the owner of the audit rows it writes.
"""

from __future__ import annotations

import base64
import os
import shlex
import signal
import subprocess

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from runtime import procs
from runtime.store.session import transaction
from runtime.web.auth.middleware import principal
from runtime.web.auth.protocol import CLI_PATH
from runtime.web.auth.roles import Permission, Principal
from runtime.web.context import audit, can, ctx

MAX_COMMAND_BYTES = 10_000
MAX_OUTPUT_BYTES = 5_000_000
R, E, C = Permission.READ, Permission.EDIT_DAGS, Permission.CONFIG
# MWAA's allow-list, as far as Windsock has the command, with the permission each one needs.
ALLOWED: dict[tuple[str, ...], Permission] = {
    ("version",): R,
    ("dags", "list"): R, ("dags", "list-import-errors"): R, ("dags", "list-runs"): R,
    ("dags", "next-execution"): R, ("dags", "show"): R, ("dags", "state"): R,
    ("dags", "trigger"): E, ("dags", "pause"): E, ("dags", "unpause"): E, ("dags", "backfill"): E,
    ("dags", "delete"): E,
    ("tasks", "list"): R, ("tasks", "render"): R, ("tasks", "state"): R, ("tasks", "states-for-dag-run"): R,
    ("tasks", "logs"): R, ("tasks", "clear"): E,
    ("variables", "list"): C, ("variables", "get"): C, ("variables", "set"): C, ("variables", "delete"): C,
    ("connections", "list"): C, ("connections", "get"): C, ("connections", "add"): C,
    ("connections", "delete"): C,
    ("pools", "list"): C, ("pools", "get"): C, ("pools", "set"): C, ("pools", "delete"): C,
    ("db", "check"): R,
}
# Options that would read another folder of the server's disk than the environment's DAG folder.
REFUSED_OPTIONS = ("-S", "--subdir")
SECRET_ENV = ("WINDSOCK__WEBSERVER__SECRET_KEY", "AIRFLOW__WEBSERVER__SECRET_KEY")
router = APIRouter(include_in_schema=False)


def parse_command(text: str) -> tuple[list[str], Permission]:
    """The argv of an allowed command line and the permission it needs; HTTPException 400 otherwise."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise HTTPException(400, f"the command line cannot be split: {exc}") from None
    if argv[:1] == ["airflow"]:  # scripts sometimes keep the program name
        argv = argv[1:]
    if not argv:
        raise HTTPException(400, "send the command line as the request body, e.g. 'dags list -o json'")
    needed = ALLOWED.get(tuple(argv[:2])) or ALLOWED.get(tuple(argv[:1]))
    if needed is None:
        allowed = ", ".join(" ".join(k) for k in ALLOWED)
        raise HTTPException(400, f"'{' '.join(argv[:2])}' is not allowed through the CLI endpoint; allowed: {allowed}")
    bad = [a for a in argv if a in REFUSED_OPTIONS or a.startswith(("--subdir=", "-S="))]
    if bad:
        raise HTTPException(400, f"{bad[0]} is not allowed through the CLI endpoint (commands read the "
                                 "environment's DAG folder)")
    return argv, needed


def child_environment(identity: str) -> dict[str, str]:
    """The web process's environment without its signing key, naming the caller as audit owner."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["WINDSOCK_AUDIT_OWNER"] = identity
    return env


def run_command(argv: list[str], identity: str, timeout: float) -> tuple[bytes, bytes, int]:
    """Run ``windsock ARGV`` in a child (killed with its group after ``timeout``); stdout, stderr, exit code."""
    proc = procs.start_child(procs.python_module("runtime.cli.main", *argv), sig=signal.SIGKILL, env=child_environment(identity),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.kill_group(proc.pid)
        out, err = proc.communicate()
        err += f"\nwindsock: error: the command ran longer than {timeout:g} s and was stopped\n".encode()
    return out[-MAX_OUTPUT_BYTES:], err[-MAX_OUTPUT_BYTES:], proc.returncode


@router.post(CLI_PATH)
async def cli(request: Request, _: Principal = can(Permission.READ)) -> JSONResponse:
    """Run one allowed command for the signed-in caller; MWAA's ``{stdout, stderr}`` in base64."""
    body = await request.body()
    if len(body) > MAX_COMMAND_BYTES:
        raise HTTPException(413, f"the command line is longer than {MAX_COMMAND_BYTES} bytes")
    argv, needed = parse_command(body.decode("utf-8", errors="replace"))
    who = principal(request)
    if not who.can(needed):
        raise HTTPException(403, f"role {who.role.value} may not run '{' '.join(argv[:2])}' (needs {needed.value})")
    timeout = float(ctx(request).setting("webserver", "cli_command_timeout"))
    from starlette.concurrency import run_in_threadpool

    out, err, code = await run_in_threadpool(run_command, argv, who.identity, timeout)
    with transaction(ctx(request).session_factory) as session:
        audit(request, session, "cli_endpoint", extra={"command": shlex.join(argv)[:1000], "exit_code": code})
    return JSONResponse({"stdout": base64.b64encode(out).decode(), "stderr": base64.b64encode(err).decode(),
                         "exit_code": code})
