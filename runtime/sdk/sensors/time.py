"""TimeSensor: wait until a time of day (in the DAG's time zone) on the run's day."""

from __future__ import annotations

import datetime
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class TimeSensor(BaseSensorOperator):
    """Succeeds once now is past ``target_time`` on the day the task started, in the DAG's time zone."""

    def __init__(self, *, target_time: datetime.time, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)
        kwargs.pop("start_from_trigger", None)
        kwargs.pop("end_from_trigger", None)
        super().__init__(**kwargs)
        self.target_time = target_time

    def poke(self, context: Any) -> bool:
        tz = self.dag.timezone if self.has_dag() else timezone.utc
        today = timezone.utcnow().astimezone(tz).date()
        target = datetime.datetime.combine(today, self.target_time)
        target = target if not timezone.is_naive(target) else target.replace(tzinfo=tz)
        print(f"Checking if the time ({target.isoformat()}) has come")
        return timezone.utcnow() > target


class TimeSensorAsync(TimeSensor):
    """Deferral is not available: waits as TimeSensor in reschedule mode."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)


__all__ = ["TimeSensor", "TimeSensorAsync"]
