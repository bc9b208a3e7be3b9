"""Alembic environment: runs on the connection ``runtime.store.db`` passes in, never on a URL."""

from __future__ import annotations

from alembic import context

from runtime.store import schema
from runtime.store.models import Base


def run_online() -> None:
    """Run the migrations on ``config.attributes['connection']``."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through runtime.store.db (windsock db upgrade), not the alembic CLI"
        )
    if connection.dialect.name == "postgresql":  # autogenerate sees the partial index as create_all makes it
        schema.postgresql_options()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_online()
