"""Mapped task groups: ``@task_group`` functions called with ``.expand(...)`` (and ``.partial(...)``).

The group function runs once, with a placeholder for each mapped argument. Every TaskFlow task
called inside becomes a mapped task over the group's input (same length, same map index per
input), and inside the group an upstream's output means the value of the same map index, as in
Airflow. Classic operators created inside a mapped group are not mapped (a documented limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.sdk import context_stack
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.xcom_arg import XComArg


class MappedArgument:
    """A mapped group's argument as the group function sees it: one value per map index."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"MappedArgument({self.name!r})"

    def update_relative(self, *args: Any, **kwargs: Any) -> None:
        """An argument creates no dependency by itself."""


class IndexedXComArg(XComArg):
    """Inside a mapped group: the output of the same map index of an upstream in that group."""

    def __init__(self, arg: XComArg, map_index: int) -> None:
        super().__init__(arg.operator, arg.key)
        self.map_index = map_index

    def resolve(self, context: Any) -> Any:
        ti = context["ti"]
        pairs = ti.services.xcom_get(ti.dag_id, ti.run_id, self.operator.task_id, self.key, self.map_index)
        return pairs[0][1] if pairs else None


def mapped_group_of(dag: Any) -> Any:
    """The innermost open task group that is mapped, or None."""
    group = context_stack.current_group(dag)
    while group is not None:
        if getattr(group, "expand_input", None) is not None:
            return group
        group = group.parent_group
    return None


def substitute(value: Any, chosen: Mapping[str, Any], map_index: int, group: Any) -> Any:
    """``value`` with the group's placeholders replaced for one map index."""
    if isinstance(value, MappedArgument):
        return chosen[value.name]
    if isinstance(value, XComArg) and getattr(value.operator, "mapped_group", None) is group:
        return IndexedXComArg(value, map_index)
    if isinstance(value, dict):
        return {k: substitute(v, chosen, map_index, group) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(substitute(v, chosen, map_index, group) for v in value)
    return value


def call_in_group(decorator: Any, group: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> XComArg:
    """A TaskFlow call inside a mapped group: a task mapped over the group's input."""
    from runtime.sdk.mapping import MappedOperator, OperatorPartial

    kw = decorator._task_kwargs({})
    kw.update(python_callable=decorator.function, op_args=list(args), op_kwargs=dict(kwargs))
    op = MappedOperator(partial=OperatorPartial(decorator.operator_class, kw), mapped=group.expand_input, mode="group")
    op.mapped_group = group
    return XComArg(op)


def expand_group(func: Callable[..., Any], group_kwargs: dict[str, Any], fixed: dict[str, Any], mapped: dict[str, Any]) -> Any:
    """Build a mapped task group: ``func`` runs once with placeholders for the ``mapped`` arguments."""
    from runtime.sdk.taskgroup import TaskGroup

    if not mapped:
        raise TypeError("expand() needs at least one mapped argument")
    for name, value in mapped.items():
        if not isinstance(value, (XComArg, Sequence, Mapping)) or isinstance(value, str):
            raise ValueError(f"expand() argument {name!r} must be a list, a dict or an XComArg, got {type(value).__name__}")
    overlap = set(fixed) & set(mapped)
    if overlap:
        raise AirflowException(f"task group {func.__name__!r}: {sorted(overlap)} given both to partial() and expand()")
    with TaskGroup(**group_kwargs) as group:
        group.expand_input = dict(mapped)
        result = func(**fixed, **{name: MappedArgument(name) for name in mapped})
    return result if hasattr(result, "set_upstream") else group


__all__ = ["MappedArgument", "IndexedXComArg", "mapped_group_of", "substitute", "call_in_group", "expand_group"]
