"""The authoring SDK: what DAG files import (through ``airflow.*`` names or directly).

The names below load on first use (a module ``__getattr__``), so that a process importing one
piece (the scheduler: ``runtime.sdk.timezone``, ``timetables``, ``serialization``) does not load
the operators, decorators and the rest of the authoring surface.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BaseOperator": ("runtime.sdk.baseoperator", "BaseOperator"),
    "chain": ("runtime.sdk.baseoperator", "chain"),
    "chain_linear": ("runtime.sdk.baseoperator", "chain_linear"),
    "cross_downstream": ("runtime.sdk.baseoperator", "cross_downstream"),
    "Connection": ("runtime.sdk.connection", "Connection"),
    "Context": ("runtime.sdk.context", "Context"),
    "get_current_context": ("runtime.sdk.context", "current_context"),
    "task": ("runtime.sdk.decorators", "task"),
    "EdgeModifier": ("runtime.sdk.edges", "EdgeModifier"),
    "Label": ("runtime.sdk.edges", "Label"),
    "Param": ("runtime.sdk.params", "Param"),
    "ParamsDict": ("runtime.sdk.params", "ParamsDict"),
    "TaskGroup": ("runtime.sdk.taskgroup", "TaskGroup"),
    "task_group": ("runtime.sdk.taskgroup", "task_group"),
    "TriggerRule": ("runtime.sdk.trigger_rule", "TriggerRule"),
    "XComArg": ("runtime.sdk.xcom_arg", "XComArg"),
}

__all__ = [
    "DAG", "dag", "task", "task_group", "TaskGroup", "BaseOperator", "chain", "chain_linear", "cross_downstream",
    "Connection", "Context", "get_current_context", "EdgeModifier", "Label", "Param", "ParamsDict", "TriggerRule",
    "XComArg",
]


# Eager: the submodule ``runtime.sdk.dag`` would shadow the ``dag`` decorator once imported (and
# every process that reads serialized DAGs imports it anyway).
from runtime.sdk.dag import DAG, dag  # noqa: E402


def __getattr__(name: str) -> Any:
    """Load an exported name on first use (submodules load through the import system as usual)."""
    if name not in _EXPORTS:
        if name.startswith("_"):
            raise AttributeError(f"module 'runtime.sdk' has no attribute {name!r}")
        try:  # ``runtime.sdk.<submodule>`` reached as an attribute, as the eager package allowed
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'runtime.sdk' has no attribute {name!r}") from None
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from runtime.sdk.baseoperator import BaseOperator, chain, chain_linear, cross_downstream
    from runtime.sdk.connection import Connection
    from runtime.sdk.context import Context
    from runtime.sdk.context import current_context as get_current_context
    from runtime.sdk.decorators import task
    from runtime.sdk.edges import EdgeModifier, Label
    from runtime.sdk.params import Param, ParamsDict
    from runtime.sdk.taskgroup import TaskGroup, task_group
    from runtime.sdk.trigger_rule import TriggerRule
    from runtime.sdk.xcom_arg import XComArg
