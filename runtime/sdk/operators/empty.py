"""EmptyOperator (and its old name DummyOperator): a task that does nothing."""

from __future__ import annotations

from typing import Any

from runtime.sdk.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """Does nothing; used to group or join branches. The scheduler may mark it done directly."""

    ui_color = "#e8f7e4"
    inherits_from_empty_operator = True

    def execute(self, context: Any) -> None:
        """Nothing to do."""


DummyOperator = EmptyOperator

__all__ = ["EmptyOperator", "DummyOperator"]
