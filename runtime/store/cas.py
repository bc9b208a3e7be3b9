"""Compare-and-set state changes: the only way a task instance or DAG run changes state.

Each function issues one ``UPDATE ... WHERE id = ... AND state IN (expected)`` and reports
whether this caller won. They never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from runtime.store.models import DagRun, TaskInstance
from runtime.store.sql import rowcount
from runtime.store.states import state_value

State = str | Enum | None
_CHUNK = 500


def state_clause(column: Any, expected: Collection[State]) -> sa.ColumnElement[bool]:
    """``column IN (expected)``, where a None in ``expected`` matches NULL (Airflow's "none")."""
    _check(expected)
    values = sorted({v for v in (state_value(s) for s in expected) if v is not None})
    clauses = [column.in_(values)] if values else []
    if any(s is None for s in expected):
        clauses.append(column.is_(None))
    return sa.or_(*clauses) if len(clauses) > 1 else clauses[0]


def _check(expected: Collection[State]) -> None:
    if isinstance(expected, (str, Enum)) or not expected:
        raise ValueError("expected must be a non-empty collection of states (use [None] for 'none')")


def _values(new: State, fields: dict[str, Any]) -> dict[str, Any]:
    """The SET clause; ``updated_at`` defaults to now unless the caller passes its clock's value."""
    if "state" in fields:
        raise TypeError("pass the new state as new=, not as a field")
    values = {"state": state_value(new), **fields}
    values.setdefault("updated_at", dt.datetime.now(dt.UTC))
    return values


def _can_return(session: Session) -> bool:
    return bool(session.get_bind().dialect.update_returning)


def _cas(
    session: Session, model: Any, ids: list[int], expected: Collection[State], values: dict[str, Any]
) -> list[int]:
    """Run the guarded UPDATE for ``ids``; the ids it changed. Loaded objects are kept in step."""
    changed = _update(session, model, ids, expected, values)
    _sync_identity_map(session, model, ids, set(changed), values)
    return changed


def _update(
    session: Session, model: Any, ids: list[int], expected: Collection[State], values: dict[str, Any]
) -> list[int]:
    returning = _can_return(session)
    stmt = _guarded(model, expected, values, returning)
    params = {f"v_{name}": value for name, value in values.items() if not _is_sql(value)}
    if returning:
        won = set(session.execute(stmt, {**params, "c_ids": ids}).scalars())
        return [i for i in ids if i in won]
    return [i for i in ids if rowcount(session, stmt, {**params, "c_ids": [i]}) == 1]


# The guarded UPDATEs, built once per (model, expected states, fields set, SQL-valued fields, RETURNING):
# building one costs more than running it. The ids and the plain field values are bind parameters; a
# field set to an SQL expression (``try_number + 1``) is part of the statement, keyed by the expression
# object, which the entry keeps alive (so that its id is never reused while the entry exists).
_GUARDED: dict[tuple[Any, ...], tuple[Any, tuple[Any, ...]]] = {}


def _is_sql(value: Any) -> bool:
    return isinstance(value, sa.ClauseElement) or hasattr(value, "__clause_element__")


def _guarded(model: Any, expected: Collection[State], values: dict[str, Any], returning: bool) -> Any:
    """``UPDATE model SET values WHERE id IN :c_ids AND state IN expected`` (``RETURNING id`` if asked)."""
    _check(expected)
    states = frozenset(state_value(s) for s in expected)
    sql = tuple((name, value) for name, value in values.items() if _is_sql(value))
    key = (model, states, tuple(values), tuple((name, id(value)) for name, value in sql), returning)
    cached = _GUARDED.get(key)
    if cached is not None:
        return cached[0]
    if len(_GUARDED) > 256:  # call sites x states: a few dozen; anything past that is callers' fresh expressions
        _GUARDED.clear()
    sets = {name: value if _is_sql(value) else sa.bindparam(f"v_{name}") for name, value in values.items()}
    stmt = (sa.update(model)
            .where(model.id.in_(sa.bindparam("c_ids", expanding=True)), state_clause(model.state, expected))
            .values(sets).execution_options(synchronize_session=False))
    if returning:
        stmt = stmt.returning(model.id)
    _GUARDED[key] = (stmt, sql)
    return stmt


def _sync_identity_map(
    session: Session, model: Any, ids: list[int], changed: set[int], values: dict[str, Any]
) -> None:
    """Winners get the new values in memory; losers are expired so the next read sees the truth.

    A field set to an SQL expression (``try_number + 1``) is expired on a winner: its value is the database's."""
    if not len(session.identity_map):  # nothing loaded (the scheduler's usual step): nothing to keep in step
        return
    computed = [name for name, value in values.items() if _is_sql(value)]
    for pk in ids:
        obj = session.identity_map.get(identity_key(model, pk))
        if obj is None:
            continue
        if pk in changed:
            for name, value in values.items():
                if name not in computed:
                    set_committed_value(obj, name, value)
            if computed:
                session.expire(obj, computed)
        else:
            session.expire(obj)


def set_ti_state(
    session: Session, ti_id: int, *, expected: Collection[State], new: State, **fields: Any
) -> bool:
    """Move task instance ``ti_id`` to ``new`` if its state is in ``expected``; True if this call won."""
    return bool(_cas(session, TaskInstance, [ti_id], expected, _values(new, fields)))


def set_ti_states(
    session: Session, ti_ids: Iterable[int], *, expected: Collection[State], new: State, **fields: Any
) -> list[int]:
    """Bulk :func:`set_ti_state`: the ids actually changed (others lost the race or were elsewhere)."""
    ids = list(dict.fromkeys(ti_ids))
    if not ids:
        return []
    values = _values(new, fields)
    changed: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        changed.extend(_cas(session, TaskInstance, ids[start : start + _CHUNK], expected, values))
    return changed


def set_run_state(
    session: Session, run_pk: int, *, expected: Collection[State], new: State, **fields: Any
) -> bool:
    """Move DAG run ``run_pk`` (``dag_run.id``) to ``new`` if its state is in ``expected``."""
    return bool(_cas(session, DagRun, [run_pk], expected, _values(new, fields)))


def set_try_state(
    session: Session, ti_id: int, try_number: int, *, expected: Collection[State], new: State, **fields: Any
) -> bool:
    """:func:`set_ti_state` for one try: the row must still be at ``try_number``."""
    values = _values(new, fields)
    stmt = (sa.update(TaskInstance)
            .where(TaskInstance.id == ti_id, TaskInstance.try_number == try_number,
                   state_clause(TaskInstance.state, expected))
            .values(**values).execution_options(synchronize_session=False))
    return rowcount(session, stmt) == 1

