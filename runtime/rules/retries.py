"""Retry decisions: may a failed try be retried, and when."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

MAX_RETRY_DELAY_SECONDS = 24 * 60 * 60


def can_retry(try_number: int, retries: int) -> bool:
    """Whether try ``try_number`` (1-based) that just failed leaves a retry (Airflow's rule)."""
    return retries > 0 and try_number <= retries


def retry_delay(
    *,
    delay: timedelta,
    exponential: bool,
    max_delay: timedelta | None,
    try_number: int,
    key: str,
) -> timedelta:
    """How long to wait after failed try ``try_number`` before the next one.

    With exponential backoff the wait lies in [delay * 2^(n-1), delay * 2^n), picked by a hash
    of the task instance so it is stable (Airflow's jitter), and capped by ``max_delay``.
    """
    if not exponential:
        return delay
    floor = max(1, math.ceil(delay.total_seconds() * (2 ** max(try_number - 1, 0))))
    jitter = int(hashlib.sha1(f"{key}#{try_number}".encode()).hexdigest(), 16) % floor
    wait = timedelta(seconds=min(floor + jitter, MAX_RETRY_DELAY_SECONDS))
    return min(wait, max_delay) if max_delay else wait


def next_retry_at(end: datetime, wait: timedelta) -> datetime:
    """When the next try may start."""
    return end + wait
