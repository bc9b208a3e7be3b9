"""Session fixtures shared by every test package, and the check that no test leaves a process behind."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import services

# Every process a test starts inherits this mark; at the end of the session none may be left.
SESSION_MARK = "PYTEST_WINDSOCK_SESSION"
os.environ[SESSION_MARK] = uuid.uuid4().hex


def _marked_processes() -> list[tuple[int, str]]:
    """Live processes (not this one) that carry this session's mark: (pid, command line)."""
    needle = f"{SESSION_MARK}={os.environ[SESSION_MARK]}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as handle:
                if handle.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            if not _jsii_kernel(cmd):
                found.append((int(entry), cmd))
        except OSError:
            continue
    return found


def _jsii_kernel(cmd: str) -> bool:
    """The node process aws-cdk-lib runs its kernel in: jsii stops it when this interpreter exits."""
    return cmd.startswith(("node ", "/usr/bin/node ")) and ("jsii-runtime.js" in cmd or "/lib/program.js" in cmd)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test left a process behind (after a grace for processes that are exiting)."""
    deadline = time.monotonic() + 10
    left = _marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _marked_processes()
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  pid {pid}: {cmd[:200]}" for pid, cmd in left]
    message = "processes left behind by the tests (now killed):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test session, on loopback."""
    with services.moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session."""
    with services.throwaway_postgres_db() as url:
        yield url


@pytest.fixture(scope="session")
def scratch_postgres_url() -> Iterator[str]:
    """A second throwaway PostgreSQL database for tests that create their own tables (SQL operators)."""
    with services.throwaway_postgres_db() as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A throwaway MariaDB database for this session."""
    with services.throwaway_mariadb_db() as url:
        yield url


# --- metadata store (runtime/store): every store test runs on SQLite and on PostgreSQL ---


@dataclass(frozen=True)
class StoreFixture:
    """An initialised, empty metadata store for one test."""

    engine: Any
    session_factory: Any
    url: str
    settings: Any


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised SQLite file per session; each test gets a copy (faster than creating tables)."""
    from runtime.store import db
    from runtime.store.engine import make_engine

    path = tmp_path_factory.mktemp("store-template") / "windsock.db"
    engine = make_engine(f"sqlite:///{path}")
    db.init(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def _postgres_admin(postgres_url: str) -> Iterator[Any]:
    """An engine on the session's PostgreSQL database, with the tables created once."""
    from runtime.store import db
    from runtime.store.engine import make_engine

    engine = make_engine(postgres_url)
    db.init(engine)
    yield engine
    engine.dispose()


def _empty_postgres(engine: Any) -> None:
    """TRUNCATE ... RESTART IDENTITY CASCADE the tables a test touched; re-create the schema if it was dropped."""
    import sqlalchemy as sa

    from runtime.store import db

    with engine.connect() as conn:
        at_head = (
            sa.inspect(conn).has_table("alembic_version") and db.current_revision(conn) == db.head_revision()
        )
    if not at_head:
        db.reset(engine)
        return
    with engine.begin() as conn:
        dirty = _dirty_tables(conn)
        if dirty:
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(sa.text(f"TRUNCATE {', '.join(dirty)} RESTART IDENTITY CASCADE"))
    if '"slot_pool"' in dirty:
        db.init(engine)  # puts default_pool back


def _dirty_tables(conn: Any) -> list[str]:
    """Tables with rows or a used id sequence (one probe query; truncating only these is much faster)."""
    import sqlalchemy as sa

    from runtime.store.models import Base

    probes = []
    for table in Base.metadata.sorted_tables:
        if table.name == "slot_pool":
            probe = "(SELECT count(*) <> 1 OR bool_or(pool <> 'default_pool' OR slots <> 128) FROM slot_pool)"
        else:
            probe = f'EXISTS (SELECT 1 FROM "{table.name}")'
            if table.autoincrement_column is not None:
                probe += f' OR (SELECT is_called FROM "{table.name}_{table.autoincrement_column.name}_seq")'
        probes.append(f'({probe}) AS "{table.name}"')
    row = conn.execute(sa.text("SELECT " + ", ".join(probes))).mappings().one()
    return [f'"{name}"' for name, is_dirty in row.items() if is_dirty]


# The Fernet key of this session's PostgreSQL stores (a test key, made fresh each session).
SHARED_DB_FERNET_KEY = __import__("cryptography.fernet").fernet.Fernet.generate_key().decode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an initialised, empty metadata database: a SQLite file in tmp_path, or the session's PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "windsock.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    engine = request.getfixturevalue("_postgres_admin")
    _empty_postgres(engine)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[StoreFixture]:
    """Engine, session factory, URL and Settings (WINDSOCK_HOME=tmp_path) of a clean store."""
    from runtime.settings import Settings
    from runtime.store.session import open_store

    environ = {"WINDSOCK_HOME": str(tmp_path)}
    if not db_url.startswith("sqlite"):  # a shared database needs a configured key (runtime/store/crypto.py)
        environ["WINDSOCK__CORE__FERNET_KEY"] = SHARED_DB_FERNET_KEY
    settings = Settings(tmp_path, environ=environ).with_overrides(database__sql_alchemy_conn=db_url)
    engine, factory = open_store(settings)
    yield StoreFixture(engine=engine, session_factory=factory, url=db_url, settings=settings)
    if engine.dialect.name == "sqlite":
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    path = services.chromium_or_skip()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=services.CHROMIUM_ARGS)
        yield chromium
        chromium.close()
