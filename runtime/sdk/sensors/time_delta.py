"""TimeDeltaSensor: wait until a delta after the end of the run's data interval (deferrable)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.sensors.base import BaseSensorOperator


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once now is past ``data_interval_end + delta``; with ``deferrable`` it waits in the triggerer."""

    def __init__(self, *, delta: timedelta, deferrable: bool = False, end_from_trigger: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta
        self.deferrable = deferrable
        self.end_from_trigger = end_from_trigger

    def _target(self, context: Any) -> datetime:
        return timezone.to_utc(context["data_interval_end"]) + self.delta

    def poke(self, context: Any) -> bool:
        target = self._target(context)
        print(f"Checking if the time ({target.isoformat()}) has come")
        return timezone.utcnow() > target

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        target = self._target(context)
        if timezone.utcnow() > target:  # nothing to wait for: no deferral (as Airflow)
            print(f"Target time {target.isoformat()} has passed")
            return None
        from runtime.sdk.triggers.temporal import DateTimeTrigger

        self.defer(trigger=DateTimeTrigger(target, end_from_trigger=self.end_from_trigger), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment came (the trigger fired)."""
        print(f"Target time reached ({event})")


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """A TimeDeltaSensor that always defers."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["deferrable"] = True
        super().__init__(**kwargs)


__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]
