"""Column types shared by the models: aware UTC datetimes and state strings."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

UTC = dt.UTC


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes: timestamptz on PostgreSQL, naive UTC text on SQLite; naive input refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Convert to UTC; SQLite gets it naive so that text comparisons stay ordered."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} is not allowed; use an aware UTC datetime")
        if dialect.name == "sqlite":
            if value.utcoffset():
                value = dt.datetime.astimezone(value, UTC)  # the plain method: pendulum's own is slow
            return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                               value.microsecond)
        return dt.datetime.astimezone(value, UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Always an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StateString(sa.types.TypeDecorator[str]):
    """A state column: binds enum members by value, reads back plain strings."""

    impl = sa.String(20)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Enum members become their string value."""
        if isinstance(value, Enum):
            return str(value.value)
        return value
