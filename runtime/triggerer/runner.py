"""The asyncio side of the triggerer: one event loop on a thread of its own runs every trigger.

Each trigger's ``run()`` is awaited until its first event; the event (or the failure) goes to a
thread-safe queue that the triggerer's main thread reads. Cancelling a trigger awaits its
``cleanup()``. Nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fired:
    """What a trigger came to: an event, or a failure (error text and traceback lines)."""

    trigger_id: int
    event: Any = None
    error: str | None = None
    traceback: list[str] = field(default_factory=list)


class TriggerRunner:
    """Runs triggers concurrently on an asyncio loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="windsock-triggers", daemon=True)
        self.events: queue.Queue[Fired] = queue.Queue()
        self.running: dict[int, Future[None]] = {}

    def start(self) -> None:
        """Start the loop's thread."""
        self.thread.start()

    def add(self, trigger_id: int, trigger: Any) -> None:
        """Run ``trigger`` until its first event."""
        self.running[trigger_id] = asyncio.run_coroutine_threadsafe(self._run(trigger_id, trigger), self.loop)

    def cancel(self, trigger_id: int) -> None:
        """Stop a trigger (its try no longer waits on it)."""
        future = self.running.pop(trigger_id, None)
        if future is not None:
            future.cancel()

    def forget_done(self) -> None:
        """Drop the finished ones from ``running``."""
        for trigger_id in [t for t, f in self.running.items() if f.done()]:
            del self.running[trigger_id]

    async def _run(self, trigger_id: int, trigger: Any) -> None:
        try:
            async for event in trigger.run():
                self.events.put(Fired(trigger_id, event=event))
                return
            self.events.put(Fired(trigger_id, error="the trigger ended without an event"))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken trigger fails its tries, not the triggerer
            self.events.put(Fired(trigger_id, error=f"{type(exc).__name__}: {exc}",
                                  traceback=traceback.format_exception(exc)))
        finally:
            cleanup = getattr(trigger, "cleanup", None)
            if cleanup is not None:
                try:
                    await cleanup()
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    traceback.print_exc()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every trigger and stop the loop."""
        for trigger_id in list(self.running):
            self.cancel(trigger_id)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)


@dataclass(frozen=True)
class Resumption:
    """How a deferred try goes on: resume at ``method`` with ``kwargs``, or end in ``end_state``."""

    method: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    end_state: str | None = None


def run_inline(deferral: dict[str, Any]) -> Resumption:
    """Run a deferral's trigger to its first event in this process (``dags test``, as Airflow's does).

    The same outcomes as under a triggerer: the event joins the method's keyword arguments; a
    task-ending event ends the try (its XComs in ``kwargs``); a trigger that raises, or a passed
    deadline, resumes at ``__fail__``.
    """
    from runtime.sdk import timezone
    from runtime.sdk.triggers.base import BaseTaskEndEvent, build
    from runtime.serde import encode
    from runtime.store.triggers import TIMEOUT

    async def first_event() -> Any:
        trigger = build(deferral["classpath"], dict(deferral.get("kwargs") or {}))
        try:
            async for event in trigger.run():
                return event
        finally:
            await trigger.cleanup()
        raise RuntimeError("the trigger ended without an event")

    deadline = deferral.get("timeout")
    wait = max(0.0, (timezone.parse(deadline) - timezone.utcnow()).total_seconds()) if deadline else None
    try:
        event = asyncio.run(asyncio.wait_for(first_event(), wait))
    except TimeoutError:
        return Resumption("__fail__", {"error": TIMEOUT, "traceback": []})
    except Exception as exc:  # noqa: BLE001 - a broken trigger fails its try, as under a triggerer
        return Resumption("__fail__", {"error": f"{type(exc).__name__}: {exc}",
                                       "traceback": traceback.format_exception(exc)})
    if isinstance(event, BaseTaskEndEvent):
        return Resumption(kwargs=dict(event.xcoms or {}), end_state=event.task_instance_state)
    try:  # through the stored form, as under a triggerer: the method sees what a deployment would
        payload = encode(getattr(event, "payload", event))
    except TypeError as exc:
        return Resumption("__fail__", {"error": f"its event cannot be stored: {exc}", "traceback": []})
    return Resumption(str(deferral.get("method") or "__trigger_exit__"),
                      {**dict(deferral.get("method_kwargs") or {}), "event": payload})
