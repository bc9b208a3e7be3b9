"""Process-wide logging from settings: ``[logging] logging_level`` and the per-type levels.

Unset (the default) leaves Python's own behaviour, so interactive CLI output stays terse. The
deployed containers set ``WINDSOCK__LOGGING__LOGGING_LEVEL`` per component (MWAA's scheduler,
worker and web server log levels) and ``..._TASK_LOG_LEVEL`` / ``..._DAG_PROCESSING_LOG_LEVEL``
for task code and the DAG processor.
"""

from __future__ import annotations

import logging
import sys

from runtime.errors import ConfigError
from runtime.settings import Settings

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
FORMAT = "[%(asctime)s] {%(name)s} %(levelname)s - %(message)s"
TASK_LOGGER = "airflow.task"  # operators log under airflow.task.operators.* as in Airflow
DAG_PROCESSOR_COMMAND = "dag-processor"


def level(settings: Settings, key: str) -> str:
    """A level setting, upper-cased and checked ('' when unset)."""
    value = str(settings.get("logging", key) or "").strip().upper()
    if value and value not in LEVELS:
        raise ConfigError(f"setting [logging] {key}: {value!r} is not one of {' | '.join(LEVELS)}")
    return value


def levels_for(settings: Settings, command: str | None) -> tuple[str, str]:
    """(root level, task level) for a process running ``command``; '' means leave as is."""
    root = level(settings, "logging_level")
    if command == DAG_PROCESSOR_COMMAND:
        root = level(settings, "dag_processing_log_level") or root
    return root, level(settings, "task_log_level") or root


def configure(settings: Settings, command: str | None) -> None:
    """Install a stderr handler at the configured level; do nothing when no level is set."""
    root, task = levels_for(settings, command)
    if root:
        logging.basicConfig(level=root, format=FORMAT, stream=sys.stderr)
        logging.getLogger().setLevel(root)  # a forked component (basicConfig done by its parent) takes its own
    if task:
        logging.getLogger(TASK_LOGGER).setLevel(task)
