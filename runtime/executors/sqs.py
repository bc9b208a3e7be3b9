"""SqsExecutor: one SQS message per try, sent in batches of 10; workers run them.

The message is only a hint: a worker runs the try only if its claim (queued -> running for
that try number) wins in the database, and it records the try's end there. This executor
learns of ends from the database too (the tries it sent that are no longer queued or running
under that try number), never from SQS. A task's Airflow ``queue`` may map to an SQS queue of
its own (``[sqs] queues``). Callbacks go to the task queue as messages, so they run in a
worker's child process, never in the scheduler.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime import aws
from runtime.errors import ConfigError
from runtime.executors.base import BaseExecutor, wait_readable
from runtime.executors.deadletter import DeadLetterWatcher
from runtime.executors.messages import RECORDED, CallbackWork, TaskEvent, TaskWork
from runtime.settings import Settings
from runtime.store.models import TaskInstance
from runtime.store.session import transaction
from runtime.store.states import TI

MAX_BODY = 250_000  # SQS allows 256 KiB per message
BATCH = 10  # SQS allows 10 messages per batch
_IN_FLIGHT = (TI.QUEUED.value, TI.RUNNING.value, TI.RESTARTING.value)


def queue_map(settings: Settings) -> dict[str, str]:
    """Airflow queue name -> SQS queue URL, from ``[sqs] queues``."""
    text = str(settings.get("sqs", "queues") or "{}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"setting [sqs] queues: not a JSON object: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError('setting [sqs] queues: must map queue names to queue URLs, e.g. {"gpu": "https://..."}')
    return value


def task_queue_url(settings: Settings) -> str:
    """The default task queue URL; ConfigError naming the setting when there is none."""
    url = str(settings.get("sqs", "task_queue_url") or "")
    if not url:
        raise ConfigError("SqsExecutor needs a task queue: set [sqs] task_queue_url "
                          "(WINDSOCK__SQS__TASK_QUEUE_URL) or WINDSOCK_TASK_QUEUE_URL")
    return url


def slim(work: TaskWork) -> str:
    """The message body of ``work``; a run conf (or a resumed method's arguments) too large for SQS is left for
    the worker to read from the DB (a worker always takes the method it resumes at, and its arguments, from
    the task instance)."""
    body = work.encode().decode()
    if len(body.encode()) <= MAX_BODY:
        return body
    run = {**work.run, "conf": {}, "conf_in_db": True}
    return json.dumps({**json.loads(body), "run": run, "next_kwargs": None})


class SqsExecutor(BaseExecutor):
    """Sends tries to SQS; follows their ends in the database."""

    wakes_on_events = True  # an ENDS wake-up, or its own next poll (``next_due``)
    runs_threads = True  # the dead-letter watcher

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], parallelism: int | None = None) -> None:
        super().__init__(parallelism or int(settings.get("core", "parallelism")))
        self.settings = settings
        self.session_factory = session_factory
        self.default_url = task_queue_url(settings)
        self.urls = queue_map(settings)
        # Workers wake the scheduler when they record try ends (``ENDS`` over the store's wake-up
        # channel); the database is then read at once, and at least every ``scheduler.idle_poll``
        # as a backstop. Without a wake-up channel (MySQL): every ``scheduler.loop_interval``.
        self.loop_interval = float(settings.get("scheduler", "loop_interval"))
        self.backstop = max(self.loop_interval, float(settings.get("scheduler", "idle_poll")))
        self.poll_every = self.loop_interval
        self._poked = False
        self.sqs: Any = None
        self.outbox: dict[str, list[str]] = defaultdict(list)
        self._next_poll = 0.0
        self._send_errors = 0
        self.dead_letters: DeadLetterWatcher | None = None

    def start(self) -> None:
        """Make the SQS client; start watching the dead-letter queue (if there is one)."""
        if self.sqs is None:
            self.sqs = aws.client("sqs")
        dlq = str(self.settings.get("sqs", "dead_letter_queue_url") or "")
        if dlq and self.dead_letters is None:
            self.dead_letters = DeadLetterWatcher(dlq, self.session_factory,
                                                  wait=int(self.settings.get("sqs", "wait_time_seconds")))
            self.dead_letters.start()

    def url_for(self, queue: str | None) -> str:
        """The SQS queue of a task's Airflow queue (the task queue unless mapped)."""
        return self.urls.get(queue or "", self.default_url)

    def queue(self, work: TaskWork) -> None:
        """Buffer one try's message (sent in batches at the end of the scheduler's step)."""
        self.track(work)
        self.outbox[self.url_for(work.queue)].append(slim(work))

    def queue_callback(self, callback: CallbackWork) -> None:
        """A callback runs in a worker's child: a message on the task queue."""
        self.outbox[self.default_url].append(callback.encode().decode())

    def heartbeat(self) -> None:
        """Send what is buffered."""
        self.flush()

    def flush(self) -> None:
        """Send the buffered messages, 10 per request; what fails stays buffered for the next step."""
        if not any(self.outbox.values()):
            return
        self.start()
        for url, bodies in list(self.outbox.items()):
            left: list[str] = []
            for start in range(0, len(bodies), BATCH):
                left += self._send(url, bodies[start:start + BATCH])
            self.outbox[url] = left

    def _send(self, url: str, bodies: list[str]) -> list[str]:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        try:
            reply = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - SQS unreachable: keep them, the tries stay queued
            self._send_errors += 1
            if self._send_errors in (1, 10) or self._send_errors % 100 == 0:
                print(f"[windsock] scheduler: sending {len(bodies)} task messages failed: {exc}", file=sys.stderr)
            return bodies
        self._send_errors = 0
        return [bodies[int(f["Id"])] for f in reply.get("Failed", [])]

    def use_wakeups(self, available: bool) -> None:
        """With wake-ups, read try ends when workers say so (and on the backstop); else poll each loop."""
        self.poll_every = self.backstop if available else self.loop_interval

    def poke(self) -> None:
        """A worker recorded try ends: read them at the next sync."""
        self._poked = True

    def next_due(self) -> float | None:
        """Seconds until the next read of the tries in flight (None when none is)."""
        return max(0.0, self._next_poll - time.monotonic()) if self.running else None

    def sync(self) -> list[TaskEvent]:
        """Send what is buffered; report the tries sent whose end the workers recorded."""
        self.flush()
        if not self.running or (time.monotonic() < self._next_poll and not self._poked):
            return []
        self._poked = False
        self._next_poll = time.monotonic() + self.poll_every
        return self.forget(self._ended())

    def _ended(self) -> list[TaskEvent]:
        ids = list(self.running)
        events: list[TaskEvent] = []
        seen: set[int] = set()
        with transaction(self.session_factory) as session:
            for start in range(0, len(ids), 500):
                stmt = sa.select(TaskInstance.id, TaskInstance.state, TaskInstance.try_number).where(
                    TaskInstance.id.in_(ids[start:start + 500]))
                for ti_id, state, try_number in session.execute(stmt):
                    seen.add(ti_id)
                    work = self.running[ti_id]
                    if state in _IN_FLIGHT and try_number == work.try_number:
                        continue
                    events.append(TaskEvent(ti_id=ti_id, try_number=work.try_number, outcome=RECORDED, state=state,
                                            dag_id=work.dag_id, run_id=work.run_id, task_id=work.task_id,
                                            map_index=work.map_index))
        events += [TaskEvent(ti_id=i, try_number=self.running[i].try_number, outcome=RECORDED, state=None,
                             dag_id=self.running[i].dag_id, run_id=self.running[i].run_id,
                             task_id=self.running[i].task_id) for i in set(ids) - seen]  # deleted meanwhile
        return events

    def forget(self, events: list[TaskEvent]) -> list[TaskEvent]:
        """A try is followed once: however many messages were sent for it, its end is reported once."""
        for event in events:
            self._copies.pop((event.ti_id, event.try_number), None)
            self.running.pop(event.ti_id, None)
        return events

    def wait(self, timeout: float, fds: Sequence[int] = ()) -> bool:
        """Sleep until the next read of the tries in flight (or ``timeout`` when none is), or one of ``fds`` is readable."""
        due = self.next_due()
        return wait_readable(fds, timeout if due is None else min(timeout, due))

    def end(self) -> None:
        """Send what is left (the tries run on in the workers); stop watching the dead-letter queue."""
        self.flush()
        if self.dead_letters is not None:
            self.dead_letters.stop()
