"""What happens to a try that ended badly outside the task's own control, and when a try is stuck.

Pure: the scheduler (zombies, crashed children, kills) and the task child (failed tries) agree
through these functions on retry-or-fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runtime.rules import retries
from runtime.store.states import TI


@dataclass(frozen=True)
class RetryPolicy:
    """A task's retry settings, however they were read (a live operator or its serialized form)."""

    retries: int = 0
    delay: timedelta = timedelta(seconds=300)
    exponential: bool = False
    max_delay: timedelta | None = None


def may_retry(*, retries_: int, max_tries: int, try_number: int) -> bool:
    """Airflow's rule: the task has retries and this try number has not passed ``max_tries``."""
    return retries_ > 0 and try_number <= max_tries


def after_failure(
    *, retries_: int, max_tries: int, try_number: int, delay: timedelta, exponential: bool,
    max_delay: timedelta | None, key: str, now: datetime,
) -> tuple[str, datetime | None]:
    """(state, next_attempt_at) of a try that failed: up_for_retry after its delay, or failed."""
    if not may_retry(retries_=retries_, max_tries=max_tries, try_number=try_number):
        return TI.FAILED, None
    wait = retries.retry_delay(delay=delay, exponential=exponential, max_delay=max_delay, try_number=try_number, key=key)
    return TI.UP_FOR_RETRY, retries.next_retry_at(now, wait)


def after_crash(policy: RetryPolicy, *, max_tries: int, try_number: int, key: str, now: datetime) -> tuple[str, datetime | None]:
    """(state, next_attempt_at) of a try whose process died or hung: Airflow's retry rule with ``policy``."""
    return after_failure(retries_=policy.retries, max_tries=max_tries, try_number=try_number, delay=policy.delay,
                         exponential=policy.exponential, max_delay=policy.max_delay, key=key, now=now)


def is_zombie(last_heartbeat: datetime | None, started: datetime | None, now: datetime, threshold: float,
              job_alive: bool | None = None) -> bool:
    """A running try nobody runs any more: its job (executor, worker) is dead, or, when no job is
    known, its last heartbeat is older than ``threshold`` seconds. A try under a live job is never
    a zombie, however old its heartbeat: that job still holds its process."""
    if job_alive is not None:
        return not job_alive
    seen = last_heartbeat or started
    return seen is not None and (now - seen).total_seconds() > threshold


def queued_too_long(queued_at: datetime | None, now: datetime, timeout: float) -> bool:
    """A try queued longer than ``timeout`` seconds (its message was lost): queue it again."""
    return queued_at is not None and (now - queued_at).total_seconds() > timeout


def past_allows(prev_state: str | None, *, has_prev_run: bool, downstream_done: bool, wait_for_downstream: bool) -> bool:
    """``depends_on_past``: the previous run's same task succeeded or was skipped (and its downstream is done)."""
    if not has_prev_run:
        return True
    if prev_state not in (TI.SUCCESS, TI.SKIPPED):
        return False
    return downstream_done or not wait_for_downstream
