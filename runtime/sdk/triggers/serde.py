"""JSON for what crosses a deferral: trigger arguments, the resumed method's arguments, event payloads.

Airflow stores these with its own serializer, so trigger code freely passes datetimes, timedeltas,
tuples and sets; plain JSON would refuse them. :func:`encode` tags those types (``{"__windsock__":
type, "v": value}``) and :func:`decode` brings them back, so a trigger built in the triggerer and a
method resumed in a worker see the objects the task passed. Anything else JSON cannot hold raises
TypeError naming its type.
"""

from __future__ import annotations

import datetime
from typing import Any

TAG = "__windsock__"


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (TypeError for a type that cannot be stored)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {TAG: "timedelta", "v": value.total_seconds()}
    if isinstance(value, (tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return {TAG: type(value).__name__, "v": [encode(v) for v in items]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"dictionary keys must be strings to be stored, not {type(bad[0]).__name__}")
        return {k: encode(v) for k, v in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be stored with a deferral (use JSON types, datetimes, "
                    "timedeltas, tuples or sets)")


_DECODERS: dict[str, Any] = {
    "datetime": lambda v: _aware(datetime.datetime.fromisoformat(v)),
    "date": lambda v: datetime.date.fromisoformat(v),
    "timedelta": lambda v: datetime.timedelta(seconds=v),
    "tuple": lambda v: tuple(decode(x) for x in v),
    "set": lambda v: {decode(x) for x in v},
    "frozenset": lambda v: frozenset(decode(x) for x in v),
}


def _aware(value: datetime.datetime) -> datetime.datetime:
    import pendulum

    return pendulum.instance(value) if value.tzinfo is not None else value


def decode(data: Any) -> Any:
    """What :func:`encode` made, back as objects."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        kind = data.get(TAG)
        if isinstance(kind, str) and kind in _DECODERS and set(data) == {TAG, "v"}:
            return _DECODERS[kind](data["v"])
        return {k: decode(v) for k, v in data.items()}
    return data


__all__ = ["decode", "encode"]
