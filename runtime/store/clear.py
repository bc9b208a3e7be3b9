"""Clearing task instances: they run again (new tries), and their run goes back to queued."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import transitions
from runtime.store.models import DagRun, TaskInstance, XCom
from runtime.store.states import TI

FAILED_STATES = (TI.FAILED.value, TI.UPSTREAM_FAILED.value)


def related(graph: dict[str, dict[str, Any]], task_ids: Iterable[str], *, downstream: bool, upstream: bool) -> set[str]:
    """``task_ids`` plus, when asked, everything downstream and/or upstream of them."""
    chosen = set(task_ids)
    for flag, edge in ((downstream, "downstream"), (upstream, "upstream")):
        if flag:
            chosen |= _closure(graph, task_ids, edge)
    return chosen


def _closure(graph: dict[str, dict[str, Any]], start: Iterable[str], edge: str) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        for nxt in graph.get(stack.pop(), {}).get(edge, []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def clear_task_instances(
    session: Session, dag_id: str, run_id: str, task_ids: Iterable[str], *, downstream: bool = False,
    upstream: bool = False, only_failed: bool = False, serialized: Any = None,
) -> int:
    """Reset the chosen task instances of one run to none (try_number kept, max_tries raised); the number cleared.

    ``serialized`` (a SerializedDag or its JSON dict) gives the graph for ``downstream``/``upstream``
    and each task's retries. The run goes back to queued so the scheduler evaluates it afresh.
    """
    from runtime.sdk.setup_teardown import scope_of_clear  # the SDK loads only when something is cleared

    data = getattr(serialized, "data", serialized) or {"tasks": []}
    graph = {t["task_id"]: t for t in data["tasks"]}
    chosen = related(graph, task_ids, downstream=downstream, upstream=upstream)
    chosen |= scope_of_clear(graph, chosen)  # a task's setups and their teardowns go with it (Airflow)
    rows = _rows(session, dag_id, run_id, chosen, only_failed)
    for ti_id, task_id, state, try_number in rows:
        retries = int(graph.get(task_id, {}).get("retries") or 0)
        to = TI.RESTARTING if state in (TI.RUNNING, TI.RESTARTING) else None  # none once its process is gone
        transitions.ti(session, transitions.CLEAR, [ti_id], to=to, expected=[state], max_tries=try_number + retries,
                       end_date=None, next_attempt_at=None, executor_message=None, queued_dttm=None,
                       next_method=None, next_kwargs=None, trigger_id=None, trigger_timeout=None)
    if rows:
        _forget_xcoms(session, dag_id, run_id, {r[1] for r in rows})
        _requeue_run(session, dag_id, run_id)
    return len(rows)


def _rows(session: Session, dag_id: str, run_id: str, task_ids: set[str], only_failed: bool) -> list[Any]:
    stmt = sa.select(TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id.in_(sorted(task_ids))
    )
    if only_failed:
        stmt = stmt.where(TaskInstance.state.in_(FAILED_STATES))
    return [tuple(r) for r in session.execute(stmt) if r.state is not None or not only_failed]


def _forget_xcoms(session: Session, dag_id: str, run_id: str, task_ids: set[str]) -> None:
    session.execute(sa.delete(XCom).where(XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id.in_(sorted(task_ids))))


def _requeue_run(session: Session, dag_id: str, run_id: str) -> None:
    run = session.execute(sa.select(DagRun.id, DagRun.state, DagRun.clear_number).where(
        DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
    if run is not None:
        transitions.run(session, transitions.REQUEUE_RUN, run.id, expected=[run.state], end_date=None,
                        queued_at=dt.datetime.now(dt.UTC), clear_number=run.clear_number + 1)
