"""BaseBranchOperator: subclasses choose which direct downstream tasks to follow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.operators.python import BranchMixIn


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """Follows the task ids ``choose_branch`` returns and skips the other direct downstream tasks."""

    inherits_from_skipmixin = True

    def choose_branch(self, context: Any) -> str | Iterable[str] | None:
        """The task id(s) to follow."""
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch()")

    def execute(self, context: Any) -> Any:
        return self.do_branch(context, self.choose_branch(context))


__all__ = ["BaseBranchOperator"]
