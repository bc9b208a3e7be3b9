"""The DAG processor of ``windsock scheduler`` and ``standalone``: a child forked per scan, only when
the DAG folder changed.

A resident processor costs its process while nothing changes (its own copy of the pages it runs,
~17 MiB, and a wake-up every half second to look at the folder's symlink). Here the scheduler
looks instead, at most once per ``scheduler.dag_dir_list_interval`` (and at every step for the
folder's real path, so a dag_sync flip is seen as soon as the scheduler wakes): it stats the
folder's files (:func:`files.folder_stamp`, no file is read) and forks a scan only when that
stamp moved since the last scan that finished. The scan child is the processor's one step
(:meth:`DagProcessor.run_once`): it parses the changed files in children of its own, stores the
result in one transaction and wakes the scheduler. A scan that fails or is killed leaves the
stamp unaccepted, so the next look scans again; a file that hangs at import holds up only the
scan child, never a scheduling step.

Forking needs a process with no other thread (:func:`procs.can_fork`); a scheduler that runs
threads (a metrics publisher, the SQS executor's dead-letter watcher) forks a resident DAG
processor before they start (``start_resident``), as a fresh ``windsock dag-processor`` if it
finds threads running already.

The health page's ``dag_processor`` row stays: this object keeps the job row, beaten with the
scheduler's own heartbeat (the component that watches the folder lives in the scheduler).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from runtime import procs
from runtime.processor.files import folder_stamp
from runtime.processor.processor import DagProcessor
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs
from runtime.store.session import transaction
from runtime.store.states import JobType

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]


class ScansOnChange:
    """``needs_scan``/``run_once``/``interval`` as :class:`DagProcessor` has them (the scheduler's
    ``processor``), each scan in a forked child."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], *,
                 include_examples: bool | None, scan_main: Callable[[str | None], int],
                 resident: Callable[[], subprocess.Popen[bytes] | procs.ForkedChild]) -> None:
        """``scan_main(last_realpath)`` is the body of a scan child; ``resident()`` starts a resident
        processor (for a process that runs, or will run, threads)."""
        self.session_factory = session_factory
        self._folders = DagProcessor(settings, session_factory, include_examples=include_examples).folders()
        self.dags_folder = self._folders[0]
        self.interval = float(settings.get("scheduler", "dag_dir_list_interval"))
        self._scan_main, self._start_resident = scan_main, resident
        self.child: procs.ForkedChild | None = None
        self.resident: subprocess.Popen[bytes] | procs.ForkedChild | None = None
        self.scans = 0  # scan children forked (a quiet folder forks none after the first)
        self._accepted: Stamp | None = None  # the stamp of the last scan that finished well
        self._pending: Stamp | None = None  # the stamp the running scan started from
        self._realpath: str | None = None  # the folder's real path when the last good scan started
        self._looked: str | None = None  # the folder's real path at the last look
        self._next_look = 0.0
        self.job_id: int | None = None

    # --- the scheduler's processor hooks ---------------------------------------------------------

    def needs_scan(self, now: dt.datetime) -> bool:
        """True when a scan should start now: none runs, and the folder's stamp differs from the
        last good scan's (looked at once per interval, or at once if the folder's real path moved)."""
        if self.resident is not None or not self._reaped():
            return False
        mono, realpath = time.monotonic(), os.path.realpath(self.dags_folder)
        if mono < self._next_look and realpath == self._looked:
            return False
        self._next_look = mono + self.interval
        stamp = folder_stamp(self._folders)
        self._looked = realpath
        if stamp == self._accepted:
            return False
        self._pending = stamp
        return True

    def run_once(self, now: dt.datetime) -> None:
        """Start the scan (it runs on while the scheduler goes on)."""
        if self.job_id is None:
            with transaction(self.session_factory) as session:
                self.job_id = jobs.start(session, JobType.DAG_PROCESSOR, now)
        if not procs.can_fork():
            log.info("DAG processor: this scheduler runs threads; starting a resident DAG processor")
            self.start_resident()
            return
        last = self._realpath
        self.child = procs.fork_child(lambda: self._scan_main(last), name="dag-processor")
        self.scans += 1

    def start_resident(self) -> None:
        """Hand the folder to a resident DAG processor (a scheduler that will run threads starts it
        while it still may fork); this object then only stops it."""
        self.resident = self._start_resident()
        self._end_job()  # the resident processor keeps a job row of its own

    def scan_and_wait(self, now: dt.datetime) -> None:
        """One scan now, waited for (a bounded scheduler run parses before its first step)."""
        if self.needs_scan(now):
            self.run_once(now)
        if self.child is not None:
            self.child.wait()
            self._reaped()

    def beat(self, session: Session, now: dt.datetime) -> None:
        """Stamp the processor's job row in the scheduler's heartbeat transaction (a row declared dead,
        when the scheduler stalled, is replaced by a new one)."""
        if self.resident is not None:
            return
        if self.job_id is None or not jobs.beat(session, self.job_id, now):
            self.job_id = jobs.start(session, JobType.DAG_PROCESSOR, now)

    def stop(self) -> None:
        """Stop a running scan (its transaction is not committed: the next scheduler scans again)
        or the resident processor; end the job row."""
        for child in (self.child, self.resident):
            if child is not None:
                procs.stop_child(child)
        self.child = None
        self._end_job()

    # --- helpers ----------------------------------------------------------------------------------

    def _reaped(self) -> bool:
        """True when no scan runs (a finished one is collected: its stamp accepted if it went well)."""
        if self.child is None:
            return True
        code = self.child.poll()
        if code is None:
            return False
        if code == 0:
            self._accepted, self._realpath = self._pending, self._looked  # no look while a scan runs
        else:
            log.warning("DAG processor: the scan child exited with %s; the next look scans again", code)
        self.child = None
        return True

    def _end_job(self) -> None:
        if self.job_id is None:
            return
        try:
            with transaction(self.session_factory) as session:
                jobs.end(session, self.job_id, timezone.utcnow())
        except Exception:  # noqa: BLE001 - it will be found dead instead
            log.warning("DAG processor: could not end its job row", exc_info=True)
        self.job_id = None

