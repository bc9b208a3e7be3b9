"""The schema is defined once (Core tables in ``runtime/store/schema.py``); the ORM classes only type it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.store import db, schema
from runtime.store.models import Base

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mapper", sorted(Base.registry.mappers, key=lambda m: m.class_.__name__), ids=lambda m: m.class_.__name__)
def test_each_model_types_exactly_its_tables_columns(mapper) -> None:
    """Every column has an annotation, every annotation a column, and ``| None`` exactly where NULL is allowed."""
    table = mapper.local_table
    assert table.metadata is schema.metadata
    annotations = {name: text for name, text in vars(mapper.class_).get("__annotations__", {}).items()
                   if text.startswith("Mapped[")}
    assert list(annotations) == [c.name for c in table.columns]
    for column in table.columns:
        assert ("| None" in annotations[column.name]) == bool(column.nullable), column.name


def test_loading_the_schema_on_sqlite_loads_no_orm_and_no_postgresql_dialect(tmp_path: Path) -> None:
    """The tables, created and queried on SQLite, need neither the ORM nor the PostgreSQL dialect."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    probe = (
        "import json, sys, sqlalchemy as sa\n"
        "from runtime.store import schema\n"
        f"engine = sa.create_engine({url!r})\n"
        "schema.metadata.create_all(engine)\n"
        "with engine.connect() as conn: conn.execute(sa.select(schema.task_instance)).all()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('sqlalchemy.orm', 'sqlalchemy.dialects.postgresql')))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_create_all_on_postgres_makes_the_state_index_partial(store) -> None:
    """``db init`` on an empty PostgreSQL database (create_all) gives the partial index migration 0001 gives."""
    with store.engine.begin() as conn:
        schema.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    db.init(store.engine)
    with store.engine.connect() as conn:
        indexdef = conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_task_instance_state'")
        ).scalar_one()
    assert "WHERE" in indexdef and "'running'" in indexdef and "'success'" not in indexdef
