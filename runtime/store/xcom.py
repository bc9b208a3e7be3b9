"""XCom values of a DAG run, stored as JSON text that keeps Python types (:mod:`runtime.serde`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime import serde
from runtime.store.models import XCom
from runtime.store.sql import rowcount

RETURN_VALUE = "return_value"


def set_xcom(
    session: Session,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    value: Any,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    timestamp: dt.datetime | None = None,
) -> XCom:
    """Store ``value`` under ``key``, replacing an earlier value (TypeError for a type JSON cannot carry)."""
    text = serde.dumps(value)
    _delete(session, dag_id, run_id, [task_id], map_index, key)
    row = XCom(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        key=key,
        value=text,
        timestamp=timestamp or dt.datetime.now(dt.UTC),
    )
    session.add(row)
    session.flush()
    return row


def get_xcom(
    session: Session,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    default: Any = None,
) -> Any:
    """The value stored under ``key``, or ``default`` when nothing was pushed."""
    stmt = sa.select(XCom.value).where(
        XCom.dag_id == dag_id,
        XCom.run_id == run_id,
        XCom.task_id == task_id,
        XCom.map_index == map_index,
        XCom.key == key,
    )
    row = session.execute(stmt).first()
    return default if row is None else decode(row[0])


def get_many(
    session: Session,
    *,
    dag_id: str,
    run_id: str,
    task_ids: Iterable[str] | None = None,
    key: str | None = RETURN_VALUE,
    map_index: int | None = None,
) -> list[XCom]:
    """XCom rows of a run, filtered by tasks, key and map index (None = any); decode with ``decode``."""
    stmt = sa.select(XCom).where(XCom.dag_id == dag_id, XCom.run_id == run_id)
    if task_ids is not None:
        stmt = stmt.where(XCom.task_id.in_(list(task_ids)))
    if key is not None:
        stmt = stmt.where(XCom.key == key)
    if map_index is not None:
        stmt = stmt.where(XCom.map_index == map_index)
    return list(session.scalars(stmt.order_by(XCom.task_id, XCom.map_index, XCom.key)))


def delete_xcoms(
    session: Session, *, dag_id: str, run_id: str, task_id: str | None = None, map_index: int | None = None
) -> int:
    """Delete a run's XComs (of one task / map index when given); the number deleted."""
    return _delete(session, dag_id, run_id, None if task_id is None else [task_id], map_index, None)


def decode(text: str | None) -> Any:
    """The Python value of a stored XCom text (datetimes, decimals, tuples... as they were pushed)."""
    return None if text is None else serde.loads(text)


def _delete(
    session: Session,
    dag_id: str,
    run_id: str,
    task_ids: list[str] | None,
    map_index: int | None,
    key: str | None,
) -> int:
    stmt = sa.delete(XCom).where(XCom.dag_id == dag_id, XCom.run_id == run_id)
    if task_ids is not None:
        stmt = stmt.where(XCom.task_id.in_(task_ids))
    if map_index is not None:
        stmt = stmt.where(XCom.map_index == map_index)
    if key is not None:
        stmt = stmt.where(XCom.key == key)
    return rowcount(session, stmt)
