"""Hooks DAG code calls directly: ``BaseHook.get_connection`` and DB-API hooks for SQL databases.

The DB-API hooks (SQLAlchemy) load on first use, so a DAG that only imports ``BaseHook`` keeps
its task processes free of SQLAlchemy."""

from typing import Any

from runtime.sdk.hooks.base import BaseHook

__all__ = ["BaseHook", "DbApiHook", "MySqlHook", "PostgresHook", "SqliteHook", "fetch_all_handler", "fetch_one_handler"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from runtime.sdk.hooks import dbapi

        return getattr(dbapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
