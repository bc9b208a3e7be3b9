"""The scheduler's dead-letter watcher: a try whose message reached the DLQ fails, with the reason.

SQS moves a message to the dead-letter queue after ``maxReceiveCount`` receives that never
deleted it (workers that died or could not claim it). The watcher long-polls the DLQ on a
thread of its own (one request per 20 s when nothing arrives) and fails such a try if it is
still queued or running under that try number; then it deletes the message.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from runtime import aws
from runtime.executors.messages import TaskWork, decode
from runtime.sdk import timezone
from runtime.store import wakeup
from runtime.store.session import transaction
from runtime.worker.record import dead_letter


class DeadLetterWatcher:
    """Reads the dead-letter queue until stopped."""

    def __init__(self, url: str, session_factory: sessionmaker[Session], *, wait: int = 20) -> None:
        self.url = url
        self.factory = session_factory
        self.wait = wait
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="windsock-dlq", daemon=True)
        self.failed: list[tuple[int, int]] = []  # (ti_id, try_number) failed by this watcher

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (after its current poll)."""
        self.stopped.set()

    def _loop(self) -> None:
        sqs = aws.client("sqs", read_timeout=self.wait + 10)
        while not self.stopped.is_set():
            try:
                self.poll(sqs)
            except Exception as exc:  # noqa: BLE001 - keep watching; say why once per failure
                if not self.stopped.is_set():
                    print(f"[windsock] scheduler: reading the dead-letter queue failed: {exc}", file=sys.stderr)
                self.stopped.wait(5.0)

    def poll(self, sqs: Any) -> int:
        """One long poll; the number of messages handled."""
        reply = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait,
                                    AttributeNames=["ApproximateReceiveCount"])
        messages = reply.get("Messages", [])
        for message in messages:
            self.handle(message)
            sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def handle(self, message: dict[str, Any]) -> None:
        """Fail the try the message named (if it is still waiting for that delivery)."""
        try:
            work = decode(message["Body"])
        except ValueError:
            print(f"[windsock] scheduler: dropped an unreadable dead-letter message {message.get('MessageId')}",
                  file=sys.stderr)
            return
        if not isinstance(work, TaskWork):
            return
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        reason = (f"delivery failed {receives} times: the task message reached the dead-letter queue "
                  "(its workers died or could not claim it)")
        with transaction(self.factory) as session:
            if dead_letter(session, work.ti_id, work.try_number, timezone.utcnow(), reason):
                wakeup.notify(session, wakeup.ENDS)
                self.failed.append((work.ti_id, work.try_number))
                print(f"[windsock] scheduler: {work.label} failed: {reason}", file=sys.stderr)
