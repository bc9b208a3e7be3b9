"""BranchDateTimeOperator: follow one branch when now (or the logical date) lies in a time window."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.operators.branch import BaseBranchOperator


def target_times_as_dates(base: datetime.datetime, lower: datetime.datetime | datetime.time | None,
                          upper: datetime.datetime | datetime.time | None) -> tuple[Any, Any]:
    """The window's bounds as datetimes: a bare time is taken on the date of ``base``; an upper bound
    before the lower one is moved to the next day (Airflow's rule)."""
    if isinstance(lower, datetime.datetime) and isinstance(upper, datetime.datetime):
        return lower, upper
    if isinstance(lower, datetime.time):
        lower = datetime.datetime.combine(base.date(), lower)
    if isinstance(upper, datetime.time):
        upper = datetime.datetime.combine(base.date(), upper)
    if lower is None or upper is None:
        return lower, upper
    if upper < lower:
        upper = upper + datetime.timedelta(days=1)
    return lower, upper


def in_window(now: datetime.datetime, lower: Any, upper: Any, tz: Any) -> bool:
    """Whether aware ``now`` lies in [lower, upper] (either may be open); naive bounds are in ``tz``."""
    lower = timezone.make_aware(lower, tz) if lower is not None else None
    upper = timezone.make_aware(upper, tz) if upper is not None else None
    return (lower is None or lower <= now) and (upper is None or now <= upper)


class BranchDateTimeOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` when now (or the logical date) is within the target window."""

    def __init__(self, *, follow_task_ids_if_true: str | Iterable[str], follow_task_ids_if_false: str | Iterable[str],
                 target_lower: datetime.datetime | datetime.time | None = None,
                 target_upper: datetime.datetime | datetime.time | None = None,
                 use_task_logical_date: bool = False, use_task_execution_date: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise AirflowException("Both target_upper and target_lower are None. At least one must be defined to be compared to the current datetime")
        self.target_lower, self.target_upper = target_lower, target_upper
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date or use_task_execution_date

    def choose_branch(self, context: Any) -> str | Iterable[str]:
        now = timezone.to_utc(context["logical_date"]) if self.use_task_logical_date else timezone.utcnow()
        tz = self.dag.timezone if self.has_dag() else timezone.utc
        lower, upper = target_times_as_dates(now, self.target_lower, self.target_upper)
        return self.follow_task_ids_if_true if in_window(now, lower, upper, tz) else self.follow_task_ids_if_false


__all__ = ["BranchDateTimeOperator", "target_times_as_dates"]
