"""Schedules as timetables, with Airflow 2's data-interval semantics. Pure: ``now`` is passed in.

A cron or timedelta run covers ``[data_interval_start, data_interval_end)``, its logical date
is the interval start, and it may start once the interval has ended. ``@once`` runs a single
time at ``start_date``; ``None`` is never scheduled (only triggered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pendulum
from croniter import croniter

from runtime.sdk import timezone

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class DataInterval:
    """The period of data a run covers."""

    start: pendulum.DateTime
    end: pendulum.DateTime

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """A zero-length interval (``@once``, ``None`` schedules)."""
        moment = timezone.to_utc(at)
        return cls(moment, moment)


@dataclass(frozen=True)
class DagRunInfo:
    """The next run a timetable proposes: when it may start and what it covers."""

    run_after: pendulum.DateTime
    data_interval: DataInterval

    @property
    def logical_date(self) -> pendulum.DateTime:
        """Airflow's logical date: the start of the data interval."""
        return self.data_interval.start


class Timetable:
    """Base timetable: never scheduled."""

    periodic = False
    can_be_scheduled = False
    summary = "None"

    def next_dagrun_info(
        self,
        *,
        last: DataInterval | None,
        earliest: datetime | None,
        latest: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DagRunInfo | None:
        """The next automated run after ``last`` (None: no more runs)."""
        return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The interval of a run triggered by hand at ``run_after``."""
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        """JSON form, read back by ``from_serialized``."""
        return {"type": "none"}


class NullTimetable(Timetable):
    """``schedule=None``: only triggered runs."""


class OnceTimetable(Timetable):
    """``@once``: one run at start_date."""

    can_be_scheduled = True
    summary = "@once"

    def next_dagrun_info(self, *, last, earliest, latest, catchup, now):  # type: ignore[no-untyped-def]
        if last is not None or earliest is None:
            return None
        start = timezone.to_utc(earliest)
        if latest is not None and start > latest:
            return None
        return DagRunInfo(start, DataInterval(start, start))

    def serialize(self) -> dict[str, Any]:
        return {"type": "once"}


class _Periodic(Timetable):
    """Shared logic of cron and delta timetables (Airflow's ``_DataIntervalTimetable``)."""

    periodic = True
    can_be_scheduled = True

    def _get_next(self, current: datetime) -> pendulum.DateTime:
        raise NotImplementedError

    def _get_prev(self, current: datetime) -> pendulum.DateTime:
        raise NotImplementedError

    def _align_to_next(self, current: datetime) -> pendulum.DateTime:
        return timezone.to_utc(current)

    def _align_to_prev(self, current: datetime) -> pendulum.DateTime:
        return timezone.to_utc(current)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> pendulum.DateTime:
        raise NotImplementedError

    def next_dagrun_info(self, *, last, earliest, latest, catchup, now):  # type: ignore[no-untyped-def]
        if not catchup:
            earliest = self._skip_to_latest(earliest, now)
        elif earliest is not None:
            earliest = self._align_to_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = timezone.to_utc(earliest)
        elif earliest is not None:
            start = max(timezone.to_utc(last.end), timezone.to_utc(earliest))
        else:
            start = timezone.to_utc(last.end)
        if latest is not None and start > latest:
            return None
        end = self._get_next(start)
        return DagRunInfo(end, DataInterval(start, end))


class CronDataIntervalTimetable(_Periodic):
    """A cron expression (or preset) evaluated in the DAG's timezone."""

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression = PRESETS.get(expression, expression)
        self.original = expression
        self.tz = tz
        self.summary = expression
        if not croniter.is_valid(self.expression):
            raise ValueError(f"invalid cron expression {expression!r}")

    def _get_next(self, current: datetime) -> pendulum.DateTime:
        local = timezone.to_utc(current).in_timezone(self.tz)  # type: ignore[arg-type]
        naive = croniter(self.expression, local.naive()).get_next(datetime)
        return timezone.to_utc(pendulum.instance(naive, tz=self.tz))

    def _get_prev(self, current: datetime) -> pendulum.DateTime:
        local = timezone.to_utc(current).in_timezone(self.tz)  # type: ignore[arg-type]
        naive = croniter(self.expression, local.naive()).get_prev(datetime)
        return timezone.to_utc(pendulum.instance(naive, tz=self.tz))

    def _align_to_next(self, current: datetime) -> pendulum.DateTime:
        nxt = self._get_next(current)
        return nxt if self._get_prev(nxt) != current else timezone.to_utc(current)

    def _align_to_prev(self, current: datetime) -> pendulum.DateTime:
        prev = self._get_prev(current)
        return prev if self._get_next(prev) != current else timezone.to_utc(current)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> pendulum.DateTime:
        current = timezone.to_utc(now)
        last_start = self._get_prev(current)
        next_start = self._get_next(last_start)
        new_start = last_start if next_start == current else self._get_prev(last_start)
        if earliest is None:
            return new_start
        return max(new_start, self._align_to_next(earliest))

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        end = self._align_to_prev(run_after)
        return DataInterval(self._get_prev(end), end)

    def serialize(self) -> dict[str, Any]:
        return {"type": "cron", "expression": self.original, "timezone": _tz_name(self.tz)}


class CronTriggerTimetable(CronDataIntervalTimetable):
    """Airflow's trigger timetable: a run at each cron tick, logical date = the tick, interval ending there."""

    def __init__(self, cron: str, *, timezone: str | tzinfo = "UTC", interval: timedelta = timedelta(),
                 run_immediately: bool | timedelta = False) -> None:
        tz = pendulum.timezone(timezone) if isinstance(timezone, str) else timezone
        super().__init__(cron, tz)
        self.interval = interval

    def next_dagrun_info(self, *, last, earliest, latest, catchup, now):  # type: ignore[no-untyped-def]
        if last is not None:
            tick = self._get_next(last.end)
        elif earliest is None:
            return None
        elif catchup:
            tick = self._align_to_next(earliest)
        else:
            prev = self._align_to_prev(now)
            tick = max(prev, self._align_to_next(earliest))
        if latest is not None and tick > latest:
            return None
        return DagRunInfo(tick, DataInterval(tick - self.interval, tick))

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        end = timezone.to_utc(run_after)
        return DataInterval(end - self.interval, end)

    def serialize(self) -> dict[str, Any]:
        return {"type": "cron_trigger", "expression": self.original, "timezone": _tz_name(self.tz),
                "interval": self.interval.total_seconds()}


class DeltaDataIntervalTimetable(_Periodic):
    """A fixed timedelta between runs, anchored at start_date."""

    def __init__(self, delta: timedelta) -> None:
        if delta.total_seconds() <= 0:
            raise ValueError(f"schedule timedelta must be positive, got {delta!r}")
        self.delta = delta
        self.summary = str(delta)

    def _get_next(self, current: datetime) -> pendulum.DateTime:
        return timezone.to_utc(current + self.delta)

    def _get_prev(self, current: datetime) -> pendulum.DateTime:
        return timezone.to_utc(current - self.delta)

    def _skip_to_latest(self, earliest: datetime | None, now: datetime) -> pendulum.DateTime:
        new_start = self._get_prev(now)
        if earliest is None:
            return new_start
        return max(new_start, timezone.to_utc(earliest))

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval(self._get_prev(run_after), timezone.to_utc(run_after))

    def serialize(self) -> dict[str, Any]:
        return {"type": "delta", "seconds": self.delta.total_seconds()}


def _tz_name(tz: tzinfo) -> str:
    return str(getattr(tz, "name", None) or tz)


def make_timetable(schedule: Any, tz: tzinfo) -> Timetable:
    """Build the timetable for a DAG's ``schedule`` argument; ValueError when it is invalid."""
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaDataIntervalTimetable(schedule)
    if hasattr(schedule, "years") and hasattr(schedule, "months"):  # dateutil relativedelta
        raise ValueError("relativedelta schedules are not supported by Windsock; use a cron expression")
    if isinstance(schedule, str):
        if schedule == "@once":
            return OnceTimetable()
        if schedule == "@continuous":
            raise ValueError("schedule '@continuous' is not supported by Windsock")
        return CronDataIntervalTimetable(schedule, tz)
    from runtime.sdk.assets import BaseAsset, as_condition

    if isinstance(schedule, (list, tuple, BaseAsset)):
        from runtime.sdk.assets import AssetTriggeredTimetable

        return AssetTriggeredTimetable(as_condition(schedule))
    raise ValueError(f"unsupported schedule {schedule!r} (use a cron string, preset, timedelta or None)")


def from_serialized(data: dict[str, Any]) -> Timetable:
    """Rebuild a timetable from ``Timetable.serialize()``."""
    kind = data.get("type")
    if kind == "cron":
        return CronDataIntervalTimetable(data["expression"], pendulum.timezone(data.get("timezone") or "UTC"))
    if kind == "delta":
        return DeltaDataIntervalTimetable(timedelta(seconds=float(data["seconds"])))
    if kind == "once":
        return OnceTimetable()
    if kind == "cron_trigger":
        return CronTriggerTimetable(data["expression"], timezone=data.get("timezone") or "UTC",
                                    interval=timedelta(seconds=float(data.get("interval") or 0)))
    if kind in ("asset", "asset_or_time"):
        from runtime.sdk.assets import timetable_from_serialized

        return timetable_from_serialized(data)
    return NullTimetable()
