"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def rowcount(session: Session, stmt: Executable, params: dict[str, Any] | None = None) -> int:
    """Execute a DELETE/UPDATE (with bind ``params``, if given) and return the number of rows it matched."""
    return int(cast(CursorResult[Any], session.execute(stmt, params)).rowcount)
