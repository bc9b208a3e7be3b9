"""BaseSensorOperator: poke until a condition holds, in this process (poke) or by rescheduling."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)

MODES = ("poke", "reschedule")
SEVEN_DAYS = 60 * 60 * 24 * 7


@dataclass
class PokeReturnValue:
    """What ``poke`` may return: whether the sensor is done, and the value to push as XCom."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return bool(self.is_done)


def _seconds(value: float | timedelta, name: str, task_id: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise AirflowException(f"task {task_id!r}: the {name} must be a non-negative number of seconds, got {value!r}")
    return seconds


def next_poke_interval(poke_interval: float, timeout: float, elapsed: float, poke_count: int, *,
                       exponential: bool, max_wait: float | None, seed: str) -> float:
    """Seconds until the next poke: fixed, or Airflow's jittered exponential backoff capped by timeout and max_wait."""
    if not exponential:
        return poke_interval
    floor = max(int(poke_interval * (2 ** (poke_count - 2))), 1)
    jitter = int(hashlib.sha1(f"{seed}#{poke_count}".encode()).hexdigest(), 16) % floor
    interval = min(floor + jitter, max(timeout - elapsed, 0))
    return min(interval, max_wait) if max_wait is not None else interval


def timed_out(started: datetime, now: datetime, timeout: float) -> bool:
    """Whether a sensor that started at ``started`` has run past ``timeout`` seconds at ``now``."""
    return (now - started).total_seconds() > timeout


class BaseSensorOperator(BaseOperator):
    """Calls ``poke(context)`` until it returns true; times out after ``timeout`` seconds."""

    ui_color = "#e6f1f2"
    is_sensor = True
    valid_modes = MODES

    def __init__(
        self,
        *,
        poke_interval: float | timedelta = 60,
        timeout: float | timedelta = SEVEN_DAYS,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: float | timedelta | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval", self.task_id)
        self.timeout = _seconds(timeout, "timeout", self.task_id)
        self.soft_fail = soft_fail
        if mode not in MODES:
            raise AirflowException(f"The mode must be one of {list(MODES)},'{self.dag_id}.{self.task_id}'; received '{mode}'.")
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = _seconds(max_wait, "max_wait", self.task_id) if max_wait is not None else None
        self.silent_fail = silent_fail
        self.never_fail = never_fail

    @property
    def reschedule(self) -> bool:
        """Whether the sensor frees its slot between pokes."""
        return self.mode == "reschedule"

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Check the condition once."""
        raise AirflowException(f"{type(self).__name__} must override poke()")

    def execute(self, context: Any) -> Any:
        try:
            return self._wait(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail is set to True. ({exc})") from exc
            raise

    def _wait(self, context: Any) -> Any:
        started = self._started(context)
        poke_count = 1
        while True:
            value = self._poke_once(context)
            if value:
                print("Success criteria met. Exiting.")
                return value.xcom_value if isinstance(value, PokeReturnValue) else None
            now: datetime = timezone.utcnow()
            if timed_out(started, now, self.timeout):
                elapsed = (now - started).total_seconds()
                raise AirflowSensorTimeout(f"Sensor has timed out; run duration of {elapsed:.1f} seconds exceeds the specified timeout of {self.timeout}.")
            interval = self._interval(started, now, poke_count)
            if self.reschedule:
                raise AirflowRescheduleException(now + timedelta(seconds=interval))
            time.sleep(interval)
            poke_count += 1

    def _poke_once(self, context: Any) -> bool | PokeReturnValue:
        try:
            return self.poke(context)
        except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException, AirflowSkipException):
            raise
        except Exception:
            if self.silent_fail:
                print("Sensor poke failed; silent_fail is set, poking again")
                return False
            raise

    def _started(self, context: Any) -> datetime:
        """When the wait began: this try's start (in reschedule mode, its first poke, as Airflow counts)."""
        ti = context.get("ti")
        if self.reschedule and ti is not None and getattr(ti, "first_try_start", None) is not None:
            return timezone.to_utc(ti.first_try_start)
        return timezone.utcnow()

    def _interval(self, started: datetime, now: datetime, poke_count: int) -> float:
        elapsed = (now - started).total_seconds()
        seed = f"{self.dag_id}#{self.task_id}#{started.isoformat()}"
        return next_poke_interval(self.poke_interval, self.timeout, elapsed, poke_count,
                                  exponential=self.exponential_backoff, max_wait=self.max_wait, seed=seed)


__all__ = ["BaseSensorOperator", "PokeReturnValue", "next_poke_interval", "timed_out"]
