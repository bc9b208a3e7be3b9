"""Wake the scheduler when someone changed what it should look at (a trigger, a clear, a resume).

The scheduler sleeps when idle (its executor's socket, the next due time and a slow safety poll
wake it). Whoever changes the store outside the scheduler calls :func:`notify` inside its
transaction; the scheduler's :class:`Listener` becomes readable once that transaction commits:

- PostgreSQL: ``NOTIFY windsock_scheduler`` (delivered by the server at commit; every scheduler
  of the database LISTENs).
- SQLite: a datagram to a unix socket named after the database file (Linux: the abstract
  namespace, so nothing is left on disk; elsewhere a socket file next to the database), sent
  after commit. SQLite has one scheduler.
- Other databases: no wake-up; the scheduler's ``scheduler.idle_poll`` bounds the delay.

A wake-up has a kind: ``WAKE`` (look at everything: runs, DAGs, tries) or ``ENDS`` (a worker
recorded try ends: the SqsExecutor reads them now instead of polling the database).

A lost wake-up only costs a delay (the safety poll), never a result: the store stays the truth.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "windsock_scheduler"
WAKE = "wake"  # something changed: look at everything
ENDS = "ends"  # try ends were recorded outside the scheduler's executor (SQS workers)
KINDS = (WAKE, ENDS)


def sqlite_address(url: URL) -> str | bytes | None:
    """The wake-up socket of a SQLite database file (None for an in-memory database)."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    path = os.path.realpath(os.path.expanduser(database))
    if sys.platform.startswith("linux"):
        return b"\0windsock-wake-" + hashlib.sha256(path.encode()).hexdigest()[:24].encode()
    return path + ".wake"


def notify(session: Session, kind: str = WAKE) -> None:
    """Wake the scheduler(s) once ``session``'s transaction commits (nothing happens on rollback)."""
    if kind not in KINDS:
        raise ValueError(f"unknown wake-up kind {kind!r}")
    bind = session.get_bind()
    name = bind.dialect.name
    if name == "postgresql":
        session.execute(sa.text(f"NOTIFY {CHANNEL}, '{kind}'"))
    elif name == "sqlite":
        address = sqlite_address(bind.engine.url)
        if address is not None:
            event.listen(session, "after_commit", lambda _s: send(address, kind), once=True)


def send(address: str | bytes, kind: str = WAKE) -> bool:
    """One datagram to a SQLite scheduler's socket; False when no scheduler listens."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(kind.encode(), address)
        return True
    except OSError:  # nobody listens (no scheduler), or its buffer is full (it is awake anyway)
        return False


class Listener:
    """The scheduler's end: a file descriptor that becomes readable on a wake-up.

    ``fileno()`` is -1 when this database has no wake-up channel (or it could not be opened:
    e.g. a second SQLite scheduler on one file); ``drain()`` gives the kinds of the wake-ups that came.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sock: socket.socket | None = None
        self._conn: Any = None  # PostgreSQL: a SQLAlchemy connection in autocommit that LISTENs
        self._open()

    @property
    def available(self) -> bool:
        """Whether wake-ups can arrive (else the caller polls on its safety period)."""
        return self._sock is not None or self._conn is not None

    def _open(self) -> None:
        if self.dialect == "sqlite":
            address = sqlite_address(self.engine.url)
            if address is None:
                return
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                if isinstance(address, str) and os.path.exists(address):
                    os.unlink(address)
                sock.bind(address)
            except OSError as exc:
                sock.close()
                log.warning("scheduler wake-up socket unavailable (%s): polling instead", exc)
                return
            sock.setblocking(False)
            self._sock = sock
        elif self.dialect == "postgresql" and self.engine.driver == "psycopg2":
            try:
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql(f"LISTEN {CHANNEL}")
            except sa.exc.DBAPIError as exc:
                log.warning("LISTEN %s failed (%s): polling instead", CHANNEL, exc)
                return
            self._conn = conn

    def fileno(self) -> int:
        """What to select() on, or -1."""
        if self._sock is not None:
            return self._sock.fileno()
        if self._conn is None:
            self._open()  # PostgreSQL: reconnect after a lost connection
        if self._conn is not None:
            try:
                return int(self._conn.connection.driver_connection.fileno())
            except Exception:  # noqa: BLE001 - a closed connection: reopen next time
                self._drop()
        return -1

    def drain(self) -> set[str]:
        """Consume pending wake-ups; their kinds (empty: none came; an unknown one counts as ``WAKE``)."""
        got: set[str] = set()
        if self._sock is not None:
            while True:
                try:
                    data = self._sock.recv(64)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                got.add(_kind(data.decode(errors="replace")))
        elif self._conn is not None:
            try:
                raw = self._conn.connection.driver_connection
                raw.poll()
                got.update(_kind(getattr(n, "payload", "")) for n in raw.notifies)
                raw.notifies.clear()
            except Exception:  # noqa: BLE001 - the connection broke: wake-ups may have been lost
                self._drop()
                got.add(WAKE)
        return got

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        """Stop listening."""
        if self._sock is not None:
            address = self._sock.getsockname()
            self._sock.close()
            self._sock = None
            if isinstance(address, str) and address and os.path.exists(address):
                os.unlink(address)
        self._drop()


def _kind(text: str) -> str:
    return text if text in KINDS else WAKE
