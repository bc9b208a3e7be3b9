"""What every executor does for one try: claim it, find its task, run it, describe the end.

Shared by the sequential executor (in-process) and the local executor's forked children.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork, iso, parse_iso
from runtime.paths import task_log_path
from runtime.sdk import timezone
from runtime.sdk.dag import DAG
from runtime.sdk.taskinstance import DagRunInfo
from runtime.store.models import TaskInstance


def log_path(base_folder: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """Airflow's layout: ``dag_id=D/run_id=R/task_id=T/[map_index=M/]attempt=N.log`` (guarded)."""
    return task_log_path(base_folder, dag_id, run_id, task_id, map_index, try_number)


def work_log_path(base_folder: str, work: TaskWork) -> str:
    """The log file of ``work``'s try."""
    return log_path(base_folder, work.dag_id, work.run_id, work.task_id, work.map_index, work.try_number)


def claim(session: Session, works: Sequence[TaskWork], *, hostname: str, pid: int | None, now: datetime) -> list[TaskWork]:
    """Compare-and-set queued -> running for each work's (ti, try); the works this call won."""
    works = list({w.ti_id: w for w in reversed(works)}.values())  # one claim per task instance (first wins)
    if not works:
        return []
    keys = [(w.ti_id, w.try_number) for w in works]
    stmt = (
        sa.update(TaskInstance)
        .where(sa.tuple_(TaskInstance.id, TaskInstance.try_number).in_(keys), TaskInstance.state == "queued")
        .values(state="running", hostname=hostname, pid=pid, start_date=now, last_heartbeat_at=now,
                end_date=None, duration=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if session.get_bind().dialect.update_returning:
        won = set(session.execute(stmt.returning(TaskInstance.id)).scalars())
        return [w for w in works if w.ti_id in won]
    return [w for w in works if _claim_one(session, w, hostname, pid, now)]


def _claim_one(session: Session, work: TaskWork, hostname: str, pid: int | None, now: datetime) -> bool:
    stmt = (
        sa.update(TaskInstance)
        .where(TaskInstance.id == work.ti_id, TaskInstance.try_number == work.try_number, TaskInstance.state == "queued")
        .values(state="running", hostname=hostname, pid=pid, start_date=now, last_heartbeat_at=now, updated_at=now)
    )
    return int(session.execute(stmt).rowcount) == 1  # type: ignore[attr-defined]


def set_pids(session: Session, pids: dict[int, int]) -> None:
    """Record the process id of each claimed try (``task_instance.pid``)."""
    if pids:
        stmt = sa.update(TaskInstance).where(TaskInstance.id == sa.bindparam("ti")).values(pid=sa.bindparam("p"))
        session.connection().execute(stmt, [{"ti": ti, "p": pid} for ti, pid in pids.items()])


def heartbeat(session: Session, ti_ids: Iterable[int], now: datetime) -> set[int]:
    """Stamp ``last_heartbeat_at`` of the running tries; the ids that are no longer running (to kill)."""
    ids = list(ti_ids)
    if not ids:
        return set()
    session.execute(
        sa.update(TaskInstance).where(TaskInstance.id.in_(ids), TaskInstance.state == "running")
        .values(last_heartbeat_at=now).execution_options(synchronize_session=False)
    )
    alive = set(session.scalars(sa.select(TaskInstance.id).where(TaskInstance.id.in_(ids), TaskInstance.state == "running")))
    return set(ids) - alive


def dag_run_info(run: dict[str, Any]) -> DagRunInfo:
    """The run as task code sees it, from a work message."""
    return DagRunInfo(
        dag_id=run["dag_id"], run_id=run["run_id"], logical_date=_dt(run["logical_date"]),
        data_interval_start=_dt(run.get("data_interval_start") or run["logical_date"]),
        data_interval_end=_dt(run.get("data_interval_end") or run["logical_date"]),
        run_type=run.get("run_type", "manual"), conf=dict(run.get("conf") or {}),
        external_trigger=bool(run.get("external_trigger")), start_date=parse_iso(run.get("start_date")),
    )


def _dt(text: str) -> Any:
    value = parse_iso(text)
    assert value is not None
    return value


class DagFiles:
    """Loaded DAG files, cached by path and modification time."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, DAG], str | None]] = {}

    def get(self, fileloc: str, dag_id: str) -> DAG:
        """The DAG ``dag_id`` of ``fileloc``; RuntimeError naming the file when it cannot be had."""
        mtime = os.stat(fileloc).st_mtime
        cached = self._cache.get(fileloc)
        if cached is None or cached[0] != mtime:
            cached = (mtime, *self._load(fileloc))
            self._cache[fileloc] = cached
        dags, error = cached[1], cached[2]
        if dag_id not in dags:
            raise RuntimeError(error or f"DAG {dag_id!r} is not in {fileloc} any more")
        return dags[dag_id]

    def forget(self, fileloc: str) -> None:
        """Drop a file from the cache (it failed to load here; load it again next time)."""
        self._cache.pop(fileloc, None)

    @staticmethod
    def _load(fileloc: str) -> tuple[dict[str, DAG], str | None]:
        from runtime.loader import load_file

        result = load_file(fileloc)
        return {d.dag_id: d for d in result.dags}, (str(result.error) if result.error else None)


def run_work(work: TaskWork, dag: DAG, services: Any, *, hostname: str) -> TaskEvent:
    """Run the claimed try in this process; the event that reports its end."""
    from runtime.taskrunner import run_task

    task = dag.get_task(work.task_id)
    if task.retries > 0:
        task.retries = max(task.retries, work.max_tries)  # a clear raised max_tries: more tries allowed
    start = timezone.utcnow()
    result = run_task(task, dag_run_info(work.run), services, map_index=work.map_index, try_number=work.try_number,
                      hostname=hostname, first_try_start=parse_iso(work.first_try_start))
    return TaskEvent(
        ti_id=work.ti_id, try_number=work.try_number, outcome="result", state=result.state,
        error=_short(result.error), next_attempt_at=iso(result.next_attempt_at),
        skip_task_ids=sorted(result.skip_task_ids), rendered_fields=result.rendered_fields,
        asset_events=result.asset_events,
        start_date=iso(start), end_date=iso(timezone.utcnow()), pid=os.getpid(), hostname=hostname,
    )


def failed_event(work: TaskWork, error: str, *, hostname: str) -> TaskEvent:
    """A try that could not start (its DAG file is gone or broken): failed as the task would."""
    print(error, file=sys.stderr)
    now = iso(timezone.utcnow())
    return TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome="crashed", error=error,
                     start_date=now, end_date=now, pid=os.getpid(), hostname=hostname)


def run_callback(cb: CallbackWork, dag: DAG, services: Any = None) -> None:
    """Call a finished run's DAG-level callback, or a dead try's task-level one (``cb.task_id``)."""
    if cb.task_id is not None:
        _task_callback(cb, dag, services)
        return
    callback = dag.on_success_callback if cb.state == "success" else dag.on_failure_callback
    run = dag_run_info(cb.run)
    run.state = cb.state
    context = {"dag": dag, "dag_run": run, "run_id": run.run_id, "reason": cb.reason, "logical_date": run.logical_date,
               "ds": run.logical_date.strftime("%Y-%m-%d"), "ts": run.logical_date.isoformat()}
    _call(callback, context)


def _task_callback(cb: CallbackWork, dag: DAG, services: Any) -> None:
    """The task's on_failure/on_retry callback with the try's context and the cause as ``exception``."""
    from runtime.sdk.context import build_context
    from runtime.sdk.exceptions import AirflowException
    from runtime.sdk.taskinstance import TaskInstance as RuntimeTI
    from runtime.taskrunner.run import _params

    task = dag.get_task(cb.task_id or "")
    run = dag_run_info(cb.run)
    ti = RuntimeTI(task, run, services, map_index=cb.map_index, try_number=cb.try_number)
    ti.state = cb.state
    context = build_context(ti, _params(task, run))
    context["exception"] = AirflowException(cb.reason)
    _call(task.on_failure_callback if cb.state == "failed" else task.on_retry_callback, context)


def _call(callback: Any, context: dict[str, Any]) -> None:
    for fn in callback if isinstance(callback, (list, tuple)) else [callback]:
        if fn is None:
            continue
        try:
            fn(context)
        except Exception:  # noqa: BLE001 - a broken callback is logged; the run keeps its state
            traceback.print_exc()


def _short(error: str | None, limit: int = 8000) -> str | None:
    return error if error is None or len(error) <= limit else error[-limit:]
