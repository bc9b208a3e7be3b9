"""Airflow's exception names. Control signals (skip, fail-now, reschedule) are apart from errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runtime.errors import WindsockError


class AirflowException(WindsockError):
    """Base of the Airflow-compatible exceptions; a task raising it fails (and may retry)."""


class AirflowSkipException(AirflowException):
    """Raised by a task to mark itself skipped."""


class AirflowFailException(AirflowException):
    """Raised by a task to fail at once, without retrying."""


class AirflowSensorTimeout(AirflowFailException):
    """A sensor ran past its timeout."""


class AirflowTaskTimeout(AirflowException):
    """A task ran past its execution_timeout."""


class AirflowRescheduleException(AirflowException):
    """A sensor in reschedule mode asks to be tried again at ``reschedule_date``."""

    def __init__(self, reschedule_date: datetime) -> None:
        super().__init__(f"reschedule at {reschedule_date.isoformat()}")
        self.reschedule_date = reschedule_date


class AirflowNotFoundException(AirflowException):
    """A named object (variable, connection, DAG) does not exist."""


class AirflowConfigException(AirflowException):
    """A configuration value is wrong."""


class AirflowBadRequest(AirflowException):
    """A request was invalid."""


class DuplicateTaskIdFound(AirflowException):
    """Two tasks of one DAG share a task_id."""


class TaskAlreadyInTaskGroup(AirflowException):
    """A task was added to a second TaskGroup."""


class AirflowDagCycleException(AirflowException):
    """The DAG has a cycle."""


class AirflowClusterPolicyViolation(AirflowException):
    """Kept for imports; Windsock has no cluster policies."""


class ParamValidationError(AirflowException):
    """A DAG param failed validation."""


class XComNotSerializable(AirflowException):
    """A task tried to push a value that is not JSON-serializable."""


class DagRunAlreadyExists(AirflowException):
    """TriggerDagRunOperator found a run with the same id."""


class AirflowSensorFail(AirflowFailException):
    """Kept for imports."""


class TaskDeferred(BaseException):  # noqa: N818 - Airflow's name
    """An operator defers itself until ``trigger`` fires (``BaseOperator.defer``); then ``method_name`` of
    the operator runs with ``kwargs`` and the trigger's ``event``. A BaseException, as in Airflow."""

    TRIGGER_EXIT = "__trigger_exit__"  # the trigger itself ends the task instance (no method runs)

    def __init__(self, *, trigger: Any, method_name: str = TRIGGER_EXIT, kwargs: dict[str, Any] | None = None,
                 timeout: timedelta | None = None) -> None:
        super().__init__()
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout
        if timeout is not None and not hasattr(timeout, "total_seconds"):
            raise ValueError("timeout of a deferral must be a timedelta")

    def __repr__(self) -> str:
        return f"<TaskDeferred trigger={self.trigger} method={self.method_name}>"


class TaskDeferralError(AirflowException):
    """The trigger of a deferred task failed."""


class TaskDeferralTimeout(AirflowException):
    """A deferred task's trigger did not fire within the deferral's timeout (or execution_timeout)."""


class AirflowTaskTerminated(BaseException):  # noqa: N818 - Airflow's name
    """The executor stopped the try (SIGTERM): not the task's failure; it runs again without using a retry.

    A BaseException, as in Airflow, so that ``except Exception`` in user code does not swallow it.
    """


class RemovedInAirflow3Warning(DeprecationWarning):
    """Kept for imports."""
