"""The real common-sql/postgres/mysql providers on PostgreSQL and MariaDB, HttpOperator/HttpSensor
against a loopback HTTP server and EmailOperator (smtp provider) against aiosmtpd."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.providers.conftest import base_env, dags_test, run_under_scheduler


def _conn_json(url: str, conn_type: str, **extra: Any) -> str:
    u = make_url(url)
    return json.dumps({"conn_type": conn_type, "host": u.host, "port": u.port, "login": u.username,
                       "password": u.password, "schema": u.database, "extra": extra})


@pytest.fixture(params=["explicit client", "default client"])
def sql_env(request: pytest.FixtureRequest, providers_site: Path, scratch_postgres_url: str, mariadb_url: str,
            tmp_path: Path) -> dict[str, str]:
    """``pg`` and ``my`` connections; ``my`` names the provider's wheel-only client, or no client at all
    (Windsock then picks mysql-connector-python, since mysqlclient is not installed)."""
    extra = {"client": "mysql-connector-python"} if request.param == "explicit client" else {}
    return base_env(tmp_path / "home", providers_site,
                    AIRFLOW_CONN_PG=_conn_json(scratch_postgres_url, "postgres"),
                    AIRFLOW_CONN_MY=_conn_json(mariadb_url, "mysql", **extra))


def _rows(url: str, table: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(f"SELECT ds, n FROM {table} ORDER BY n"))]
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.mariadb
def test_sql_operators_and_hooks_under_dags_test(sql_env: dict[str, str], scratch_postgres_url: str,
                                                 mariadb_url: str) -> None:
    table = f"prov_{uuid.uuid4().hex[:8]}"
    out = dags_test(sql_env, "provider_sql", "2024-01-03", {"table": table})
    assert "Returned value was: [3, 3]" in out
    expected = [("2024-01-03", 1), ("2024-01-03", 2), ("hook", 3)]
    assert _rows(scratch_postgres_url, table) == expected
    assert _rows(mariadb_url, table) == expected


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sql_operators_under_the_scheduler(sql_env: dict[str, str], scratch_postgres_url: str, mariadb_url: str,
                                           store: Any) -> None:
    table = f"prov_{uuid.uuid4().hex[:8]}"
    states = run_under_scheduler(sql_env, store, "provider_sql", {"table": table})
    assert set(states.values()) == {"success"} and len(states) == 7
    assert [r[1] for r in _rows(scratch_postgres_url, table)] == [1, 2, 3]
    assert [r[1] for r in _rows(mariadb_url, table)] == [1, 2, 3]


class _Api(BaseHTTPRequestHandler):
    posts: list[Any] = []

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts.append((self.path, body))
        self.send_response(200)
        if self.path.startswith("/services/"):  # a Slack incoming webhook answers "ok"
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": 41}).encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web_and_mail() -> Iterator[tuple[str, int, list[Any], list[Any]]]:
    """A loopback JSON API and an aiosmtpd server; yields (api URL, SMTP port, POST bodies, mails)."""
    from aiosmtpd.controller import Controller

    from tests.services import free_port

    mails: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            mails.append(envelope)
            return "250 OK"

    _Api.posts = []
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        yield f"http://127.0.0.1:{api.server_address[1]}", smtp.port, _Api.posts, mails
    finally:
        smtp.stop()
        api.shutdown()
        api.server_close()
        thread.join(timeout=5)


def _web_env(providers_site: Path, tmp_path: Path, api: str, smtp_port: int) -> dict[str, str]:
    mail = {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True}}
    slack = {"conn_type": "slackwebhook", "schema": "http", "host": api.removeprefix("http://") + "/services",
             "password": "T000/B000/XXXX"}
    return base_env(tmp_path / "home", providers_site, AIRFLOW_CONN_WEB=api, AIRFLOW_CONN_MAIL=json.dumps(mail),
                    AIRFLOW_CONN_SLACK=json.dumps(slack))


def _check_posts(posts: list[Any], ds: str) -> None:
    webhook = "/services/T000/B000/XXXX"
    assert sorted(posts, key=str) == sorted([("/items", {"ds": ds}), (webhook, {"text": f"item 41 of {ds}"}),
                                            (webhook, {"text": f"mailed {ds}"})], key=str)


def test_http_and_email_under_dags_test(providers_site: Path, tmp_path: Path,
                                        web_and_mail: tuple[str, int, list[Any], list[Any]]) -> None:
    api, port, posts, mails = web_and_mail
    dags_test(_web_env(providers_site, tmp_path, api, port), "provider_http_mail", "2024-01-04")
    _check_posts(posts, "2024-01-04")
    (mail,) = mails
    assert mail.mail_from == "windsock@example.com" and mail.rcpt_tos == ["ops@example.com"]
    assert b"Subject: run 2024-01-04" in mail.content


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_http_and_email_under_the_scheduler(providers_site: Path, tmp_path: Path, store: Any,
                                            web_and_mail: tuple[str, int, list[Any], list[Any]]) -> None:
    import base64
    import email

    api, port, posts, mails = web_and_mail
    states = run_under_scheduler(_web_env(providers_site, tmp_path, api, port), store, "provider_http_mail")
    assert states == {"ready": "success", "post": "success", "mail": "success", "slack": "success"}
    (ds,) = {body["ds"] for path, body in posts if path == "/items"}
    _check_posts(posts, ds)
    assert len(mails) == 1
    html = [p for p in email.message_from_bytes(mails[0].content).walk() if p.get_content_type() == "text/html"]
    assert base64.b64decode(html[0].get_payload()).decode() == "<b>41</b>"  # the POST's response, via XCom


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_deferrable_provider_operator_runs_its_trigger(providers_site: Path, tmp_path: Path, store: Any,
                                                         web_and_mail: tuple[str, int, list[Any], list[Any]]) -> None:
    api, port, _, _ = web_and_mail
    env = _web_env(providers_site, tmp_path, api, port)
    out = dags_test(env, "provider_deferrable", "2024-01-05")
    assert "running airflow.providers.http.triggers.http.HttpTrigger in this process" in out
    assert run_under_scheduler(env, store, "provider_deferrable") == {"get": "success"}
    import sqlalchemy as sa

    from runtime.store.models import XCom
    from runtime.store.session import transaction

    with transaction(store.session_factory) as s:
        values = s.scalars(sa.select(XCom.value).where(XCom.dag_id == "provider_deferrable",
                                                       XCom.key == "return_value")).all()
    assert [json.loads(v) if isinstance(v, str) else v for v in values] == ["ok"]


def test_sqlite_connections_use_the_sqlite_provider(providers_site: Path, tmp_path: Path) -> None:
    db = tmp_path / "lite.db"
    env = base_env(tmp_path / "home", providers_site, AIRFLOW_CONN_LITE=json.dumps({"conn_type": "sqlite",
                                                                                     "host": str(db)}))
    out = dags_test(env, "provider_sqlite", "2024-01-06")
    assert "Returned value was: [['2024-01-06', 7]]" in out or "Returned value was: [('2024-01-06', 7)]" in out, out
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.text("SELECT ds, n FROM t"))] == [("2024-01-06", 7)]
    engine.dispose()
