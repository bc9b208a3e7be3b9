"""The triggerer process (``windsock triggerer``): claims triggers, runs them, applies their events.

One step (:meth:`Triggerer.run_once`): stamp its job's heartbeat; take unassigned triggers and
those of dead triggerers (up to ``[triggerer] capacity``); start the new ones, cancel the ones no
try waits on any more; then apply what fired — resume the tries (``resume``), end them (a
task-ending event) or resume them to fail (a trigger that raised). Several triggerers may run at
once: a trigger belongs to one live triggerer, and an event applies once (compare-and-set).
Trigger classes are user code: this process imports them (the ``airflow.*`` import hook on, the
DAG folder and plugins on ``sys.path``), never the scheduler.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, triggers, wakeup
from runtime.store.session import transaction
from runtime.store.states import JobType
from runtime.triggerer.runner import Fired, TriggerRunner


class Triggerer:
    """Runs the triggers of deferred tries."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], *, capacity: int | None = None) -> None:
        self.settings = settings
        self.factory = session_factory
        self.capacity = capacity or int(settings.get("triggerer", "capacity"))
        self.poll = float(settings.get("triggerer", "poll_interval"))
        self.beat_every = float(settings.get("scheduler", "job_heartbeat_sec"))
        self.dead_after = float(settings.get("scheduler", "job_heartbeat_threshold"))
        self.runner = TriggerRunner()
        self.job_id: int | None = None
        self.failed_builds: set[int] = set()
        self._next_beat = 0.0

    def start(self) -> None:
        """A job row for this process; the loop; what triggers read (the store) and import (DAG folder)."""
        from runtime.compat import install_import_hook
        from runtime.sdk.triggers import services
        from runtime.worker.services import DbServices

        install_import_hook()
        folder = str(self.settings.get("core", "dags_folder"))
        if folder not in sys.path:
            sys.path.insert(0, folder)
        services.use(DbServices(self.settings, self.factory))
        with transaction(self.factory) as session:
            self.job_id = jobs.start(session, JobType.TRIGGERER, timezone.utcnow())
        self.runner.start()

    def stop(self) -> None:
        """Cancel every trigger (another triggerer takes them over) and end the job."""
        self.runner.stop()
        if self.job_id is not None:
            with transaction(self.factory) as session:
                jobs.end(session, self.job_id, timezone.utcnow())
                session.execute(_release(self.job_id))

    def run_once(self) -> int:
        """One step; the number of trigger events applied."""
        self._beat()
        with transaction(self.factory) as session:
            dead = jobs.dead_ids(session, {h for h in triggers.holders(session) if h not in (None, self.job_id)},
                                 timezone.utcnow(), self.dead_after)
            triggers.claim(session, self.job_id or 0, dead, self.capacity)
            wanted = triggers.assigned(session, self.job_id or 0)
            gone = triggers.unused(session, wanted)  # their try was cleared, marked or deleted: drop them
            triggers.delete(session, gone)
            wanted = {k: v for k, v in wanted.items() if k not in gone}
        self._sync(wanted)
        return self._apply(self._drain())

    def _sync(self, wanted: dict[int, tuple[str, dict[str, Any]]]) -> None:
        from runtime.sdk.triggers.base import build

        self.runner.forget_done()
        for trigger_id in [t for t in self.runner.running if t not in wanted]:
            self.runner.cancel(trigger_id)
        for trigger_id, (classpath, kwargs) in wanted.items():
            if trigger_id in self.runner.running or trigger_id in self.failed_builds:
                continue
            try:
                trigger = build(classpath, kwargs)
            except Exception as exc:  # noqa: BLE001 - a trigger that cannot be built fails its tries
                self.failed_builds.add(trigger_id)
                self.runner.events.put(Fired(trigger_id, error=f"cannot build {classpath}: {type(exc).__name__}: {exc}"))
                continue
            trigger.trigger_id = trigger_id
            self.runner.add(trigger_id, trigger)

    def _drain(self, wait: float = 0.0) -> list[Fired]:
        fired: list[Fired] = []
        try:
            fired.append(self.runner.events.get(timeout=wait) if wait > 0 else self.runner.events.get_nowait())
            while True:
                fired.append(self.runner.events.get_nowait())
        except queue.Empty:
            return fired

    def _apply(self, fired: list[Fired]) -> int:
        """Resume, end or fail the tries of what fired (one transaction)."""
        from runtime.sdk.triggers.base import BaseTaskEndEvent
        from runtime.serde import encode

        if not fired:
            return 0
        now = timezone.utcnow()
        with transaction(self.factory) as session:
            for item in fired:
                self.failed_builds.discard(item.trigger_id)
                if item.error is not None:
                    triggers.failed(session, item.trigger_id, item.error, item.traceback, now)
                elif isinstance(item.event, BaseTaskEndEvent):
                    triggers.ended(session, item.trigger_id, item.event.task_instance_state, item.event.xcoms, now)
                else:
                    try:
                        payload = encode(getattr(item.event, "payload", item.event))
                    except TypeError as exc:
                        triggers.failed(session, item.trigger_id, f"its event cannot be stored: {exc}", [], now)
                        continue
                    triggers.fired(session, item.trigger_id, payload, now)
            wakeup.notify(session)  # the scheduler queues the resumed tries now, not at its next poll
        return len(fired)

    def _beat(self) -> None:
        if time.monotonic() < self._next_beat or self.job_id is None:
            return
        self._next_beat = time.monotonic() + self.beat_every
        with transaction(self.factory) as session:
            if not jobs.beat(session, self.job_id, timezone.utcnow()):  # declared dead: start afresh
                self.job_id = jobs.start(session, JobType.TRIGGERER, timezone.utcnow())

    def run_forever(self, stop: threading.Event, *, idle_exit: float = 0.0) -> None:
        """Step until ``stop``; between steps wait for an event (or ``poll`` seconds, to see new triggers).

        ``idle_exit`` > 0: return once no trigger has been held for that long (the scheduler that
        started this process starts another when a try defers).
        """
        self.start()
        busy_at = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception as exc:  # noqa: BLE001 - a database hiccup: the next step tries again
                    print(f"[windsock] triggerer: step failed, retrying: {exc}", file=sys.stderr, flush=True)
                    stop.wait(1.0)
                    continue
                if self.runner.running:
                    busy_at = time.monotonic()
                elif idle_exit > 0 and time.monotonic() - busy_at > idle_exit:
                    return
                self._apply(self._drain(wait=self.poll))
        finally:
            self.stop()


def _release(job_id: int) -> Any:
    """Give this triggerer's triggers back (a clean stop: the next triggerer takes them at once)."""
    import sqlalchemy as sa

    from runtime.store.models import Trigger

    return sa.update(Trigger).where(Trigger.triggerer_id == job_id).values(triggerer_id=None)
