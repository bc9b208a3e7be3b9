"""Row builders for store tests (real rows, real database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from runtime.store.models import DagRun, TaskInstance

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def add_run(session: Session, dag_id: str = "d", run_id: str = "r1", **fields: Any) -> DagRun:
    """A flushed DAG run."""
    fields.setdefault("logical_date", T0 + dt.timedelta(days=len(run_id)))
    run = DagRun(
        dag_id=dag_id, run_id=run_id, run_type="manual", state=fields.pop("state", "queued"), **fields
    )
    session.add(run)
    session.flush()
    return run


def add_tis(session: Session, run: DagRun, n: int, state: str | None = None) -> list[TaskInstance]:
    """``n`` flushed task instances of ``run`` in ``state``."""
    tis = [TaskInstance(dag_id=run.dag_id, run_id=run.run_id, task_id=f"t{i}", state=state) for i in range(n)]
    session.add_all(tis)
    session.flush()
    return tis
