"""Executors: where claimed tries run (in-process for tests, forked children locally, SQS workers on AWS)."""

from __future__ import annotations

from typing import Any

from runtime.executors.base import BaseExecutor
from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork


def make_executor(settings: Any, session_factory: Any, name: str | None = None) -> BaseExecutor:
    """The executor named by ``core.executor`` (or ``name``)."""
    kind = (name or str(settings.get("core", "executor"))).lower()
    if kind in ("sequentialexecutor", "sequential"):
        from runtime.executors.sequential import SequentialExecutor

        return SequentialExecutor(settings, session_factory)
    if kind in ("localexecutor", "local"):
        from runtime.executors.local import LocalExecutor

        return LocalExecutor(settings)
    if kind in ("sqsexecutor", "sqs"):
        from runtime.executors.sqs import SqsExecutor

        return SqsExecutor(settings, session_factory)
    from runtime.errors import ConfigError

    raise ConfigError(f"setting [core] executor: {name or kind!r} is not available "
                      "(SequentialExecutor | LocalExecutor | SqsExecutor)")


__all__ = ["BaseExecutor", "CallbackWork", "TaskEvent", "TaskWork", "make_executor"]
