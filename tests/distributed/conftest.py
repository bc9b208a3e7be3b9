"""SQS on moto's server, real worker processes, a scheduler with the SqsExecutor; PostgreSQL or SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.faults.chaos import terminate_all
from tests.scheduler.conftest import make  # noqa: F401 - fixture
from tests.scheduler.helpers import Env, make_env

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Sqs:
    """Queues made for one test, and the environment that reaches them."""

    endpoint: str
    task_queue: str
    dlq: str
    client: Any
    env: dict[str, str]

    def messages(self, url: str) -> int:
        """Visible plus in-flight messages of a queue."""
        attrs = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def sqs(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Sqs:
    """A task queue and its DLQ on moto (2 receives, then dead letter; a ``max_receives`` marker says
    otherwise); AWS variables set for this process."""
    import boto3

    env = services.aws_env(moto_endpoint)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"ws-{uuid.uuid4().hex[:10]}"
    dlq = client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    marker = request.node.get_closest_marker("max_receives")
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(marker.args[0] if marker else 2)})
    queue = client.create_queue(QueueName=f"{name}-tasks", Attributes={"VisibilityTimeout": "5", "RedrivePolicy": redrive})
    return Sqs(moto_endpoint, queue["QueueUrl"], dlq, client, env)


SQS_SETTINGS = {"sqs__visibility_timeout": 5, "sqs__visibility_extend_every": 1, "sqs__wait_time_seconds": 1,
                "core__executor": "SqsExecutor"}


def settings_env(e: Env, sqs: Sqs, **extra: str) -> dict[str, str]:
    """The environment of a worker (or scheduler) process reaching the same store, folders and queues."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    values = {"WINDSOCK_HOME": str(e.settings.home), "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": e.store.url,
              "WINDSOCK__CORE__DAGS_FOLDER": str(e.dags), "WINDSOCK__CORE__LOAD_EXAMPLES": "false",
              "WINDSOCK__LOGGING__BASE_LOG_FOLDER": str(e.settings.get("logging", "base_log_folder")),
              "WINDSOCK__SQS__TASK_QUEUE_URL": sqs.task_queue, "WINDSOCK__SQS__DEAD_LETTER_QUEUE_URL": sqs.dlq,
              "WINDSOCK__SQS__VISIBILITY_TIMEOUT": "5", "WINDSOCK__SQS__VISIBILITY_EXTEND_EVERY": "1",
              "WINDSOCK__SQS__WAIT_TIME_SECONDS": "1", "WINDSOCK__SCHEDULER__HEARTBEAT_INTERVAL": "0.5",
              "WINDSOCK__WORKER__STOP_GRACE": "3", "PYTHONPATH": str(REPO)}
    return {**keep, **sqs.env, **values, **extra}


@dataclass
class Workers:
    """``windsock worker`` processes of one test (stopped, by PID, at its end)."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, concurrency: int = 8) -> subprocess.Popen[bytes]:
        """One more worker."""
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / f"worker-{len(self.procs)}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "worker", "-c", str(concurrency)],
                                env=self.env, stdout=out, stderr=out, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM each (they interrupt what runs and exit), SIGKILL what outlives 30 s."""
        terminate_all(self.procs)

    def output(self) -> str:
        """Everything the workers printed."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*.log")))


@pytest.fixture
def sqs_make(make: Callable[..., Env], sqs: Sqs) -> Callable[..., Env]:  # noqa: F811
    """An Env whose scheduler uses the SqsExecutor on this test's queues."""

    def build(**overrides: Any) -> Env:
        values = {**SQS_SETTINGS, "sqs__task_queue_url": sqs.task_queue, "sqs__dead_letter_queue_url": sqs.dlq,
                  **overrides}
        return make("sqs", **values)

    return build


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Env, Sqs], Workers]]:
    """Start workers for an Env; all are stopped after the test."""
    made: list[Workers] = []

    def build(e: Env, sqs: Sqs, **extra: str) -> Workers:
        made.append(Workers(settings_env(e, sqs, **extra), tmp_path / "worker-logs"))
        return made[-1]

    yield build
    for w in made:
        w.stop_all()


__all__ = ["Sqs", "Workers", "make_env", "settings_env"]
