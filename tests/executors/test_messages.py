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


def test_a_message_holds_its_fields_and_nothing_else() -> None:
    """``encode`` writes the instance's ``__dict__``: it must be exactly the fields, in order."""
    from runtime.executors.messages import CallbackWork, TaskWork

    work = TaskWork(ti_id=1, dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1, max_tries=0,
                    fileloc="/f.py", run={})
    callback = CallbackWork(dag_id="d", fileloc="/f.py", run={}, state="success", reason="")
    event = TaskEvent(ti_id=1, try_number=1, outcome="result")
    for message in (work, callback, event):
        assert list(message.__dict__) == list(type(message)._order)
        assert decode(message.encode()) == message
    assert work.label == "d.t r try 1" and "label" not in work.__dict__
