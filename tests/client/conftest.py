"""One ``windsock standalone --aws-local`` per session (moto, dag_sync, SQS worker, web server) for the client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import services
from tests.web.conftest import ROOT, _stop, _wait_healthy


@dataclass
class AwsLocal:
    """The running environment: moto's endpoint, the web URL, its home and output."""

    endpoint: str
    web_url: str
    home: Path
    out: Path

    def db(self) -> Path:
        """The SQLite metadata database of the environment."""
        return self.home / "aws-local" / "windsock.db"


@pytest.fixture(scope="session")
def aws_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsLocal]:
    """``standalone --aws-local --workers 1`` on free loopback ports, stopped (its process group) at the end."""
    pytest.importorskip("moto.server")
    home = tmp_path_factory.mktemp("aws-local-client")
    port = services.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW", "AWS_"))}
    env.update(WINDSOCK_HOME=str(home), PYTHONPATH=str(ROOT), WINDSOCK__CORE__LOAD_EXAMPLES="false",
               WINDSOCK__WEBSERVER__WEB_SERVER_PORT=str(port), WINDSOCK__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
               WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL="1")
    out = home / "standalone.out"
    with open(out, "wb") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone", "--aws-local", "--workers",
                                 "1"], env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "IAM client:" not in out.read_text() and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("standalone --aws-local exited:\n" + out.read_text()[-3000:])
            time.sleep(0.2)
        found = re.search(r"moto on (http://127\.0\.0\.1:\d+)", out.read_text())
        assert found, out.read_text()[-3000:]
        web_url = f"http://127.0.0.1:{port}"
        _wait_healthy(web_url, proc, [out.read_text()])  # type: ignore[arg-type]
        yield AwsLocal(found.group(1), web_url, home, out)
    finally:
        _stop(proc)  # type: ignore[arg-type]


@pytest.fixture
def local_aws(aws_local: AwsLocal, monkeypatch: pytest.MonkeyPatch) -> AwsLocal:
    """This test's boto3 clients reach the environment's moto (as the banner tells a user to)."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_local.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return aws_local
