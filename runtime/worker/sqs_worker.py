"""``windsock worker``: long-poll SQS, run each try in a child of a warm fork server, delete when done.

One step (:meth:`Worker.run_once`): handle what the fork server reported (delete the message
of each try whose end it recorded, or whose claim lost: a duplicate delivery), extend the
visibility of messages whose tries still run, hold ECS task protection while any try runs,
then receive as many messages as there are free slots (a 20 s long poll when idle) and hand
them to the fork server — the local executor's, reused. SIGTERM stops receiving; running
tries get ``[worker] stop_grace`` to finish, the rest are interrupted and run again without
using a retry; their messages are deleted once the interruption is recorded.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime import aws
from runtime.container import task_protection
from runtime.executors.local import LocalExecutor
from runtime.executors.messages import LOST, CallbackWork, TaskEvent, TaskWork, decode
from runtime.executors.sqs import queue_map, task_queue_url
from runtime.settings import Settings
from runtime.store.states import JobType
from runtime.tasklogs import LogShipper

PROTECTION_MINUTES = 60
PROTECTION_RENEW = 30 * 60.0


@dataclass
class Held:
    """A received message whose try the fork server has."""

    queue_url: str
    receipt: str
    work: TaskWork
    extended: float  # monotonic time of the last visibility change


@dataclass
class WorkerStats:
    """What one step did."""

    received: int = 0
    deleted: int = 0
    events: int = 0


@dataclass
class Worker:
    """Receives tries from SQS queues and runs them in forked children."""

    settings: Settings
    concurrency: int
    queue_urls: list[str]
    environ: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.executor = LocalExecutor(self.settings, self.concurrency, job_type=JobType.WORKER)
        self.sqs: Any = None
        self.held: dict[tuple[int, int], list[Held]] = defaultdict(list)
        self.visibility = int(self.settings.get("sqs", "visibility_timeout"))
        self.extend_every = float(self.settings.get("sqs", "visibility_extend_every"))
        self.idle_wait = int(self.settings.get("sqs", "wait_time_seconds"))
        self.stopping = False
        self.stop_deadline = 0.0
        self.protected_at: float | None = None
        self.agent = task_protection.agent_uri(self.environ)
        self.logs = LogShipper.from_settings(self.settings)
        self._next_queue = 0

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Make the SQS client and start the fork server."""
        self.sqs = aws.client("sqs", read_timeout=self.idle_wait + 10)
        self.executor.start()

    def stop(self) -> None:
        """Stop receiving; running tries get ``stop_grace`` seconds before they are interrupted."""
        if not self.stopping:
            self.stopping = True
            self.stop_deadline = self.clock() + float(self.settings.get("worker", "stop_grace"))

    def finished(self) -> bool:
        """Stopping, and no try is held any more."""
        return self.stopping and not self.held

    def run(self, *, burst: bool = False) -> None:
        """Step until stopped and drained (``burst``: also stop as soon as nothing is held or waiting)."""
        self.start()
        try:
            while not self.finished():
                stats = self.run_once()
                if burst and not self.held and not stats.received:
                    break
                if self.stopping and self.clock() >= self.stop_deadline:
                    break
        finally:
            self.close()

    def close(self) -> None:
        """Interrupt what still runs (recorded by the fork server), delete those messages, release protection."""
        self.executor.end()
        self._handle(self.executor.final_events)
        self.logs.ship_all(final=True)
        self._protect(False)

    # --- one step -----------------------------------------------------------------------------

    def run_once(self) -> WorkerStats:
        """Handle events, extend visibility, renew protection, then receive what fits."""
        stats = WorkerStats()
        events = self.executor.sync()
        stats.events = len(events)
        stats.deleted = self._handle(events)
        self._extend()
        self.logs.ship_all()
        self._protect(bool(self.held))
        free = self.concurrency - sum(len(v) for v in self.held.values())
        if free > 0 and not self.stopping:
            stats.received = self._receive(min(10, free))
        else:
            self.executor.wait(1.0)
        self.executor.flush()
        return stats

    def _handle(self, events: list[TaskEvent]) -> int:
        """Delete the message of every try the fork server is done with (recorded or unclaimed)."""
        done: dict[str, list[str]] = defaultdict(list)
        for event in events:
            copies = self.held.get((event.ti_id, event.try_number))
            if not copies:
                continue
            held = copies.pop(0)
            if not copies:
                del self.held[(event.ti_id, event.try_number)]
            self.logs.finish(held.work)
            if event.outcome != LOST:  # a lost try is decided by the scheduler; its message can come back
                done[held.queue_url].append(held.receipt)
        return sum(self._delete(url, receipts) for url, receipts in done.items())

    def _delete(self, url: str, receipts: list[str]) -> int:
        deleted = 0
        for start in range(0, len(receipts), 10):
            batch = receipts[start:start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(batch)]
            try:
                reply = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
                deleted += len(reply.get("Successful", []))
            except Exception as exc:  # noqa: BLE001 - it comes back later and its claim then loses: harmless
                print(f"[windsock] worker: deleting {len(batch)} messages failed: {exc}", file=sys.stderr)
        return deleted

    def _extend(self) -> None:
        """Keep the messages of running tries invisible (``visibility_extend_every``)."""
        now = self.clock()
        due: dict[str, list[Held]] = defaultdict(list)
        for copies in self.held.values():
            for held in copies:
                if now - held.extended >= self.extend_every:
                    due[held.queue_url].append(held)
        for url, items in due.items():
            for start in range(0, len(items), 10):
                batch = items[start:start + 10]
                entries = [{"Id": str(i), "ReceiptHandle": h.receipt, "VisibilityTimeout": self.visibility}
                           for i, h in enumerate(batch)]
                try:
                    self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
                except Exception as exc:  # noqa: BLE001 - the next step tries again
                    print(f"[windsock] worker: extending visibility failed: {exc}", file=sys.stderr)
                    continue
                for held in batch:
                    held.extended = now

    def _receive(self, count: int) -> int:
        """One (long) poll of the next queue; hand what came to the fork server."""
        url = self.queue_urls[self._next_queue % len(self.queue_urls)]
        self._next_queue += 1
        wait = self.idle_wait if not self.held and len(self.queue_urls) == 1 else 1
        try:
            reply = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
                                             VisibilityTimeout=self.visibility)
        except Exception as exc:  # noqa: BLE001 - SQS unreachable: wait and poll again
            print(f"[windsock] worker: receiving from {url} failed: {exc}", file=sys.stderr)
            time.sleep(min(5.0, wait or 1))
            return 0
        messages = reply.get("Messages", [])
        for message in messages:
            self._take(url, message)
        return len(messages)

    def _take(self, url: str, message: dict[str, Any]) -> None:
        if self.stopping:  # received while a stop came: give it straight back to another worker
            self._release(url, message["ReceiptHandle"])
            return
        try:
            body = decode(message["Body"])
        except ValueError as exc:  # left alone: after max receives it moves to the dead-letter queue
            print(f"[windsock] worker: message {message.get('MessageId')} is not a Windsock message: {exc}",
                  file=sys.stderr)
            return
        if isinstance(body, CallbackWork):  # at most once: deleted as soon as a child runs it
            self.executor.queue_callback(body)
            self._delete(url, [message["ReceiptHandle"]])
        elif isinstance(body, TaskWork):
            self.held[(body.ti_id, body.try_number)].append(Held(url, message["ReceiptHandle"], body, self.clock()))
            self.logs.follow(body)
            self.executor.queue(body)

    def _release(self, url: str, receipt: str) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except Exception as exc:  # noqa: BLE001 - it becomes visible again after its timeout anyway
            print(f"[windsock] worker: giving a message back failed: {exc}", file=sys.stderr)

    def _protect(self, busy: bool) -> None:
        """Hold ECS scale-in protection while tries run (renewed every 30 min); release it when idle."""
        if self.agent is None:
            return
        now = self.clock()
        wanted = busy and (self.protected_at is None or now - self.protected_at >= PROTECTION_RENEW)
        if not (wanted or (not busy and self.protected_at is not None)):
            return
        try:
            task_protection.set_protection(self.agent, enabled=busy, expires_minutes=PROTECTION_MINUTES)
        except task_protection.TaskProtectionError as exc:
            print(f"[windsock] worker: {exc}", file=sys.stderr)
            return
        self.protected_at = now if busy else None


def queue_urls(settings: Settings, names: list[str]) -> list[str]:
    """The SQS queues of ``-q`` Airflow queue names (the task queue when none are named)."""
    if not names:
        return [task_queue_url(settings)]
    mapping = queue_map(settings)
    default = str(settings.get("sqs", "task_queue_url") or "")
    urls = []
    for name in names:
        url = mapping.get(name) or (default if name == "default" else None)
        if url is None:
            from runtime.errors import UserError

            raise UserError(f"queue {name!r} is not in [sqs] queues (known: {', '.join(sorted(mapping)) or 'none'})")
        urls.append(url)
    return urls
