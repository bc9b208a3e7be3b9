"""PythonSensor and the operator behind ``@task.sensor``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.sdk.decorators import _DecoratedMixin
from runtime.sdk.operators.python import determine_kwargs
from runtime.sdk.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Waits until ``python_callable`` returns something truthy (or a done PokeReturnValue)."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    shallow_copy_attrs = ("python_callable",)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: Any) -> PokeReturnValue | bool:
        context = dict(context)
        context["templates_dict"] = self.templates_dict
        kwargs = {**determine_kwargs(self.python_callable, self.op_args, context), **self.op_kwargs}
        print(f"Poking callable: {getattr(self.python_callable, '__name__', self.python_callable)}")
        value = self.python_callable(*self.op_args, **kwargs)
        return value if isinstance(value, PokeReturnValue) else PokeReturnValue(bool(value))


class _SensorDecoratedOperator(_DecoratedMixin, PythonSensor):  # type: ignore[misc]
    """``@task.sensor``: the function is the poke; a PokeReturnValue's xcom_value is its result."""

    custom_operator_name = "@task.sensor"


__all__ = ["PythonSensor", "_SensorDecoratedOperator"]
