"""The app's route table, flattened across included routers and mounts (for tests and docs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.routing import Mount


@dataclass(frozen=True)
class RouteInfo:
    """One path with its methods and the route object serving it."""

    path: str
    methods: frozenset[str]
    route: Any


def route_table(routes: Iterable[Any], prefix: str = "") -> Iterator[RouteInfo]:
    """Every route under ``routes``: included routers (any FastAPI version) and mounts are walked."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI >= 0.16x keeps included routers as one entry
            yield from route_table(included.routes, prefix)
        elif isinstance(route, Mount):
            yield RouteInfo(prefix + route.path + "/{path:path}", frozenset({"GET"}), route)
        elif hasattr(route, "path"):
            yield RouteInfo(prefix + route.path, frozenset(getattr(route, "methods", None) or {"GET"}), route)
