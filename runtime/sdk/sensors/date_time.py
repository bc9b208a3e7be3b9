"""DateTimeSensor: wait until a (templated) point in time."""

from __future__ import annotations

import datetime
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class DateTimeSensor(BaseSensorOperator):
    """Succeeds once now is past ``target_time`` (a datetime or a templated string)."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | datetime.datetime, deferrable: bool = False, end_from_trigger: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger
        if isinstance(target_time, datetime.datetime):
            self.target_time = timezone.to_utc(target_time).isoformat()
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise TypeError(f"Expected str or datetime.datetime type for target_time. Got {type(target_time)}")

    def poke(self, context: Any) -> bool:
        target = timezone.to_utc(timezone.parse(str(self.target_time)))
        print(f"Checking if the time ({target.isoformat()}) has come")
        return timezone.utcnow() > target

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from runtime.sdk.triggers.temporal import DateTimeTrigger

        target = timezone.to_utc(timezone.parse(str(self.target_time)))
        self.defer(trigger=DateTimeTrigger(target, end_from_trigger=self.end_from_trigger), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The target time came (the trigger fired)."""
        print(f"Target time reached ({event})")


class DateTimeSensorAsync(DateTimeSensor):
    """A DateTimeSensor that always defers."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]
