"""BaseTrigger and its events, as Airflow defines them.

A trigger is serialized (``serialize()`` -> classpath and keyword arguments) into the database
when its task defers, rebuilt in the triggerer process, and its ``run()`` async generator
yields a :class:`TriggerEvent` when the condition is met. A task-ending event
(:class:`TaskSuccessEvent`, ...) ends the task instance without resuming it.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import AsyncIterator
from typing import Any

from runtime.store.states import TaskInstanceState


class TriggerEvent:
    """What a trigger yields when it fires; ``payload`` is passed to the resumed method as ``event``."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and type(other) is type(self) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(repr(self.payload))


class BaseTaskEndEvent(TriggerEvent):
    """An event that ends the task instance itself (the task does not resume)."""

    task_instance_state: str = ""

    def __init__(self, *, xcoms: dict[str, Any] | None = None) -> None:
        super().__init__(self.task_instance_state)
        self.xcoms = dict(xcoms or {})


class TaskSuccessEvent(BaseTaskEndEvent):
    """The trigger ends its task instance as success."""

    task_instance_state = TaskInstanceState.SUCCESS.value


class TaskFailedEvent(BaseTaskEndEvent):
    """The trigger ends its task instance as failed."""

    task_instance_state = TaskInstanceState.FAILED.value


class TaskSkippedEvent(BaseTaskEndEvent):
    """The trigger ends its task instance as skipped."""

    task_instance_state = TaskInstanceState.SKIPPED.value


class BaseTrigger(abc.ABC):
    """Base of every trigger: ``serialize`` to be stored, ``run`` to wait, ``cleanup`` when stopped."""

    def __init__(self, **kwargs: Any) -> None:
        self.trigger_id: int | None = None
        self.task_instance: Any = None

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """(classpath, keyword arguments) that rebuild this trigger."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the condition; yield one TriggerEvent when it is met."""

    async def cleanup(self) -> None:  # noqa: B027 - a hook: doing nothing is the default
        """Called when the trigger stops running (fired, cancelled or its triggerer stopped)."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        return f"<{classpath} {kwargs}>"


def classpath_of(cls: type) -> str:
    """``module.Class`` of a trigger class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def build(classpath: str, kwargs: dict[str, Any]) -> BaseTrigger:
    """The trigger a deferral stored (imported by classpath; ``airflow.*`` paths resolve through the
    import hook)."""
    module, _, name = classpath.rpartition(".")
    if not module:
        raise ImportError(f"trigger classpath {classpath!r} names no module")
    from runtime.serde import decode

    trigger = getattr(importlib.import_module(module), name)(**decode(kwargs))
    if not isinstance(trigger, BaseTrigger) and not hasattr(trigger, "run"):
        raise TypeError(f"{classpath} is not a trigger")
    return trigger


__all__ = ["BaseTaskEndEvent", "BaseTrigger", "TaskFailedEvent", "TaskSkippedEvent", "TaskSuccessEvent",
           "TriggerEvent", "build", "classpath_of"]
