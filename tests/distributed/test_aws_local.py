"""``windsock standalone --aws-local``: a DAG uploaded to S3 runs through SQS in a worker, end to end."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import boto3

from tests.faults import chaos

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG("from_s3", start_date=datetime(2024, 1, 1), schedule="@once", is_paused_upon_creation=False) as dag:
    BashOperator(task_id="hello", bash_command="echo hello from a worker")
"""


def _state(db: Path) -> str | None:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT state FROM dag_run WHERE dag_id = 'from_s3'").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def test_standalone_aws_local_runs_a_dag_uploaded_to_s3(tmp_path: Path) -> None:
    """moto, dag_sync from the bucket, the SQS executor and two workers: the uploaded DAG's run succeeds,
    its try ran in a worker, its log is in CloudWatch Logs, and Ctrl-C leaves no process behind."""
    mark = chaos.environment("sqlite://", tmp_path, tmp_path)["WINDSOCK_CHAOS_MARK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW", "AWS_"))}
    env.update(WINDSOCK_HOME=str(tmp_path), WINDSOCK__CORE__LOAD_EXAMPLES="false", WINDSOCK_CHAOS_MARK=mark)
    out = tmp_path / "standalone.out"
    with open(out, "wb") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "runtime.cli.main", "standalone", "--aws-local", "--workers", "2"],
                                env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "aws-local:" not in out.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.2)
        endpoint = re.search(r"moto on (http://127\.0\.0\.1:\d+)", out.read_text()).group(1)
        keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "us-east-1",
                "endpoint_url": endpoint}
        boto3.client("s3", **keys).put_object(Bucket="windsock-local", Key="dags/from_s3.py", Body=DAG.encode())
        db = tmp_path / "aws-local" / "windsock.db"
        while _state(db) != "success" and time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.3)
        assert _state(db) == "success", out.read_text()
        with sqlite3.connect(db) as conn:
            job_type = conn.execute("SELECT job.job_type FROM task_instance JOIN job ON job.id = task_instance.job_id "
                                    "WHERE task_instance.dag_id = 'from_s3'").fetchone()[0]
        assert job_type == "worker"
        logs = boto3.client("logs", **keys)
        names: list[str] = []
        while not names and time.monotonic() < deadline:  # the worker ships the log right after the try's end
            streams = logs.describe_log_streams(logGroupName="local-Task")["logStreams"]
            names = [s["logStreamName"] for s in streams if "dag_id=from_s3" in s["logStreamName"]]
            time.sleep(0.3)
        assert len(names) == 1 and ":" not in names[0] and names[0].endswith("task_id=hello/attempt=1.log")
        events = logs.get_log_events(logGroupName="local-Task", logStreamName=names[0], startFromHead=True)["events"]
        assert any("hello from a worker" in e["message"] for e in events)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode in (0, 130), out.read_text()
    assert chaos.wait_gone(mark, 20) == []
