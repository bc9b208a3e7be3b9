"""The executor's side of the tries: claims them, has a child forked for each, records their ends.

The local executor starts it with one end of a socket pair: as a fork of the scheduler, which starts
a fresh zygote at once, or where the scheduler may not fork, as a fresh interpreter (``runtime.worker FD``,
as ``procs.python_module``, which forks the zygote first); the SQS worker runs one in its own process. It claims each try
in the database (queued -> running, a compare-and-set), has its zygote (:mod:`runtime.worker.zygote`)
fork a child that runs it with its output in the try's log, answers the child's calls to the
store (:mod:`runtime.worker.calls`), stamps heartbeats (its own job row and its tries), kills a
child that overruns ``execution_timeout`` + grace or whose try was changed from outside, and
records how every try ended (``record.record``, in batches) before it tells the scheduler.

When its scheduler goes away (even by kill -9) or it is told to stop, it stops its children
(SIGTERM, then SIGKILL), records their ends — an interrupted try runs again without using a
retry — marks its job done and exits: within seconds, and without losing a recorded result.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import selectors
import signal
import socket
import subprocess
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
)
from runtime.paths import UnsafePathError, dag_callback_log_path, task_log_path
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store import jobs, transitions, wakeup
from runtime.store import tries as tries_store
from runtime.store.engine import make_engine, make_session_factory
from runtime.store.session import transaction
from runtime.store.states import TI, JobState, JobType
from runtime.worker import calls, logs, record, tries

TERM_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL when children are stopped
RECORD_GIVE_UP = 30.0  # seconds a stopping server keeps retrying to record before it exits anyway
PID_NOTE_DELAY = 0.5  # seconds a started try's pid may wait to ride along with the next write
ANSWER_TIMEOUT = 10.0  # seconds a child may take to read the answer to its call before it is killed
PASS_AT_ONCE = 64  # descriptors passed to the zygote per message (zygote._MAX_FDS: what it takes per read)
ZYGOTE_GRACE = 5.0  # seconds a closed zygote may take to exit before it is killed
ZYGOTE_ANSWER = 10.0  # seconds past the parse timeout a zygote may take to fork a child before it is replaced


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
    """A try (or callback) given to the zygote to fork, and this side of its socket."""

    id: int
    chan: socket.socket
    work: TaskWork | None
    log: str | None
    deadline: float | None
    started: datetime
    pid: int | None = None  # known once the zygote says it forked
    asked_at: float = 0.0  # when the zygote was asked to fork it (monotonic)
    fail_stop: bool = False  # its DAG's (as the zygote loaded it)
    partial: bytes = b""  # an incomplete line read from its socket
    chunks: list[bytes] = field(default_factory=list)  # what it sent that is not a call: its result
    eof: bool = False
    killed_why: str | None = None  # we killed it: a crash with this reason
    stopping_why: str | None = None  # we stopped it (handover): an interruption with this reason
    reported: bool = False  # its result arrived whole and its end is pending: its exit changes nothing

    @property
    def fd(self) -> int:
        """Its socket's descriptor (what the selector reports)."""
        return self.chan.fileno()


class _ZygoteLink:
    """The fork server's end of its zygote: the process, its socket, what waits to be sent."""

    def __init__(self, pid: int, sock: socket.socket, proc: Any = None) -> None:
        self.pid = pid
        self.sock = sock
        self.proc = proc  # the Popen of a zygote started afresh (None: forked at boot)
        self.sock.setblocking(False)
        self.inbuf = b""
        self.out: list[tuple[bytes, list[int]]] = []  # (data, descriptors to pass with it, owned here until sent)

    def send(self, data: bytes, passing: list[int] | None = None, *, now: bool = True) -> None:
        """Queue a line (with descriptors for the child: its end of its socket, its log), passed along
        at once, or with ``now=False`` at the next ``flush`` (a batch of requests goes in one message)."""
        self.out.append((data, passing or []))
        if now:
            self.flush()

    def flush(self) -> bool:
        """Send what the socket takes now, queued lines together (at most ``PASS_AT_ONCE`` descriptors per
        message: what the zygote takes per read); False if the zygote is gone."""
        while self.out:
            count, fds = 0, 0
            for _, passing in self.out:
                if count and fds + len(passing) > PASS_AT_ONCE:
                    break
                count, fds = count + 1, fds + len(passing)
            data = b"".join(d for d, _ in self.out[:count])
            passing = [fd for _, p in self.out[:count] for fd in p]
            try:
                if passing:
                    sent = socket.send_fds(self.sock, [data], passing)
                    for _, p in self.out[:count]:  # the zygote holds them now (or their line is in flight)
                        self.close_passing(p)
                else:
                    sent = self.sock.send(data)
            except BlockingIOError:
                return True
            except OSError:
                return False
            del self.out[:count]
            if sent < len(data):
                self.out.insert(0, (data[sent:], []))
        return True

    def drop(self) -> None:
        """Forget what was not sent (the zygote is gone), closing the descriptors it held."""
        for _, passing in self.out:
            self.close_passing(passing)
        self.out.clear()

    @staticmethod
    def close_passing(fds: list[int]) -> None:
        for fd in fds:
            procs.close_quietly(fd)
        fds.clear()


class ForkServer:
    """One process that forks task children on request, records how they ended, and reports."""

    def __init__(self, settings: Settings, sock: socket.socket | None, *, job_type: JobType = JobType.EXECUTOR,
                 drain_grace: float = 0.0, on_recorded: Callable[[list[record.TryOutcome]], None] | None = None,
                 zygote: tuple[int, socket.socket] | None = None) -> None:
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
        self.children: dict[int, Child] = {}  # by id, from the request to the zygote until the end is taken
        self.by_pid: dict[int, Child] = {}
        self.by_fd: dict[int, Child] = {}
        self.next_child_id = 0
        self.zygote = _ZygoteLink(*zygote) if zygote is not None else None
        self._services: Any = None  # what answers the children's calls (DbServices, made on first call)
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
        if self.zygote is not None:
            self._greet(self.zygote)

    def _greet(self, link: _ZygoteLink) -> None:
        """Watch a zygote's socket and tell it what its children need to know."""
        self.selector.register(link.sock, selectors.EVENT_READ)
        blob = base64.b64encode(pickle.dumps(self.settings)).decode()
        link.send(json.dumps({"op": "hello", "settings": blob, "hostname": self.hostname,
                              "job_type": self.job_type.value, "job_id": self.job_id}).encode() + b"\n")

    def _zygote(self) -> _ZygoteLink:
        """The running zygote; a new one (a fresh interpreter) if there is none."""
        if self.zygote is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            proc = procs.start_child(procs.python_module("runtime.worker.zygote", str(theirs.fileno())),
                                     sig=signal.SIGKILL, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
            theirs.close()
            self.zygote = _ZygoteLink(proc.pid, ours, proc)
            self._greet(self.zygote)
        return self.zygote

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
        """Mark the job done, let the zygote go and send the last events."""
        self._close_zygote()
        if self.pending:
            print(f"[windsock] executor: could not record {len(self.pending)} try ends; their tries will be "
                  "found as zombies and retried", file=sys.stderr)
        try:
            with transaction(self.factory) as session:
                jobs.end(session, self.job_id or 0, timezone.utcnow(), JobState.SUCCESS)
        except Exception as exc:  # noqa: BLE001 - the job will be found dead instead
            print(f"[windsock] executor: cannot end its job row: {exc}", file=sys.stderr)
        self._flush_blocking()

    def _close_zygote(self) -> None:
        """Close the zygote's socket (it exits) and reap it, killing it if it lingers."""
        link, self.zygote = self.zygote, None
        if link is None:
            return
        self.selector.unregister(link.sock)
        link.sock.close()
        deadline = time.monotonic() + ZYGOTE_GRACE
        while True:
            try:
                pid, _ = os.waitpid(link.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == link.pid:
                return
            if time.monotonic() > deadline:
                os.kill(link.pid, signal.SIGKILL)
                os.waitpid(link.pid, 0)
                return
            time.sleep(0.01)

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
        if self.zygote is not None:
            self.selector.modify(self.zygote.sock,
                                 selectors.EVENT_READ | (selectors.EVENT_WRITE if self.zygote.out else 0))
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
        if unforked := [c.asked_at for c in self.children.values() if c.pid is None]:
            times.append(min(unforked) + self._zygote_patience())
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
            procs.drain(self.wake_r)
        elif self.zygote is not None and obj is self.zygote.sock:
            if mask & selectors.EVENT_WRITE and not self.zygote.flush():
                self._zygote_gone("its zygote's socket broke")
            elif mask & selectors.EVENT_READ:
                self._read_zygote()
        elif obj in self.by_fd:
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
        working = [c for c in self.children.values() if not c.reported]  # a reported try's child is only exiting
        if self.stopping is None and not working and not self.pending and not self.to_claim and not works:
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
        """Have a child forked per claimed try (their pids are noted as the zygote reports them)."""
        self._fork_batch([plan for w in works if (plan := self._plan_try(w, now)) is not None])

    def _note_pid(self, child: Child) -> None:
        """The pids of tries still running after ``PID_NOTE_DELAY`` are written then (a try that ends
        sooner gets its pid with the record of its end)."""
        if child.work is None or child.pid is None:
            return
        if not self.pids:
            self.pids_due = time.monotonic() + PID_NOTE_DELAY
        self.pids[child.work.ti_id] = child.pid

    def _write_pids(self) -> None:
        """Write the noted pids in a transaction of their own (for people to read: a failure is only printed)."""
        pids, self.pids = self.pids, {}
        try:
            with transaction(self.factory) as session:
                tries_store.set_pids(session, pids)
        except Exception as exc:  # noqa: BLE001 - the pid is for people to read; the try runs anyway
            print(f"[windsock] executor: recording pids failed: {_first_line(exc)}", file=sys.stderr)

    def _dag(self, fileloc: str, dag_id: str) -> Any:
        """The DAG of a try that died without a result (its retry settings and callbacks), loaded here on
        first need; None if it cannot be loaded. A try that reports its end never needs it here."""
        return self.dag_files.peek(fileloc, dag_id) or self.dag_files.load(fileloc, dag_id, self.parse_timeout)

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

    def _fork_batch(self, plans: list[_Plan]) -> None:
        """Ask the zygote for a child per plan, each with one end of a socket pair of its own."""
        link = self._zygote()
        for plan in plans:
            try:  # opened here, where no page is shared: a child would pay for the path work in copied pages
                log_fd = logs.open_log(plan.log)
            except OSError as exc:
                if plan.work is not None:
                    self._lost(plan.work, plan.started, f"cannot open its log: {exc}")
                else:
                    print(f"[windsock] executor: callback not run: cannot open its log: {exc}", file=sys.stderr)
                continue
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            ours.setblocking(False)
            self.next_child_id += 1
            child = Child(self.next_child_id, ours, plan.work, plan.log, plan.deadline, plan.started,
                          asked_at=time.monotonic())
            self.children[child.id] = child
            self.by_fd[child.fd] = child
            self.selector.register(child.fd, selectors.EVENT_READ)
            head = plan.work and logs.header(plan.work, hostname=self.hostname, executor=self.job_type.value,
                                             job_id=self.job_id, pid=logs.PID_MARK)
            request = {"op": "fork", "id": child.id, "fds": 2, "header": head,
                       "work": plan.work and plan.work.fields(), "callback": plan.callback and plan.callback.fields()}
            link.send(json.dumps(request, default=str).encode() + b"\n", [theirs.detach(), log_fd], now=False)
        link.flush()  # the batch in one message (a broken socket shows as the zygote's read or write event)

    # --- the zygote ---------------------------------------------------------------------------

    def _read_zygote(self) -> None:
        """Take the zygote's reports: a child forked (its pid), could not be, or exited (its status)."""
        link = self.zygote
        if link is None:
            return
        data = _recv_all(link.sock)
        if data is None:
            self._zygote_gone("its zygote exited")
            return
        link.inbuf += data
        *lines, link.inbuf = link.inbuf.split(b"\n")
        for line in lines:
            if line.strip():
                self._zygote_said(json.loads(line))

    def _zygote_said(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "forked":
            child = self.children.get(int(msg["id"]))
            if child is None:
                return
            child.pid, child.fail_stop = int(msg["pid"]), bool(msg.get("fail_stop"))
            self.by_pid[child.pid] = child
            self._note_pid(child)
            if child.killed_why is not None or child.stopping_why is not None:  # stopped before it had a pid:
                # SIGTERM while its grace lasts, SIGKILL once it is over (or for a hard kill)
                procs.kill_group(child.pid, signal.SIGTERM if child.deadline is not None else signal.SIGKILL)
            if child.eof:  # its result came first
                self._take_result(child)
        elif op == "exit":
            child = self.by_pid.pop(int(msg["pid"]), None)
            if child is not None:
                self._ended(child, int(msg["status"]))
        elif op == "fork_failed":
            child = self.children.get(int(msg["id"]))
            if child is not None:
                self._ended(child, None, str(msg.get("error") or "could not be forked"))

    def _zygote_gone(self, why: str) -> None:
        """The zygote died (its children with it): every try it held without a result ends as a crash;
        the next try starts a new zygote."""
        link, self.zygote = self.zygote, None
        if link is None:
            return
        print(f"[windsock] executor: {why}; {len(self.children)} children ended with it", file=sys.stderr)
        self.selector.unregister(link.sock)
        link.sock.close()
        link.drop()
        for child in list(self.children.values()):
            if child.pid is not None:
                procs.kill_group(child.pid, signal.SIGKILL)
                self.by_pid.pop(child.pid, None)
                self._ended(child, None, "was killed with its zygote")
            else:
                self._ended(child, None, "was never started: its zygote went away")
        self._reap()

    def _read_child(self, child: Child) -> None:
        """Read a child's socket: answer its calls; keep the rest (its result) until it closes."""
        while True:
            try:
                chunk = child.chan.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:  # reset: it died mid-write
                chunk = b""
            if not chunk:
                if child.partial:
                    child.chunks.append(child.partial)
                    child.partial = b""
                self._pipe_closed(child)
                return
            lines = (child.partial + chunk).split(b"\n")
            child.partial = lines.pop()
            for line in lines:
                if line.startswith(calls.PREFIX):
                    self._answer(child, line)
                else:
                    child.chunks.append(line + b"\n")

    def _answer(self, child: Child, line: bytes) -> None:
        """Run a child's call against the store and send the answer (the child waits for it)."""
        if self._services is None:
            from runtime.worker.services import DbServices

            self._services = DbServices(self.settings, self.factory)
        reply = calls.answer(self._services, line)
        try:
            child.chan.settimeout(ANSWER_TIMEOUT)
            child.chan.sendall(reply)
        except TimeoutError:
            self._kill(child, "was killed (it did not read the answer to its call)", hard=True)
        except OSError:  # it died waiting: its end tells how
            pass
        finally:
            child.chan.setblocking(False)

    def _pipe_closed(self, child: Child) -> None:
        """The child closed its socket. A try's child does so right after writing its result, before
        it exits: a whole result is its end, recorded now (the exit of a process takes a millisecond
        or two of the chain gap). Without one, its exit decides (``_ended``)."""
        child.eof = True
        self.selector.unregister(child.fd)
        del self.by_fd[child.fd]
        child.chan.close()
        if child.pid is not None:  # else once the zygote says it forked it (its DAG's fail_stop comes with that)
            self._take_result(child)

    def _take_result(self, child: Child) -> None:
        if child.work is None or child.reported or child.killed_why is not None or child.stopping_why is not None:
            return
        event = _decode_event(b"".join(child.chunks))
        if event is not None and event.outcome == RESULT and event.state:
            self._pend(child, event, "reported")
            child.reported = True

    def _reap(self) -> None:
        """Reap this process's own children: zygotes (a task child is the zygote's to reap)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.zygote is not None and pid == self.zygote.pid:
                self._zygote_gone("its zygote exited")

    def _ended(self, child: Child, status: int | None, why: str | None = None) -> None:
        """A child exited (``status``), or never ran (``why``): its result (or its death) becomes an outcome."""
        if not child.eof:
            self._read_child(child)
            if not child.eof:  # a grandchild still holds the socket: stop listening
                self._pipe_closed(child)
        self.children.pop(child.id, None)
        if child.pid is not None:
            procs.kill_group(child.pid)  # whatever it started in its group goes with it
        if child.work is None:
            return
        if not child.reported and child.pid is None:  # it never ran: its (partial) output is nothing to go by
            child.chunks.clear()
        self._take_result(child)
        if child.reported:
            return
        event = _decode_event(b"".join(child.chunks))
        why = child.killed_why or child.stopping_why or why or _death(status or 0)
        if event is None:
            logs.append(child.log, f"{_who(child)} {why} without reporting a result")
        self._pend(child, event, why)

    def _pend(self, child: Child, event: TaskEvent | None, why: str) -> None:
        """The try's outcome (from its result, or from how it died) joins the next batch of records."""
        work = child.work
        assert work is not None
        interrupted = event is None and child.stopping_why is not None
        ended = event is not None and event.outcome == RESULT and bool(event.state)
        dag = None if ended or interrupted else self._dag(work.fileloc, work.dag_id)  # retry settings of a crash
        outcome = tries.outcome_of(work, event, start=child.started, now=timezone.utcnow(), dag=dag,
                                   hostname=self.hostname, pid=child.pid, why=f"{_who(child)} {why}",
                                   interrupted=interrupted,
                                   fail_stop=child.fail_stop if child.pid is not None else None)
        self.pending.append((outcome, work))

    def _lost(self, work: TaskWork, claimed_at: datetime, why: str) -> None:
        """A claimed try that never got a process: it ends as a crash would."""
        print(f"[windsock] executor: {work.label}: {why}", file=sys.stderr)
        dag = self._dag(work.fileloc, work.dag_id)
        self.pending.append((tries.outcome_of(work, None, start=claimed_at, now=timezone.utcnow(), dag=dag,
                                              hostname=self.hostname, why=why), work))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.deadline is not None and now >= child.deadline:
                if child.stopping_why is not None or child.killed_why is not None:  # SIGTERM did not stop it
                    child.deadline = None
                    if child.pid is not None:  # else SIGKILL when the zygote says it forked it
                        procs.kill_group(child.pid, signal.SIGKILL)
                else:
                    limit = child.work.execution_timeout if child.work else 0
                    self._kill(child, f"was killed after running past execution_timeout={limit:g}s + "
                                      f"{self.grace:g}s grace", hard=True)
        if self.stopping is not None and self.drain_grace > 0 and now >= self.stop_started + self.drain_grace:
            self._interrupt_all(self.stopping)
        unforked = [c for c in self.children.values() if c.pid is None]  # most steps: none
        patience = self._zygote_patience() if unforked else 0.0
        if self.zygote is not None and any(now - c.asked_at > patience for c in unforked):
            os.kill(self.zygote.pid, signal.SIGKILL)  # stopped or stuck: its children die with it
            self._zygote_gone(f"its zygote forked nothing for {patience:g} s (stuck or stopped) and was killed")

    def _zygote_patience(self) -> float:
        """How long the zygote may take to fork what it was asked to: it may be loading each of their DAG
        files for up to the parse timeout first."""
        files = {c.work.fileloc for c in self.children.values() if c.pid is None and c.work is not None}
        return self.parse_timeout * max(1, len(files)) + ZYGOTE_ANSWER

    def _kill_ti(self, ti_id: int, reason: str) -> None:
        for child in self.children.values():
            if child.work is not None and child.work.ti_id == ti_id:
                self._kill(child, f"was killed ({reason})")

    def _kill(self, child: Child, why: str, *, hard: bool = False) -> None:
        """End a try from outside. As Airflow's task supervisor does when a try's state was changed from
        outside (marked, timed out with its run, stopped by fail_stop): SIGTERM to its process group, so
        that the task's ``on_kill`` runs (a BashOperator ends its command, an operator cancels its remote
        job), and SIGKILL ``TERM_TIMEOUT`` seconds later if it still runs. ``hard``: SIGKILL at once (a try
        past its execution_timeout and grace, or one that stopped answering). Its end is recorded as any
        other and changes nothing: the record ends only a running try, and a soft kill's try no longer is."""
        first = child.killed_why is None and child.stopping_why is None
        if first:
            child.killed_why = why
        if hard:
            child.deadline = None
        elif first:  # a second kill does not put its SIGKILL off
            child.deadline = time.monotonic() + TERM_TIMEOUT
            logs.append(child.log, f"{_who(child)} {why}: stopping it (SIGTERM, SIGKILL after {TERM_TIMEOUT:g} s)")
        if child.pid is not None:  # else when the zygote says it forked it
            procs.kill_group(child.pid, signal.SIGKILL if hard else signal.SIGTERM)

    def _interrupt_all(self, why: str) -> None:
        """SIGTERM every child still running (the task's on_kill runs); SIGKILL after TERM_TIMEOUT."""
        deadline = time.monotonic() + TERM_TIMEOUT
        for child in self.children.values():
            if child.stopping_why is None and child.killed_why is None:
                child.stopping_why = f"was interrupted ({why})"
                child.deadline = deadline
                if child.pid is not None:  # else when the zygote says it forked it
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
        callback = tries.callback_for(o, self._dag(work.fileloc, work.dag_id), work.run)
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


def _who(child: Child) -> str:
    return f"task process {child.pid}" if child.pid is not None else "the try"


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


def _mini_scheduler(settings: Settings) -> Any:
    """The mini scheduler of a local executor's fork server, unless ``scheduler.schedule_after_task_execution`` is off."""
    if not settings.get("scheduler", "schedule_after_task_execution"):
        return None
    from runtime.scheduler.mini import MiniScheduler

    return MiniScheduler(int(settings.get("core", "max_active_tasks_per_dag")))


def main(argv: list[str] | None = None, zygote: tuple[int, socket.socket] | None = None) -> None:
    """Serve on the scheduler's socket ``FD`` (module ``runtime.worker FD`` forks ``zygote`` first); the
    first line is the settings."""
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
    server = ForkServer(settings, sock, job_type=JobType(hello.get("job_type", JobType.EXECUTOR.value)),
                        zygote=zygote)
    server.open()
    if zygote is None:  # forked from the scheduler: a fresh zygote boots now, not at the first try
        server._zygote()
    server.inbuf = rest
    server.process_input()
    server.serve()


if __name__ == "__main__":  # pragma: no cover
    main()

