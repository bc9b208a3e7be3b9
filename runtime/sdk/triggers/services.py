"""What a trigger that reads Windsock's state (run and task states) asks: the process's services.

The triggerer process sets the database-backed services; ``dags test`` its in-memory ones.
"""

from __future__ import annotations

from typing import Any

_CURRENT: list[Any] = []


def use(services: Any) -> None:
    """Make ``services`` the ones triggers of this process read through."""
    _CURRENT[:] = [services]


def current() -> Any:
    """The services set by :func:`use`; RuntimeError when none are (a trigger run outside a triggerer)."""
    if not _CURRENT:
        raise RuntimeError("this trigger reads run states: it runs only in a triggerer (or dags test)")
    return _CURRENT[0]
