"""Read-side queries of the UI: the DAG list page, the grid and the graph (session first, no writes)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.sdk.serialization import SerializedDag
from runtime.store.models import DagModel, DagRun, ParseImportError, TaskInstance
from runtime.store.states import DAGRUN_UNFINISHED, TI

# Worst first: the state a group or a set of mapped instances shows.
STATE_PRIORITY = (TI.FAILED, TI.UPSTREAM_FAILED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.RUNNING, TI.RESTARTING,
                  TI.DEFERRED, TI.QUEUED, TI.SCHEDULED, None, TI.REMOVED, TI.SKIPPED, TI.SUCCESS)


@dataclass
class DagListPage:
    """One page of the DAG list with what each row shows."""

    dags: list[DagModel]
    total: int
    last_runs: dict[str, list[Any]]
    task_counts: dict[str, Counter[str]]
    import_errors: int
    all_tags: list[str]


def last_run_state_ids(state: str) -> Any:
    """Ids of the DAGs whose newest run (by logical date) is in ``state``."""
    newest = sa.select(DagRun.dag_id, sa.func.max(DagRun.logical_date).label("last")).group_by(DagRun.dag_id).subquery()
    return sa.select(DagRun.dag_id).join(
        newest, sa.and_(DagRun.dag_id == newest.c.dag_id, DagRun.logical_date == newest.c.last)
    ).where(DagRun.state == state)


def dag_list(
    session: Session, *, search: str = "", tag: str = "", paused: str = "", state: str = "", offset: int = 0,
    limit: int = 100, runs_per_dag: int = 10,
) -> DagListPage:
    """Active DAGs filtered by id search, tag, paused (``paused``/``active``) and last run state."""
    stmt = sa.select(DagModel).where(DagModel.is_active.is_(True))
    if search:
        stmt = stmt.where(DagModel.dag_id.contains(search, autoescape=True))
    if paused in ("paused", "active"):
        stmt = stmt.where(DagModel.is_paused.is_(paused == "paused"))
    if state:
        stmt = stmt.where(DagModel.dag_id.in_(last_run_state_ids(state)))
    tags_by_dag = {d: list(t or []) for d, t in session.execute(sa.select(DagModel.dag_id, DagModel.tags))}
    if tag:
        stmt = stmt.where(DagModel.dag_id.in_([d for d, tags in tags_by_dag.items() if tag in tags]))
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    dags = list(session.scalars(stmt.order_by(DagModel.dag_id).offset(offset).limit(limit)))
    ids = [d.dag_id for d in dags]
    return DagListPage(
        dags=dags, total=int(total), last_runs=_last_runs(session, ids, runs_per_dag),
        task_counts=_task_counts(session, ids),
        import_errors=int(session.scalar(sa.select(sa.func.count(ParseImportError.id))) or 0),
        all_tags=sorted({t for tags in tags_by_dag.values() for t in tags}),
    )


def _last_runs(session: Session, dag_ids: list[str], n: int) -> dict[str, list[Any]]:
    """The newest ``n`` runs of each DAG (run_id, state, logical_date), oldest first, in one windowed query."""
    if not dag_ids:
        return {}
    rank = sa.func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.logical_date.desc()).label("rn")
    inner = sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.logical_date, rank).where(
        DagRun.dag_id.in_(dag_ids)).subquery()
    stmt = sa.select(inner.c.dag_id, inner.c.run_id, inner.c.state, inner.c.logical_date).where(inner.c.rn <= n)
    found: dict[str, list[Any]] = defaultdict(list)
    for row in session.execute(stmt.order_by(inner.c.dag_id, inner.c.logical_date)):
        found[row.dag_id].append(row)
    return found


def _task_counts(session: Session, dag_ids: list[str]) -> dict[str, Counter[str]]:
    """Running and failed task instances per DAG."""
    if not dag_ids:
        return {}
    stmt = sa.select(TaskInstance.dag_id, TaskInstance.state, sa.func.count()).where(
        TaskInstance.dag_id.in_(dag_ids), TaskInstance.state.in_([TI.RUNNING.value, TI.FAILED.value])
    ).group_by(TaskInstance.dag_id, TaskInstance.state)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for dag_id, state, n in session.execute(stmt):
        counts[dag_id][str(state)] = int(n)
    return counts


def worst(states: list[str | None]) -> str | None:
    """The state a set of task instances shows (failed beats running beats success)."""
    present = set(states)
    return next((s for s in STATE_PRIORITY if s in present), None)


def task_order(sdag: SerializedDag) -> list[str]:
    """Task ids upstream-first, ties in id order (a stable topological order)."""
    pending = {t: set(d.get("upstream") or []) & set(sdag.tasks) for t, d in sdag.tasks.items()}
    out: list[str] = []
    while pending:
        ready = sorted(t for t, ups in pending.items() if not ups) or sorted(pending)[:1]
        for t in ready:
            out.append(t)
            del pending[t]
        for ups in pending.values():
            ups.difference_update(ready)
    return out


@dataclass
class GridRow:
    """One row of the grid: a task or a task group header."""

    task_id: str
    group: str | None
    depth: int
    is_group: bool = False
    is_mapped: bool = False
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Grid:
    """Runs (oldest left) x rows, each cell a state (and a count for mapped tasks)."""

    runs: list[DagRun]
    rows: list[GridRow]
    active: bool


def grid(session: Session, sdag: SerializedDag, n_runs: int = 25) -> Grid:
    """The grid of the newest ``n_runs`` runs of a DAG."""
    runs = list(session.scalars(sa.select(DagRun).where(DagRun.dag_id == sdag.dag_id)
                                .order_by(DagRun.logical_date.desc()).limit(n_runs)))[::-1]
    by_cell: dict[tuple[str, str], list[TaskInstance]] = defaultdict(list)
    if runs:
        stmt = sa.select(TaskInstance).where(TaskInstance.dag_id == sdag.dag_id,
                                             TaskInstance.run_id.in_([r.run_id for r in runs]))
        for ti in session.scalars(stmt):
            by_cell[(ti.task_id, ti.run_id)].append(ti)
    rows = _rows(sdag)
    for row in rows:
        members = [r.task_id for r in rows if not r.is_group and _in_group(r.group, row.task_id)] \
            if row.is_group else [row.task_id]
        for run in runs:
            tis = [ti for m in members for ti in by_cell.get((m, run.run_id), [])]
            row.cells[run.run_id] = {"state": worst([ti.state for ti in tis]) if tis else None,
                                     "count": len(tis) if row.is_mapped else None, "tis": len(tis)}
    active = any(r.state in DAGRUN_UNFINISHED for r in runs)
    return Grid(runs=runs, rows=rows, active=active)


def _in_group(group: str | None, gid: str) -> bool:
    return group is not None and (group == gid or group.startswith(gid + "."))


def _rows(sdag: SerializedDag) -> list[GridRow]:
    """Task rows in topological order, each group's header before its first task."""
    rows: list[GridRow] = []
    seen: set[str] = set()
    for task_id in task_order(sdag):
        task = sdag.tasks[task_id]
        group = task.get("task_group") or None
        if group:
            parts = group.split(".")
            for depth in range(1, len(parts) + 1):
                gid = ".".join(parts[:depth])
                if gid not in seen:
                    seen.add(gid)
                    parent = ".".join(parts[: depth - 1]) or None
                    rows.append(GridRow(task_id=gid, group=parent, depth=depth - 1, is_group=True))
        rows.append(GridRow(task_id=task_id, group=group, depth=len(group.split(".")) if group else 0,
                            is_mapped=bool(task.get("is_mapped"))))
    return rows


def graph(sdag: SerializedDag, states: dict[str, str | None]) -> dict[str, Any]:
    """Nodes and edges of the DAG for the layout library, coloured by ``states`` (task id -> state)."""
    nodes = [{"id": t, "operator": d.get("operator") or d.get("task_type"), "group": d.get("task_group"),
              "mapped": bool(d.get("is_mapped")), "state": states.get(t)} for t, d in sdag.tasks.items()]
    edges = [{"source": up, "target": t} for t, d in sdag.tasks.items() for up in d.get("upstream") or []
             if up in sdag.tasks]
    return {"nodes": nodes, "edges": edges}


def run_states(session: Session, dag_id: str, run_id: str) -> dict[str, str | None]:
    """Task id -> state in one run (mapped tasks: the worst of their instances)."""
    found: dict[str, list[str | None]] = defaultdict(list)
    stmt = sa.select(TaskInstance.task_id, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    for task_id, state in session.execute(stmt):
        found[task_id].append(state)
    return {t: worst(states) for t, states in found.items()}
