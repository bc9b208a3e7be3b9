"""What every route needs: settings, the store, the token signer and the clock, plus small helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from runtime.settings import Settings
from runtime.store.audit import log_event
from runtime.store.session import transaction
from runtime.web.auth.middleware import principal
from runtime.web.auth.roles import Permission, Principal
from runtime.web.auth.tokens import Signer


@dataclass(frozen=True)
class WebContext:
    """One web process's wiring (kept in ``app.state.ctx``)."""

    settings: Settings
    session_factory: sessionmaker[Session]
    signer: Signer
    clock: Callable[[], dt.datetime]

    def setting(self, section: str, key: str) -> Any:
        """A setting value."""
        return self.settings.get(section, key)


def ctx(request: Request) -> WebContext:
    """The app's context."""
    found: WebContext = request.app.state.ctx
    return found


def db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back if it raises."""
    with transaction(ctx(request).session_factory) as session:
        yield session


# Commit before the response is sent: a client's next request must see what this one wrote.
DB: Any = Depends(db, scope="function")


def require(permission: Permission) -> Callable[[Request], Principal]:
    """A dependency that returns the principal if its role grants ``permission``, else 403."""

    def check(request: Request) -> Principal:
        who = principal(request)
        if not who.can(permission):
            raise HTTPException(403, f"role {who.role.value} may not do this (needs {permission.value})")
        return who

    check.permission = permission  # type: ignore[attr-defined]  # read by the route-table test
    return check


def can(permission: Permission) -> Any:
    """``Depends(require(permission))``, shorter in route signatures."""
    return Depends(require(permission))


def audit(request: Request, session: Session, event: str, **fields: Any) -> None:
    """One audit row for a UI/API action, owned by the signed-in identity."""
    who = principal(request)
    extra = dict(fields.pop("extra", None) or {})
    extra["role"] = who.role.value
    log_event(session, event, owner=who.identity, extra=extra, dttm=ctx(request).clock(), **fields)
