"""Connections in the metastore; password and extra are stored Fernet-encrypted."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import MultiFernet
from sqlalchemy.orm import Session

from runtime.sdk.connection import Connection
from runtime.store.crypto import DecryptError, decrypt, encrypt
from runtime.store.models import ConnectionModel
from runtime.store.sql import rowcount


def get_connection(session: Session, conn_id: str, *, fernet: MultiFernet) -> Connection | None:
    """The connection ``conn_id`` with secrets decrypted, or None."""
    row = session.get(ConnectionModel, conn_id)
    return None if row is None else to_connection(row, fernet)


def to_connection(row: ConnectionModel, fernet: MultiFernet) -> Connection:
    """The SDK ``Connection`` of a stored row (secrets decrypted)."""
    what = f"connection {row.conn_id!r}"
    password = decrypt(fernet, row.password, what=what) if row.is_encrypted and row.password else row.password
    extra = decrypt(fernet, row.extra, what=what) if row.is_extra_encrypted and row.extra else row.extra
    return Connection(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        host=row.host,
        login=row.login,
        password=password,
        schema=row.schema,
        port=row.port,
        extra=extra,
        description=row.description,
    )


def set_connection(session: Session, conn: Connection, *, fernet: MultiFernet) -> ConnectionModel:
    """Create or replace ``conn.conn_id``; password and extra are encrypted."""
    row = session.get(ConnectionModel, conn.conn_id) or ConnectionModel(conn_id=conn.conn_id)
    row.conn_type = conn.conn_type or ""
    row.description, row.host, row.schema = conn.description, conn.host, conn.schema
    row.login, row.port = conn.login, conn.port
    row.password = encrypt(fernet, conn.password) if conn.password else None
    row.is_encrypted = bool(conn.password)
    row.extra = encrypt(fernet, conn.extra) if conn.extra else None
    row.is_extra_encrypted = bool(conn.extra)
    session.add(row)
    session.flush()
    return row


def connection_exists(session: Session, conn_id: str) -> bool:
    """True if ``conn_id`` is stored."""
    return session.get(ConnectionModel, conn_id) is not None


def delete_connection(session: Session, conn_id: str) -> bool:
    """Delete ``conn_id``; True if it existed."""
    stmt = sa.delete(ConnectionModel).where(ConnectionModel.conn_id == conn_id)
    return rowcount(session, stmt) == 1


def list_connections(session: Session, *, fernet: MultiFernet) -> list[Connection]:
    """Every stored connection, by id, secrets decrypted (mask them before printing)."""
    rows = session.scalars(sa.select(ConnectionModel).order_by(ConnectionModel.conn_id))
    return [to_connection(row, fernet) for row in rows]


def list_connections_tolerant(session: Session, *, fernet: MultiFernet) -> list[tuple[Connection, str | None]]:
    """Every stored connection with the reason it could not be decrypted (None when it could).

    A row whose secrets do not decrypt (the key changed) comes back with password and extra
    unset, so one bad row never hides the others.
    """
    rows = session.scalars(sa.select(ConnectionModel).order_by(ConnectionModel.conn_id))
    listed: list[tuple[Connection, str | None]] = []
    for row in rows:
        try:
            listed.append((to_connection(row, fernet), None))
        except DecryptError as exc:
            listed.append((_plain_fields(row), str(exc)))
    return listed


def _plain_fields(row: ConnectionModel) -> Connection:
    """The connection of ``row`` without its encrypted fields."""
    return Connection(conn_id=row.conn_id, conn_type=row.conn_type, host=row.host, login=row.login,
                      schema=row.schema, port=row.port, description=row.description)
