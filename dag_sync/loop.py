"""The continuous sync: event-driven steps plus a slow full reconcile, one step at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dag_sync.events import QueueSource
from dag_sync.status import update_status
from dag_sync.syncer import PARTS, Syncer

log = logging.getLogger("dag_sync.loop")
_BACKOFF_SECONDS = 5.0


class SyncLoop:
    """``run_once`` does one step: a due reconcile, or one poll of the queue and its sync."""

    def __init__(self, syncer: Syncer, source: QueueSource | None,
                 clock: Callable[[], float] = time.monotonic, reconcile_first: bool = False) -> None:
        self.syncer = syncer
        self.source = source
        self.clock = clock
        self.stopped = threading.Event()
        self.next_reconcile = clock() + (0.0 if reconcile_first else syncer.cfg.reconcile_seconds)

    def run_once(self) -> set[str]:
        """One step; returns the parts it synced (empty when nothing happened)."""
        cfg = self.syncer.cfg
        if self.clock() >= self.next_reconcile:
            self.next_reconcile = self.clock() + cfg.reconcile_seconds
            if self.source is not None:
                self.source.on_reconcile()
            self.syncer.sync(PARTS)
            return set(PARTS)
        wait = max(0.0, min(cfg.poll_seconds, self.next_reconcile - self.clock()))
        if self.source is None:
            self.stopped.wait(wait)
            return set()
        parts = self.source.receive(wait)
        if parts:
            parts |= self._debounce()
            self.syncer.sync(parts)
        return parts

    def _debounce(self) -> set[str]:
        """Collect events of a burst: wait until the queue is quiet for the debounce interval."""
        cfg = self.syncer.cfg
        deadline = self.clock() + cfg.max_debounce_seconds
        parts: set[str] = set()
        while self.clock() < deadline and not self.stopped.wait(cfg.debounce_seconds):
            more = self.source.receive(0) if self.source else set()
            if not more:
                break
            parts |= more
        return parts

    def run(self) -> None:
        """Step until ``stop``; failures are logged and recorded, then retried after a pause."""
        failing = False
        while not self.stopped.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive S3/SQS outages
                failing = True
                self._failed(exc)
                continue
            if failing:
                failing = False
                update_status(self.syncer.cfg.home, "loop", {"state": "ok", "error": None})

    def _failed(self, exc: Exception) -> None:
        log.error("dag_sync step failed: %s", exc)
        update_status(self.syncer.cfg.home, "loop", {"state": "failed", "error": str(exc)})
        self.stopped.wait(_BACKOFF_SECONDS)

    def stop(self) -> None:
        """Ask ``run`` to return after the current step."""
        self.stopped.set()
