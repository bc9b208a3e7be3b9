"""TaskFlow: ``@task`` and its variants turn functions into tasks whose calls return XComArgs."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from runtime.sdk import context_stack
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.dag import dag
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.mapped_group import call_in_group, mapped_group_of
from runtime.sdk.mapping import OperatorPartial
from runtime.sdk.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from runtime.sdk.taskgroup import task_group
from runtime.sdk.xcom_arg import XComArg, find_xcom_args, resolve_args


def _infer_multiple_outputs(func: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations: no inference, as Airflow
        return False
    ret = hints.get("return")
    origin = typing.get_origin(ret) or ret
    return origin in (dict, typing.Dict)  # noqa: UP006


class _DecoratedMixin:
    """Resolves XComArgs in op_args/op_kwargs before the function is called."""

    op_args: list[Any]
    op_kwargs: dict[str, Any]

    def execute(self, context: Any) -> Any:
        self.op_args = resolve_args(self.op_args, context)
        self.op_kwargs = resolve_args(self.op_kwargs, context)
        value = super().execute(context)  # type: ignore[misc]
        push_multiple_outputs(self, value, context)
        return value


def push_multiple_outputs(task: Any, value: Any, context: Any) -> None:
    """``multiple_outputs=True``: each key of the returned dict is also its own XCom."""
    if not getattr(task, "multiple_outputs", False) or value is None:
        return
    if not isinstance(value, dict):
        raise AirflowException(f"task {task.task_id!r}: multiple_outputs=True needs a dict return value, got {type(value).__name__}")
    for key, item in value.items():
        context["ti"].xcom_push(key=str(key), value=item)


class _PythonDecoratedOperator(_DecoratedMixin, PythonOperator):
    custom_operator_name = "@task"
    template_fields = ("templates_dict", "op_args", "op_kwargs")


class _BranchDecoratedOperator(_DecoratedMixin, BranchPythonOperator):
    custom_operator_name = "@task.branch"


class _ShortCircuitDecoratedOperator(_DecoratedMixin, ShortCircuitOperator):
    custom_operator_name = "@task.short_circuit"


class _BashDecoratedOperator(BaseOperator):
    """``@task.bash``: the function returns the command line to run."""

    custom_operator_name = "@task.bash"
    template_fields = ("op_args", "op_kwargs", "env", "cwd")

    def __init__(self, *, python_callable: Callable[..., Any], op_args: Any = None, op_kwargs: Any = None, env: Any = None,
                 append_env: bool = False, cwd: str | None = None, skip_on_exit_code: Any = 99, output_encoding: str = "utf-8",
                 output_processor: Callable[[str], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args, self.op_kwargs = list(op_args or []), dict(op_kwargs or {})
        self.env, self.append_env, self.cwd = env, append_env, cwd
        self.skip_on_exit_code, self.output_encoding = skip_on_exit_code, output_encoding
        self.output_processor = output_processor

    def execute(self, context: Any) -> Any:
        from runtime.sdk.operators.bash import BashOperator
        from runtime.sdk.operators.python import determine_kwargs

        args = resolve_args(self.op_args, context)
        kwargs = {**determine_kwargs(self.python_callable, args, context), **resolve_args(self.op_kwargs, context)}
        command = self.python_callable(*args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(f"task {self.task_id!r}: the @task.bash function must return a non-empty string")
        command = self.render_template(command, context)
        output = BashOperator.run_command_for(self, command, context)
        value = self.output_processor(output) if self.output_processor else output
        push_multiple_outputs(self, value, context)
        return value


def call_signature(func: Callable[..., Any]) -> inspect.Signature:
    """The function's signature as a call site sees it: context keys are optional (the run fills them)."""
    from runtime.sdk.context import KNOWN_CONTEXT_KEYS

    sig = inspect.signature(func)
    params = [p.replace(default=None) if p.name in KNOWN_CONTEXT_KEYS and p.default is p.empty
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) else p for p in sig.parameters.values()]
    try:
        return sig.replace(parameters=params)
    except ValueError:  # a defaulted parameter before a required one: keep the order valid
        required = [p for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
        others = [p for p in params if p not in required]
        return sig.replace(parameters=required + others)


class _TaskDecorator:
    """A decorated function: calling it inside a DAG adds a task and returns its XComArg."""

    def __init__(self, function: Callable[..., Any], operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    def _task_kwargs(self, extra: dict[str, Any]) -> dict[str, Any]:
        kw = {**self.kwargs, **extra}
        kw.setdefault("task_id", self.function.__name__)
        if "multiple_outputs" not in kw:
            kw["multiple_outputs"] = _infer_multiple_outputs(self.function)
        kw["task_id"] = _unique_task_id(kw["task_id"], kw.get("dag"), kw.get("task_group"))
        kw.setdefault("doc_md", self.function.__doc__)
        return kw

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        call_signature(self.function).bind(*args, **kwargs)  # a wrong call fails at parse time
        group = mapped_group_of(self.kwargs.get("dag") or context_stack.current_dag())
        if group is not None:
            return call_in_group(self, group, args, kwargs)
        op = self.operator_class(python_callable=self.function, op_args=args, op_kwargs=kwargs, **self._task_kwargs({}))
        for arg in find_xcom_args([args, kwargs]):
            op.set_upstream(arg.operator)
        return XComArg(op)

    def override(self, **kwargs: Any) -> _TaskDecorator:
        """The same task with other operator arguments (``task_id``, ``retries``, ...)."""
        return _TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> _TaskPartial:
        """Fix some function arguments; ``.expand(...)`` maps over the rest."""
        return _TaskPartial(self, kwargs)

    def expand(self, **kwargs: Any) -> XComArg:
        return _TaskPartial(self, {}).expand(**kwargs)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return _TaskPartial(self, {}).expand_kwargs(kwargs_list)


class _TaskPartial:
    def __init__(self, decorator: _TaskDecorator, fixed: dict[str, Any]) -> None:
        self.decorator = decorator
        self.fixed = fixed

    def _partial(self) -> OperatorPartial:
        kw = self.decorator._task_kwargs({})
        kw.update(python_callable=self.decorator.function, op_kwargs=dict(self.fixed), op_args=[])
        return OperatorPartial(self.decorator.operator_class, kw, into_op_kwargs=True)

    def expand(self, **kwargs: Any) -> XComArg:
        return self._partial().expand(**kwargs)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return self._partial().expand_kwargs(kwargs_list)


def _unique_task_id(task_id: str, dag_obj: Any, group: Any) -> str:
    """Airflow suffixes ``__1``, ``__2`` when a decorated function is called twice in a DAG."""
    dag_obj = dag_obj or context_stack.current_dag()
    if dag_obj is None:
        return task_id
    group = group or context_stack.current_group(dag_obj)
    full = group.child_id(task_id) if group is not None else task_id
    if full not in dag_obj.task_dict:
        return task_id
    n = 1
    while (group.child_id(f"{task_id}__{n}") if group is not None else f"{task_id}__{n}") in dag_obj.task_dict:
        n += 1
    return f"{task_id}__{n}"


def _make(operator_class: type[BaseOperator]) -> Callable[..., Any]:
    def decorator(python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any) -> Any:
        if multiple_outputs is not None:
            kwargs["multiple_outputs"] = multiple_outputs

        def wrap(func: Callable[..., Any]) -> _TaskDecorator:
            return _TaskDecorator(func, operator_class, kwargs)

        return wrap(python_callable) if python_callable is not None else wrap

    return decorator


def _unsupported(name: str) -> Callable[..., Any]:
    def decorator(*args: Any, **kwargs: Any) -> Any:
        raise AirflowException(f"@task.{name} is not supported by Windsock; use @task with requirements.txt")

    return decorator


class _TaskNamespace:
    """``task``: ``@task``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``, ``@task.bash``."""

    python = staticmethod(_make(_PythonDecoratedOperator))
    branch = staticmethod(_make(_BranchDecoratedOperator))
    short_circuit = staticmethod(_make(_ShortCircuitDecoratedOperator))
    bash = staticmethod(_make(_BashDecoratedOperator))
    @property
    def virtualenv(self) -> Callable[..., Any]:
        """``@task.virtualenv(requirements=[...])``: the function runs in a cached virtualenv."""
        from runtime.sdk.operators.virtualenv import PythonVirtualenvOperator

        return _make(type("_VirtualenvDecoratedOperator", (_DecoratedMixin, PythonVirtualenvOperator),
                          {"custom_operator_name": "@task.virtualenv"}))

    @property
    def branch_virtualenv(self) -> Callable[..., Any]:
        """``@task.branch_virtualenv``: a virtualenv function whose return value picks the branch."""
        from runtime.sdk.operators.virtualenv import BranchPythonVirtualenvOperator

        return _make(type("_BranchVirtualenvDecoratedOperator", (_DecoratedMixin, BranchPythonVirtualenvOperator),
                          {"custom_operator_name": "@task.branch_virtualenv"}))

    @property
    def branch_external_python(self) -> Callable[..., Any]:
        """``@task.branch_external_python``: an external-Python function whose return value picks the branch."""
        from runtime.sdk.operators.virtualenv import BranchExternalPythonOperator

        return _make(type("_BranchExternalPythonDecoratedOperator", (_DecoratedMixin, BranchExternalPythonOperator),
                          {"custom_operator_name": "@task.branch_external_python"}))

    @property
    def external_python(self) -> Callable[..., Any]:
        """``@task.external_python(python=...)``: the function runs with another interpreter."""
        from runtime.sdk.operators.virtualenv import ExternalPythonOperator

        return _make(type("_ExternalPythonDecoratedOperator", (_DecoratedMixin, ExternalPythonOperator),
                          {"custom_operator_name": "@task.external_python"}))
    docker = staticmethod(_unsupported("docker"))
    kubernetes = staticmethod(_unsupported("kubernetes"))

    def __call__(self, python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any) -> Any:
        return self.python(python_callable, multiple_outputs=multiple_outputs, **kwargs)

    @property
    def sensor(self) -> Callable[..., Any]:
        from runtime.sdk.sensors.python import _SensorDecoratedOperator

        return _make(_SensorDecoratedOperator)


task = _TaskNamespace()

__all__ = ["task", "dag", "task_group"]
