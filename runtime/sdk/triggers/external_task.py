"""Triggers that wait on other DAGs: WorkflowTrigger (ExternalTaskSensor) and DagStateTrigger
(TriggerDagRunOperator ``wait_for_completion``)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Sequence
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.triggers import services
from runtime.sdk.triggers.base import BaseTrigger, TriggerEvent, classpath_of
from runtime.store.states import TaskInstanceState


def _dates(values: Sequence[Any] | None) -> list[datetime.datetime]:
    return [timezone.to_utc(timezone.parse(v) if isinstance(v, str) else v) for v in values or []]


class WorkflowTrigger(BaseTrigger):
    """Polls the states of another DAG's tasks (or runs) at ``logical_dates``; fires with
    ``{"status": "success" | "failed" | "skipped"}`` as ExternalTaskSensor decides."""

    def __init__(self, external_dag_id: str, *, logical_dates: Sequence[Any] | None = None,
                 execution_dates: Sequence[Any] | None = None, external_task_ids: Sequence[str] | None = None,
                 allowed_states: Sequence[str] | None = None, failed_states: Sequence[str] | None = None,
                 skipped_states: Sequence[str] | None = None, poke_interval: float = 2.0, soft_fail: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.external_dag_id = external_dag_id
        self.logical_dates = _dates(logical_dates or execution_dates)
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.allowed_states = list(allowed_states or [TaskInstanceState.SUCCESS.value])
        self.failed_states = list(failed_states or [])
        self.skipped_states = list(skipped_states or [])
        self.poke_interval = float(poke_interval)
        self.soft_fail = soft_fail

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Everything needed to poll again."""
        return classpath_of(WorkflowTrigger), {
            "external_dag_id": self.external_dag_id, "logical_dates": [d.isoformat() for d in self.logical_dates],
            "external_task_ids": self.external_task_ids, "allowed_states": self.allowed_states,
            "failed_states": self.failed_states, "skipped_states": self.skipped_states,
            "poke_interval": self.poke_interval, "soft_fail": self.soft_fail}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the watched states say done, failed or skipped."""
        from runtime.sdk.sensors.external_task import DONE, FAIL, SKIP, verdict

        while True:
            states = await asyncio.to_thread(self._states)
            expected = len(self.logical_dates) * (len(self.external_task_ids) if self.external_task_ids else 1)
            result = verdict(states, expected, self.allowed_states, self.failed_states, self.skipped_states)
            if result in (FAIL, SKIP, DONE):
                ends = {FAIL: TaskInstanceState.FAILED, SKIP: TaskInstanceState.SKIPPED, DONE: TaskInstanceState.SUCCESS}
                yield TriggerEvent({"status": ends[result].value})
                return
            await asyncio.sleep(self.poke_interval)

    def _states(self) -> list[str | None]:
        found: list[str | None] = []
        for when in self.logical_dates:
            found += services.current().task_states(self.external_dag_id, self.external_task_ids, when)
        return found


class DagStateTrigger(BaseTrigger):
    """Polls runs of ``dag_id`` (by run id) until each is in one of ``states``; fires with its own
    serialization, as Airflow's does."""

    def __init__(self, dag_id: str, states: Sequence[str], run_ids: Sequence[str] | None = None,
                 execution_dates: Sequence[Any] | None = None, poll_interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.states = [str(getattr(s, "value", s)) for s in states]
        self.run_ids = list(run_ids or [])
        self.execution_dates = [d.isoformat() for d in _dates(execution_dates)]
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The DAG, the runs and the states that end the wait."""
        return classpath_of(DagStateTrigger), {"dag_id": self.dag_id, "states": self.states, "run_ids": self.run_ids,
                                               "execution_dates": self.execution_dates,
                                               "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the runs' states."""
        while True:
            states = await asyncio.to_thread(
                lambda: [services.current().dag_run_state(self.dag_id, run_id) for run_id in self.run_ids])
            if states and all(s in self.states for s in states):
                yield TriggerEvent(self.serialize())
                return
            await asyncio.sleep(self.poll_interval)


TaskStateTrigger = WorkflowTrigger  # an older name of the same wait

__all__ = ["DagStateTrigger", "TaskStateTrigger", "WorkflowTrigger"]
