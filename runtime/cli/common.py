"""Helpers shared by CLI commands: settings, the DAG folder, dates and JSON arguments."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from runtime.errors import UserError
from runtime.settings import Settings


def add_subdir_flag(parser: argparse.ArgumentParser) -> None:
    """``-S/--subdir``: the DAG folder or file, as in Airflow."""
    parser.add_argument("-S", "--subdir", help="DAG folder or file (default: [core] dags_folder)")


def audit_owner() -> str:
    """Who CLI audit rows name: ``$WINDSOCK_AUDIT_OWNER`` (the CLI endpoint's caller, an IAM ARN), else the OS user."""
    import getpass

    return os.environ.get("WINDSOCK_AUDIT_OWNER") or getpass.getuser()


def load_settings() -> Settings:
    """Settings from the environment and config file."""
    return Settings.load()


def dag_folder(args: argparse.Namespace, settings: Settings) -> str:
    """The folder (or file) the command reads DAGs from; a UserError when ``-S`` names nothing."""
    subdir = getattr(args, "subdir", None)
    if subdir is None:
        return str(settings.get("core", "dags_folder"))
    path = os.path.expanduser(subdir)
    if not os.path.exists(path):
        raise UserError(f"-S {subdir}: no such file or folder")
    return path


def dagbag(args: argparse.Namespace, settings: Settings | None = None) -> Any:
    """The DAG folder parsed in child processes (``runtime.processor.local``), plus the bundled examples.

    Examples are loaded whenever ``core.load_examples`` is true, with ``-S`` or without, as in
    Airflow and as the DAG processor does.
    """
    from runtime.loader import EXAMPLES_FOLDER
    from runtime.processor.local import parse_folder
    from runtime.processor.parse import ParseLimits

    settings = settings or load_settings()
    examples = EXAMPLES_FOLDER if bool(settings.get("core", "load_examples")) else None
    return parse_folder(dag_folder(args, settings), examples_folder=examples, limits=ParseLimits.from_settings(settings))


def parse_date(text: str | None, what: str = "date") -> datetime | None:
    """A user-typed date or datetime; a UserError naming the argument when it is not one."""
    if text is None:
        return None
    from runtime.sdk import timezone

    try:
        return timezone.parse(text)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


MAX_JSON_DEPTH = 64  # a run's conf is stored, templated and re-read by every process: keep it shallow


def parse_conf(text: str | None) -> dict[str, Any]:
    """``--conf`` JSON object."""
    if not text:
        return {}
    value = load_json(text, "--conf")
    if not isinstance(value, dict):
        raise UserError("--conf must be a JSON object, e.g. '{\"key\": \"value\"}'")
    return value


def load_json(text: str, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for user input: a UserError naming ``what`` when invalid or nested too deeply."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UserError(f"{what} is nested too deeply (at most {max_depth} levels)") from None
    except ValueError as exc:
        raise UserError(f"{what} is not valid JSON: {exc}") from None
    if json_depth(value) > max_depth:
        raise UserError(f"{what} is nested too deeply (at most {max_depth} levels)")
    return value


def json_depth(value: Any) -> int:
    """How many levels of lists/objects ``value`` nests (0 for a scalar); iterative, so no recursion limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def masked_url(url: str) -> str:
    """A database URL with its password replaced by ``***`` (no SQLAlchemy import)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
