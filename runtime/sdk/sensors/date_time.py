"""DateTimeSensor: wait until a (templated) point in time."""

from __future__ import annotations

import datetime
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class DateTimeSensor(BaseSensorOperator):
    """Succeeds once now is past ``target_time`` (a datetime or a templated string)."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | datetime.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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


class DateTimeSensorAsync(DateTimeSensor):
    """Deferral is not supported: behaves as DateTimeSensor in reschedule mode."""

    def __init__(self, *, end_from_trigger: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)


__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]
