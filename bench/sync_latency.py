"""Upload-to-local-file latency of dag_sync's event path (S3 event -> SQS -> sync).

Starts a moto server on loopback, configures the bucket notification to an SQS queue, runs
``start_background_sync`` with the slow reconcile pushed out of the way, then uploads a DAG
file 50 times and measures until the new content is readable in the local DAG folder.
Prints p50/p95/max. Usage: ``python bench/sync_latency.py [--uploads 50]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dag_sync.config import SyncConfig  # noqa: E402
from dag_sync.entry import start_background_sync  # noqa: E402
from dag_sync.syncer import Syncer  # noqa: E402


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port; stopped by PID at the end."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def setup(url: str, home: Path) -> tuple[Any, dict[str, str]]:
    """Bucket + queue + notification; returns the S3 client and the container environment."""
    import boto3

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    s3 = boto3.client("s3", endpoint_url=url)
    sqs = boto3.client("sqs", endpoint_url=url)
    bucket = f"ws-bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    queue = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    env = {**os.environ, "AWS_ENDPOINT_URL": url, "WINDSOCK_HOME": str(home), "WINDSOCK_S3_BUCKET": bucket,
           "WINDSOCK_SYNC_QUEUE_URL": queue, "WINDSOCK_SYNC_RECONCILE_SECONDS": "3600",
           "WINDSOCK_SYNC_POLL_SECONDS": "5"}
    return s3, env


def measure(s3: Any, env: dict[str, str], uploads: int) -> list[float]:
    """Seconds from just before each put_object until the new content is readable locally."""
    cfg = SyncConfig.from_env(env)
    for n in range(20):  # a realistic folder: the sync re-lists and links these every time
        s3.put_object(Bucket=cfg.bucket, Key=f"dags/existing_{n}.py", Body=f"# dag {n}\n".encode())
    Syncer(cfg).sync_dags()
    stop = start_background_sync(env)
    time.sleep(1.0)  # the loop's first long poll is in flight
    latencies = []
    try:
        for i in range(uploads):
            body = f"# upload {i} {uuid.uuid4().hex}\n"
            local = cfg.dags_folder / f"bench_{i % 5}.py"
            start = time.perf_counter()
            s3.put_object(Bucket=cfg.bucket, Key=f"dags/bench_{i % 5}.py", Body=body.encode())
            latencies.append(_wait_for(local, body, start))
            time.sleep(0.3)
    finally:
        stop()
    return latencies


def _wait_for(path: Path, body: str, start: float, timeout: float = 30.0) -> float:
    while time.perf_counter() - start < timeout:
        try:
            if path.read_text() == body:
                return time.perf_counter() - start
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"{path} did not get the upload within {timeout} s")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=50)
    args = parser.parse_args()
    with moto_server() as url, tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        s3, env = setup(url, Path(tmp) / "home")
        lat = sorted(measure(s3, env, args.uploads))
    p95 = lat[min(len(lat) - 1, round(0.95 * len(lat)) - 1)]
    print(f"dag_sync upload-to-local-file latency, event path, {len(lat)} uploads, {os.cpu_count()} cores: "
          f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms "
          f"(target p95 <= 1000 ms)")


if __name__ == "__main__":
    main()
