"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def rowcount(session: Session, stmt: Executable) -> int:
    """Execute a DELETE/UPDATE and return the number of rows it matched."""
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)
