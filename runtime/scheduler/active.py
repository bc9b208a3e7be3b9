"""The scheduler's memory of running DAG runs and of what changed in each (its dirty sets).

The database stays the truth: the registry is re-synced with the running runs every loop,
and a run this scheduler has not seen before is evaluated in full.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import iso
from runtime.store.models import DagModel, DagRun
from runtime.store.states import RUN


@dataclass
class RunCtx:
    """A running run: what task messages need, and which tasks must be evaluated again."""

    pk: int
    dag_id: str
    run_id: str
    logical_date: datetime
    info: dict[str, Any]
    start_date: datetime | None = None
    dirty: set[str] = field(default_factory=set)
    full: bool = True  # evaluate every task (new to this scheduler, restarted, cleared)
    evaluated_at: float = 0.0  # monotonic time of the last full evaluation
    touched: bool = True  # something finished: check whether the run is done

    def mark(self, task_ids: Iterable[str]) -> None:
        """Evaluate these tasks again at the next step."""
        self.dirty.update(task_ids)


def run_info(run: DagRun) -> dict[str, Any]:
    """The run as a task message carries it."""
    return {
        "dag_id": run.dag_id, "run_id": run.run_id, "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval_start), "data_interval_end": iso(run.data_interval_end),
        "run_type": run.run_type, "conf": run.conf or {}, "external_trigger": run.external_trigger,
        "start_date": iso(run.start_date),
    }


# The running runs (of unpaused DAGs, or of the DAGs :dag_ids), read every step: built once.
_RUNNING = (sa.select(DagRun.id, DagRun.start_date).join(DagModel, DagModel.dag_id == DagRun.dag_id)
            .where(DagRun.state == RUN.RUNNING, DagModel.is_paused.is_(False)))
_RUNNING_OF = sa.select(DagRun.id, DagRun.start_date).where(
    DagRun.state == RUN.RUNNING, DagRun.dag_id.in_(sa.bindparam("dag_ids", expanding=True)))


class Registry:
    """pk -> RunCtx for the running runs."""

    def __init__(self, dag_ids: set[str] | None = None) -> None:
        self.dag_ids = dag_ids
        self.runs: dict[int, RunCtx] = {}
        self.by_key: dict[tuple[str, str], RunCtx] = {}

    def sync(self, session: Session) -> list[RunCtx]:
        """Match the running runs in the database; the contexts that are new here."""
        if self.dag_ids is not None:  # backfill: its DAGs, paused or not
            rows = session.execute(_RUNNING_OF, {"dag_ids": sorted(self.dag_ids)}).all()
        else:  # as Airflow: the runs of a paused DAG make no progress
            rows = session.execute(_RUNNING).all()
        running = {pk: start for pk, start in rows}
        for pk in [pk for pk, ctx in self.runs.items() if pk not in running or running[pk] != ctx.start_date]:
            self.drop(pk)
        new = [pk for pk in running if pk not in self.runs]
        return [self.add(run) for run in _load(session, new)]

    def add(self, run: DagRun) -> RunCtx:
        """Register a running run, to be evaluated in full."""
        ctx = RunCtx(run.id, run.dag_id, run.run_id, run.logical_date, run_info(run), start_date=run.start_date,
                     evaluated_at=time.monotonic())
        self.runs[run.id] = ctx
        self.by_key[(run.dag_id, run.run_id)] = ctx
        return ctx

    def drop(self, pk: int) -> None:
        """Forget a run that finished or left the running state."""
        ctx = self.runs.pop(pk, None)
        if ctx is not None:
            self.by_key.pop((ctx.dag_id, ctx.run_id), None)

    def get(self, dag_id: str, run_id: str) -> RunCtx | None:
        """The context of a running run, if this scheduler knows it."""
        return self.by_key.get((dag_id, run_id))

    def of_dag(self, dag_id: str) -> list[RunCtx]:
        """Running runs of one DAG."""
        return [ctx for ctx in self.runs.values() if ctx.dag_id == dag_id]


def _load(session: Session, pks: list[int]) -> list[DagRun]:
    if not pks:
        return []
    return list(session.scalars(sa.select(DagRun).where(DagRun.id.in_(pks))))
