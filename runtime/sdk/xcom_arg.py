"""XComArg: a task's future output, usable as an argument and as a dependency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.sdk.dependencies import DependencyMixin

if TYPE_CHECKING:
    from runtime.sdk.baseoperator import BaseOperator

RETURN_KEY = "return_value"


class XComArg(DependencyMixin):
    """The XCom ``key`` of ``operator`` (its return value by default)."""

    def __init__(self, operator: BaseOperator, key: str = RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        """One entry of a ``multiple_outputs`` result."""
        return XComArg(self.operator, key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise TypeError("'XComArg' is not iterable: pass it to a task, or .expand() over it")

    @property
    def roots(self) -> list[BaseOperator]:
        return [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self.operator]

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        self.operator.set_upstream(other, edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        self.operator.set_downstream(other, edge_modifier)

    @property
    def output(self) -> XComArg:
        """The task's return value (``task.output`` on an XComArg is itself, as in Airflow)."""
        return XComArg(self.operator)

    def map(self, func: Any) -> MapXComArg:
        """The same values, each passed through ``func`` when read (lazy, as Airflow's ``.map``)."""
        return MapXComArg(self, func)

    def as_setup(self) -> XComArg:
        """Mark the task as a setup task."""
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        """Mark the task as the teardown of ``setups``."""
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.operator.__exit__(*exc)

    def resolve(self, context: Any) -> Any:
        """The value, pulled through the running task instance."""
        ti = context["ti"]
        value = ti.xcom_pull(task_ids=self.operator.task_id, key=self.key, map_indexes=_all_if_mapped(self.operator))
        if value is None and self.key == RETURN_KEY and not getattr(self.operator, "do_xcom_push", True):
            raise RuntimeError(f"XComArg of task {self.operator.task_id!r} has no value: the task has do_xcom_push=False")
        return value

    def __repr__(self) -> str:
        return f"XComArg(<Task: {self.operator.task_id}>, {self.key!r})"

    def __str__(self) -> str:
        # As in Airflow: usable inside a template string.
        return f"{{{{ task_instance.xcom_pull(task_ids='{self.operator.task_id}', key='{self.key}') }}}}"


PlainXComArg = XComArg


class MapXComArg(XComArg):
    """``xcom_arg.map(func)``: the upstream's values transformed one by one when resolved."""

    def __init__(self, arg: XComArg, func: Any) -> None:
        super().__init__(arg.operator, arg.key)
        self.arg = arg
        self.func = func

    def map(self, func: Any) -> MapXComArg:
        inner = self.func
        return MapXComArg(self.arg, lambda value: func(inner(value)))

    def resolve(self, context: Any) -> Any:
        value = self.arg.resolve(context)
        if isinstance(value, dict):
            return [self.func(item) for item in value.items()]
        return [self.func(item) for item in value]


def _all_if_mapped(operator: Any) -> Any:
    return "ALL" if getattr(operator, "is_mapped", False) else None


class DagParamArg:
    """``dag.param(name)``: a DAG param passed to a TaskFlow function, resolved at run time."""

    def __init__(self, dag: Any, name: str, default: Any) -> None:
        self.dag = dag
        self.name = name
        self.default = default

    def resolve(self, context: Any) -> Any:
        params = context.get("params") or {}
        if self.name in params:
            return params[self.name]
        return None if type(self.default).__name__ == "_NotSet" else self.default

    def update_relative(self, *args: Any, **kwargs: Any) -> None:
        """Params create no dependency."""


def find_xcom_args(value: Any) -> list[XComArg]:
    """Every XComArg inside a (nested) argument, for wiring dependencies."""
    found: list[XComArg] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, XComArg):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)
    return found


def resolve_args(value: Any, context: Any) -> Any:
    """Replace XComArgs and DAG params inside a (nested) argument by their values."""
    if isinstance(value, (XComArg, DagParamArg)):
        return value.resolve(context)
    if isinstance(value, dict):
        return {k: resolve_args(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_args(v, context) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_args(v, context) for v in value)
    return value


def _identity_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    return self


# A reference to another task is shared, never copied, when an operator is copied to run.
XComArg.__deepcopy__ = _identity_deepcopy  # type: ignore[attr-defined]
DagParamArg.__deepcopy__ = _identity_deepcopy  # type: ignore[attr-defined]
