"""The Airflow-compat "current DAG" and "current TaskGroup": the one contextvar Windsock keeps."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.sdk.dag import DAG
    from runtime.sdk.taskgroup import TaskGroup

_dag_stack: ContextVar[tuple[DAG, ...]] = ContextVar("windsock_dag_stack", default=())
_group_stack: ContextVar[tuple[TaskGroup, ...]] = ContextVar("windsock_group_stack", default=())
# Every DAG built while a loader collects a file; None when nobody is collecting.
_collector: ContextVar[list[Any] | None] = ContextVar("windsock_dag_collector", default=None)


def push_dag(dag: DAG) -> None:
    """Enter a ``with DAG(...)`` block."""
    _dag_stack.set(_dag_stack.get() + (dag,))


def pop_dag() -> None:
    """Leave the innermost ``with DAG(...)`` block."""
    _dag_stack.set(_dag_stack.get()[:-1])


def current_dag() -> DAG | None:
    """The DAG of the innermost ``with`` block, if any."""
    stack = _dag_stack.get()
    return stack[-1] if stack else None


def push_group(group: TaskGroup) -> None:
    """Enter a ``with TaskGroup(...)`` block."""
    _group_stack.set(_group_stack.get() + (group,))


def pop_group() -> None:
    """Leave the innermost ``with TaskGroup(...)`` block."""
    _group_stack.set(_group_stack.get()[:-1])


def current_group(dag: DAG | None) -> TaskGroup | None:
    """The innermost open TaskGroup that belongs to ``dag``, else the DAG's root group."""
    for group in reversed(_group_stack.get()):
        if dag is None or group.dag is dag:
            return group
    return dag.task_group if dag is not None else None


def register(obj: Any) -> None:
    """Tell an active loader about a new DAG or task (auto_register, as Airflow 2.4+ does)."""
    found = _collector.get()
    if found is not None:
        found.append(obj)


def start_collecting() -> Any:
    """Begin collecting DAGs; returns a token for ``stop_collecting``."""
    return _collector.set([])


def stop_collecting(token: Any) -> list[Any]:
    """End collecting and return the DAGs seen."""
    found = _collector.get() or []
    _collector.reset(token)
    return found
