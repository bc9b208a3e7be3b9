"""Helpers shared by CLI commands: settings, the DAG folder, dates and JSON arguments."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from runtime.errors import UserError
from runtime.settings import Settings


def add_subdir_flag(parser: argparse.ArgumentParser) -> None:
    """``-S/--subdir``: the DAG folder or file, as in Airflow."""
    parser.add_argument("-S", "--subdir", help="DAG folder or file (default: [core] dags_folder)")


def load_settings() -> Settings:
    """Settings from the environment and config file."""
    return Settings.load()


def dag_folder(args: argparse.Namespace, settings: Settings) -> str:
    """The folder (or file) the command reads DAGs from."""
    return getattr(args, "subdir", None) or str(settings.get("core", "dags_folder"))


def dagbag(args: argparse.Namespace, settings: Settings | None = None) -> Any:
    """Load the DAG folder (and the bundled examples when ``core.load_examples``)."""
    from runtime.loader import DagBag

    settings = settings or load_settings()
    examples = bool(settings.get("core", "load_examples")) and not getattr(args, "subdir", None)
    return DagBag(dag_folder(args, settings), include_examples=examples)


def parse_date(text: str | None, what: str = "date") -> datetime | None:
    """A user-typed date or datetime; a UserError naming the argument when it is not one."""
    if text is None:
        return None
    from runtime.sdk import timezone

    try:
        return timezone.parse(text)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


def parse_conf(text: str | None) -> dict[str, Any]:
    """``--conf`` JSON object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError("--conf must be a JSON object, e.g. '{\"key\": \"value\"}'")
    return value
