"""Airflow's exception names. Control signals (skip, fail-now, reschedule) are apart from errors."""

from __future__ import annotations

from datetime import datetime

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


class TaskDeferred(AirflowException):
    """Deferral is not supported by Windsock; raised to say so."""


class AirflowTaskTerminated(BaseException):  # noqa: N818 - Airflow's name
    """The executor stopped the try (SIGTERM): not the task's failure; it runs again without using a retry.

    A BaseException, as in Airflow, so that ``except Exception`` in user code does not swallow it.
    """


class RemovedInAirflow3Warning(DeprecationWarning):
    """Kept for imports."""
