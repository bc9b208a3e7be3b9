"""Import errors: the last failure to load each DAG file."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store.models import ParseImportError
from runtime.store.sql import rowcount


def record_import_error(
    session: Session, filename: str, stacktrace: str, *, timestamp: dt.datetime | None = None
) -> ParseImportError:
    """Create or replace the import error of ``filename``."""
    stmt = sa.select(ParseImportError).where(ParseImportError.filename == filename)
    row = session.scalars(stmt).first() or ParseImportError(filename=filename)
    row.stacktrace = stacktrace
    row.timestamp = timestamp or dt.datetime.now(dt.UTC)
    session.add(row)
    session.flush()
    return row


def clear_import_error(session: Session, filename: str) -> bool:
    """Forget the import error of ``filename`` (it parsed, or it is gone); True if there was one."""
    stmt = sa.delete(ParseImportError).where(ParseImportError.filename == filename)
    return rowcount(session, stmt) == 1


def list_import_errors(session: Session) -> list[ParseImportError]:
    """Every import error, by file name."""
    return list(session.scalars(sa.select(ParseImportError).order_by(ParseImportError.filename)))
