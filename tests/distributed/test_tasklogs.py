"""Task logs in CloudWatch Logs: the worker ships them per try; the CLI and the web UI read them back."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3

from runtime import tasklogs
from runtime.executors.messages import TaskWork
from runtime.paths import task_log_path
from runtime.settings import Settings
from runtime.web.logs import read_task_log
from tests import services


def test_a_shipped_log_is_read_back_by_the_cli_and_the_web_ui_from_another_host(moto_endpoint: str, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    """A worker host ships a try's log (while it runs and at its end); a host without the file reads the stream."""
    for key, value in services.aws_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    group = f"test-{uuid.uuid4().hex[:8]}-Task"
    logs = boto3.client("logs", endpoint_url=moto_endpoint, region_name="us-east-1")
    logs.create_log_group(logGroupName=group)
    worker_logs = tmp_path / "worker"
    work = TaskWork(1, "d", "t", "manual__2024-01-01T00:00:00+00:00", -1, 1, 0, "f.py", {})
    path = Path(task_log_path(str(worker_logs), work.dag_id, work.run_id, work.task_id, -1, 1))
    path.parent.mkdir(parents=True)
    shipper = tasklogs.LogShipper(group, str(worker_logs))
    shipper.follow(work)
    path.write_text("first line\nsecond li")  # a partial line is not shipped while the try runs
    shipper.ship_all(final=False)
    with path.open("a") as handle:
        handle.write("ne\nlast line\n")
    shipper.finish(work)
    shipper.ship_all()
    assert shipper.followed == {}
    stream = tasklogs.stream_name(str(worker_logs), work.dag_id, work.run_id, work.task_id, -1, 1)
    assert ":" not in stream and stream.startswith("dag_id=d/run_id=manual__2024-01-01T00_00_00+00_00/")

    elsewhere = Settings(tmp_path / "web", environ={"WINDSOCK_TASK_LOG_GROUP": group})  # no local files here
    assert tasklogs.read(elsewhere, "d", work.run_id, "t", -1, 1) == "first line\nsecond line\nlast line\n"
    chunk = read_task_log(elsewhere, "d", work.run_id, "t", -1, 1, offset=len("first line\n"))
    assert chunk.found and chunk.text == "second line\nlast line\n" and chunk.where.startswith(group)
    assert tasklogs.read(elsewhere, "d", work.run_id, "t", -1, 2) is None  # no such try: no stream
