"""Variables in the metastore; values are Fernet-encrypted when a Fernet is given."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import MultiFernet
from sqlalchemy.orm import Session

from runtime.store.crypto import decrypt, encrypt
from runtime.store.models import Variable
from runtime.store.sql import rowcount


def get_variable(session: Session, key: str, *, fernet: MultiFernet | None = None) -> str | None:
    """The plain value of ``key``, or None when there is no such variable."""
    row = session.get(Variable, key)
    return None if row is None else variable_value(row, fernet)


def variable_value(row: Variable, fernet: MultiFernet | None) -> str | None:
    """The plain value of a loaded row (decrypted when it is encrypted)."""
    if not row.is_encrypted or row.val is None:
        return row.val
    if fernet is None:
        raise ValueError(f"variable {row.key!r} is encrypted; pass a fernet")
    return decrypt(fernet, row.val, what=f"variable {row.key!r}")


def set_variable(
    session: Session,
    key: str,
    value: str,
    *,
    description: str | None = None,
    fernet: MultiFernet | None = None,
) -> Variable:
    """Create or replace ``key``; the description is kept when None is passed."""
    row = session.get(Variable, key) or Variable(key=key)
    row.val = encrypt(fernet, value) if fernet is not None else value
    row.is_encrypted = fernet is not None
    if description is not None:
        row.description = description
    session.add(row)
    session.flush()
    return row


def delete_variable(session: Session, key: str) -> bool:
    """Delete ``key``; True if it existed."""
    return rowcount(session, sa.delete(Variable).where(Variable.key == key)) == 1


def list_variables(session: Session) -> list[Variable]:
    """Every variable row, by key (values still encrypted; see :func:`variable_value`)."""
    return list(session.scalars(sa.select(Variable).order_by(Variable.key)))
