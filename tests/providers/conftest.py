"""Fixtures for the real Airflow provider packages on Windsock.

The providers are installed (``pip install --no-deps --target``, by scripts/test) into a site
directory, ``$WINDSOCK_PROVIDERS_SITE`` or ``.cache/providers-site``, which these tests put on the
PYTHONPATH of the Windsock processes they start, as dag_sync does with a requirements site dir.
The test process itself never imports them, so other test packages keep Windsock's stand-ins.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.dag_sync.conftest import aws, bucket, cli, put, s3  # noqa: F401 (dag_sync's fixtures, for test_dag_sync)

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
SITE = Path(os.environ.get("WINDSOCK_PROVIDERS_SITE", REPO / ".cache" / "providers-site"))


@pytest.fixture(scope="session")
def providers_site() -> Path:
    """The site dir holding the provider packages (a skip locally, a failure in CI, when missing)."""
    if not (SITE / "airflow" / "providers" / "amazon" / "__init__.py").exists():
        services.unavailable(f"the provider packages are not installed in {SITE} (scripts/test installs them: "
                             "pip install --no-deps --target SITE -r runtime/container/providers.in)")
    return SITE


def base_env(home: Path, site: Path, **extra: str) -> dict[str, str]:
    """The environment of a Windsock process with the providers on its path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW", "AWS_"))}
    env.update(WINDSOCK_HOME=str(home), WINDSOCK__CORE__LOAD_EXAMPLES="false", PYTHONPATH=f"{REPO}{os.pathsep}{site}",
               WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5")
    env.update(extra)
    return env


def windsock(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run one ``windsock`` command to its end."""
    return subprocess.run([sys.executable, "-m", "runtime.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def dags_test(env: dict[str, str], dag_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> str:
    """``windsock dags test`` of one DAG file in tests/providers/dags; asserts the run succeeded; its output."""
    args = ["dags", "test", dag_id, logical_date, "-S", str(DAGS / f"{dag_id}.py")]
    if conf:
        args += ["-c", json.dumps(conf)]
    done = windsock(env, *args)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "finished: success" in out, out[-6000:]
    return out


def run_under_scheduler(env: dict[str, str], store: Any, dag_id: str, conf: dict[str, Any] | None = None,
                        timeout: float = 150) -> dict[str, str]:
    """Parse the DAG, unpause and trigger it, run ``windsock scheduler`` until the run ends; task states."""
    import sqlalchemy as sa

    from runtime.store.models import DagRun, TaskInstance
    from runtime.store.session import transaction

    dags = Path(env["WINDSOCK_HOME"]) / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / f"{dag_id}.py").write_text((DAGS / f"{dag_id}.py").read_text())
    env = {**env, "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": store.url, "WINDSOCK__CORE__DAGS_FOLDER": str(dags)}
    parsed = windsock(env, "scheduler", "-n", "3")
    assert parsed.returncode == 0, parsed.stderr[-4000:]
    assert windsock(env, "dags", "unpause", dag_id).returncode == 0
    trigger = windsock(env, "dags", "trigger", dag_id, "-c", json.dumps(conf or {}))
    assert trigger.returncode == 0, trigger.stderr[-4000:]

    def run_state() -> str | None:
        with transaction(store.session_factory) as s:
            return s.scalar(sa.select(DagRun.state).where(DagRun.dag_id == dag_id))

    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "scheduler"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while run_state() not in ("success", "failed"):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    with transaction(store.session_factory) as s:
        states = dict(s.execute(sa.select(TaskInstance.task_id, TaskInstance.state)
                                .where(TaskInstance.dag_id == dag_id)).all())
    assert run_state() == "success", f"run {run_state()}: {states}\n{out[-6000:]}"
    return states


@pytest.fixture
def until() -> Callable[..., Any]:
    return services.wait_for


@pytest.fixture
def moto(moto_endpoint: str) -> Iterator[str]:
    """The session's moto server, with Lambda functions run without Docker (moto's simple backend)."""
    import urllib.request

    request = urllib.request.Request(f"{moto_endpoint}/moto-api/config", method="POST",
                                     data=json.dumps({"lambda": {"use_docker": False}}).encode())
    urllib.request.urlopen(request, timeout=10).read()
    yield moto_endpoint
