"""``windsock --env NAME COMMAND ...``: run a CLI command in a deployed environment (MWAA's CLI endpoint).

The command line goes, as typed, to the environment's ``POST /aws_mwaa/cli`` with a CLI token
from IAM sign-in; what the command printed there is printed here, with its exit code.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from runtime.errors import UserError


def split_env(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """(NAME, the rest) when ``argv`` starts with ``--env NAME`` or ``--env=NAME``; else (None, argv)."""
    args = list(argv)
    if args[:1] == ["--env"]:
        if len(args) < 2 or args[1].startswith("-"):
            raise UserError("--env needs an environment name, e.g. windsock --env prod dags list")
        return args[1], args[2:]
    if args and args[0].startswith("--env="):
        return args[0].split("=", 1)[1], args[1:]
    return None, args


def make_client(env_name: str, role: str | None = None) -> Any:
    """A ``runtime.client.Client`` for ``env_name``; a UserError when boto3 is missing or the role is unknown."""
    try:
        from runtime.client import Client
    except ImportError as exc:
        raise UserError(f"--env needs boto3: pip install 'windsock[aws]' ({exc})") from None
    try:
        return Client(env_name, role=role)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@contextmanager
def client_errors() -> Iterator[None]:
    """AWS and web-server errors as one-line UserErrors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UserError(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise UserError(str(exc)) from None


def run_remote(env_name: str, argv: Sequence[str]) -> int:
    """Send ``argv`` to the environment's CLI endpoint; print its output; its exit code."""
    if not argv:
        raise UserError("nothing to run: windsock --env NAME COMMAND ..., e.g. windsock --env prod dags list")
    with client_errors():
        result = make_client(env_name).run_cli(shlex.join(argv))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_code
