"""Airflow's Connection: a named endpoint with credentials, parsed from or rendered to a URI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

# Airflow URIs use the conn_type as scheme with '-' for '_' (``google-cloud-platform://``).
_SCHEME_ALIASES = {"postgresql": "postgres"}


@dataclass
class Connection:
    """A connection as DAG code sees it (``conn.host``, ``conn.get_uri()``, ``conn.extra_dejson``)."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    port: int | None = None
    extra: str | None = None
    description: str | None = None

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Parse an Airflow connection URI (``mysql://user:pw@host:3306/db?charset=utf8``)."""
        if uri.lstrip().startswith("{"):
            return cls.from_json(conn_id, uri)
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"connection {conn_id!r}: URI has no scheme (expected e.g. mysql://host/db)")
        conn_type = parts.scheme.replace("-", "_")
        conn_type = _SCHEME_ALIASES.get(conn_type, conn_type)
        extra = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "__extra__" in extra:
            extra_text: str | None = extra["__extra__"]
        else:
            extra_text = json.dumps(extra) if extra else None
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return cls(
            conn_id=conn_id,
            conn_type=conn_type,
            host=unquote(parts.hostname) if parts.hostname else None,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            schema=unquote(path) if path else None,
            port=parts.port,
            extra=extra_text,
        )

    @classmethod
    def from_json(cls, conn_id: str, text: str) -> Connection:
        """Parse Airflow's JSON connection form (``{"conn_type": ..., "host": ...}``)."""
        data = json.loads(text)
        extra = data.get("extra")
        if isinstance(extra, dict):
            extra = json.dumps(extra)
        return cls(
            conn_id=conn_id,
            conn_type=data.get("conn_type"),
            host=data.get("host"),
            login=data.get("login"),
            password=data.get("password"),
            schema=data.get("schema"),
            port=int(data["port"]) if data.get("port") not in (None, "") else None,
            extra=extra,
            description=data.get("description"),
        )

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The ``extra`` field as a dict (empty when unset or not JSON)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_extra_dejson(self, nested: bool = False) -> dict[str, Any]:
        """``extra_dejson`` (Airflow 2.10+ spelling)."""
        return self.extra_dejson

    def get_password(self) -> str | None:
        return self.password

    def get_extra(self) -> str | None:
        return self.extra

    def to_dict(self) -> dict[str, Any]:
        """The connection as Airflow's JSON form (``AIRFLOW_CONN_<ID>='{...}'``)."""
        data: dict[str, Any] = {"conn_id": self.conn_id, "conn_type": self.conn_type, "host": self.host,
                                "login": self.login, "password": self.password, "schema": self.schema,
                                "port": self.port, "extra": self.extra_dejson or None, "description": self.description}
        return {k: v for k, v in data.items() if v not in (None, "")}

    def get_hook(self, *, hook_params: dict[str, Any] | None = None) -> Any:
        """The hook for this connection's type: an installed provider's, else Windsock's SQL hooks."""
        from runtime.compat.providers_manager import hook_class

        kind = (self.conn_type or "").lower()
        cls: Any = hook_class(kind)
        if cls is None:
            from runtime.sdk.hooks.dbapi import _HOOKS

            cls = _HOOKS.get(kind)
        if cls is None:
            raise ValueError(f"connection {self.conn_id!r}: no hook for connection type {self.conn_type!r} "
                             "(install the provider that registers it; see docs/providers.md)")
        attr = getattr(cls, "conn_name_attr", "") or "conn_id"
        return cls(**{attr: self.conn_id, **(hook_params or {})})

    def test_connection(self) -> tuple[bool, str]:
        """Ask this connection's hook to test it: ``(ok, message)``."""
        try:
            hook = self.get_hook()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        tester = getattr(hook, "test_connection", None)
        if tester is None:
            return False, f"{type(hook).__name__} cannot test connections"
        try:
            ok, message = tester()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return bool(ok), str(message)

    def get_uri(self) -> str:
        """Render the connection back to an Airflow URI."""
        scheme = (self.conn_type or "").replace("_", "-")
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = self.host or ""
        port = f":{self.port}" if self.port else ""
        path = "/" + quote(self.schema, safe="") if self.schema else ""
        query = "?" + urlencode(self.extra_dejson) if self.extra_dejson else ""
        return f"{scheme}://{auth}{host}{port}{path}{query}"

    def sqlalchemy_url(self) -> str:
        """A SQLAlchemy URL for SQL connections (mysql, postgres, sqlite)."""
        kind = (self.conn_type or "").lower()
        if kind == "sqlite":
            return f"sqlite:///{self.host or self.schema or ':memory:'}"
        driver = {"mysql": "mysql+pymysql", "mariadb": "mysql+pymysql", "postgres": "postgresql+psycopg2"}.get(kind)
        if driver is None:
            raise ValueError(f"connection {self.conn_id!r}: type {self.conn_type!r} is not a SQL connection")
        auth = ""
        if self.login:
            auth = quote(self.login, safe="") + (":" + quote(self.password, safe="") if self.password else "") + "@"
        port = f":{self.port}" if self.port else ""
        return f"{driver}://{auth}{self.host or 'localhost'}{port}/{self.schema or ''}"
