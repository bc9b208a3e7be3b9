"""Pools: named slot counts that cap how many task instances run at once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.errors import UserError
from runtime.store.models import Pool, TaskInstance
from runtime.store.sql import rowcount
from runtime.store.states import TaskInstanceState

DEFAULT_POOL = "default_pool"
# States whose task instances hold their pool slots.
OCCUPYING = (TaskInstanceState.QUEUED.value, TaskInstanceState.RUNNING.value)


def get_pool(session: Session, name: str) -> Pool | None:
    """The pool ``name``, or None."""
    return session.get(Pool, name)


def set_pool(session: Session, name: str, slots: int, description: str | None = None) -> Pool:
    """Create or update pool ``name`` (slots -1 means unlimited)."""
    if not name or not name.strip():
        raise UserError("pool name must not be empty")
    if slots < -1:
        raise UserError(f"pool {name!r}: slots must be >= 0, or -1 for unlimited (got {slots})")
    row = session.get(Pool, name) or Pool(pool=name)
    row.slots = slots
    if description is not None:
        row.description = description
    session.add(row)
    session.flush()
    return row


def delete_pool(session: Session, name: str) -> bool:
    """Delete pool ``name``; True if it existed. ``default_pool`` cannot be deleted."""
    if name == DEFAULT_POOL:
        raise UserError(f"{DEFAULT_POOL} cannot be deleted")
    return rowcount(session, sa.delete(Pool).where(Pool.pool == name)) == 1


def list_pools(session: Session) -> list[Pool]:
    """Every pool, by name."""
    return list(session.scalars(sa.select(Pool).order_by(Pool.pool)))


def occupied_slots(session: Session) -> dict[str, int]:
    """Slots held per pool by queued and running task instances (pools with none are absent)."""
    stmt = (
        sa.select(TaskInstance.pool, sa.func.sum(TaskInstance.pool_slots))
        .where(TaskInstance.state.in_(OCCUPYING))
        .group_by(TaskInstance.pool)
    )
    return {pool: int(total) for pool, total in session.execute(stmt)}
