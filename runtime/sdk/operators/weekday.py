"""BranchDayOfWeekOperator: follow one branch on given days of the week."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.operators.branch import BaseBranchOperator
from runtime.sdk.weekday import WeekDay


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` when today (or the logical date) is one of ``week_day``."""

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay], use_task_logical_date: bool = False,
                 use_task_execution_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: Any) -> str | Iterable[str]:
        when = context["logical_date"] if self.use_task_logical_date else timezone.utcnow()
        tz = self.dag.timezone if self.has_dag() else timezone.utc
        day = timezone.to_utc(when).astimezone(tz).isoweekday()
        return self.follow_task_ids_if_true if day in self._week_day_num else self.follow_task_ids_if_false


__all__ = ["BranchDayOfWeekOperator"]
