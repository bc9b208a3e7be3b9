"""Message fields as text: ``iso`` writes what ``isoformat`` of the UTC value writes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from runtime.executors.messages import TaskEvent, decode, iso, parse_iso
from runtime.sdk import timezone as wtz


@pytest.mark.parametrize("value", [
    pendulum.datetime(2024, 1, 2, 3, 4, 5, tz="UTC"),  # no fraction: isoformat writes none
    pendulum.datetime(2024, 1, 2, 3, 4, 5, 7, tz="UTC"),
    pendulum.datetime(987, 12, 31, 23, 59, 59, 999999, tz="UTC"),  # a year of three digits is padded
    pendulum.datetime(2024, 7, 1, 12, 0, tz="Europe/Paris"),  # converted to UTC first
    datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=-5))),
])
def test_iso_is_the_utc_isoformat(value: datetime) -> None:
    assert iso(value) == wtz.to_utc(value).isoformat()
    assert parse_iso(iso(value)) == value


def test_an_event_survives_its_line() -> None:
    now = wtz.utcnow()
    event = TaskEvent(ti_id=3, try_number=1, outcome="result", state="success", start_date=iso(now), end_date=iso(now),
                      rendered_fields={"cmd": "é\n"}, error=None)
    assert decode(event.encode()) == event
    assert iso(None) is None and parse_iso(None) is None
