"""A scheduler environment for tests: a DAG folder, the processor, an executor, and bounded waits."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runtime.executors import make_executor
from runtime.executors.base import BaseExecutor
from runtime.processor import DagProcessor
from runtime.scheduler import Scheduler
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import runs
from runtime.store.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory
from runtime.store.session import transaction

HEADER = """\
import os, time, json
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
OUT = {out!r}
def mark(name, **kw):
    path = os.path.join(OUT, name)
    with open(path, "a") as h:
        h.write(json.dumps({{"start": time.time(), **kw}}) + "\\n")
"""


@dataclass
class Env:
    """One test's store, DAG folder, output folder, scheduler and executor."""

    store: Any
    settings: Settings
    dags: Path
    out: Path
    executor: BaseExecutor
    scheduler: Scheduler

    @property
    def factory(self) -> Any:
        """The store's session factory."""
        return self.store.session_factory

    def write_dag(self, name: str, body: str) -> Path:
        """Write a DAG file (the common header gives imports, ``OUT`` and ``mark``)."""
        path = self.dags / f"{name}.py"
        path.write_text(HEADER.format(out=str(self.out)) + textwrap.dedent(body))
        return path

    def sync(self, unpause: bool = True) -> None:
        """Parse the folder into the store; unpause every DAG."""
        DagProcessor(self.settings, self.factory, dags_folder=str(self.dags), include_examples=False).run_once(
            timezone.utcnow(), force=True)
        if unpause:
            with transaction(self.factory) as s:
                s.execute(sa.update(DagModel).values(is_paused=False))

    def trigger(self, dag_id: str, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> str:
        """Queue a manual run; its run_id."""
        now = timezone.utcnow()
        with transaction(self.factory) as s:
            return runs.create_dag_run(s, dag_id=dag_id, run_type="manual", logical_date=logical_date or now,
                                       data_interval=None, now=now, conf=conf, external_trigger=True).run_id

    def step(self, now: datetime | None = None) -> Any:
        """One scheduler step (at ``now`` or the real time)."""
        return self.scheduler.run_once(now or timezone.utcnow())

    def drive(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Step with the real clock until ``done()`` (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout}s: {self.states()}")
            if not self.step().busy:
                self.executor.wait(0.02)

    def run_dag(self, dag_id: str, body: str, timeout: float = 60.0) -> list[str]:
        """Write the DAG file, parse it, trigger one run and drive it to its end; the runs' states."""
        self.write_dag(dag_id, body)
        self.sync()
        self.trigger(dag_id)
        self.drive(self.finished(dag_id), timeout=timeout)
        return self.run_states(dag_id)

    def run_states(self, dag_id: str) -> list[str]:
        """States of the DAG's runs, by logical date."""
        with transaction(self.factory) as s:
            return list(s.scalars(sa.select(DagRun.state).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)))

    def finished(self, dag_id: str, count: int = 1) -> Callable[[], bool]:
        """A predicate: ``count`` runs of the DAG are finished."""
        return lambda: sum(s in ("success", "failed") for s in self.run_states(dag_id)) >= count

    def tis(self, dag_id: str, run_id: str | None = None) -> dict[tuple[str, int], Any]:
        """Task-instance rows of a DAG (one run if given), by (task_id, map_index)."""
        with transaction(self.factory) as s:
            stmt = sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id)
            if run_id is not None:
                stmt = stmt.where(TaskInstance.run_id == run_id)
            return {(t.task_id, t.map_index): t for t in s.scalars(stmt)}

    def history(self, dag_id: str, task_id: str) -> list[Any]:
        """History rows of a task's tries, by try number."""
        with transaction(self.factory) as s:
            stmt = sa.select(TaskInstanceHistory).where(TaskInstanceHistory.dag_id == dag_id,
                                                        TaskInstanceHistory.task_id == task_id)
            return list(s.scalars(stmt.order_by(TaskInstanceHistory.run_id, TaskInstanceHistory.try_number)))

    def states(self) -> dict[str, Any]:
        """Every run and task-instance state (for failure messages)."""
        with transaction(self.factory) as s:
            r = s.execute(sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state)).all()
            t = s.execute(sa.select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state,
                                    TaskInstance.try_number)).all()
        return {"runs": [tuple(x) for x in r], "tis": [tuple(x) for x in t]}

    def marks(self, name: str) -> list[dict[str, Any]]:
        """What ``mark(name, ...)`` calls in tasks wrote."""
        import json

        path = self.out / name
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_env(store: Any, tmp_path: Path, executor: str = "local", **overrides: Any) -> Env:
    """An Env over the ``store`` fixture; ``overrides`` are ``section__key`` settings."""
    dags, out = tmp_path / "dags", tmp_path / "out"
    dags.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    values = {"core__dags_folder": str(dags), "core__load_examples": False, "scheduler__heartbeat_interval": 0.5,
              "logging__base_log_folder": str(tmp_path / "logs"), "core__parallelism": 8, **overrides}
    settings = store.settings.with_overrides(**values)
    ex = make_executor(settings, store.session_factory, executor)
    ex.start()
    return Env(store, settings, dags, out, ex, Scheduler(settings, store.session_factory, ex))


def peak(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one moment."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = best = 0
    for _, delta in points:
        level += delta
        best = max(best, level)
    return best


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (a reaped child no longer does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
