"""Engines and session factories for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:  # the ORM loads only when a session factory is made: Core readers never pay for it
    from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, dispose_after_fork: bool = True,
                **kwargs: Any) -> Engine:
    """An engine for ``url`` tuned for Windsock: WAL SQLite or pre-pinged PostgreSQL.

    ``dispose_after_fork=False`` is for a process whose forked children never use this engine
    (the fork server): the after-fork hook alone costs each fork about 1.5 ms.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, busy_timeout_ms, **kwargs)
    else:
        opts: dict[str, Any] = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
            opts["connect_args"] = {"options": "-c timezone=UTC"}
        opts.update(kwargs)
        engine = sa.create_engine(url, **opts)
    if dispose_after_fork:
        _dispose_after_fork(engine)
    return engine


def _sqlite_engine(url: str, busy_timeout_ms: int, **kwargs: Any) -> Engine:
    """A SQLite engine with WAL, a busy timeout, NORMAL sync and foreign keys on every connection."""
    database = make_url(url).database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    opts: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}}
    if in_memory:
        opts["poolclass"] = StaticPool  # one shared connection, or every checkout sees an empty DB
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    opts.update(kwargs)
    engine = sa.create_engine(url, **opts)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


_FORK_AWARE: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose pools close before a component fork


def close_pooled() -> None:
    """Close the pooled connections of every engine made here (``procs.fork_child`` calls it before it
    forks a long-lived component, so that the component inherits no open SQLite connection at all:
    SQLite's lock bookkeeping is per process). In-memory databases keep theirs (closing would drop them)."""
    for engine in list(_FORK_AWARE):
        if not isinstance(engine.pool, StaticPool):
            engine.dispose()


def _dispose_after_fork(engine: Engine) -> None:
    """Forked children (local executor, DAG processor) must not reuse the parent's connections."""
    ref = weakref.ref(engine)

    def _reset() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_reset)
    _FORK_AWARE.add(engine)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False, future=True)
