"""S3 event notifications via SQS: parse messages, decide which parts of the sync they touch.

Messages are hints, never the source of truth: any relevant event makes the syncer re-list
the prefix, so duplicates, reordering and lost events only cost time, not correctness.
Accepted shapes: S3 notifications sent straight to SQS, the same wrapped by SNS, and
EventBridge "Object Created"/"Object Deleted" events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from dag_sync.config import SyncConfig
from dag_sync.fanout import PrivateQueue

log = logging.getLogger("dag_sync.events")


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 object change: the bucket and the (decoded) key."""

    bucket: str
    key: str


def parse_body(body: str) -> list[ObjectEvent]:
    """The object events in one SQS message body (empty for test events and junk)."""
    try:
        data = json.loads(body)
    except ValueError:
        log.warning("ignoring a non-JSON sync queue message")
        return []
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        return parse_body(data["Message"])  # SNS envelope
    if not isinstance(data, dict):
        return []
    if "detail" in data and isinstance(data["detail"], dict):
        return _eventbridge(data["detail"])
    return [e for rec in data.get("Records", []) if (e := _record(rec)) is not None]


def _record(rec: Any) -> ObjectEvent | None:
    """The object event of one S3 notification record (None when malformed)."""
    try:
        s3 = rec["s3"]
        return ObjectEvent(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]))
    except (KeyError, TypeError):
        return None


def _eventbridge(detail: dict[str, Any]) -> list[ObjectEvent]:
    """The object event of an EventBridge S3 event detail."""
    try:
        return [ObjectEvent(detail["bucket"]["name"], detail["object"]["key"])]
    except (KeyError, TypeError):
        return []


def parts_touched(cfg: SyncConfig, events: Iterable[ObjectEvent]) -> set[str]:
    """Which sync parts (dags, plugins, requirements) a batch of events concerns."""
    parts: set[str] = set()
    for event in events:
        if event.bucket == cfg.bucket:
            part = _part(cfg, event.key)
            if part:
                parts.add(part)
    return parts


def _part(cfg: SyncConfig, key: str) -> str | None:
    """The sync part an S3 key belongs to, or None."""
    if key.startswith(cfg.wheelhouse_prefix):
        return None  # our own wheel uploads
    if key == cfg.key(cfg.requirements_path):
        return "requirements"
    if key == cfg.key(cfg.plugins_path):
        return "plugins"
    if key.startswith(cfg.dags_key_prefix):
        return "dags"
    return None  # startup.sh changes apply at the next container start, as in MWAA


class QueueSource:
    """Long-polls the sync queue and deletes what it read (the sync that follows re-lists S3)."""

    def __init__(self, cfg: SyncConfig, sqs: Any, queue_url: str | None = None,
                 private: PrivateQueue | None = None) -> None:
        self.cfg = cfg
        self.sqs = sqs
        self.queue_url = queue_url or cfg.queue_url
        self.private = private

    def on_reconcile(self) -> None:
        """Keep a private queue alive (its heartbeat tag), once per reconcile."""
        if self.private is not None:
            self.private.heartbeat()

    def close(self) -> None:
        """Delete a private queue; a configured shared queue is left alone."""
        if self.private is not None:
            self.private.delete()

    def receive(self, wait_seconds: float) -> set[str]:
        """Parts touched by the messages that arrive within ``wait_seconds`` (0: short poll)."""
        resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=max(0, min(20, int(wait_seconds))))
        messages = resp.get("Messages", [])
        if not messages:
            return set()
        self._delete(messages)
        events = [e for m in messages for e in parse_body(m.get("Body", ""))]
        return parts_touched(self.cfg, events)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        """Delete received messages in one batch."""
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
