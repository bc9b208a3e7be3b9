"""Which task instances a run has: how many a mapped task expands to (from JSON values only), and
whether a task belongs to a run at all (its start/end dates)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any


class MappingError(ValueError):
    """An upstream pushed nothing, or something that cannot be mapped over."""


def value_length(task_id: str, value: Any, pushed: bool) -> int:
    """Length of one mapped input pushed by an unmapped upstream."""
    if not pushed or value is None:
        raise MappingError(f"XCom of upstream {task_id!r} needed for mapping was not pushed")
    if not isinstance(value, (list, dict)):
        raise MappingError(f"upstream {task_id!r} pushed a {type(value).__name__}, which cannot be mapped over (list or dict)")
    return len(value)


def expansion_length(mode: str, lengths: Sequence[int]) -> int:
    """Instances of a mapped task: the product of its input lengths (``expand``) or the list length."""
    if not lengths:
        return 0
    return lengths[0] if mode == "list" else math.prod(lengths)


def task_in_run(start: datetime | None, end: datetime | None, logical_date: datetime | None, run_type: str) -> bool:
    """Whether a run gets an instance of a task: its start/end dates bracket the run's logical date
    (Airflow: a task that starts later, or ended earlier, has no task instance; backfills take all)."""
    if run_type == "backfill" or logical_date is None:
        return True
    return (start is None or start <= logical_date) and (end is None or logical_date <= end)
