"""Dynamic task mapping: ``Op.partial(...).expand(...)`` makes one task instance per input."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from runtime.sdk import context_stack
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.xcom_arg import XComArg, find_xcom_args, resolve_args

# BaseOperator arguments that configure the mapped task itself (kept on the MappedOperator).
_TASK_ARGS = {
    "task_id", "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "depends_on_past",
    "wait_for_downstream", "priority_weight", "weight_rule", "queue", "pool", "pool_slots",
    "execution_timeout", "trigger_rule", "max_active_tis_per_dag", "max_active_tis_per_dagrun",
    "on_execute_callback", "on_failure_callback", "on_success_callback", "on_retry_callback",
    "doc_md", "do_xcom_push", "multiple_outputs", "task_group", "dag", "params", "default_args",
    "ignore_first_depends_on_past", "executor_config", "task_display_name", "retry_policy", "map_index_template",
}


class OperatorPartial:
    """The fixed half of a mapped task; ``expand`` or ``expand_kwargs`` completes it."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any], into_op_kwargs: bool = False) -> None:
        if "task_id" not in kwargs:
            raise AirflowException(f"{operator_class.__name__}.partial() needs task_id")
        self.operator_class = operator_class
        self.kwargs = kwargs
        self.into_op_kwargs = into_op_kwargs

    def expand(self, **mapped: Any) -> XComArg:
        """Map over keyword arguments; several arguments map over their cross product."""
        if not mapped:
            raise TypeError("expand() needs at least one mapped argument")
        for name, value in mapped.items():
            if not isinstance(value, (XComArg, Sequence, Mapping)) or isinstance(value, str):
                raise ValueError(f"expand() argument {name!r} must be a list, a dict or an XComArg, got {type(value).__name__}")
        return XComArg(MappedOperator(partial=self, mapped=mapped, mode="product"))

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        """Map over a list of keyword-argument dicts (one task instance per dict)."""
        return XComArg(MappedOperator(partial=self, mapped={"__kwargs_list__": kwargs_list}, mode="list"))


class MappedOperator(BaseOperator):
    """A task expanded at run time into ``map_index`` 0..n-1 instances of the real operator."""

    is_mapped = True
    mapped_group: Any = None  # the mapped task group this task was created in (mode "group")

    def __init__(self, partial: OperatorPartial, mapped: dict[str, Any], mode: str) -> None:
        own = {k: v for k, v in partial.kwargs.items() if k in _TASK_ARGS}
        super().__init__(**own)
        self.operator_class = partial.operator_class
        self.partial_kwargs = {k: v for k, v in partial.kwargs.items() if k not in ("dag", "task_group", "default_args")}
        self.expand_input = mapped
        self.mode = mode
        self.into_op_kwargs = partial.into_op_kwargs
        self.template_fields = partial.operator_class.template_fields
        self.custom_operator_name = getattr(partial.operator_class, "custom_operator_name", None) or partial.operator_class.__name__
        self.is_sensor = partial.operator_class.is_sensor
        for arg in find_xcom_args(list(mapped.values())) + find_xcom_args(list(partial.kwargs.values())):
            self.set_upstream(arg.operator)

    @property
    def operator_name(self) -> str:
        return self.custom_operator_name or self.operator_class.__name__

    def literal_length(self) -> int | None:
        """Number of instances when every input is a literal; None when an XComArg decides."""
        if find_xcom_args(list(self.expand_input.values())):
            return None
        return len(self._combinations(self.expand_input))

    def xcom_sources(self) -> list[dict[str, str]]:
        """The upstream XComs whose lengths decide the number of instances."""
        return [{"task_id": a.operator.task_id, "key": a.key} for a in find_xcom_args(list(self.expand_input.values()))]

    def _combinations(self, resolved: dict[str, Any]) -> list[dict[str, Any]]:
        if self.mode == "list":
            items = resolved["__kwargs_list__"]
            return [dict(item) for item in items]
        names = list(resolved)
        values = [list(v.items()) if isinstance(v, Mapping) else list(v) for v in resolved.values()]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def expand_length(self, context: Any) -> int:
        """Number of instances, resolving XComArg inputs through ``context``."""
        return len(self._combinations(resolve_args(self.expand_input, context)))

    def unmap(self, context: Any, map_index: int) -> BaseOperator:
        """The real operator for ``map_index``, built with its slice of the mapped inputs."""
        combos = self._combinations(resolve_args(self.expand_input, context))
        if not 0 <= map_index < len(combos):
            raise AirflowException(f"task {self.task_id!r}: map_index {map_index} is out of range 0..{len(combos) - 1}")
        chosen = combos[map_index]
        kwargs = dict(self.partial_kwargs)
        kwargs["default_args"] = dict(self._dag.default_args) if self._dag is not None else {}
        if self.mode == "group":  # a task of a mapped task group: its placeholders take this index's values
            from runtime.sdk.mapped_group import substitute

            kwargs = substitute(kwargs, chosen, map_index, self.mapped_group)
        elif self.into_op_kwargs:
            kwargs["op_kwargs"] = {**kwargs.get("op_kwargs", {}), **chosen}
        else:
            kwargs.update(chosen)
        op = self.operator_class.__new__(self.operator_class)
        op._windsock_detached = True  # type: ignore[attr-defined]
        token = context_stack.start_collecting()
        try:
            op.__init__(**kwargs)  # type: ignore[misc]
        finally:
            context_stack.stop_collecting(token)
        op._dag = self._dag
        op.task_group = self.task_group
        op.upstream_task_ids = set(self.upstream_task_ids)
        op.downstream_task_ids = set(self.downstream_task_ids)
        op.task_id = self.task_id
        return op

    def execute(self, context: Any) -> Any:
        raise AirflowException(f"mapped task {self.task_id!r} must be unmapped before it runs")
