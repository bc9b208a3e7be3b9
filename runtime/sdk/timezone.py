"""Datetime helpers: every datetime Windsock keeps is timezone-aware.

Naive datetimes in DAG files mean the configured default timezone (UTC unless
``core.default_timezone`` says otherwise), as in Airflow.
"""

from __future__ import annotations

import os
from datetime import UTC as _STD_UTC
from datetime import date, datetime, timedelta, tzinfo

import pendulum

utc = pendulum.UTC
UTC = utc
_DateTime = pendulum.DateTime


def default_timezone() -> tzinfo:
    """The timezone of naive datetimes (``core.default_timezone``)."""
    name = os.environ.get("WINDSOCK__CORE__DEFAULT_TIMEZONE") or os.environ.get("AIRFLOW__CORE__DEFAULT_TIMEZONE")
    if not name or name.lower() == "utc":
        return utc
    if name.lower() == "system":
        return pendulum.local_timezone()
    return pendulum.timezone(name)


def coerce(value: datetime | date | None) -> pendulum.DateTime | None:
    """An aware pendulum DateTime from a pendulum, aware or naive datetime (or a date)."""
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime):
        return value
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_timezone())
    return pendulum.instance(value)


def to_utc(value: datetime) -> pendulum.DateTime:
    """``value`` as an aware UTC DateTime."""
    if type(value) is _DateTime and value.tzinfo is utc:  # most are already (pendulum converts at length)
        return value
    if type(value) is datetime and value.tzinfo is _STD_UTC:  # parsed ISO text, a UTC database value
        return _DateTime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                         value.microsecond, tzinfo=utc, fold=value.fold)
    result = coerce(value)
    assert result is not None
    return result.in_timezone(utc)


_clock = datetime.now


def utcnow() -> pendulum.DateTime:
    """The current time in UTC (call sites that need a clock take it as an argument instead). Built from
    the standard clock: ``pendulum.now`` does the same with more calls (a forked task child copies a page
    for most objects it touches)."""
    d = _clock(_STD_UTC)
    return _DateTime(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, tzinfo=utc)


def parse(text: str) -> pendulum.DateTime:
    """Parse an ISO date or datetime typed by a user; naive means the default timezone."""
    try:
        parsed = pendulum.parse(text, tz=default_timezone(), strict=False)
    except Exception as exc:  # pendulum raises several types
        raise ValueError(f"{text!r} is not a date or datetime (expected e.g. 2024-01-31 or 2024-01-31T08:00:00)") from exc
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"{text!r} is not a date or datetime")
    return parsed


def datetime_from_iso(text: str | None) -> pendulum.DateTime | None:
    """Parse a stored ISO-8601 timestamp (None passes through)."""
    return None if text is None else to_utc(datetime.fromisoformat(text))


def make_aware(value: datetime, tz: tzinfo | None = None) -> datetime:
    """Attach ``tz`` (default timezone if None) to a naive datetime."""
    return value if value.tzinfo else value.replace(tzinfo=tz or default_timezone())


def is_naive(value: datetime) -> bool:
    """Whether ``value`` lacks a timezone."""
    return value.tzinfo is None or value.tzinfo.utcoffset(value) is None


__all__ = ["coerce", "to_utc", "utcnow", "parse", "utc", "timedelta", "make_aware", "is_naive"]
