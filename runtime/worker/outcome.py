"""What a try ended as: one function maps a task's exception to an outcome."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from runtime.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSkipException,
    AirflowTaskTerminated,
    AirflowTaskTimeout,
    TaskDeferred,
)
from runtime.store.states import TI


class Outcome(str, Enum):
    """How a try ended, before retries are considered."""

    SUCCESS = TI.SUCCESS.value
    SKIPPED = TI.SKIPPED.value
    FAILED = TI.FAILED.value  # may be retried
    FAILED_NO_RETRY = "failed_no_retry"  # AirflowFailException, sensor timeout
    RESCHEDULE = TI.UP_FOR_RESCHEDULE.value
    INTERRUPTED = "interrupted"  # the executor stopped it (SIGTERM): run again, no retry used
    DEFERRED = TI.DEFERRED.value  # it waits on a trigger, in the triggerer, without a process


@dataclass
class TryResult:
    """A finished try: its outcome, error text, skips it requested and what it rendered."""

    outcome: Outcome
    error: str | None = None
    reschedule_date: datetime | None = None
    skip_task_ids: set[str] = field(default_factory=set)
    rendered_fields: dict[str, Any] = field(default_factory=dict)
    state: str = ""  # final TI state after retries were considered (success, failed, up_for_retry, ...)
    next_attempt_at: datetime | None = None
    asset_events: list[dict[str, Any]] = field(default_factory=list)  # outlet events of a successful try
    deferral: dict[str, Any] | None = None  # what a deferred try waits on (trigger, method, kwargs, timeout)
    retry_delay: Any = None  # a retry policy's delay for the next try (None: the task's)
    end: datetime | None = None  # when the try's work ended: its end_date, and what a retry's delay counts from


def classify(exc: BaseException) -> tuple[Outcome, str | None, datetime | None]:
    """Map an exception raised by a task to its outcome, message and reschedule date."""
    if isinstance(exc, TaskDeferred):
        return Outcome.DEFERRED, None, None
    if isinstance(exc, AirflowTaskTerminated):
        return Outcome.INTERRUPTED, f"interrupted: {exc}" if str(exc) else "interrupted by the executor", None
    if isinstance(exc, AirflowSkipException):
        return Outcome.SKIPPED, str(exc) or None, None
    if isinstance(exc, AirflowRescheduleException):
        return Outcome.RESCHEDULE, None, exc.reschedule_date
    if isinstance(exc, AirflowFailException):
        return Outcome.FAILED_NO_RETRY, _describe(exc), None
    if isinstance(exc, AirflowTaskTimeout):
        return Outcome.FAILED, f"AirflowTaskTimeout: {exc}", None
    return Outcome.FAILED, _describe(exc), None


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


@dataclass
class TryOutcome:
    """How one try ended, as the side that ran it knows it (what ``record.record`` writes)."""

    ti_id: int
    try_number: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str  # a FINISH target, or scheduled: interrupted (runs again without using a retry)
    end: datetime
    start: datetime | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    skip_task_ids: list[str] = field(default_factory=list)
    rendered_fields: dict[str, Any] | None = None
    hostname: str | None = None
    pid: int | None = None
    crashed: bool = False  # its process died: its own failure/retry callbacks did not run
    fail_stop: bool = False  # its DAG stops every other task when one fails
    asset_events: list[dict[str, Any]] = field(default_factory=list)  # outlet events of a successful try
    deferral: dict[str, Any] | None = None  # a deferred try: its trigger, resume method and deadline

    @property
    def interrupted(self) -> bool:
        """The executor stopped the try; it goes back to scheduled as the next try number."""
        return self.state == TI.SCHEDULED

    @property
    def label(self) -> str:
        """``dag.task[map] run try N`` for messages."""
        index = "" if self.map_index < 0 else f"[{self.map_index}]"
        return f"{self.dag_id}.{self.task_id}{index} {self.run_id} try {self.try_number}"
