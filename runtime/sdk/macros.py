"""The ``macros`` namespace of templates (Airflow's ``airflow.macros``)."""

from __future__ import annotations

import datetime as _datetime_module
import json  # noqa: F401 - exposed as macros.json
import time  # noqa: F401 - exposed as macros.time
import uuid  # noqa: F401 - exposed as macros.uuid
from datetime import datetime, timedelta  # noqa: F401 - exposed as macros.datetime / timedelta
from random import random  # noqa: F401 - macros.random() is the function, as in Airflow
from typing import Any

import dateutil  # noqa: F401 - exposed as macros.dateutil
import pendulum


def ds_add(ds: str, days: int) -> str:
    """Add ``days`` (may be negative) to a ``YYYY-MM-DD`` string."""
    if not days:
        return str(ds)
    value = _datetime_module.datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return value.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string from ``input_format`` to ``output_format``."""
    return _datetime_module.datetime.strptime(str(ds), input_format).strftime(output_format)


def ds_format_locale(ds: str, input_format: str, output_format: str, locale: str | None = None) -> str:
    """Like ds_format (locale is accepted and ignored)."""
    return ds_format(ds, input_format, output_format)


def datetime_diff_for_humans(dt: Any, since: Any = None) -> str:
    """Human-readable difference between ``dt`` and ``since`` (now by default)."""
    return pendulum.instance(dt).diff_for_humans(pendulum.instance(since) if since else None)
