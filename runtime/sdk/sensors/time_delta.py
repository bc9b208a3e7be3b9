"""TimeDeltaSensor: wait until a delta after the end of the run's data interval."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once now is past ``data_interval_end + delta``."""

    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def poke(self, context: Any) -> bool:
        target = timezone.to_utc(context["data_interval_end"]) + self.delta
        print(f"Checking if the time ({target.isoformat()}) has come")
        return timezone.utcnow() > target


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Deferral is not supported: behaves as TimeDeltaSensor in reschedule mode."""

    def __init__(self, *, end_from_trigger: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)


__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]
