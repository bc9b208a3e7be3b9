"""JSON that keeps Python types: XCom values and what crosses a deferral (trigger arguments, the
resumed method's arguments, event payloads).

Airflow stores these with its own serializer, so task and trigger code freely pass datetimes,
timedeltas, decimals (every SQL ``SUM``/``NUMERIC`` through a DB-API driver), tuples and sets, and
get the same types back; plain JSON would refuse some and change others. :func:`encode` tags those
types (``{"__windsock__": type, "v": value}``) and :func:`decode` brings them back, so a value pulled
from XCom, a trigger built in the triggerer and a method resumed in a worker see the objects that
were passed. Anything else JSON cannot hold raises TypeError naming its type.
"""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

TAG = "__windsock__"


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (TypeError for a type that cannot be stored)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "v": str(value)}
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
    raise TypeError(f"a {type(value).__name__} object cannot be stored (use JSON types, datetimes, "
                    "timedeltas, decimals, tuples or sets)")


_DECODERS: dict[str, Any] = {
    "datetime": lambda v: _aware(datetime.datetime.fromisoformat(v)),
    "date": lambda v: datetime.date.fromisoformat(v),
    "timedelta": lambda v: datetime.timedelta(seconds=v),
    "decimal": decimal.Decimal,
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


def dumps(value: Any) -> str:
    """``value`` as JSON text (TypeError for a type that cannot be stored)."""
    return json.dumps(encode(value))


def loads(text: str) -> Any:
    """What :func:`dumps` wrote, as objects (plain JSON text reads as itself)."""
    return decode(json.loads(text))


__all__ = ["decode", "dumps", "encode", "loads"]
