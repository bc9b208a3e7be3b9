"""Create, upgrade, reset and check the metadata database (``windsock db ...``)."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from runtime.errors import WindsockError
from runtime.store.models import Base, Pool

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128
SCHEMA_LOCK_KEY = 0x57494E44  # "WIND": the advisory lock held while the schema changes


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our migrations, bound to ``connection`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it has never been initialised."""
    return MigrationContext.configure(connection).get_current_revision()


def init(engine: Engine) -> None:
    """Bring the schema to head and make sure ``default_pool`` exists."""
    with engine.begin() as conn:
        _serialise_schema_changes(conn)
        current = current_revision(conn)
        if current is None and not _has_tables(conn):
            _create_fresh(conn)
        elif current != head_revision():
            command.upgrade(alembic_config(conn), "head")
        _ensure_default_pool(conn)


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    with engine.begin() as conn:
        _serialise_schema_changes(conn)
        command.upgrade(alembic_config(conn), "head")


def reset(engine: Engine) -> None:
    """Drop every table (ours and ``alembic_version``), then :func:`init`."""
    with engine.begin() as conn:
        _serialise_schema_changes(conn)
        Base.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    init(engine)


def check(engine: Engine) -> str:
    """Connect and report the revision; WindsockError when unreachable or not at head."""
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise WindsockError(
            f"metadata database {_safe_url(engine)} is unreachable: {_first_line(exc)}"
        ) from None
    head = head_revision()
    if current is None:
        raise WindsockError(
            f"metadata database {_safe_url(engine)} is not initialised; run `windsock db init`"
        )
    if current != head:
        raise WindsockError(
            f"metadata database {_safe_url(engine)} is at revision {current}, code expects {head}; "
            "run `windsock db upgrade`"
        )
    return current


def _serialise_schema_changes(conn: Connection) -> None:
    """On PostgreSQL, containers starting together run init one after another (transaction advisory lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def _create_fresh(conn: Connection) -> None:
    """An empty database: create every table from the models and stamp head (one round of DDL)."""
    Base.metadata.create_all(conn)
    command.stamp(alembic_config(conn), "head")


def _has_tables(conn: Connection) -> bool:
    names = set(sa.inspect(conn).get_table_names())
    return bool(names & set(Base.metadata.tables))


def _ensure_default_pool(conn: Connection) -> None:
    exists = conn.execute(sa.select(Pool.pool).where(Pool.pool == DEFAULT_POOL)).first()
    if exists is None:
        conn.execute(
            sa.insert(Pool).values(pool=DEFAULT_POOL, slots=DEFAULT_POOL_SLOTS, description="Default pool")
        )


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
