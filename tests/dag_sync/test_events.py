"""Event path (S3 notification -> SQS -> sync), debounce, and the slow reconcile path."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from dag_sync import fanout
from dag_sync import s3 as s3io
from dag_sync.config import SyncConfig
from dag_sync.entry import start_background_sync
from dag_sync.events import ObjectEvent, QueueSource, parse_body, parts_touched
from dag_sync.generations import read_manifest
from dag_sync.loop import SyncLoop
from dag_sync.syncer import Syncer
from tests.dag_sync.conftest import wait_for

pytestmark = pytest.mark.aws


def notified_queue(s3: Any, sqs: Any, bucket: str) -> str:
    """A queue receiving the bucket's object events, configured as the CDK app does it."""
    url = sqs.create_queue(QueueName=f"ws-sync-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    # moto server does deliver S3 events to SQS (checked here so a moto change is visible).
    return url


def s3_event(bucket: str, key: str, name: str) -> str:
    """The body of an S3 event notification, as S3 sends it to SQS."""
    return json.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
                                    "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def test_moto_delivers_s3_events_to_sqs(s3: Any, sqs: Any, bucket: str, put: Any) -> None:
    """Precondition of the event tests: an upload produces an S3 event message on the queue."""
    url = notified_queue(s3, sqs, bucket)
    put("dags/x.py", "x")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2,
                                                     MaxNumberOfMessages=10).get("Messages", [])]
    assert any(ObjectEvent(bucket, "env1/dags/x.py") in parse_body(b) for b in bodies)


def test_event_path_syncs_an_upload_and_a_delete(env: dict[str, str], s3: Any, sqs: Any, bucket: str,
                                                 put: Any) -> None:
    """With reconcile far away, only the S3 event can bring the change."""
    url = notified_queue(s3, sqs, bucket)
    env.update(WINDSOCK_SYNC_QUEUE_URL=url, WINDSOCK_SYNC_RECONCILE_SECONDS="3600")
    folder = SyncConfig.from_env(env).dags_folder
    Syncer(SyncConfig.from_env(env)).sync_dags()
    stop = start_background_sync(env)
    try:
        put("dags/team/new_dag.py", "print('hi')")
        took = wait_for(lambda: (folder / "team/new_dag.py").exists(), 10, "the uploaded DAG")
        s3.delete_object(Bucket=bucket, Key="env1/dags/team/new_dag.py")
        # moto 5.2 emits no event for a delete marker in a versioned bucket (S3 sends
        # ObjectRemoved:DeleteMarkerCreated), so we send the message S3 would have sent.
        sqs.send_message(QueueUrl=url, MessageBody=s3_event(bucket, "env1/dags/team/new_dag.py",
                                                            "ObjectRemoved:DeleteMarkerCreated"))
        wait_for(lambda: not (folder / "team/new_dag.py").exists(), 10, "the deleted DAG to go")
    finally:
        stop()
    assert took < 5


def test_a_burst_of_uploads_is_one_sync(env: dict[str, str], s3: Any, sqs: Any, bucket: str, put: Any) -> None:
    """Debounce: events of a burst are collected and applied as a single new generation."""
    url = notified_queue(s3, sqs, bucket)
    cfg = SyncConfig.from_env({**env, "WINDSOCK_SYNC_QUEUE_URL": url, "WINDSOCK_SYNC_RECONCILE_SECONDS": "3600"})
    syncer = Syncer(cfg)
    syncer.sync_dags()
    before = read_manifest(Path(os.path.realpath(cfg.dags_folder))).generation
    for n in range(6):
        put(f"dags/burst_{n}.py", str(n))
    loop = SyncLoop(syncer, QueueSource(cfg, s3io.client(cfg, "sqs")))
    assert "dags" in loop.run_once()
    after = read_manifest(Path(os.path.realpath(cfg.dags_folder)))
    assert after.generation == before + 1 and len(after.files) == 6


def test_reconcile_path_catches_a_change_without_events(env: dict[str, str], put: Any) -> None:
    """No queue at all: the slow full reconcile alone converges."""
    env.update(WINDSOCK_SYNC_RECONCILE_SECONDS="0.5")
    folder = SyncConfig.from_env(env).dags_folder
    stop = start_background_sync(env)
    try:
        put("dags/late.py", "late")
        wait_for(lambda: (folder / "late.py").exists(), 10, "the reconcile to fetch late.py")
    finally:
        stop()


def test_lost_event_is_recovered_by_reconcile(env: dict[str, str], sqs: Any, put: Any) -> None:
    """A queue that never receives the event (no notification): reconcile still brings the file."""
    url = sqs.create_queue(QueueName=f"ws-silent-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    cfg = SyncConfig.from_env({**env, "WINDSOCK_SYNC_QUEUE_URL": url, "WINDSOCK_SYNC_RECONCILE_SECONDS": "0"})
    loop = SyncLoop(Syncer(cfg), QueueSource(cfg, s3io.client(cfg, "sqs")))
    put("dags/quiet.py", "q")
    assert loop.run_once() == {"dags", "plugins", "requirements"}
    assert (cfg.dags_folder / "quiet.py").read_text() == "q"


def test_message_shapes_direct_sns_and_eventbridge(env: dict[str, str]) -> None:
    """Direct S3 notifications (URL-encoded keys), SNS envelopes, EventBridge and test events."""
    cfg = SyncConfig.from_env(env)
    direct = {"Records": [{"s3": {"bucket": {"name": cfg.bucket}, "object": {"key": "env1/dags/my+dag%281%29.py"}}}]}
    sns = {"Type": "Notification", "Message": json.dumps(
        {"Records": [{"s3": {"bucket": {"name": cfg.bucket}, "object": {"key": "env1/requirements.txt"}}}]})}
    bridge = {"detail-type": "Object Created", "detail": {"bucket": {"name": cfg.bucket},
                                                          "object": {"key": "env1/plugins.zip"}}}
    assert parse_body(json.dumps(direct)) == [ObjectEvent(cfg.bucket, "env1/dags/my dag(1).py")]
    assert parts_touched(cfg, parse_body(json.dumps(sns))) == {"requirements"}
    assert parts_touched(cfg, parse_body(json.dumps(bridge))) == {"plugins"}
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    assert parse_body("not json") == []


def test_events_outside_the_environment_are_ignored(env: dict[str, str]) -> None:
    """Other buckets, other prefixes, our own wheelhouse and startup.sh trigger nothing."""
    cfg = SyncConfig.from_env(env)
    events = [ObjectEvent("other-bucket", "env1/dags/a.py"), ObjectEvent(cfg.bucket, "env2/dags/a.py"),
              ObjectEvent(cfg.bucket, "env1/.windsock/wheelhouse/x/index.json"),
              ObjectEvent(cfg.bucket, "env1/startup.sh")]
    assert parts_touched(cfg, events) == set()


def test_every_container_reacts_to_an_event_with_a_topic(aws: str, s3: Any, sqs: Any, bucket: str, put: Any,
                                                        tmp_path: Path) -> None:
    """S3 -> SNS -> one private queue per container: both containers get the upload promptly."""
    import boto3

    from tests.dag_sync.conftest import make_env

    sns = boto3.client("sns", endpoint_url=aws, region_name="us-east-1")
    topic = sns.create_topic(Name=f"ws-events-{uuid.uuid4().hex[:10]}")["TopicArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [
        {"TopicArn": topic, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    envs = [make_env(aws, bucket, tmp_path / name, WINDSOCK_SYNC_TOPIC_ARN=topic,
                     WINDSOCK_SYNC_RECONCILE_SECONDS="3600") for name in ("one", "two")]
    stops = [start_background_sync(e) for e in envs]
    try:
        wait_for(lambda: len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 2, 5, "2 queues")
        folders = [SyncConfig.from_env(e).dags_folder for e in envs]
        wait_for(lambda: all(f.is_symlink() for f in folders), 5, "the first reconcile of both")
        put("dags/fanned_out.py", "x")  # reconcile is an hour away: only the events can bring it
        for e in envs:
            folder = SyncConfig.from_env(e).dags_folder
            wait_for(lambda f=folder: (f / "fanned_out.py").exists(), 5, f"the upload in {folder}")
    finally:
        for stop in stops:
            stop()
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    prefix = fanout.queue_prefix(topic)
    assert sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []


def test_orphaned_private_queues_are_reaped(aws: str, sqs: Any) -> None:
    """A queue whose container died (stale heartbeat) is removed by the next container to start."""
    import boto3

    sns = boto3.client("sns", endpoint_url=aws, region_name="us-east-1")
    topic = sns.create_topic(Name=f"ws-events-{uuid.uuid4().hex[:10]}")["TopicArn"]
    dead = fanout.PrivateQueue(sqs, sns, topic, clock=lambda: 1000.0)
    dead.create()
    alive = fanout.PrivateQueue(sqs, sns, topic)
    alive.create()
    assert alive.reap_orphans(max_age=3600) == [dead.url]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == [alive.subscription]
    alive.delete()


def test_a_long_requirements_install_does_not_delay_dag_files(env: dict[str, str], put: Any) -> None:
    """While the requirements part is busy (its lock held here), a reconcile still syncs DAGs."""
    from dag_sync.status import file_lock, read_status

    cfg = SyncConfig.from_env({**env, "WINDSOCK_SYNC_RECONCILE_SECONDS": "0"})
    loop = SyncLoop(Syncer(cfg), None)
    put("dags/while_pip_runs.py", "x")
    put("requirements.txt", "# nothing to install\n")
    with file_lock(cfg.state_dir / ".lock-requirements"):
        loop.run_once()
        assert (cfg.dags_folder / "while_pip_runs.py").exists()
        assert "requirements" not in read_status(cfg.home)
    loop.requirements.wait(timeout=30)
    assert read_status(cfg.home)["requirements"]["state"] == "ok"
