"""The store of a Settings object: one engine and session factory per database URL, per process."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from runtime.settings import Settings
from runtime.store.engine import make_engine, make_session_factory


@functools.lru_cache(maxsize=32)
def _open(url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url)
    return engine, make_session_factory(engine)


def open_store(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and session factory of ``[database] sql_alchemy_conn``, cached per URL."""
    return _open(str(settings.get("database", "sql_alchemy_conn")))


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits once at the end, or rolls back if the block raises."""
    with session_factory() as session, session.begin():
        yield session
