"""Setup and teardown tasks: ``as_setup()``, ``as_teardown(setups=...)``, ``@setup``/``@teardown`` and
``with teardown:`` scoping, as Airflow 2.7+ defines them.

A teardown runs once the work between it and its setups is done, even when that work failed
(trigger rule ``all_done_setup_success``); the run's state ignores a teardown's failure unless
it was made with ``on_failure_fail_dagrun=True``; clearing a task clears its setups and their
teardowns too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.sdk.dependencies import as_list


def operator_of(item: Any) -> Any:
    """The operator behind a task or an XComArg."""
    return getattr(item, "operator", item)


def mark_setup(op: Any) -> Any:
    """Make ``op`` a setup task."""
    op._is_setup = True
    return op


def mark_teardown(op: Any, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> Any:
    """Make ``op`` a teardown of ``setups`` (which become setups and its upstream)."""
    op._is_teardown = True
    op.trigger_rule = "all_done_setup_success"
    if on_failure_fail_dagrun is not None:
        op._on_failure_fail_dagrun = bool(on_failure_fail_dagrun)
    for item in as_list(setups) if setups is not None else []:
        mark_setup(operator_of(item))
        op.set_upstream(operator_of(item))
    return op


class Scope:
    """``with teardown:`` (or a setup): tasks made inside run after the setups and before the teardown."""

    def __init__(self, op: Any) -> None:
        self.op = op
        self.before: set[str] = set()

    def enter(self) -> None:
        self.before = set(self.op.dag.task_dict)

    def exit(self) -> None:
        dag = self.op.dag
        new = {tid: t for tid, t in dag.task_dict.items() if tid not in self.before and t is not self.op}
        if self.op.is_teardown:
            setups, teardowns = [u for u in self.op.upstream_list if u.is_setup], [self.op]
        else:
            setups, teardowns = [self.op], [d for d in self.op.downstream_list if d.is_teardown]
        new = {tid: t for tid, t in new.items() if t not in setups}
        for task in new.values():
            if not task.upstream_task_ids & new.keys() and setups:
                task.set_upstream(setups)
            if not task.downstream_task_ids & new.keys() and teardowns:
                task.set_downstream(teardowns)


def enter_scope(op: Any) -> None:
    """Start a setup/teardown scope on ``op`` (a stack on the operator for nesting)."""
    scope = Scope(op)
    scope.enter()
    op.__dict__.setdefault("_scopes", []).append(scope)


def exit_scope(op: Any) -> None:
    """Wire the tasks made since the matching ``enter_scope``."""
    op.__dict__["_scopes"].pop().exit()


def relevant_setups(task: Any) -> list[str]:
    """Airflow's relevant indirect setups of a task: setups upstream of it (not direct upstreams) that have
    no teardown, or a teardown downstream of the task. For a teardown: its direct setups."""
    if not task.has_dag():
        return []
    dag = task.dag
    if task.is_teardown:
        return sorted(t for t in task.upstream_task_ids if dag.get_task(t).is_setup)
    below = {t for t in task.get_flat_relative_ids(upstream=False) if dag.get_task(t).is_teardown}
    out = []
    for tid in task.get_flat_relative_ids(upstream=True) - task.upstream_task_ids:
        up = dag.get_task(tid)
        teardowns = {d for d in up.downstream_task_ids if dag.get_task(d).is_teardown}
        if up.is_setup and (not teardowns or teardowns & below):
            out.append(tid)
    return sorted(out)


def scope_of_clear(graph: dict[str, dict[str, Any]], task_ids: set[str]) -> set[str]:
    """Clearing ``task_ids`` also clears their setups (direct or relevant) and those setups' teardowns."""
    extra: set[str] = set()
    for tid in task_ids:
        task = graph.get(tid, {})
        setups = set(task.get("setups") or []) | {u for u in task.get("upstream", []) if graph.get(u, {}).get("is_setup")}
        if task.get("is_setup"):
            setups.add(tid)
        for setup_id in setups:
            extra.add(setup_id)
            extra |= {d for d in graph[setup_id].get("downstream", []) if graph.get(d, {}).get("is_teardown")}
    return extra


class _SetupTeardownDecorator:
    """Calls a TaskFlow function as a setup or a teardown task."""

    def __init__(self, decorated: Any, teardown: bool, on_failure_fail_dagrun: bool) -> None:
        self.decorated = decorated
        self.teardown = teardown
        self.on_failure_fail_dagrun = on_failure_fail_dagrun
        self.__name__ = getattr(decorated, "__name__", "task")
        self.__doc__ = getattr(decorated, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.decorated(*args, **kwargs)
        op = operator_of(result)
        if self.teardown:
            mark_teardown(op, on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        else:
            mark_setup(op)
        return result

    def override(self, **kwargs: Any) -> _SetupTeardownDecorator:
        return _SetupTeardownDecorator(self.decorated.override(**kwargs), self.teardown, self.on_failure_fail_dagrun)


def _decorated(func: Any) -> Any:
    from runtime.sdk.decorators import _TaskDecorator, task

    return func if isinstance(func, _TaskDecorator) else task(func)


def setup(func: Callable[..., Any]) -> Any:
    """``@setup``: the function's task is a setup task."""
    return _SetupTeardownDecorator(_decorated(func), teardown=False, on_failure_fail_dagrun=False)


def teardown(func: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown`` / ``@teardown(on_failure_fail_dagrun=True)``: the function's task is a teardown task."""

    def wrap(f: Callable[..., Any]) -> Any:
        return _SetupTeardownDecorator(_decorated(f), teardown=True, on_failure_fail_dagrun=on_failure_fail_dagrun)

    return wrap(func) if func is not None else wrap


__all__ = ["setup", "teardown", "mark_setup", "mark_teardown", "enter_scope", "exit_scope", "relevant_setups", "scope_of_clear"]
