"""Schema lifecycle on both backends: init, upgrade, reset, check, and migrations == models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from runtime.errors import WindsockError
from runtime.store import db
from runtime.store.engine import make_engine
from runtime.store.models import Base, Pool, Variable
from tests import services


def _drop_everything(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_migrations_create_exactly_the_models_schema(store) -> None:
    """Running the migration chain from empty gives the schema the models declare (no autogenerate diff)."""
    _drop_everything(store.engine)
    db.upgrade(store.engine)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        assert db.current_revision(conn) == db.head_revision()


def test_fresh_init_matches_the_models_and_stamps_head(store) -> None:
    """The fast path of init (create_all + stamp) gives the same schema and revision."""
    _drop_everything(store.engine)
    db.init(store.engine)
    with store.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            == []
        )
    assert db.check(store.engine) == db.head_revision()


def test_init_creates_default_pool_and_is_idempotent(store) -> None:
    """default_pool has 128 slots; a second init changes nothing and keeps data."""
    with store.session_factory() as session:
        session.add(Variable(key="k", val="v"))
        session.commit()
    db.init(store.engine)
    db.init(store.engine)
    with store.session_factory() as session:
        pools = session.scalars(sa.select(Pool)).all()
        assert [(p.pool, p.slots) for p in pools] == [("default_pool", 128)]
        assert session.get(Variable, "k") is not None


def test_reset_drops_data_and_recreates(store) -> None:
    """reset leaves an empty schema at head with only default_pool."""
    with store.session_factory() as session:
        session.add(Variable(key="k", val="v"))
        session.commit()
    db.reset(store.engine)
    with store.session_factory() as session:
        assert session.get(Variable, "k") is None
        assert session.get(Pool, "default_pool") is not None
    assert db.check(store.engine) == db.head_revision()


def test_check_reports_uninitialised_database(store) -> None:
    """check on a database without tables says to run db init."""
    _drop_everything(store.engine)
    with pytest.raises(WindsockError, match="not initialised.*windsock db init"):
        db.check(store.engine)


def test_check_reports_a_revision_other_than_head(store) -> None:
    """check on a database at another revision says to run db upgrade."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'old0'"))
    with pytest.raises(WindsockError, match="at revision old0.*windsock db upgrade"):
        db.check(store.engine)


def test_check_reports_an_unreachable_postgres() -> None:
    """Nothing listens on the port: one clear error naming the URL, no password shown."""
    url = f"postgresql+psycopg2://postgres:secret@127.0.0.1:{services.free_port()}/nothing"
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    with pytest.raises(WindsockError, match="unreachable") as info:
        db.check(engine)
    assert "secret" not in str(info.value)


def test_check_reports_an_unopenable_sqlite_file(tmp_path) -> None:
    """A SQLite path that is a directory cannot be opened: reported, not a traceback."""
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(WindsockError, match="unreachable"):
        db.check(make_engine(f"sqlite:///{tmp_path / 'dir.db'}"))


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path) -> None:
    """Every SQLite connection gets the pragmas the scheduler relies on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_task_instance_state_index_is_partial_on_postgres(store) -> None:
    """On PostgreSQL the state index covers only active states, so history does not grow it."""
    with store.engine.connect() as conn:
        indexdef = conn.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_task_instance_state'")
        ).scalar_one()
    assert "WHERE" in indexdef and "'running'" in indexdef and "'success'" not in indexdef


@pytest.mark.parametrize("attempt", [1, 2])
def test_every_test_starts_with_an_empty_store(store, attempt: int) -> None:
    """Only default_pool is there and ids restart at 1, whatever the previous test wrote."""
    from runtime.store.audit import log_event

    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            assert count == (1 if table.name == "slot_pool" else 0), table.name
    with store.session_factory() as session:
        assert log_event(session, "probe").id == 1
        session.add(Variable(key=f"leftover{attempt}", val="x"))
        session.commit()


def test_forked_child_gets_fresh_connections(store) -> None:
    """A child forked after the parent used the pool (local executor, processor) opens its own connection."""
    import multiprocessing

    from runtime.store.session import open_store

    engine, factory = open_store(store.settings)
    with factory() as session:
        session.add(Variable(key="parent", val="1"))
        session.commit()
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_writes, args=(store.settings,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with factory() as session:
        assert {v.key for v in session.scalars(sa.select(Variable))} == {"parent", "child"}


def _child_writes(settings) -> None:
    from runtime.store.session import open_store

    _, factory = open_store(settings)
    with factory() as session:
        session.add(Variable(key="child", val="1"))
        session.commit()


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_init_on_an_empty_database(store) -> None:
    """Containers starting together (ECS tasks) all succeed on PostgreSQL; the schema is created once."""
    from concurrent.futures import ThreadPoolExecutor

    _drop_everything(store.engine)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: db.init(store.engine), range(4)))
    assert db.check(store.engine) == db.head_revision()
    with store.session_factory() as session:
        assert session.scalars(sa.select(Pool.pool)).all() == ["default_pool"]
