"""``WeekDay``: the days of the week as Airflow names them, for weekday branching and sensors."""

from __future__ import annotations

import enum
from collections.abc import Iterable


@enum.unique
class WeekDay(enum.IntEnum):
    """A day of the week (ISO numbering: Monday is 1)."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> int:
        """The ISO number of a day given by its name (any case); ValueError naming it otherwise."""
        try:
            return cls[week_day_str.upper()].value
        except KeyError:
            raise ValueError(f"Invalid Week Day passed: {week_day_str!r}") from None

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        """The ISO number of a day given by name or member."""
        return day.value if isinstance(day, WeekDay) else cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """The ISO numbers of one day or several (a set, a list, a dict's keys)."""
        if isinstance(week_day, (str, WeekDay)):
            return {cls.convert(week_day)}
        try:
            return {cls.convert(day) for day in week_day}
        except TypeError:
            raise TypeError(f"Unsupported Type for week_day parameter: {type(week_day).__name__}") from None


__all__ = ["WeekDay"]
