"""The DAG processor: scan the folder, parse what changed in child processes, store the result.

``run_once(now)`` is one step (one transaction); ``run_forever`` only repeats it when
``needs_scan(now)`` says so. Nothing here imports user code: the children do.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.loader import EXAMPLES_FOLDER
from runtime.paths import safe_relative
from runtime.processor import persist
from runtime.processor.files import FileCheck, FileStamp, check_files, list_files
from runtime.processor.parse import ParseJob, ParseLimits, ParseOutcome, parse_in_children, warm_up
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, wakeup
from runtime.store.session import transaction
from runtime.store.states import JobType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessorStats:
    """What one scan did."""

    files_seen: int = 0
    parsed: int = 0
    unchanged: int = 0
    errors: int = 0
    dags_updated: int = 0
    dags_deactivated: int = 0
    duration: float = 0.0


class DagProcessor:
    """Keeps serialized DAGs, dag rows and import errors in step with the DAG folder."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        dags_folder: str | None = None,
        include_examples: bool | None = None,
        say: Callable[[str], None] | None = None,
        last_realpath: str | None = None,
    ) -> None:
        self.settings = settings
        self.say = say  # one line per file that fails to import (standalone's console)
        self.session_factory = session_factory
        self.dags_folder = os.path.abspath(dags_folder or str(settings.get("core", "dags_folder")))
        self.include_examples = (
            bool(settings.get("core", "load_examples")) if include_examples is None else include_examples
        )
        self.limits = ParseLimits.from_settings(settings)
        self.interval = float(settings.get("scheduler", "dag_dir_list_interval"))
        self.log_folder = os.path.join(str(settings.get("logging", "base_log_folder")), "dag_processor")
        self._stamps: dict[str, FileStamp] | None = None  # None until loaded from the store
        self._last_scan: dt.datetime | None = None
        self._last_realpath = last_realpath  # the folder's real path at the last scan (a change: a dag_sync flip)
        self._stale: set[str] = set()  # files only the store knows (dag rows, import errors)
        warm_up()

    # --- when to scan -------------------------------------------------------------------------

    def needs_scan(self, now: dt.datetime) -> bool:
        """True when the folder's symlink moved (a dag_sync publish) or the list interval elapsed."""
        if self._last_scan is None or os.path.realpath(self.dags_folder) != self._last_realpath:
            return True
        return (now - self._last_scan).total_seconds() >= self.interval

    # --- one scan -------------------------------------------------------------------------------

    def run_once(self, now: dt.datetime, force: bool = False) -> ProcessorStats:
        """Scan, parse changed files in children, store everything in one transaction."""
        started = time.monotonic()
        realpath = os.path.realpath(self.dags_folder)
        flipped = self._last_realpath is not None and realpath != self._last_realpath
        known = self._known_stamps()
        files = list_files(self.folders())
        gone = self._gone(known, set(files))
        # A failed file is parsed again when its stat moves, and also when the folder changed
        # around it (a sync, a removed file freeing a dag_id): it may import fine now.
        checks = check_files(files, known, force=force, retry_errors=flipped or bool(gone))
        gone |= set(files) - {c.fileloc for c in checks}  # vanished between listing and stat
        to_parse = [c for c in checks if c.parse]
        outcomes = list(parse_in_children((self._job(c) for c in to_parse), self.limits))
        for outcome in outcomes:
            if outcome.error is not None and self.say is not None:
                self.say(f"import error: {outcome.error}")
        counts = self._save(outcomes, checks, gone, timezone.to_utc(now))
        self._remember(outcomes, checks, gone)
        self._last_scan, self._last_realpath = now, realpath
        return ProcessorStats(
            files_seen=len(checks),
            parsed=len(outcomes),
            unchanged=len(checks) - len(outcomes),
            errors=sum(1 for o in outcomes if o.error is not None),
            dags_updated=counts.updated,
            dags_deactivated=counts.deactivated,
            duration=time.monotonic() - started,
        )

    def run_forever(
        self,
        stop_event: threading.Event,
        *,
        clock: Callable[[], dt.datetime] = timezone.utcnow,
        poll: float = 1.0,
        job: JobType | None = None,
    ) -> None:
        """Scan whenever ``needs_scan`` says so until ``stop_event`` is set (with a job row, beating, if ``job``)."""
        beat = _JobBeat(self.session_factory, job, float(self.settings.get("scheduler", "job_heartbeat_sec"))) \
            if job is not None else None
        try:
            self._loop(stop_event, clock, poll, beat)
        finally:
            if beat is not None:
                beat.end()

    def _loop(self, stop_event: threading.Event, clock: Callable[[], dt.datetime], poll: float,
              beat: _JobBeat | None) -> None:
        while not stop_event.is_set():
            if beat is not None:
                beat.maybe()
            now = clock()
            if self.needs_scan(now):
                try:
                    stats = self.run_once(now)
                except Exception:  # a database hiccup must not end the loop; the next scan retries
                    log.exception("DAG folder scan of %s failed", self.dags_folder)
                    self._last_scan = now
                else:
                    if stats.parsed or stats.dags_deactivated:
                        log.info("DAG processor: %s", stats)
            stop_event.wait(min(poll, self.interval))

    # --- helpers ------------------------------------------------------------------------------

    def folders(self) -> list[str]:
        """The folders a scan lists: the DAG folder, and the bundled examples if they are loaded."""
        return [self.dags_folder, EXAMPLES_FOLDER] if self.include_examples else [self.dags_folder]

    def _known_stamps(self) -> dict[str, FileStamp]:
        """The in-memory stamps, loaded from the ``dag_file`` table on the first scan."""
        if self._stamps is None:
            with transaction(self.session_factory) as session:
                self._stamps = persist.load_stamps(session)
                self._stale = persist.known_filelocs(session) - set(self._stamps)
        return self._stamps

    def _gone(self, known: dict[str, FileStamp], present: set[str]) -> set[str]:
        """Files the store or the cache knows that the folder no longer has."""
        return (set(known) | self._stale) - present

    def _job(self, check: FileCheck) -> ParseJob:
        """Parse ``check.fileloc``; its output goes to ``logs/dag_processor/<path in folder>.log``."""
        if check.fileloc.startswith(self.dags_folder + os.sep):
            rel = os.path.relpath(check.fileloc, self.dags_folder)
        else:
            rel = os.path.join("examples", os.path.basename(check.fileloc))
        return ParseJob(check.fileloc, log_path=safe_relative(self.log_folder, rel, ".log"))

    def _save(
        self, outcomes: list[ParseOutcome], checks: list[FileCheck], gone: set[str], now: dt.datetime
    ) -> persist.SaveCounts:
        """One transaction for the whole scan; nothing is opened when nothing changed."""
        touched = {
            c.fileloc: c.stamp
            for c in checks
            if not c.parse and self._stamps is not None and self._stamps.get(c.fileloc) != c.stamp
        }
        if not outcomes and not gone and not touched:
            return persist.SaveCounts()
        stamps = {c.fileloc: c.stamp for c in checks}
        try:
            return self._write(outcomes, stamps, touched, gone, now)
        except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
            # Another processor (a second scheduler) inserted the same rows first, or a deadlock
            # victim: once more, now that its rows are visible.
            log.info("DAG processor: retrying the save after %s", type(exc.orig).__name__)
            return self._write(outcomes, stamps, touched, gone, now)

    def _write(
        self,
        outcomes: list[ParseOutcome],
        stamps: dict[str, FileStamp],
        touched: dict[str, FileStamp],
        gone: set[str],
        now: dt.datetime,
    ) -> persist.SaveCounts:
        """The scan's one transaction."""
        paused = bool(self.settings.get("core", "dags_are_paused_at_creation"))
        with transaction(self.session_factory) as session:
            deactivated = persist.forget_files(session, gone)  # first: frees the dag_ids of gone files
            counts = persist.save_outcomes(session, outcomes, stamps, now=now, paused_at_creation=paused)
            persist.save_stamps(session, touched)
            counts.deactivated += deactivated
            if outcomes or gone:
                wakeup.notify(session)  # the scheduler plans new or changed DAGs now
        return counts

    def _remember(self, outcomes: list[ParseOutcome], checks: list[FileCheck], gone: set[str]) -> None:
        """After a commit: the cache holds every file's new stamp, errored ones flagged."""
        assert self._stamps is not None
        failed = {o.fileloc for o in outcomes if o.error is not None}
        for check in checks:
            stamp = check.stamp
            if check.parse:
                stamp = FileStamp(stamp.mtime, stamp.size, stamp.content_hash, check.fileloc in failed)
            self._stamps[check.fileloc] = stamp
        for fileloc in gone:
            self._stamps.pop(fileloc, None)
        self._stale = set()


class _JobBeat:
    """This process's job row (health pages show the DAG processor), stamped every ``every`` seconds."""

    def __init__(self, factory: sessionmaker[Session], job_type: JobType, every: float) -> None:
        self.factory, self.every = factory, every
        with transaction(factory) as session:
            self.job_id = jobs.start(session, job_type, timezone.utcnow())
        self.next = time.monotonic() + every

    def maybe(self) -> None:
        """Beat if it is time (a database error only postpones it)."""
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + self.every
        try:
            with transaction(self.factory) as session:
                jobs.beat(session, self.job_id, timezone.utcnow())
        except Exception:  # noqa: BLE001 - the next beat tries again
            log.warning("DAG processor: heartbeat failed", exc_info=True)

    def end(self) -> None:
        """Mark the job done."""
        try:
            with transaction(self.factory) as session:
                jobs.end(session, self.job_id, timezone.utcnow())
        except Exception:  # noqa: BLE001 - it will be found dead instead
            log.warning("DAG processor: could not end its job row", exc_info=True)

