"""Web test fixtures: one `windsock standalone` per session (real processes, 127.0.0.1), an in-process app."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).with_name("dags")


@dataclass
class Standalone:
    """A running `windsock standalone`: its home, web URL, the banner's login link and environment."""

    home: Path
    url: str
    login_link: str
    env: dict[str, str]
    output: list[str]

    def settings(self) -> Any:
        """Settings as the standalone processes read them."""
        from runtime.settings import Settings

        return Settings.load(self.env)

    def link(self, role: str, *, seconds: float = 60, identity: str | None = None, now: dt.datetime | None = None) -> str:
        """A fresh one-time login link for ``role`` (minted with the server's key, as the CLI does)."""
        from runtime.web.auth.roles import Principal, parse_role
        from runtime.web.auth.tokens import Signer, issue_login_token, secret_key

        principal = Principal(identity or f"test:{role.lower()}", parse_role(role))
        token = issue_login_token(Signer(secret_key(self.settings())), principal,
                                  now or dt.datetime.now(dt.UTC), seconds)
        return f"{self.url}/login?token={token}"

    def api_token(self, role: str = "Admin") -> str:
        """A REST API bearer token for ``role``."""
        from runtime.web.auth.roles import Principal, parse_role
        from runtime.web.auth.tokens import Signer, issue_api_token, secret_key

        return issue_api_token(Signer(secret_key(self.settings())), Principal(f"test:{role}", parse_role(role)),
                               dt.datetime.now(dt.UTC), 600)


def _wait_healthy(url: str, proc: subprocess.Popen[str], output: list[str], timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("standalone exited early:\n" + "".join(output[-40:]))
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("the web server did not answer /health within 90 s:\n" + "".join(output[-40:]))


def _read_banner(proc: subprocess.Popen[str], output: list[str], timeout: float = 60) -> str:
    """The banner's login link; the rest of the output keeps draining in a thread."""
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = re.search(r"web UI:\s+(\S+/login\?token=\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(timeout) or not found:
        pytest.fail("standalone printed no login link:\n" + "".join(output[-40:]))
    return found[0]


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """`windsock standalone` on SQLite with the bundled example, web server on a free 127.0.0.1 port."""
    home = tmp_path_factory.mktemp("standalone-home")
    (home / "dags").mkdir()
    shutil.copy(DAGS / "web_typed.py", home / "dags" / "web_typed.py")
    port = services.free_port()
    env = {**os.environ, "WINDSOCK_HOME": str(home), "PYTHONPATH": str(ROOT),
           "WINDSOCK__WEBSERVER__WEB_SERVER_PORT": str(port), "WINDSOCK__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
           "WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL": "1", "WINDSOCK__SCHEDULER__HEARTBEAT_INTERVAL": "1"}
    for key in [k for k in env if k.startswith(("AIRFLOW__", "WINDSOCK__DATABASE", "WINDSOCK__CORE"))]:
        env.pop(key)
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone"], env=env, cwd=str(home),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    try:
        link = _read_banner(proc, output)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, output)
        yield Standalone(home=home, url=url, login_link=link, env=env, output=output)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the standalone's process group (it and its children), SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a child that outlived its parent would be a leak: end it
    except ProcessLookupError:
        pass


@dataclass
class AppFixture:
    """An in-process app over a fresh SQLite store, and a way to sign callers in."""

    app: Any
    settings: Any
    factory: Any

    def token(self, role: str, *, seconds: float = 600, now: dt.datetime | None = None) -> str:
        """A bearer token for ``role``."""
        from runtime.web.auth.roles import Principal, parse_role
        from runtime.web.auth.tokens import Signer, issue_api_token, secret_key

        return issue_api_token(Signer(secret_key(self.settings)), Principal(f"test:{role}", parse_role(role)),
                               now or dt.datetime.now(dt.UTC), seconds)

    def headers(self, role: str = "Admin") -> dict[str, str]:
        """Authorization header for ``role``."""
        return {"Authorization": f"Bearer {self.token(role)}"}

    def login_token(self, role: str, *, seconds: float = 60, now: dt.datetime | None = None) -> str:
        """A one-time login token for ``role``."""
        from runtime.web.auth.roles import Principal, parse_role
        from runtime.web.auth.tokens import Signer, issue_login_token, secret_key

        return issue_login_token(Signer(secret_key(self.settings)), Principal(f"test:{role}", parse_role(role)),
                                 now or dt.datetime.now(dt.UTC), seconds)


def make_app(home: Path, db_url: str | None = None) -> AppFixture:
    """An app on ``db_url`` (default: a new SQLite file in ``home``) with the example DAG parsed."""
    from runtime.processor import DagProcessor
    from runtime.sdk import timezone
    from runtime.settings import Settings
    from runtime.store import db
    from runtime.store.session import open_store
    from runtime.web.app import create_app

    environ = {"WINDSOCK_HOME": str(home)}
    settings = Settings(home, environ=environ).with_overrides(
        database__sql_alchemy_conn=db_url or f"sqlite:///{home / 'windsock.db'}", core__dags_folder=str(home / "dags"))
    (home / "dags").mkdir(exist_ok=True)
    shutil.copy(DAGS / "web_typed.py", home / "dags" / "web_typed.py")
    engine, factory = open_store(settings)
    db.init(engine)
    DagProcessor(settings, factory, include_examples=True).run_once(timezone.utcnow())
    return AppFixture(app=create_app(settings), settings=settings, factory=factory)


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory) -> AppFixture:
    """One in-process app per test module (SQLite, example DAG parsed, no scheduler)."""
    return make_app(tmp_path_factory.mktemp("web-app"))


