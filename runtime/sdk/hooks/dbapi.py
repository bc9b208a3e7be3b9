"""DB-API hooks (Airflow's DbApiHook, MySqlHook, PostgresHook, SqliteHook), driven through SQLAlchemy's dialects."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from typing import Any

import sqlalchemy as sa

from runtime.sdk.connection import Connection
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.hooks.base import BaseHook

# Quoted strings, identifiers, dollar-quoted bodies and comments: a ';' inside them does not split.
_TOKEN = re.compile(
    r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|`[^`]*`|(\$\w*\$).*?\1|--[^\n]*|/\*.*?\*/|;""",
    re.DOTALL,
)


def fetch_all_handler(cursor: Any) -> list[tuple[Any, ...]] | None:
    """Every row of the last statement; None when it returned no result set."""
    return list(cursor.fetchall()) if cursor.description is not None else None


def fetch_one_handler(cursor: Any) -> tuple[Any, ...] | None:
    """The first row of the last statement; None when it returned no result set."""
    return cursor.fetchone() if cursor.description is not None else None


def split_sql_string(sql: str) -> list[str]:
    """Split a script on top-level ';' (not inside quotes or comments); empty statements dropped."""
    statements: list[str] = []
    start = 0
    for match in _TOKEN.finditer(sql):
        if match.group(0) == ";":
            statements.append(sql[start : match.start()])
            start = match.end()
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    stripped = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.DOTALL)
    return bool(stripped.strip())


def return_single_query_results(sql: str | Iterable[str], return_last: bool, split_statements: bool | None) -> bool:
    """Airflow's rule: one result (not a list of results) for a single string unless it was split with return_last off."""
    return isinstance(sql, str) and (return_last or not split_statements)


class DbApiHook(BaseHook):
    """Runs SQL on a DB-API connection made from an Airflow connection (SQLAlchemy picks the driver)."""

    conn_name_attr = "conn_id"
    default_conn_name = "default_conn_id"
    supports_autocommit = True

    def __init__(self, *args: Any, schema: str | None = None, log_sql: bool = True, **kwargs: Any) -> None:
        conn_id = args[0] if len(args) == 1 else kwargs.pop(self.conn_name_attr, self.default_conn_name)
        kwargs.pop(self.conn_name_attr, None)
        super().__init__(logger_name=kwargs.pop("logger_name", None))
        setattr(self, self.conn_name_attr, conn_id)
        self.schema = schema
        self.log_sql = log_sql
        self.descriptions: list[Any] = []
        self.extra_params = kwargs

    def get_conn_id(self) -> str:
        return str(getattr(self, self.conn_name_attr))

    def connection(self) -> Connection:
        """The hook's connection, with ``schema`` overriding the connection's database."""
        conn = self.get_connection(self.get_conn_id())
        return dataclasses.replace(conn, schema=self.schema) if self.schema else conn

    def get_uri(self) -> str:
        """The SQLAlchemy URL of the connection."""
        return self.connection().sqlalchemy_url()

    @property
    def sqlalchemy_url(self) -> sa.engine.URL:
        return sa.engine.make_url(self.get_uri())

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> sa.engine.Engine:
        """A SQLAlchemy engine (no pooling: each connection is closed when returned)."""
        return sa.create_engine(self.get_uri(), poolclass=sa.pool.NullPool, **(engine_kwargs or {}))

    def get_conn(self) -> Any:
        """A new DB-API connection, made by the driver SQLAlchemy picks for the URL."""
        url = self.sqlalchemy_url
        dialect = sa.create_engine(url, poolclass=sa.pool.NullPool).dialect
        cargs, cparams = dialect.create_connect_args(url)
        return dialect.loaded_dbapi.connect(*cargs, **cparams)

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        conn.autocommit = autocommit

    def get_autocommit(self, conn: Any) -> bool:
        return bool(getattr(conn, "autocommit", False))

    def run(
        self,
        sql: str | Iterable[str],
        autocommit: bool = False,
        parameters: Any = None,
        handler: Callable[[Any], Any] | None = None,
        split_statements: bool = False,
        return_last: bool = True,
    ) -> Any:
        """Run one or more statements; with a handler, return its result (one, or one per statement)."""
        statements = self._statements(sql, split_statements)
        self.descriptions = []
        results: list[Any] = []
        with closing(self.get_conn()) as conn:
            if self.supports_autocommit:
                self.set_autocommit(conn, autocommit)
            cur = conn.cursor()
            try:
                for statement in statements:
                    self._run_command(cur, statement, parameters)
                    if handler is not None:
                        results.append(handler(cur))
                        self.descriptions.append(cur.description)
            finally:
                cur.close()
            if not self.get_autocommit(conn):
                conn.commit()
        if handler is None:
            return None
        return results[-1] if return_single_query_results(sql, return_last, split_statements) else results

    @staticmethod
    def _statements(sql: str | Iterable[str], split_statements: bool) -> list[str]:
        if isinstance(sql, str):
            statements = split_sql_string(sql) if split_statements else [sql]
        else:
            statements = [s for s in sql if s and s.strip()]
        if not statements:
            raise ValueError("List of SQL statements is empty")
        return statements

    def _run_command(self, cur: Any, sql: str, parameters: Any) -> None:
        if self.log_sql:
            print(f"Running statement: {sql}, parameters: {parameters}")
        if parameters:
            cur.execute(sql, parameters)
        else:
            cur.execute(sql)
        if getattr(cur, "rowcount", -1) >= 0:
            print(f"Rows affected: {cur.rowcount}")

    def get_records(self, sql: str | Iterable[str], parameters: Any = None) -> Any:
        """Every row the SQL returns."""
        return self.run(sql=sql, parameters=parameters, handler=fetch_all_handler)

    def get_first(self, sql: str | Iterable[str], parameters: Any = None) -> Any:
        """The first row the SQL returns."""
        return self.run(sql=sql, parameters=parameters, handler=fetch_one_handler)

    def insert_rows(self, table: str, rows: Iterable[Sequence[Any]], target_fields: Sequence[str] | None = None,
                    commit_every: int = 1000, replace: bool = False, **kwargs: Any) -> None:
        """INSERT ``rows`` into ``table``, committing every ``commit_every`` rows."""
        columns = f" ({', '.join(target_fields)})" if target_fields else ""
        verb = "REPLACE" if replace else "INSERT"
        with closing(self.get_conn()) as conn:
            cur = conn.cursor()
            for count, row in enumerate(rows, 1):
                marks = ", ".join([self.placeholder] * len(row))
                cur.execute(f"{verb} INTO {table}{columns} VALUES ({marks})", tuple(row))
                if commit_every and count % commit_every == 0:
                    conn.commit()
            conn.commit()
            cur.close()

    @property
    def placeholder(self) -> str:
        return "%s"

    def get_pandas_df(self, sql: str, parameters: Any = None, **kwargs: Any) -> Any:
        """The SQL's result as a pandas DataFrame (needs pandas in requirements.txt)."""
        import pandas  # type: ignore[import-untyped,import-not-found,unused-ignore]

        with closing(self.get_conn()) as conn:
            return pandas.read_sql(sql, con=conn, params=parameters, **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """Whether ``SELECT 1`` works, and a message."""
        try:
            self.get_first("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any driver error means the test failed
            return False, str(exc)
        return True, "Connection successfully tested"


class MySqlHook(DbApiHook):
    """MySQL / MariaDB (PyMySQL driver)."""

    conn_name_attr = "mysql_conn_id"
    default_conn_name = "mysql_default"
    conn_type = "mysql"
    hook_name = "MySQL"

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        conn.autocommit(autocommit)

    def get_autocommit(self, conn: Any) -> bool:
        return bool(conn.get_autocommit())


class PostgresHook(DbApiHook):
    """PostgreSQL (psycopg2 driver); ``database`` overrides the connection's database."""

    conn_name_attr = "postgres_conn_id"
    default_conn_name = "postgres_default"
    conn_type = "postgres"
    hook_name = "Postgres"

    def __init__(self, *args: Any, database: str | None = None, options: str | None = None, **kwargs: Any) -> None:
        if database and not kwargs.get("schema"):
            kwargs["schema"] = database
        super().__init__(*args, **kwargs)
        self.database = database
        self.options = options


class SqliteHook(DbApiHook):
    """SQLite (standard library driver)."""

    conn_name_attr = "sqlite_conn_id"
    default_conn_name = "sqlite_default"
    conn_type = "sqlite"
    hook_name = "Sqlite"

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        conn.isolation_level = None if autocommit else ""

    def get_autocommit(self, conn: Any) -> bool:
        return conn.isolation_level is None

    @property
    def placeholder(self) -> str:
        return "?"


_HOOKS: dict[str, type[DbApiHook]] = {
    "mysql": MySqlHook, "mariadb": MySqlHook, "postgres": PostgresHook, "postgresql": PostgresHook, "sqlite": SqliteHook,
}


def hook_for_connection(conn_id: str, hook_params: dict[str, Any] | None = None) -> DbApiHook:
    """The DB-API hook for ``conn_id``'s connection type."""
    conn = BaseHook.get_connection(conn_id)
    hook_class = _HOOKS.get((conn.conn_type or "").lower())
    if hook_class is None:
        raise AirflowException(f"connection {conn_id!r} has type {conn.conn_type!r}; Windsock's SQL hooks support {sorted(_HOOKS)}")
    return hook_class(**{hook_class.conn_name_attr: conn_id, **(hook_params or {})})


__all__ = [
    "DbApiHook", "MySqlHook", "PostgresHook", "SqliteHook", "fetch_all_handler", "fetch_one_handler",
    "split_sql_string", "hook_for_connection", "return_single_query_results",
]
