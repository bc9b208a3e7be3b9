"""Hooks DAG code calls directly: ``BaseHook.get_connection`` and DB-API hooks for SQL databases."""

from runtime.sdk.hooks.base import BaseHook
from runtime.sdk.hooks.dbapi import (
    DbApiHook,
    MySqlHook,
    PostgresHook,
    SqliteHook,
    fetch_all_handler,
    fetch_one_handler,
)

__all__ = ["BaseHook", "DbApiHook", "MySqlHook", "PostgresHook", "SqliteHook", "fetch_all_handler", "fetch_one_handler"]
