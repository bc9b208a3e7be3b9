"""DayOfWeekSensor: wait until it is one of the given days of the week."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator
from runtime.sdk.weekday import WeekDay


class DayOfWeekSensor(BaseSensorOperator):
    """Done when today (or the run's logical date), in UTC, is one of ``week_day``."""

    def __init__(self, *, week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay], use_task_logical_date: bool = False,
                 use_task_execution_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def poke(self, context: Any) -> bool:
        when = context["logical_date"] if self.use_task_logical_date else timezone.utcnow()
        day = timezone.to_utc(when).isoweekday()
        print(f"Poking until weekday is in {sorted(self._week_day_num)}, today is {day}")
        return day in self._week_day_num


__all__ = ["DayOfWeekSensor"]
