"""TimeSensor: wait until a time of day (in the DAG's time zone) on the run's day."""

from __future__ import annotations

import datetime
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class TimeSensor(BaseSensorOperator):
    """Succeeds once now is past ``target_time`` on the day the task started, in the DAG's time zone."""

    def __init__(self, *, target_time: datetime.time, deferrable: bool = False, end_from_trigger: bool = False,
                 **kwargs: Any) -> None:
        kwargs.pop("start_from_trigger", None)
        super().__init__(**kwargs)
        self.target_time = target_time
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger

    def _target(self) -> datetime.datetime:
        tz = self.dag.timezone if self.has_dag() else timezone.utc
        today = timezone.utcnow().astimezone(tz).date()
        target = datetime.datetime.combine(today, self.target_time)
        return target if not timezone.is_naive(target) else target.replace(tzinfo=tz)

    def poke(self, context: Any) -> bool:
        target = self._target()
        print(f"Checking if the time ({target.isoformat()}) has come")
        return timezone.utcnow() > target

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from runtime.sdk.triggers.temporal import DateTimeTrigger

        self.defer(trigger=DateTimeTrigger(timezone.to_utc(self._target()), end_from_trigger=self.end_from_trigger),
                   method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The time of day came (the trigger fired)."""
        print(f"Target time reached ({event})")


class TimeSensorAsync(TimeSensor):
    """A TimeSensor that always defers."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


__all__ = ["TimeSensor", "TimeSensorAsync"]
