"""Read-only lookups on the Core tables of ``schema.py``, for paths that must not load the ORM.

The CLI's read verbs (``dags list-runs``, ``dags state``, ``tasks state``, ``tasks
states-for-dag-run``) start in a fraction of the time the ORM takes to import and configure.
Each function takes a Core ``Connection`` (or an ORM ``Session``: both execute Core statements)
and returns ``Row`` objects, whose attributes are the column names. Session first, never commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import sqlalchemy as sa

from runtime.errors import UserError
from runtime.store import schema as t


class NotFound(UserError):
    """The DAG, run or task instance named does not exist."""


class Executor(Protocol):
    """A Connection or a Session."""

    def execute(self, statement: Any, /) -> Any:
        """Run a Core statement."""


def dag_missing(dag_id: str) -> NotFound:
    """The error for a DAG that the metadata database does not have (yet)."""
    return NotFound(f"DAG {dag_id!r} is not in the metadata database; it appears once its file is parsed")


def dag(conn: Executor, dag_id: str) -> sa.Row[Any]:
    """The ``dag`` row of ``dag_id``; NotFound otherwise."""
    row = conn.execute(sa.select(t.dag).where(t.dag.c.dag_id == dag_id)).first()
    if row is None:
        raise dag_missing(dag_id)
    return row


def runs(conn: Executor, dag_id: str, *, state: str | None = None) -> list[sa.Row[Any]]:
    """The runs of ``dag_id`` (only those in ``state`` if given), newest logical date first."""
    stmt = sa.select(t.dag_run).where(t.dag_run.c.dag_id == dag_id)
    if state:
        stmt = stmt.where(t.dag_run.c.state == state)
    return list(conn.execute(stmt.order_by(t.dag_run.c.logical_date.desc())))


def run(conn: Executor, dag_id: str, run_id: str) -> sa.Row[Any] | None:
    """The run ``run_id`` of ``dag_id``, or None."""
    return conn.execute(sa.select(t.dag_run).where(t.dag_run.c.dag_id == dag_id, t.dag_run.c.run_id == run_id)).first()


def run_at(conn: Executor, dag_id: str, logical_date: dt.datetime) -> sa.Row[Any] | None:
    """The run of ``dag_id`` at ``logical_date`` (an aware datetime), or None."""
    stmt = sa.select(t.dag_run).where(t.dag_run.c.dag_id == dag_id, t.dag_run.c.logical_date == logical_date)
    return conn.execute(stmt).first()


def task_instances(conn: Executor, dag_id: str, run_id: str) -> list[sa.Row[Any]]:
    """The task instances of a run, ordered by task id and map index."""
    ti = t.task_instance
    stmt = sa.select(ti).where(ti.c.dag_id == dag_id, ti.c.run_id == run_id).order_by(ti.c.task_id, ti.c.map_index)
    return list(conn.execute(stmt))
