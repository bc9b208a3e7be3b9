"""PythonOperator and its branching / short-circuit variants."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.skipmixin import SkipMixin

_ACCEPTS: dict[Any, tuple[bool, tuple[str, ...], bool]] = {}
_ACCEPTS_MAX = 4096


def accepted(python_callable: Callable[..., Any]) -> tuple[bool, tuple[str, ...], bool]:
    """Whether the callable takes ``**kwargs``, the names it takes by keyword, and whether it is a generator
    function; remembered per callable (a zygote learns its DAGs' callables before it forks, so a task child
    does not inspect them again)."""
    try:
        return _ACCEPTS[python_callable]
    except (KeyError, TypeError):
        pass
    params = inspect.signature(python_callable).parameters
    found = (any(p.kind == p.VAR_KEYWORD for p in params.values()),
             tuple(n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)),
             inspect.isgeneratorfunction(python_callable))
    if len(_ACCEPTS) >= _ACCEPTS_MAX:  # DAG files reloaded over and over in one process
        _ACCEPTS.clear()
    try:
        _ACCEPTS[python_callable] = found
    except TypeError:  # an unhashable callable object
        pass
    return found


def determine_kwargs(python_callable: Callable[..., Any], op_args: Collection[Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The context entries the callable accepts: all of them for ``**kwargs``, else by name."""
    takes_all, names, _ = accepted(python_callable)
    if takes_all:
        return dict(context)
    positional_taken = set(names[: len(op_args)])
    return {n: context[n] for n in names if n in context and n not in positional_taken}


def run_generator(gen: Any, task_id: str) -> Any:
    """Drain a task generator: yielded ``Metadata`` go to the running task's outlet events."""
    from runtime.sdk.assets import Metadata
    from runtime.sdk.context import current_context

    events = current_context().get("outlet_events")
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, Metadata) and events is not None:
            events.apply_metadata(item)
        else:
            print(f"task {task_id!r}: ignoring a yielded {type(item).__name__} (only Metadata is understood)")


class PythonOperator(BaseOperator):
    """Calls a Python function; its return value becomes the ``return_value`` XCom."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color = "#ffefeb"
    shallow_copy_attrs = ("python_callable", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        provide_context: bool | None = None,  # Airflow 1.x argument, ignored as in Airflow 2
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AirflowException(f"task {self.task_id!r}: `python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Any) -> Any:
        if context.get("templates_dict") is not self.templates_dict:  # else the context says it already
            context = dict(context)
            context["templates_dict"] = self.templates_dict
        kwargs = {**determine_kwargs(self.python_callable, self.op_args, context), **self.op_kwargs}
        value = self.execute_callable(kwargs)
        if self.show_return_value_in_logs:
            print(f"Done. Returned value was: {value}")
        return value

    def execute_callable(self, kwargs: dict[str, Any]) -> Any:
        """Call the function with the op_args and the chosen keyword arguments.

        A generator function may yield ``Metadata`` (extras of its asset events); its return value is the result.
        """
        try:
            generator = accepted(self.python_callable)[2]
        except (TypeError, ValueError):  # no signature to read (a builtin)
            generator = inspect.isgeneratorfunction(self.python_callable)
        if not generator:
            return self.python_callable(*self.op_args, **kwargs)
        return run_generator(self.python_callable(*self.op_args, **kwargs), self.task_id)


class BranchMixIn(SkipMixin):
    """Follows the task ids a callable returns and skips the other direct downstream tasks."""

    def do_branch(self, context: Any, branches: None | str | Iterable[str]) -> Any:
        print(f"Branch into {branches}")
        self.skip_all_except(context["ti"], branches)
        return branches


class BranchPythonOperator(PythonOperator, BranchMixIn):
    """A PythonOperator whose return value (task id or ids) picks the branch to follow."""

    inherits_from_skipmixin = True

    def execute(self, context: Any) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """Continues only when the callable returns something truthy; else skips downstream."""

    inherits_from_skipmixin = True

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Any) -> Any:
        condition = super().execute(context)
        if condition:
            print("Condition result is truthy: proceeding with downstream tasks.")
            return condition
        ti = context["ti"]
        if self.ignore_downstream_trigger_rules:
            to_skip = self.get_flat_relative_ids(upstream=False)
        else:
            to_skip = set(self.downstream_task_ids)
        print(f"Condition result is falsy: skipping {sorted(to_skip)}")
        ti.skip_task_ids.update(to_skip)
        return condition


def get_current_context() -> dict[str, Any]:
    """The context of the task running in this process (Airflow's ``get_current_context``)."""
    from runtime.sdk.context import current_context

    return current_context()
