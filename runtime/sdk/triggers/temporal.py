"""Triggers that wait for a moment: DateTimeTrigger and TimeDeltaTrigger."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent, classpath_of


class DateTimeTrigger(BaseTrigger):
    """Fires once ``moment`` (aware) has passed; with ``end_from_trigger`` it ends the task as success."""

    def __init__(self, moment: datetime.datetime | str, *, end_from_trigger: bool = False) -> None:
        super().__init__()
        if isinstance(moment, str):
            moment = timezone.parse(moment)
        if not isinstance(moment, datetime.datetime):
            raise TypeError(f"Expected datetime.datetime type for moment. Got {type(moment)}")
        if moment.tzinfo is None:
            raise ValueError("You cannot pass naive datetimes")
        self.moment = timezone.to_utc(moment)
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The moment and whether the trigger ends the task."""
        return classpath_of(DateTimeTrigger), {"moment": self.moment, "end_from_trigger": self.end_from_trigger}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Sleep (in steps of at most an hour, so a clock change is noticed) until the moment."""
        while True:
            left = (self.moment - timezone.utcnow()).total_seconds()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 3600.0))
        yield TaskSuccessEvent() if self.end_from_trigger else TriggerEvent(self.moment)


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after it was made (a DateTimeTrigger of now + delta)."""

    def __init__(self, delta: datetime.timedelta, *, end_from_trigger: bool = False) -> None:
        super().__init__(timezone.utcnow() + delta, end_from_trigger=end_from_trigger)


__all__ = ["DateTimeTrigger", "TimeDeltaTrigger"]
