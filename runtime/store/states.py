"""State names of task instances and DAG runs, as Airflow spells them."""

from __future__ import annotations

from enum import Enum, StrEnum


class TaskInstanceState(StrEnum):
    """State of one task instance; Airflow's "none" is stored as NULL and has no member."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    RESTARTING = "restarting"
    DEFERRED = "deferred"


class DagRunState(StrEnum):
    """State of one DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunType(StrEnum):
    """How a DAG run was created; the prefix of its generated run_id."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    ASSET_TRIGGERED = "asset_triggered"  # created from asset events (Airflow 2: dataset_triggered)


class JobState(StrEnum):
    """State of a job row (a scheduler, executor or worker process)."""

    RUNNING = "running"  # alive as long as its heartbeat is fresh
    SUCCESS = "success"  # stopped cleanly, after handing over what it held
    FAILED = "failed"  # found dead (no heartbeat, process gone) by another job


class JobType(StrEnum):
    """What a job row stands for."""

    SCHEDULER = "scheduler"
    EXECUTOR = "executor"  # the local executor's fork server
    WORKER = "worker"  # an SQS worker's fork server
    DAG_PROCESSOR = "dag_processor"
    TRIGGERER = "triggerer"


TI = TaskInstanceState
RUN = DagRunState

# Task-instance states the scheduler never moves again on its own.
FINISHED: frozenset[str] = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED})

# Task-instance states that still need the scheduler (None is "none": not yet scheduled).
UNFINISHED: frozenset[str | None] = frozenset(
    {
        None,
        TI.SCHEDULED,
        TI.QUEUED,
        TI.RUNNING,
        TI.UP_FOR_RETRY,
        TI.UP_FOR_RESCHEDULE,
        TI.RESTARTING,
        TI.DEFERRED,
    }
)

# The states covered by the partial index on task_instance.state (PostgreSQL).
ACTIVE: frozenset[str] = frozenset(s for s in UNFINISHED if s is not None)

DAGRUN_FINISHED: frozenset[str] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
DAGRUN_UNFINISHED: frozenset[str] = frozenset({DagRunState.QUEUED, DagRunState.RUNNING})


def state_value(state: str | Enum | None) -> str | None:
    """The plain string stored for ``state`` (enum members become their value)."""
    if isinstance(state, Enum):
        return str(state.value)
    return state
