"""Runs each try in the scheduler's own process, one at a time: for tests and ``tasks run --raw``.

It claims, runs and records each try through the same task-side code as the fork server
(``worker.tries``, ``worker.record``); its tries carry the scheduler's job, so a crash of
the process is seen by the next scheduler at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from sqlalchemy.orm import Session, sessionmaker

from runtime.executors.base import BaseExecutor
from runtime.executors.messages import RECORDED, UNCLAIMED, CallbackWork, TaskEvent, TaskWork
from runtime.paths import task_log_path
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, transitions
from runtime.store.session import transaction
from runtime.worker import logs, record, tries


class SequentialExecutor(BaseExecutor):
    """In-process executor (Airflow's SequentialExecutor): user code runs in this process."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        super().__init__(parallelism=1)
        self.settings = settings
        self.session_factory = session_factory
        self.dag_files = tries.DagFiles()
        self.hostname = jobs.HOSTNAME
        self._pending: list[TaskWork | CallbackWork] = []

    def queue(self, work: TaskWork) -> None:
        """Keep the try for the next ``sync``."""
        self.track(work)
        self._pending.append(work)

    def queue_callback(self, callback: CallbackWork) -> None:
        """Keep the callback for the next ``sync`` (it runs in a forked child)."""
        self._pending.append(callback)

    wakes_on_events = True  # it runs tries inside ``sync``: nothing ends while it waits

    def wait(self, timeout: float, fds: Sequence[int] = ()) -> bool:
        """Sleep only when nothing is queued (queued tries run in the next ``sync``)."""
        if self._pending:
            return True
        return super().wait(timeout, fds)

    def sync(self) -> list[TaskEvent]:
        """Run everything queued, then report."""
        pending, self._pending = self._pending, []
        events = [e for e in (self._run(item) for item in pending) if e is not None]
        return self.forget(events)

    def _run(self, item: TaskWork | CallbackWork) -> TaskEvent | None:
        if isinstance(item, CallbackWork):
            from runtime.worker.services import DbServices

            services = DbServices(self.settings, self.session_factory)
            _in_child(lambda: tries.run_callback(item, self.dag_files.get(item.fileloc, item.dag_id), services,
                                                 self.settings))
            return None
        return self.run_one(item)

    def run_one(self, work: TaskWork) -> TaskEvent:
        """Claim, run and record one try here; ``unclaimed`` when the claim loses."""
        start = timezone.utcnow()
        with transaction(self.session_factory) as session:
            won = transitions.claim(session, [(work.ti_id, work.try_number)], job_id=self.scheduler_job_id,
                                    hostname=self.hostname, pid=os.getpid(), now=start)
        if not won:
            return TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome=UNCLAIMED, dag_id=work.dag_id,
                             run_id=work.run_id, task_id=work.task_id)
        event = self._execute(work)
        dag = self.dag_files.peek(work.fileloc, work.dag_id)
        outcome = tries.outcome_of(work, event, start=start, now=timezone.utcnow(), dag=dag, hostname=self.hostname,
                                   pid=os.getpid())
        with transaction(self.session_factory) as session:
            recorded = record.record(session, [outcome])
        return TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome=RECORDED,
                         state=outcome.state if recorded else None, error=outcome.error,
                         skip_task_ids=outcome.skip_task_ids, dag_id=work.dag_id, run_id=work.run_id,
                         task_id=work.task_id, map_index=work.map_index)

    def _execute(self, work: TaskWork) -> TaskEvent:
        from runtime.worker.services import DbServices

        log = task_log_path(str(self.settings.get("logging", "base_log_folder")), work.dag_id, work.run_id,
                            work.task_id, work.map_index, work.try_number)
        head = logs.header(work, hostname=self.hostname, executor="sequential", job_id=self.scheduler_job_id)
        with _logging_to(log, head):
            try:
                dag = self.dag_files.get(work.fileloc, work.dag_id)
            except Exception as exc:  # noqa: BLE001 - a missing or broken file fails the try
                return tries.load_failed_event(work, f"cannot load DAG {work.dag_id!r}: {exc}", hostname=self.hostname)
            return tries.run_work(work, dag, DbServices(self.settings, self.session_factory), hostname=self.hostname,
                                  settings=self.settings)


@contextlib.contextmanager
def _logging_to(path: str, head: str) -> Iterator[None]:
    """Send this process's prints to the try's log file, as Airflow-style lines, while it runs."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(head)
        out, err = logs.StampedStream(handle, "stdout"), logs.StampedStream(handle, "stderr")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # type: ignore[type-var]
            try:
                yield
            finally:
                out.flush()
                err.flush()


def _in_child(fn: object) -> None:
    """Run ``fn`` in a forked child and wait for it (DAG callbacks never run in the scheduler)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            fn()  # type: ignore[operator]
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.waitpid(pid, 0)
