"""Shared by bench/sqs_fanout.py and bench/sqs_chain.py: moto's server, queues, a store, workers.

The scheduler runs in this process with the SqsExecutor (``run_once`` steps, as ``run_forever``
does); ``--workers`` ``windsock worker`` processes take the tries from moto's SQS on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from runtime.processor import DagProcessor  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.store import db, runs  # noqa: E402
from runtime.store.models import DagModel, DagRun  # noqa: E402
from runtime.store.session import open_store, transaction  # noqa: E402

KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto() -> Iterator[str]:
    """moto's server on a loopback port (stopped at the end)."""
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def queue(endpoint: str) -> str:
    """A fresh task queue."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint, **{k.lower(): v for k, v in KEYS.items() if "KEY" in k},
                       region_name="us-east-1")
    return str(sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}",
                                Attributes={"VisibilityTimeout": "120"})["QueueUrl"])


def database(url: str | None, home: Path) -> str:
    """The store URL: a fresh schema in the given PostgreSQL database, or SQLite in ``home``."""
    if url is None:
        return f"sqlite:///{home / 'windsock.db'}"
    from runtime.store.engine import make_engine

    db.reset(make_engine(url))
    return url


def setup(home: Path, dag_source: str, url: str, queue_url: str, endpoint: str, parallelism: int) -> tuple[Settings, Any, dict[str, str]]:
    """Settings, session factory and the workers' environment, with the DAG parsed and unpaused."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "bench_dag.py").write_text(dag_source)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}, **KEYS,
           "AWS_ENDPOINT_URL": endpoint, "WINDSOCK_HOME": str(home), "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": url,
           "WINDSOCK__CORE__DAGS_FOLDER": str(dags), "WINDSOCK__CORE__LOAD_EXAMPLES": "false",
           "WINDSOCK__CORE__FERNET_KEY": "7lNFsuBUV2xyWHzkIK9m5j8k0gNO0sAqWEL2dJQHHeY=",
           "WINDSOCK__SQS__TASK_QUEUE_URL": queue_url, "WINDSOCK__CORE__EXECUTOR": "SqsExecutor",
           "PYTHONPATH": str(REPO)}
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    settings = Settings.load(env).with_overrides(core__parallelism=parallelism, core__max_active_tasks_per_dag=parallelism)
    engine, factory = open_store(settings)
    db.init(engine)
    DagProcessor(settings, factory).run_once(timezone.utcnow(), force=True)
    with transaction(factory) as s:
        s.execute(sa.update(DagModel).values(is_paused=False))
    return settings, factory, env


@contextlib.contextmanager
def workers(env: dict[str, str], count: int, concurrency: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes; SIGTERM at the end."""
    procs = [subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "worker", "-c", str(concurrency)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]
    try:
        time.sleep(3.0)  # workers up and polling (imports, fork server warm-up)
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)


def trigger(factory: Any, dag_id: str) -> str:
    """Queue a manual run; its run id."""
    now = timezone.utcnow()
    with transaction(factory) as s:
        return runs.create_dag_run(s, dag_id=dag_id, run_type="manual", logical_date=now, data_interval=None,
                                   now=now, external_trigger=True).run_id


def drive(scheduler: Scheduler, factory: Any, run_id: str, timeout: float = 300.0) -> str:
    """The scheduler's own ``run_forever`` (its wake-ups: workers' ENDS notifications) in a thread
    until the run finishes; its final state. This side reads the run's state every 20 ms."""
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop, timezone.utcnow), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and thread.is_alive():
            with transaction(factory) as s:
                state = s.scalar(sa.select(DagRun.state).where(DagRun.run_id == run_id))
            if state in ("success", "failed"):
                return str(state)
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(60)
    raise SystemExit(f"run {run_id} not finished after {timeout}s")


def describe(url: str) -> str:
    """PostgreSQL or SQLite."""
    return "PostgreSQL" if url.startswith("postgres") else "SQLite"


def json_line(**figures: Any) -> str:
    """Machine-readable figures (the last line the scripts print)."""
    return json.dumps(figures)


def run_once(dag_source: str, dag_id: str, *, postgres: str | None, workers_count: int, concurrency: int,
             parallelism: int) -> tuple[Any, str, str, float]:
    """Set up everything, trigger one run of ``dag_id`` and drive it to its end.

    Returns (session factory, run id, final state, seconds from the trigger to the end); the
    database stays readable until the process exits.
    """
    import atexit
    import shutil
    import tempfile

    from runtime.executors.sqs import SqsExecutor

    home = Path(tempfile.mkdtemp(prefix="windsock-bench-"))
    atexit.register(shutil.rmtree, home, True)
    with moto() as endpoint:
        url = database(postgres, home)
        settings, factory, env = setup(home, dag_source, url, queue(endpoint), endpoint, parallelism)
        executor = SqsExecutor(settings, factory)
        executor.start()
        scheduler = Scheduler(settings, factory, executor)
        scheduler.run_once(timezone.utcnow())
        with workers(env, workers_count, concurrency):
            began = time.perf_counter()
            run_id = trigger(factory, dag_id)
            state = drive(scheduler, factory, run_id)  # run_forever ends the executor
            wall = time.perf_counter() - began
    return factory, run_id, state, wall

