"""Whole-DAG operations on the metastore."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import schema as t
from runtime.store.sql import rowcount

# Children before parents, so that each count is what this call removed (not a cascade).
DAG_TABLES = (t.xcom, t.task_reschedule, t.task_instance_history, t.task_instance, t.dag_run_asset_event, t.dag_run,
              t.serialized_dag, t.asset_dag_cursor, t.dag)


def delete_dag(session: Session, dag_id: str) -> dict[str, int]:
    """Delete every row of ``dag_id`` from every table; rows removed per table.

    The audit ``log`` keeps its rows (as Airflow's ``keep_records_in_log``); import errors
    belong to files, not DAGs, and stay until the file parses or goes away.
    """
    counts: dict[str, int] = {}
    for table in DAG_TABLES:
        counts[table.name] = rowcount(session, sa.delete(table).where(table.c.dag_id == dag_id))
    return counts
