"""`windsock container webserver` on PostgreSQL (the ALB's /health on the configured port), and the web CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.cli import main as cli_main
from tests import services
from tests.web.conftest import ROOT, Standalone


def _get(url: str) -> int:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.postgres
@pytest.mark.aws
def test_container_webserver_passes_the_alb_health_check_on_postgres(
    moto_endpoint: str, postgres_url: str, tmp_path: Path
) -> None:
    """The entrypoint syncs, inits the schema, starts `windsock webserver` on WINDSOCK_WEB_PORT; /health is 200."""
    boto3 = pytest.importorskip("boto3")
    bucket = f"web-{tmp_path.name.lower().replace('_', '-')}"[:60]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    port = services.free_port()
    env = {**services.aws_env(moto_endpoint), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYTHONPATH": str(ROOT), "WINDSOCK_HOME": str(tmp_path), "WINDSOCK_S3_BUCKET": bucket,
           "WINDSOCK_S3_PREFIX": "", "WINDSOCK_WEB_PORT": str(port), "WINDSOCK_ROLE": "webserver",
           "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": postgres_url, "WINDSOCK_FERNET_SECRET": "f" * 64,
           "WINDSOCK__WEBSERVER__SECRET_KEY": "k" * 48, "WINDSOCK__CORE__LOAD_EXAMPLES": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "container", "webserver"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and _get(f"http://127.0.0.1:{port}/health") != 200:
            time.sleep(0.3)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert _get(f"http://127.0.0.1:{port}/health") == 200
        assert _get(f"http://127.0.0.1:{port}/api/v2/dags") == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, 128 + signal.SIGTERM)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_login_link_and_api_token_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`webserver login-link` prints a URL with a token; `api-token` a bearer token; a bad role is one line, exit 1."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    assert cli_main.main(["webserver", "login-link", "--role", "viewer", "--url", "http://h:1"]) == 0
    assert capsys.readouterr().out.startswith("http://h:1/login?token=")
    assert cli_main.main(["webserver", "api-token", "--role", "Op"]) == 0
    assert len(capsys.readouterr().out.strip()) > 40
    assert cli_main.main(["webserver", "login-link", "--role", "root"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown role 'root'" in err
    assert oct((tmp_path / "webserver_secret_key").stat().st_mode & 0o777) == "0o600"


def test_webserver_without_a_database_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`windsock webserver` on an uninitialised database says to run `windsock db init`."""
    monkeypatch.setenv("WINDSOCK_HOME", str(tmp_path))
    assert cli_main.main(["webserver", "--port", str(services.free_port())]) == 1
    assert "windsock db init" in capsys.readouterr().err


@pytest.mark.usefixtures("standalone")
def test_web_server_dies_with_a_killed_standalone(tmp_path: Path, standalone: Standalone) -> None:
    """kill -9 of `windsock standalone` takes its web server child down with it (no orphan on the port)."""
    port = services.free_port()
    env = {**standalone.env, "WINDSOCK_HOME": str(tmp_path), "WINDSOCK__WEBSERVER__WEB_SERVER_PORT": str(port),
           "PYTHONPATH": str(ROOT)}
    (tmp_path / "dags").mkdir()
    env["WINDSOCK__CORE__LOAD_EXAMPLES"] = "false"
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _get(f"http://127.0.0.1:{port}/health") != 200:
            time.sleep(0.3)
        assert _get(f"http://127.0.0.1:{port}/health") == 200
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _get(f"http://127.0.0.1:{port}/health") == 200:
            time.sleep(0.3)
        assert _get(f"http://127.0.0.1:{port}/health") == 0, "the web server outlived its standalone parent"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
