"""The store of a Settings object: one engine and session factory per database URL, per process."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from runtime.errors import WindsockError
from runtime.settings import Settings
from runtime.store.engine import make_engine, make_session_factory

if TYPE_CHECKING:  # the ORM loads with the first session factory; store_connection() never loads it
    from sqlalchemy.orm import Session, sessionmaker


@functools.lru_cache(maxsize=32)
def _engine(url: str) -> Engine:
    return make_engine(url)


@functools.lru_cache(maxsize=32)
def _open(url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = _engine(url)
    return engine, make_session_factory(engine)


def open_store(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and session factory of ``[database] sql_alchemy_conn``, cached per URL."""
    return _open(_url(settings))


def _url(settings: Settings) -> str:
    return str(settings.get("database", "sql_alchemy_conn"))


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits once at the end, or rolls back if the block raises."""
    with session_factory() as session, session.begin():
        yield session


@contextmanager
def store_session(settings: Settings) -> Iterator[Session]:
    """One committed transaction on the settings' store; database errors become one-line WindsockErrors."""
    engine, factory = open_store(settings)
    try:
        with transaction(factory) as session:
            yield session
    except sa.exc.DBAPIError as exc:
        raise WindsockError(describe_db_error(engine, exc)) from None


@contextmanager
def store_connection(settings: Settings) -> Iterator[Connection]:
    """A Core connection to the settings' store for reading (rolled back at the end); no ORM is loaded.

    Database errors become one-line WindsockErrors, as with :func:`store_session`.
    """
    engine = _engine(_url(settings))
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise WindsockError(describe_db_error(engine, exc)) from None


def describe_db_error(engine: Engine, exc: sa.exc.DBAPIError) -> str:
    """One line for a database error, pointing at ``windsock db init`` when tables are missing."""
    url = engine.url.render_as_string(hide_password=True)
    text = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"metadata database {url} is not initialised ({text}); run `windsock db init`"
    return f"metadata database {url}: {text}"
