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
