"""Whole-DAG operations on the metastore."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import (
    AssetDagCursor,
    DagModel,
    DagRun,
    DagRunAssetEvent,
    SerializedDagModel,
    TaskInstance,
    TaskInstanceHistory,
    TaskReschedule,
    XCom,
)
from runtime.store.sql import rowcount

# Children before parents, so that each count is what this call removed (not a cascade).
DAG_TABLES = (XCom, TaskReschedule, TaskInstanceHistory, TaskInstance, DagRunAssetEvent, DagRun, SerializedDagModel,
              AssetDagCursor, DagModel)


def delete_dag(session: Session, dag_id: str) -> dict[str, int]:
    """Delete every row of ``dag_id`` from every table; rows removed per table.

    The audit ``log`` keeps its rows (as Airflow's ``keep_records_in_log``); import errors
    belong to files, not DAGs, and stay until the file parses or goes away.
    """
    counts: dict[str, int] = {}
    for model in DAG_TABLES:
        counts[model.__tablename__] = rowcount(session, sa.delete(model).where(model.dag_id == dag_id))
    return counts
