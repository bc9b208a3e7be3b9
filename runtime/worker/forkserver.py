"""The warm parent of task children: imports the SDK once, then forks one child per try.

The local executor starts it with one end of a socket pair (``python -m
runtime.worker.forkserver FD``); the SQS worker runs one in its own process. It claims each try
in the database (queued -> running, a compare-and-set), forks a child that runs it with its
output in the try's log, stamps heartbeats (its own job row and its tries), kills a child that
overruns ``execution_timeout`` + grace or whose try was changed from outside, and records how
every try ended (``record.record``, in batches) before it tells the scheduler.

When its scheduler goes away (even by kill -9) or it is told to stop, it stops its children
(SIGTERM, then SIGKILL), records their ends — an interrupted try runs again without using a
retry — marks its job done and exits: within seconds, and without losing a recorded result.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import pickle
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from runtime import procs
from runtime.executors.messages import (
    RECORDED,
    RESULT,
    STARTED,
    UNCLAIMED,
    CallbackWork,
    TaskEvent,
    TaskWork,
    decode,
    iso,
)
from runtime.paths import UnsafePathError, dag_callback_log_path, task_log_path
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, transitions, wakeup
from runtime.store import tries as tries_store
from runtime.store.engine import make_engine, make_session_factory
from runtime.store.session import transaction
from runtime.store.states import TI, JobState, JobType
from runtime.worker import logs, record, tries

WARM_MODULES = (
    "runtime.sdk.operators.bash", "runtime.sdk.operators.python", "runtime.sdk.operators.empty",
    "runtime.sdk.operators.branch", "runtime.sdk.operators.trigger_dagrun", "runtime.sdk.operators.latest_only",
    "runtime.sdk.sensors", "runtime.sdk.decorators", "runtime.worker.runner", "runtime.loader",
    "runtime.worker.services", "runtime.compat",
)
TERM_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL when children are stopped
RECORD_GIVE_UP = 30.0  # seconds a stopping server keeps retrying to record before it exits anyway
PID_NOTE_DELAY = 0.5  # seconds a started try's pid may wait to ride along with the next write


@dataclass
class _Plan:
    """A child to fork: a try (or a callback), its log, its deadline."""

    work: TaskWork | None
    callback: CallbackWork | None
    log: str
    deadline: float | None
    started: datetime


@dataclass
class Child:
    """A forked try (or callback) and the read end of its result pipe."""

    pid: int
    fd: int
    work: TaskWork | None
    log: str | None
    deadline: float | None
    started: datetime
    chunks: list[bytes] = field(default_factory=list)
    eof: bool = False
    killed_why: str | None = None  # we killed it: a crash with this reason
    stopping_why: str | None = None  # we stopped it (handover): an interruption with this reason
    reported: bool = False  # its result arrived whole and its end is pending: its exit changes nothing


class ForkServer:
    """One process that forks task children on request, records how they ended, and reports."""

    def __init__(self, settings: Settings, sock: socket.socket | None, *, job_type: JobType = JobType.EXECUTOR,
                 drain_grace: float = 0.0, on_recorded: Callable[[list[record.TryOutcome]], None] | None = None) -> None:
        self.settings = settings
        self.sock = sock
        self.job_type = job_type
        self.drain_grace = drain_grace  # a stopping server first lets children finish this long
        self.on_recorded = on_recorded
        url = str(settings.get("database", "sql_alchemy_conn"))
        self.factory: sessionmaker[Session] = make_session_factory(make_engine(url, dispose_after_fork=False, pool_size=1))
        self.dag_files = tries.DagFiles()
        self.hostname = jobs.HOSTNAME
        self.log_folder = str(settings.get("logging", "base_log_folder"))
        self.grace = float(settings.get("scheduler", "task_kill_grace"))
        self.beat_every = float(settings.get("scheduler", "heartbeat_interval"))
        self.job_beat_every = float(settings.get("scheduler", "job_heartbeat_sec"))
        self.parse_timeout = float(settings.get("core", "dag_file_processor_timeout"))
        self.children: dict[int, Child] = {}
        self.by_fd: dict[int, Child] = {}
        self.pending: list[tuple[record.TryOutcome, TaskWork]] = []  # ends not yet recorded
        self.retry_record_at = 0.0
        self.record_backoff = 0.0
        self.pids: dict[int, int] = {}  # task_instance.pid of started tries, not yet written
        self.pids_due = 0.0
        self.to_claim: list[TaskWork] = []  # works whose claim failed on a database error
        self.retry_claim_at = 0.0
        self.inbuf = b""
        self.outbuf = bytearray()
        self.job_id: int | None = None
        self.stopping: str | None = None
        self.stop_started = 0.0
        self.next_beat = self.next_job_beat = 0.0
        self.mini = _mini_scheduler(settings) if job_type == JobType.EXECUTOR and sock is not None else None
        self.selector = selectors.DefaultSelector()
        self.redirect = logs.Redirect()  # what each child writes its log through
        self._frozen = False  # gc.freeze() done since the last DAG load (_preload_all)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Install signal handlers, register what to wait on, and start this process's job row."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self.stop("the executor was told to stop (SIGTERM)"))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.sock is not None:
            self.sock.setblocking(False)
            self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        with transaction(self.factory) as session:
            self.job_id = jobs.start(session, self.job_type, timezone.utcnow())
        now = time.monotonic()
        self.next_beat, self.next_job_beat = now + self.beat_every, now + self.job_beat_every

    def serve(self) -> None:
        """Run until stopped and every child has ended and been recorded."""
        if self.job_id is None:
            self.open()
        while not self.done():
            self.step()
        self.close()

    def done(self) -> bool:
        """Stopping, no child left and nothing left to record (or recording gave up)."""
        if self.stopping is None or self.children:
            return False
        return not self.pending or time.monotonic() - self.stop_started > RECORD_GIVE_UP

    def close(self) -> None:
        """Mark the job done and send the last events."""
        if self.pending:
            print(f"[windsock] executor: could not record {len(self.pending)} try ends; their tries will be "
                  "found as zombies and retried", file=sys.stderr)
        try:
            with transaction(self.factory) as session:
                jobs.end(session, self.job_id or 0, timezone.utcnow(), JobState.SUCCESS)
        except Exception as exc:  # noqa: BLE001 - the job will be found dead instead
            print(f"[windsock] executor: cannot end its job row: {exc}", file=sys.stderr)
        self._flush_blocking()

    def stop(self, why: str) -> None:
        """Stop taking work; let children finish for ``drain_grace``, then interrupt them."""
        if self.stopping is not None:
            return
        self.stopping = why
        self.stop_started = time.monotonic()
        if self.drain_grace <= 0:
            self._interrupt_all(why)

    def step(self) -> None:
        """Wait for a command, a result or a deadline, and handle what came."""
        if self.sock is not None:
            self._watch_writable(bool(self.outbuf))
        for key, mask in self.selector.select(self._timeout()):
            self._on_ready(key.fileobj, mask)
        self._reap()
        self._enforce_deadlines()
        self._beat()
        self._record_pending()
        if self.pids and time.monotonic() >= self.pids_due:
            self._write_pids()
        if self.to_claim and time.monotonic() >= self.retry_claim_at:
            self.start_tries([])
        self._flush()

    def _timeout(self) -> float:
        times = [self.next_beat, self.next_job_beat]
        if self.to_claim:
            times.append(self.retry_claim_at)
        times += [c.deadline for c in self.children.values() if c.deadline is not None]
        if self.pending:
            times.append(self.retry_record_at)
        if self.pids:
            times.append(self.pids_due)
        if self.stopping is not None:
            times.append(self.stop_started + self.drain_grace)
        return max(0.0, min(times) - time.monotonic())

    def _on_ready(self, obj: Any, mask: int) -> None:
        if obj is self.sock:
            if mask & selectors.EVENT_READ:
                self._read_commands()
            if mask & selectors.EVENT_WRITE:
                self._flush()
        elif obj == self.wake_r:
            _drain(self.wake_r)
        else:
            self._read_child(self.by_fd[obj])

    # --- commands -------------------------------------------------------------------------

    def _read_commands(self) -> None:
        assert self.sock is not None
        data = _recv_all(self.sock)
        if data is None:  # the scheduler went away (a clean exit or a kill -9)
            self.selector.unregister(self.sock)
            self.sock.close()
            self.sock = None
            self.outbuf.clear()
            self.stop("its scheduler went away")
            return
        self.inbuf += data
        self.process_input()

    def process_input(self) -> None:
        """Handle every complete command line received so far."""
        *lines, self.inbuf = self.inbuf.split(b"\n")
        works: list[TaskWork] = []
        for line in lines:
            if line.strip():
                self._command(decode(line), works)
        self.start_tries(works)

    def _command(self, msg: Any, works: list[TaskWork]) -> None:
        if isinstance(msg, TaskWork):
            works.append(msg)
        elif isinstance(msg, CallbackWork):
            self.run_callback(msg)
        elif isinstance(msg, dict) and msg.get("op") == "kill":
            self._kill_ti(int(msg["ti_id"]), str(msg.get("reason") or "killed by the scheduler"))
        elif isinstance(msg, dict) and msg.get("op") == "stop":
            self.stop("its scheduler stopped")
        elif isinstance(msg, dict) and msg.get("op") == "retire":
            self._retire(works)

    def _retire(self, works: list[TaskWork]) -> None:
        """The executor finds this server idle: exit if nothing runs or waits here (the executor starts a new
        one for the next try), else say ``busy``."""
        if self.stopping is None and not self.children and not self.pending and not self.to_claim and not works:
            self.stop("idle (retired by its executor)")
        else:
            self.outbuf += json.dumps({"v": 1, "op": "busy"}).encode() + b"\n"

    def start_tries(self, works: list[TaskWork]) -> list[TaskWork]:
        """Claim a batch in one transaction and fork the winners; the works claimed (none while stopping).

        If the database fails, the batch waits and is claimed again later: a message is never dropped.
        """
        works = self.to_claim + works
        self.to_claim = []
        if not works or self.stopping is not None:
            return []
        self._preload_all(works)
        now = timezone.utcnow()
        try:
            with transaction(self.factory) as session:
                won = transitions.claim(session, [(w.ti_id, w.try_number) for w in works], job_id=self.job_id,
                                        hostname=self.hostname, pid=None, now=now)
                works = [_with_conf(session, w) if w.run.get("conf_in_db") else w for w in works]
                if self.job_type == JobType.WORKER:  # a queue may redeliver a stale message: resume from the row
                    works = _with_resume(session, works, list(won))
        except Exception as exc:  # noqa: BLE001 - claim them again once the database answers
            print(f"[windsock] executor: claiming {len(works)} tries failed, will retry: {_first_line(exc)}",
                  file=sys.stderr)
            self.to_claim, self.retry_claim_at = works, time.monotonic() + 1.0
            return []
        # one start per try that won: the first copy of its (ti, try number); a copy for another try
        # number of the same task instance (a stale message) never starts, whatever its place in the batch
        first = {(w.ti_id, w.try_number): w for w in reversed(works)}
        claimed = [w for key, w in first.items() if key in won]
        chosen = {id(w) for w in claimed}
        for work in works:
            if id(work) not in chosen:  # its claim lost (a duplicate message, or the try moved on)
                self._emit(TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome=UNCLAIMED,
                                     dag_id=work.dag_id, run_id=work.run_id, task_id=work.task_id))
        self._fork_all(claimed, now)
        return claimed

    def _fork_all(self, works: list[TaskWork], now: datetime) -> None:
        """Fork a child per claimed try; the pids of those still running after ``PID_NOTE_DELAY`` are
        written then (a try that ends sooner gets its pid with the record of its end)."""
        plans = [plan for w in works if (plan := self._plan_try(w, now)) is not None]
        pids = {plan.work.ti_id: child.pid for plan, child in zip(plans, self._fork_batch(plans), strict=True)
                if plan.work is not None}
        if pids and not self.pids:
            self.pids_due = time.monotonic() + PID_NOTE_DELAY
        self.pids.update(pids)

    def _write_pids(self) -> None:
        """Write the noted pids in a transaction of their own (for people to read: a failure is only printed)."""
        pids, self.pids = self.pids, {}
        try:
            with transaction(self.factory) as session:
                tries_store.set_pids(session, pids)
        except Exception as exc:  # noqa: BLE001 - the pid is for people to read; the try runs anyway
            print(f"[windsock] executor: recording pids failed: {_first_line(exc)}", file=sys.stderr)

    def _preload_all(self, works: list[TaskWork]) -> None:
        """Load the works' DAG files here; after a (re)load, collect and freeze what this process holds.

        Frozen objects are never walked by this process's collections, which would copy the pages
        it shares with its children. Freezing only after a load, and collecting first, keeps
        garbage out of the frozen set (frozen garbage is never freed); a file loaded again
        replaced its old DAG objects, which only a collection of the frozen set frees."""
        versions = {fileloc: self.dag_files.version(fileloc) for fileloc in {w.fileloc for w in works}}
        for fileloc, dag_id in {(w.fileloc, w.dag_id) for w in works}:
            self._preload(fileloc, dag_id)
        changed = {f for f, v in versions.items() if self.dag_files.version(f) != v}
        if not changed and self._frozen:
            return
        if any(versions[f] is not None for f in changed):
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen = True

    def _preload(self, fileloc: str, dag_id: str) -> None:
        """Load a DAG file here, before forking, so that every child inherits it (errors: the child reports)."""
        previous = signal.signal(signal.SIGALRM, _parse_timeout)
        signal.setitimer(signal.ITIMER_REAL, self.parse_timeout)
        try:
            # its Jinja environment too: built here once, not in every child (a fifth of a no-op try)
            self.dag_files.get(fileloc, dag_id).get_template_env()
        except BaseException as exc:  # noqa: BLE001 - user code at import time; the child reports it
            print(f"[windsock] executor: cannot load {fileloc}: {exc}", file=sys.stderr)
            self.dag_files.forget(fileloc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    # --- children -------------------------------------------------------------------------

    def _plan_try(self, work: TaskWork, claimed_at: datetime) -> _Plan | None:
        """What the child of a claimed try needs; None when the try failed before it could start."""
        try:
            log = task_log_path(self.log_folder, work.dag_id, work.run_id, work.task_id, work.map_index,
                                work.try_number)
        except UnsafePathError as exc:
            self._lost(work, claimed_at, f"refused to run: {exc}")
            return None
        timeout = work.execution_timeout
        deadline = time.monotonic() + timeout + self.grace if timeout else None
        return _Plan(work, None, log, deadline, claimed_at)

    def run_callback(self, callback: CallbackWork) -> None:
        """Fork a child for a DAG callback or a dead try's callback (never in the scheduler)."""
        try:
            if callback.task_id is not None:  # after the dead try's own output, in its log
                log = task_log_path(self.log_folder, callback.dag_id, callback.run["run_id"], callback.task_id,
                                    callback.map_index, callback.try_number)
            else:
                log = dag_callback_log_path(self.log_folder, callback.dag_id, callback.run["run_id"])
        except UnsafePathError as exc:
            print(f"[windsock] executor: callback refused: {exc}", file=sys.stderr)
            return
        self._fork_batch([_Plan(None, callback, log, None, timezone.utcnow())])

    def _fork_batch(self, plans: list[_Plan]) -> list[Child]:
        """Fork a child per plan, in a tight loop, then note them.

        After each fork every page of this process is shared with the new child, and the first write
        to a page copies it: so between two forks this process only makes a pipe and forks. The
        bookkeeping (objects, dictionaries, the selector) comes once the batch is forked."""
        sys.stdout.flush()
        sys.stderr.flush()
        forked: list[tuple[int, int]] = []  # (pid, read end)
        for plan in plans:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                self._child_main(plan.work, plan.callback, write_fd, plan.log,
                                 [read_fd] + [fd for _, fd in forked])  # its siblings' read ends too
            os.close(write_fd)
            forked.append((pid, read_fd))
        children = []
        for plan, (pid, read_fd) in zip(plans, forked, strict=True):
            os.set_blocking(read_fd, False)
            child = Child(pid, read_fd, plan.work, plan.log, plan.deadline, plan.started)
            self.children[pid] = child
            self.by_fd[read_fd] = child
            self.selector.register(read_fd, selectors.EVENT_READ)
            children.append(child)
        return children

    def _child_main(self, work: TaskWork | None, callback: CallbackWork | None, write_fd: int, log: str,
                    close_fds: list[int]) -> None:  # pragma: no cover
        code = 0
        try:
            gc.disable()  # a short-lived child: a collection would only copy shared pages
            procs.die_with_parent(signal.SIGKILL)
            os.setpgid(0, 0)  # its own process group: a stop reaches what it started too
            for sig in (signal.SIGINT, signal.SIGCHLD):
                procs.set_handler(sig, signal.SIG_DFL)
            from runtime.worker.runner import on_sigterm

            procs.set_handler(signal.SIGTERM, on_sigterm)
            signal.set_wakeup_fd(-1)
            # close this server's descriptors, not its Python objects: freeing them would write (copy) their pages
            for fd in [*close_fds, self.selector.fileno(), self.wake_r, self.wake_w, *self.by_fd] + (
                    [self.sock.fileno()] if self.sock is not None else []):
                _close(fd)
            self.redirect.install(log)
            if work is not None:
                _write_all(write_fd, self._run(work).encode())
            elif callback is not None:
                self._callback(callback)
        except BaseException:  # noqa: BLE001 - the parent reports a crash
            import traceback

            traceback.print_exc()
            code = 1
        _flush_std()
        os._exit(code)

    def _run(self, work: TaskWork) -> TaskEvent:  # pragma: no cover - child
        from runtime.worker.services import DbServices

        logs.write_fd1(logs.header(work, hostname=self.hostname, executor=self.job_type.value, job_id=self.job_id))
        try:
            dag = self.dag_files.get(work.fileloc, work.dag_id)
        except Exception as exc:  # noqa: BLE001 - a missing or broken file fails the try
            return tries.load_failed_event(work, f"cannot load DAG {work.dag_id!r}: {exc}", hostname=self.hostname)
        return tries.run_work(work, dag, DbServices(self.settings), hostname=self.hostname, settings=self.settings,
                              private_copy=False)

    def _callback(self, callback: CallbackWork) -> None:  # pragma: no cover - child
        from runtime.worker.services import DbServices

        dag = self.dag_files.get(callback.fileloc, callback.dag_id)
        tries.run_callback(callback, dag, DbServices(self.settings), self.settings)

    def _read_child(self, child: Child) -> None:
        while True:
            try:
                chunk = os.read(child.fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                self._pipe_closed(child)
                return
            child.chunks.append(chunk)

    def _pipe_closed(self, child: Child) -> None:
        """The child closed its result pipe. A try's child does so right after writing its result,
        before it exits: a whole result is its end, recorded now (the exit of a big process takes
        a millisecond or two of the chain gap). Without one, its exit decides (``_ended``)."""
        child.eof = True
        self.selector.unregister(child.fd)
        os.close(child.fd)
        del self.by_fd[child.fd]
        if child.work is None or child.killed_why is not None or child.stopping_why is not None:
            return
        event = _decode_event(b"".join(child.chunks))
        if event is not None and event.outcome == RESULT and event.state:
            self._pend(child, event, "reported")
            child.reported = True

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._ended(child, status)

    def _ended(self, child: Child, status: int) -> None:
        """A child exited: its result (or its death) becomes an outcome to record."""
        if not child.eof:
            self._read_child(child)
            if not child.eof:  # a grandchild still holds the pipe: stop listening
                self._pipe_closed(child)
        procs.kill_group(child.pid)  # whatever it started in its group goes with it
        if child.work is None or child.reported:
            return
        event = _decode_event(b"".join(child.chunks))
        why = child.killed_why or child.stopping_why or _death(status)
        if event is None:
            logs.append(child.log, f"task process {child.pid} {why} without reporting a result")
        self._pend(child, event, why)

    def _pend(self, child: Child, event: TaskEvent | None, why: str) -> None:
        """The try's outcome (from its result, or from how it died) joins the next batch of records."""
        assert child.work is not None
        dag = self.dag_files.peek(child.work.fileloc, child.work.dag_id)
        outcome = tries.outcome_of(child.work, event, start=child.started, now=timezone.utcnow(), dag=dag,
                                   hostname=self.hostname, pid=child.pid, why=f"task process {child.pid} {why}",
                                   interrupted=event is None and child.stopping_why is not None)
        self.pending.append((outcome, child.work))

    def _lost(self, work: TaskWork, claimed_at: datetime, why: str) -> None:
        """A claimed try that never got a process: it ends as a crash would."""
        print(f"[windsock] executor: {work.label}: {why}", file=sys.stderr)
        dag = self.dag_files.peek(work.fileloc, work.dag_id)
        self.pending.append((tries.outcome_of(work, None, start=claimed_at, now=timezone.utcnow(), dag=dag,
                                              hostname=self.hostname, why=why), work))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.deadline is not None and now >= child.deadline:
                if child.stopping_why is not None:  # SIGTERM did not stop it: kill it
                    child.deadline = None
                    procs.kill_group(child.pid, signal.SIGKILL)
                elif child.killed_why is None:
                    limit = child.work.execution_timeout if child.work else 0
                    self._kill(child, f"was killed after running past execution_timeout={limit:g}s + "
                                      f"{self.grace:g}s grace")
        if self.stopping is not None and self.drain_grace > 0 and now >= self.stop_started + self.drain_grace:
            self._interrupt_all(self.stopping)

    def _kill_ti(self, ti_id: int, reason: str) -> None:
        for child in self.children.values():
            if child.work is not None and child.work.ti_id == ti_id:
                self._kill(child, f"was killed ({reason})")

    def _kill(self, child: Child, why: str) -> None:
        if child.killed_why is None and child.stopping_why is None:
            child.killed_why = why
        child.deadline = None
        procs.kill_group(child.pid, signal.SIGKILL)

    def _interrupt_all(self, why: str) -> None:
        """SIGTERM every child still running (the task's on_kill runs); SIGKILL after TERM_TIMEOUT."""
        deadline = time.monotonic() + TERM_TIMEOUT
        for child in self.children.values():
            if child.stopping_why is None and child.killed_why is None:
                child.stopping_why = f"was interrupted ({why})"
                child.deadline = deadline
                procs.kill_group(child.pid, signal.SIGTERM)

    # --- heartbeats and records ---------------------------------------------------------------

    def _beat(self) -> None:
        """Stamp the job's heartbeat and the tries' heartbeats when due; kill tries changed from outside."""
        now = time.monotonic()
        job_due, tries_due = now >= self.next_job_beat, now >= self.next_beat
        if not (job_due or tries_due):
            return
        running = {c.work.ti_id: c for c in self.children.values()
                   if c.work is not None and c.killed_why is None and c.stopping_why is None}
        try:
            with transaction(self.factory) as session:
                alive = jobs.beat(session, self.job_id or 0, timezone.utcnow()) if job_due else True
                gone = tries_store.beat(session, running, timezone.utcnow()) if tries_due else set()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the executor
            print(f"[windsock] executor: heartbeat failed: {_first_line(exc)}", file=sys.stderr)
            self.next_job_beat = self.next_beat = now + 1.0
            return
        if job_due:
            self.next_job_beat = now + self.job_beat_every
        if tries_due:
            self.next_beat = now + self.beat_every
        for ti_id in gone:
            self._kill(running[ti_id], "its task instance is no longer running in the database")
        if not alive:
            self._buried()

    def _buried(self) -> None:
        """Another job declared this one dead and took its tries: stop them now, and stop."""
        print("[windsock] executor: this job was declared dead (heartbeat too old); its tries were taken back",
              file=sys.stderr)
        for child in self.children.values():
            self._kill(child, "was killed (its executor was declared dead)")
        self.stop("it was declared dead")

    def _record_pending(self) -> None:
        """Record the ends collected so far in one transaction; retry later if the database fails."""
        if not self.pending or time.monotonic() < self.retry_record_at:
            return
        batch = self.pending
        after: list[TaskWork] = []
        try:
            with transaction(self.factory) as session:
                won = record.record(session, [o for o, _ in batch])
                if won and self.job_type == JobType.WORKER:  # its scheduler reads the ends now, not at a poll
                    wakeup.notify(session, wakeup.ENDS)
                if self.mini is not None and self.stopping is None:  # their slots go to their ready downstream
                    after = self.mini.follow(session, won, slots=len(won), job_id=self.job_id,
                                             hostname=self.hostname, now=timezone.utcnow())
        except Exception as exc:  # noqa: BLE001 - keep them and try again: a result is never dropped
            self.record_backoff = min(10.0, max(0.5, self.record_backoff * 2))
            print(f"[windsock] executor: recording {len(batch)} try ends failed, retrying in "
                  f"{self.record_backoff:g}s: {_first_line(exc)}", file=sys.stderr)
            self.retry_record_at = time.monotonic() + self.record_backoff
            return
        self.pending, self.record_backoff = [], 0.0
        for o, _ in batch:  # the record wrote its pid
            self.pids.pop(o.ti_id, None)
        for work in after:  # first: the scheduler counts the handed-over slots as taken all along
            self._emit(TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome=STARTED, dag_id=work.dag_id,
                                 run_id=work.run_id, task_id=work.task_id, map_index=work.map_index))
        self._after_record(batch, won)
        if after:
            self._start_claimed(after)

    def _start_claimed(self, works: list[TaskWork]) -> None:
        """Fork the tries the mini scheduler claimed (as ``start_tries`` does after its claim)."""
        self._preload_all(works)
        self._fork_all(works, timezone.utcnow())

    def _after_record(self, batch: list[tuple[record.TryOutcome, TaskWork]], won: list[record.TryOutcome]) -> None:
        """Tell the scheduler; start the callbacks of dead tries; stop tries a fail_stop ended."""
        winners = {id(o) for o in won}
        for o, work in batch:
            self._emit(TaskEvent(ti_id=o.ti_id, try_number=o.try_number, outcome=RECORDED,
                                 state=o.state if id(o) in winners else None, error=o.error,
                                 skip_task_ids=o.skip_task_ids, dag_id=o.dag_id, run_id=o.run_id, task_id=o.task_id,
                                 map_index=o.map_index))
            if id(o) in winners and o.crashed and self.stopping is None:
                self._crash_callback(o, work)
        if any(o.fail_stop and o.state == TI.FAILED for o in won):
            self.next_beat = 0.0  # the stopped tries' children go at once
        if self.on_recorded is not None:
            self.on_recorded(won)

    def _crash_callback(self, o: record.TryOutcome, work: TaskWork) -> None:
        """A dead try's own failure/retry callback and e-mail, in a child of their own."""
        callback = tries.callback_for(o, self.dag_files.peek(work.fileloc, work.dag_id), work.run)
        if callback is not None:
            self.run_callback(callback)

    # --- output -----------------------------------------------------------------------------

    def _emit(self, event: TaskEvent) -> None:
        if self.sock is not None:
            self.outbuf += event.encode()

    def _flush(self) -> None:
        while self.outbuf and self.sock is not None:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                return
            except OSError:
                self.outbuf.clear()
                return
            del self.outbuf[:sent]

    def _flush_blocking(self) -> None:
        if self.sock is None or not self.outbuf:
            return
        try:
            self.sock.setblocking(True)
            self.sock.sendall(bytes(self.outbuf))
        except OSError:
            pass

    def _watch_writable(self, on: bool) -> None:
        assert self.sock is not None
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        self.selector.modify(self.sock, events)


def _parse_timeout(signum: int, frame: Any) -> None:
    raise TimeoutError("loading the DAG file took longer than core.dag_file_processor_timeout")


def _recv_all(sock: socket.socket) -> bytes | None:
    """What is readable now; None at end of file."""
    parts: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            return b"".join(parts)
        except ConnectionResetError:  # the scheduler went away without a clean close
            chunk = b""
        if not chunk:
            return b"".join(parts) or None
        parts.append(chunk)


def _with_conf(session: Session, work: TaskWork) -> TaskWork:
    """A work whose run conf was too large for its message: the conf, read from the run."""
    import dataclasses

    import sqlalchemy as sa

    from runtime.store.models import DagRun

    conf = session.scalar(sa.select(DagRun.conf).where(DagRun.dag_id == work.dag_id, DagRun.run_id == work.run_id))
    run = {k: v for k, v in work.run.items() if k != "conf_in_db"}
    return dataclasses.replace(work, run={**run, "conf": conf or {}})


def _with_resume(session: Any, works: list[TaskWork], won: list[tuple[int, int]]) -> list[TaskWork]:
    """``works`` whose claim won, with the method they resume at (and its arguments) read from their task
    instances: a message sent before a deferral and delivered again after the resume (same try number) must
    resume the try, not run ``execute`` from the start; the task instance, not the message, says which."""
    import dataclasses

    import sqlalchemy as sa

    from runtime.store.models import TaskInstance

    ids = sorted({ti_id for ti_id, _ in won})
    rows = {r.id: r for r in session.execute(sa.select(TaskInstance.id, TaskInstance.next_method,
                                                       TaskInstance.next_kwargs).where(TaskInstance.id.in_(ids)))}
    out = []
    for work in works:
        row = rows.get(work.ti_id)
        if row is None:
            out.append(work)
            continue
        out.append(dataclasses.replace(work, next_method=row.next_method,
                                       next_kwargs=(row.next_kwargs or {}) if row.next_method else None))
    return out


def _decode_event(data: bytes) -> TaskEvent | None:
    try:
        msg = decode(data)
    except ValueError:
        return None
    return msg if isinstance(msg, TaskEvent) else None


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"was killed by signal {sig} ({name})"
    return f"exited with code {os.WEXITSTATUS(status)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _write_all(fd: int, data: bytes) -> None:  # pragma: no cover - child
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)


def _flush_std() -> None:  # pragma: no cover - child
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


def warm_up() -> None:
    """Import what tasks use and run a throw-away task once, so children inherit every lazy import."""
    import contextlib
    import io
    import logging

    # Children log at INFO (logs.Redirect.install). Setting the level here, once, spares each child
    # a walk over every logger of every loaded library to clear their level caches.
    logging.getLogger().setLevel(logging.INFO)
    for name in WARM_MODULES:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional module only costs warmth
            print(f"[windsock] executor: cannot pre-import {name}: {exc}", file=sys.stderr)
    try:
        from runtime.inprocess import MemoryServices
        from runtime.sdk.dag import DAG
        from runtime.sdk.operators.python import PythonOperator
        from runtime.worker.runner import run_task

        with DAG("windsock_warm_up", schedule=None, start_date=timezone.utcnow()) as dag:
            task = PythonOperator(task_id="noop", python_callable=lambda: "{{ ds }}")
        run = tries.dag_run_info({"dag_id": dag.dag_id, "run_id": "warm", "logical_date": iso(timezone.utcnow())})
        with contextlib.redirect_stdout(io.StringIO()):
            run_task(task, run, MemoryServices(environ={}))
    except Exception as exc:  # noqa: BLE001 - warmth is an optimisation only
        print(f"[windsock] executor warm-up failed: {exc}", file=sys.stderr)

def _mini_scheduler(settings: Settings) -> Any:
    """The mini scheduler of a local executor's fork server, unless ``scheduler.schedule_after_task_execution`` is off."""
    if not settings.get("scheduler", "schedule_after_task_execution"):
        return None
    from runtime.scheduler.mini import MiniScheduler

    return MiniScheduler(int(settings.get("core", "max_active_tasks_per_dag")))


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m runtime.worker.forkserver FD``; the first line is the settings."""
    procs.die_with_parent(signal.SIGTERM)  # a kill -9 of the scheduler still ends in a handover
    fd = int((argv or sys.argv[1:])[0])
    sock = socket.socket(fileno=fd)
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1 << 16)
        if not chunk:
            return
        line += chunk
    head, _, rest = line.partition(b"\n")
    hello = json.loads(head)
    settings = pickle.loads(base64.b64decode(hello["settings"]))
    os.environ.update({"WINDSOCK_FORKSERVER": "1"})
    warm_up()
    server = ForkServer(settings, sock, job_type=JobType(hello.get("job_type", JobType.EXECUTOR.value)))
    server.open()
    server.inbuf = rest
    server.process_input()
    server.serve()


if __name__ == "__main__":  # pragma: no cover
    main()

