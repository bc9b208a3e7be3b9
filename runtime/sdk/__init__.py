"""The authoring SDK: what DAG files import (through ``airflow.*`` names or directly)."""

from runtime.sdk.baseoperator import BaseOperator, chain, chain_linear, cross_downstream
from runtime.sdk.connection import Connection
from runtime.sdk.context import Context
from runtime.sdk.context import current_context as get_current_context
from runtime.sdk.dag import DAG, dag
from runtime.sdk.decorators import task
from runtime.sdk.edges import EdgeModifier, Label
from runtime.sdk.params import Param, ParamsDict
from runtime.sdk.taskgroup import TaskGroup, task_group
from runtime.sdk.trigger_rule import TriggerRule
from runtime.sdk.xcom_arg import XComArg

__all__ = [
    "DAG", "dag", "task", "task_group", "TaskGroup", "BaseOperator", "chain", "chain_linear", "cross_downstream",
    "Connection", "Context", "get_current_context", "EdgeModifier", "Label", "Param", "ParamsDict", "TriggerRule",
    "XComArg",
]
