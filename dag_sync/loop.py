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


class BackgroundPart:
    """Runs a slow part (a pip install) in its own daemon thread; requests during a run coalesce."""

    def __init__(self, name: str, work: Callable[[], object]) -> None:
        self.name = name
        self.work = work
        self._lock = threading.Lock()
        self._pending = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Run soon; if a run is in progress, run once more after it (the input may have changed)."""
        with self._lock:
            self._pending = True
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._drain, name=f"dag-sync-{self.name}", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        """Run the work until no request is pending."""
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            self.work()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the current run (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


class SyncLoop:
    """``run_once`` does one step: a due reconcile, or one poll of the queue and its sync.

    requirements.txt installs run beside the loop, so a long pip run never delays DAG files.
    """

    def __init__(self, syncer: Syncer, source: QueueSource | None,
                 clock: Callable[[], float] = time.monotonic, reconcile_first: bool = False) -> None:
        self.syncer = syncer
        self.source = source
        self.clock = clock
        self.stopped = threading.Event()
        self.requirements = BackgroundPart("requirements", self._sync_requirements)
        self.next_reconcile = clock() + (0.0 if reconcile_first else syncer.cfg.reconcile_seconds)

    def run_once(self) -> set[str]:
        """One step; returns the parts it synced (empty when nothing happened)."""
        cfg = self.syncer.cfg
        if self.clock() >= self.next_reconcile:
            self.next_reconcile = self.clock() + cfg.reconcile_seconds
            if self.source is not None:
                self.source.on_reconcile()
            self._sync(set(PARTS))
            return set(PARTS)
        wait = max(0.0, min(cfg.poll_seconds, self.next_reconcile - self.clock()))
        if self.source is None:
            self.stopped.wait(wait)
            return set()
        parts = self.source.receive(wait)
        if parts:
            parts |= self._debounce()
            self._sync(parts)
        return parts

    def _sync(self, parts: set[str]) -> None:
        """DAGs and plugins now, in this thread; requirements in the background part."""
        for line in self.syncer.sync(parts - {"requirements"}):
            if ": unchanged" not in line:
                log.info("%s", line)
        if "requirements" in parts:
            self.requirements.request()

    def _sync_requirements(self) -> None:
        """The background requirements step; failures are logged and recorded."""
        try:
            for line in self.syncer.sync({"requirements"}):
                if ": unchanged" not in line:
                    log.info("%s", line)
        except Exception as exc:  # noqa: BLE001 - reported like a failed step, retried at reconcile
            log.error("dag_sync requirements step failed: %s", exc)
            update_status(self.syncer.cfg.home, "loop", {"state": "failed", "error": str(exc)})

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
        """Log and record a failed step, then back off."""
        log.error("dag_sync step failed: %s", exc)
        update_status(self.syncer.cfg.home, "loop", {"state": "failed", "error": str(exc)})
        self.stopped.wait(_BACKOFF_SECONDS)

    def stop(self) -> None:
        """Ask ``run`` to return after the current step."""
        self.stopped.set()
