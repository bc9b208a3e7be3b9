"""The executor interface: the scheduler queues tries and callbacks, and collects how tries ended."""

from __future__ import annotations

import select
import time
from collections.abc import Sequence

from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork


class BaseExecutor:
    """Runs claimed tries somewhere; subclasses say where. Hooks do nothing by default."""

    # Whether every end of a try it runs wakes the scheduler (a socket event, or an ``ENDS`` wake-up
    # from the store, then :meth:`poke`): then an idle scheduler sleeps until something is due
    # (:meth:`next_due` included). Otherwise the scheduler keeps polling every ``loop_interval``.
    wakes_on_events = False
    # Whether start() starts a thread in the scheduler's process (then nothing may be forked from it
    # afterwards: ``procs.can_fork``; its DAG processor is forked once, before, and stays resident).
    runs_threads = False

    def __init__(self, parallelism: int = 32) -> None:
        self.parallelism = parallelism
        self.running: dict[int, TaskWork] = {}  # ti_id -> work sent and not yet reported
        self.scheduler_job_id: int | None = None  # set by the scheduler that owns this executor
        self._copies: dict[tuple[int, int], int] = {}  # (ti, try) -> messages sent (a requeue sends again)

    def start(self) -> None:
        """Get ready to run tries (start worker processes, open queues)."""

    def queue(self, work: TaskWork) -> None:
        """Send one try; it runs only if its claim wins."""
        raise NotImplementedError

    def queue_callback(self, callback: CallbackWork) -> None:
        """Run a DAG-level callback in a child process (never in the scheduler)."""
        raise NotImplementedError

    def sync(self) -> list[TaskEvent]:
        """Events of tries whose end was recorded (or that were lost) since the last call."""
        raise NotImplementedError

    def heartbeat(self) -> None:
        """Periodic housekeeping (the local executor stamps heartbeats in its own process)."""

    def wait(self, timeout: float, fds: Sequence[int] = ()) -> bool:
        """Block until an event may be ready, one of ``fds`` is readable, or ``timeout`` seconds passed;
        whether something became readable."""
        return wait_readable(fds, timeout)

    def terminate(self, ti_id: int) -> None:
        """Kill the try of ``ti_id`` if it runs here."""

    def use_wakeups(self, available: bool) -> None:
        """The scheduler says whether the store's wake-up channel reaches it (:mod:`runtime.store.wakeup`)."""

    def poke(self) -> None:
        """Try ends were recorded in the store outside this process (an ``ENDS`` wake-up): look at the next sync."""

    def next_due(self) -> float | None:
        """Seconds until this executor needs a scheduler step of its own (None: its events wake the scheduler)."""
        return None

    def end(self) -> None:
        """Stop, waiting for nothing: running tries are killed."""

    @property
    def open_slots(self) -> int:
        """How many more tries may be queued now."""
        return max(0, self.parallelism - len(self.running))

    def track(self, work: TaskWork) -> None:
        """Count a sent try as running until its event comes back."""
        key = (work.ti_id, work.try_number)
        self._copies[key] = self._copies.get(key, 0) + 1
        self.running[work.ti_id] = work

    def forget(self, events: list[TaskEvent]) -> list[TaskEvent]:
        """Drop reported tries from ``running`` (once every copy sent has answered); returns ``events``."""
        for event in events:
            key = (event.ti_id, event.try_number)
            left = self._copies.get(key, 1) - 1
            self._copies[key] = left
            work = self.running.get(event.ti_id)
            if left <= 0:
                self._copies.pop(key, None)
                if work is not None and work.try_number == event.try_number:
                    del self.running[event.ti_id]
        return events


def wait_readable(fds: Sequence[int], timeout: float) -> bool:
    """select() on the valid ``fds`` (sleep when there is none) for at most ``timeout`` seconds; whether one is readable."""
    live = [fd for fd in fds if fd >= 0]
    if live:
        return bool(select.select(live, [], [], max(0.0, timeout))[0])
    time.sleep(max(0.0, timeout))
    return False
