"""SQLExecuteQueryOperator and the MySQL / PostgreSQL / SQLite operators that alias it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.hooks.dbapi import (
    DbApiHook,
    fetch_all_handler,
    hook_for_connection,
    return_single_query_results,
)


def jsonable(value: Any) -> Any:
    """A query result as JSON can carry it: rows become lists; decimals, dates and bytes plain values."""
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class SQLExecuteQueryOperator(BaseOperator):
    """Runs SQL (a string, a list, or a ``.sql`` template file) on ``conn_id``; returns the rows as lists."""

    template_fields = ("sql", "parameters", "conn_id", "database", "hook_params")
    template_ext = (".sql", ".json")
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#cdaaed"

    def __init__(
        self,
        *,
        sql: str | list[str],
        autocommit: bool = False,
        parameters: Mapping[str, Any] | Iterable[Any] | None = None,
        handler: Callable[[Any], Any] = fetch_all_handler,
        output_processor: Callable[[list[Any], list[Any]], Any] | None = None,
        conn_id: str | None = None,
        database: str | None = None,
        split_statements: bool | None = None,
        return_last: bool = True,
        show_return_value_in_logs: bool = False,
        requires_result_fetch: bool = False,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.autocommit = autocommit
        self.parameters = parameters
        self.handler = handler
        self.output_processor = output_processor
        self.conn_id = conn_id
        self.database = database
        self.split_statements = split_statements
        self.return_last = return_last
        self.show_return_value_in_logs = show_return_value_in_logs
        self.requires_result_fetch = requires_result_fetch
        self.hook_params = dict(hook_params or {})

    def get_db_hook(self) -> DbApiHook:
        """The DB-API hook for the connection's type (``database`` overrides its schema)."""
        if not self.conn_id:
            raise ValueError(f"task {self.task_id!r}: conn_id is required")
        params = dict(self.hook_params)
        if self.database:
            params["schema"] = self.database
        return hook_for_connection(self.conn_id, params)

    def _wants_output(self) -> bool:
        return bool(self.do_xcom_push or self.output_processor or self.requires_result_fetch)

    def execute(self, context: Any) -> Any:
        hook = self.get_db_hook()
        extra = {} if self.split_statements is None else {"split_statements": self.split_statements}
        output = hook.run(
            sql=self.sql, autocommit=self.autocommit, parameters=self.parameters,
            handler=self.handler if self._wants_output() else None, return_last=self.return_last, **extra,
        )
        if not self._wants_output():
            return None
        if return_single_query_results(self.sql, self.return_last, self.split_statements):
            result = self._process_output([output], hook.descriptions)[-1]
        else:
            result = self._process_output(output, hook.descriptions)
        if self.show_return_value_in_logs:
            print(f"Result: {result}")
        return result

    def _process_output(self, results: list[Any], descriptions: list[Any]) -> Any:
        if self.output_processor is not None:
            return self.output_processor(results, descriptions)
        return jsonable(results)


def _with_database(database: str | None, hook_params: dict[str, Any] | None) -> dict[str, Any]:
    params = dict(hook_params or {})
    if database:
        params.setdefault("schema", database)
    return params


class MySqlOperator(SQLExecuteQueryOperator):
    """Airflow's MySqlOperator: SQL on ``mysql_conn_id`` (``database`` overrides the schema)."""

    ui_color = "#ededed"

    def __init__(self, *, mysql_conn_id: str = "mysql_default", database: str | None = None,
                 hook_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=mysql_conn_id, hook_params=_with_database(database, hook_params), **kwargs)
        self.mysql_conn_id = mysql_conn_id


class PostgresOperator(SQLExecuteQueryOperator):
    """Airflow's PostgresOperator: SQL on ``postgres_conn_id`` (``database`` overrides the schema)."""

    ui_color = "#ededed"

    def __init__(self, *, postgres_conn_id: str = "postgres_default", database: str | None = None,
                 hook_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id=postgres_conn_id, hook_params=_with_database(database, hook_params), **kwargs)
        self.postgres_conn_id = postgres_conn_id


class SqliteOperator(SQLExecuteQueryOperator):
    """Airflow's SqliteOperator: SQL on ``sqlite_conn_id``."""

    ui_color = "#cdaaed"

    def __init__(self, *, sqlite_conn_id: str = "sqlite_default", **kwargs: Any) -> None:
        super().__init__(conn_id=sqlite_conn_id, **kwargs)
        self.sqlite_conn_id = sqlite_conn_id


__all__ = ["SQLExecuteQueryOperator", "MySqlOperator", "PostgresOperator", "SqliteOperator", "jsonable"]
