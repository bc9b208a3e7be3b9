"""The local executor's warm parent: imports the SDK once, then forks one child per try.

Started by ``LocalExecutor`` with one end of a socket pair. It reads work lines, claims each
try in the database (queued -> running, a compare-and-set), forks a child that runs it with
stdout/stderr in the try's log file, stamps heartbeats for running tries, kills a child that
overruns ``execution_timeout`` + grace or whose try was changed from outside, and writes one
event line per ended try. The scheduler process never imports user code; this one does.
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
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from runtime.executors import taskproc
from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork, decode, iso
from runtime.paths import UnsafePathError, dag_callback_log_path
from runtime.sdk import timezone
from runtime.settings import Settings
from runtime.store.engine import SQLITE_BUSY_TIMEOUT_MS
from runtime.store.session import transaction

WARM_MODULES = (
    "runtime.sdk.operators.bash", "runtime.sdk.operators.python", "runtime.sdk.operators.empty",
    "runtime.sdk.operators.branch", "runtime.sdk.operators.trigger_dagrun", "runtime.sdk.operators.latest_only",
    "runtime.sdk.sensors", "runtime.sdk.decorators", "runtime.taskrunner", "runtime.loader",
    "runtime.worker.db_services", "runtime.compat",
)


@dataclass
class Child:
    """A forked try (or DAG callback) and the read end of its result pipe."""

    pid: int
    fd: int
    work: TaskWork | None
    log: str | None
    deadline: float | None
    chunks: list[bytes] = field(default_factory=list)
    reported: bool = False
    eof: bool = False
    killed_why: str | None = None


class ForkServer:
    """One process that forks task children on request and reports how they ended."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.sock.setblocking(False)
        self.factory = sessionmaker(bind=private_engine(str(settings.get("database", "sql_alchemy_conn"))),
                                    expire_on_commit=False)
        self.dag_files = taskproc.DagFiles()
        self.hostname = socket.gethostname()
        self.log_folder = str(settings.get("logging", "base_log_folder"))
        self.grace = float(settings.get("scheduler", "task_kill_grace"))
        self.beat_every = float(settings.get("scheduler", "heartbeat_interval"))
        self.parse_timeout = float(settings.get("core", "dag_file_processor_timeout"))
        self.children: dict[int, Child] = {}
        self.by_fd: dict[int, Child] = {}
        self.inbuf = b""
        self.outbuf = bytearray()
        self.stopping = False
        self.next_beat = time.monotonic() + self.beat_every
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        """Run until told to stop (or the scheduler goes away), then kill what still runs."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._stop())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        while not self.stopping:
            self.step()
        self._kill_all("the executor stopped")
        self._flush_blocking()

    def step(self) -> None:
        """Wait for a command, a result or a deadline, and handle what came."""
        self._watch_writable(bool(self.outbuf))
        for key, mask in self.selector.select(self._timeout()):
            self._on_ready(key.fileobj, mask)  # type: ignore[arg-type]
        self._reap()
        self._enforce_deadlines()
        if time.monotonic() >= self.next_beat:
            self._heartbeat()
        self._flush()

    def _timeout(self) -> float:
        deadlines = [c.deadline for c in self.children.values() if c.deadline is not None]
        return max(0.0, min([self.next_beat, *deadlines]) - time.monotonic())

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
        data = _recv_all(self.sock)
        if data is None:  # the scheduler went away
            self._stop()
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
        self._start_tries(works)

    def _command(self, msg: Any, works: list[TaskWork]) -> None:
        if isinstance(msg, TaskWork):
            works.append(msg)
        elif isinstance(msg, CallbackWork):
            self._fork(None, msg)
        elif isinstance(msg, dict) and msg.get("op") == "kill":
            self._kill_ti(int(msg["ti_id"]), str(msg.get("reason") or "killed by the scheduler"))
        elif isinstance(msg, dict) and msg.get("op") == "stop":
            self._stop()

    def _start_tries(self, works: list[TaskWork]) -> None:
        """Claim the batch in one transaction, fork the winners, record their pids."""
        if not works:
            return
        for fileloc, dag_id in {(w.fileloc, w.dag_id) for w in works}:
            self._preload(fileloc, dag_id)
        gc.freeze()  # children never walk (and so never copy) what this process already holds
        with transaction(self.factory) as session:
            won = taskproc.claim(session, works, hostname=self.hostname, pid=None, now=timezone.utcnow())
        winners = {id(w) for w in won}
        for work in works:
            if id(work) not in winners:
                self._emit(TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome="unclaimed"))
        pids = {w.ti_id: pid for w in won if (pid := self._fork(w, None)) > 0}
        with transaction(self.factory) as session:
            taskproc.set_pids(session, pids)

    def _preload(self, fileloc: str, dag_id: str) -> None:
        """Load a DAG file here, before forking, so that every child inherits it (errors: the child reports)."""
        previous = signal.signal(signal.SIGALRM, _parse_timeout)
        signal.setitimer(signal.ITIMER_REAL, self.parse_timeout)
        try:
            self.dag_files.get(fileloc, dag_id)
        except BaseException as exc:  # noqa: BLE001 - user code at import time; the child reports it
            print(f"[windsock] executor: cannot load {fileloc}: {exc}", file=sys.stderr)
            self.dag_files.forget(fileloc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    # --- children -------------------------------------------------------------------------

    def _fork(self, work: TaskWork | None, callback: CallbackWork | None) -> int:
        """Fork a child for ``work`` or ``callback``; its pid, or -1 when its ids cannot make a log path."""
        try:
            log = taskproc.work_log_path(self.log_folder, work) if work else _callback_log(self.log_folder, callback)
        except UnsafePathError as exc:
            print(f"[windsock] executor: refused to run: {exc}", file=sys.stderr)
            if work is not None:
                self._emit(TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome="crashed",
                                     error=f"refused to run: {exc}", end_date=iso(timezone.utcnow())))
            return -1
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read_fd)
            self._child_main(work, callback, write_fd, log)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        timeout = work.execution_timeout if work else None
        deadline = time.monotonic() + timeout + self.grace if timeout else None
        child = Child(pid, read_fd, work, log, deadline)
        self.children[pid] = child
        self.by_fd[read_fd] = child
        self.selector.register(read_fd, selectors.EVENT_READ)
        return pid

    def _child_main(self, work: TaskWork | None, callback: CallbackWork | None, write_fd: int, log: str | None) -> None:  # pragma: no cover
        code = 0
        try:
            gc.disable()  # a short-lived child: a collection would only copy shared pages
            _die_with_parent()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            self.sock.close()
            self.selector.close()
            for fd in [self.wake_r, self.wake_w, *self.by_fd]:
                _close(fd)
            _redirect(log)
            if work is not None:
                _write_all(write_fd, self._run(work).encode())
            elif callback is not None:
                from runtime.worker.db_services import DbServices

                dag = self.dag_files.get(callback.fileloc, callback.dag_id)
                taskproc.run_callback(callback, dag, DbServices(self.settings))
        except BaseException:  # noqa: BLE001 - the parent reports a crash
            import traceback

            traceback.print_exc()
            code = 1
        _flush_std()
        os._exit(code)

    def _run(self, work: TaskWork) -> TaskEvent:  # pragma: no cover - child
        from runtime.worker.db_services import DbServices

        try:
            dag = self.dag_files.get(work.fileloc, work.dag_id)
        except Exception as exc:  # noqa: BLE001 - a missing or broken file fails the try
            return taskproc.failed_event(work, f"cannot load DAG {work.dag_id!r}: {exc}", hostname=self.hostname)
        return taskproc.run_work(work, dag, DbServices(self.settings), hostname=self.hostname)

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
        """The child wrote its result and exited (or died): report the result now."""
        child.eof = True
        self.selector.unregister(child.fd)
        os.close(child.fd)
        del self.by_fd[child.fd]
        event = _decode_event(b"".join(child.chunks))
        if event is not None and child.work is not None and child.killed_why is None:
            child.reported = True
            self._emit(event)

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
        """A child exited: drain its pipe; a try that reported nothing crashed."""
        if not child.eof:
            self._read_child(child)
            if not child.eof:  # a grandchild still holds the pipe: stop listening
                self._pipe_closed(child)
        if child.work is None or child.reported:
            return
        why = child.killed_why or _death(status)
        message = f"task process {child.pid} {why} without reporting a result"
        _append(child.log, f"[windsock] {message}\n")
        now = iso(timezone.utcnow())
        self._emit(TaskEvent(ti_id=child.work.ti_id, try_number=child.work.try_number, outcome="crashed",
                             error=message, end_date=now, pid=child.pid, hostname=self.hostname))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.deadline is not None and now >= child.deadline and child.killed_why is None:
                limit = child.work.execution_timeout if child.work else None
                self._kill(child, f"was killed after running past execution_timeout={limit:g}s + {self.grace:g}s grace")

    def _kill_ti(self, ti_id: int, reason: str) -> None:
        for child in self.children.values():
            if child.work is not None and child.work.ti_id == ti_id:
                self._kill(child, f"was killed ({reason})")

    def _kill(self, child: Child, why: str) -> None:
        child.killed_why = why
        child.deadline = None
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _kill_all(self, reason: str) -> None:
        for child in list(self.children.values()):
            self._kill(child, f"was killed ({reason})")
        deadline = time.monotonic() + 5
        while self.children and time.monotonic() < deadline:
            time.sleep(0.01)
            self._reap()

    def _heartbeat(self) -> None:
        """Stamp heartbeats of running tries; kill those whose state was changed from outside."""
        self.next_beat = time.monotonic() + self.beat_every
        running = {c.work.ti_id: c for c in self.children.values() if c.work is not None and c.killed_why is None}
        if not running:
            return
        try:
            with transaction(self.factory) as session:
                gone = taskproc.heartbeat(session, running, timezone.utcnow())
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the executor
            print(f"[windsock] heartbeat failed: {exc}", file=sys.stderr)
            return
        for ti_id in gone:
            if not running[ti_id].reported:
                self._kill(running[ti_id], "its task instance is no longer running in the database")

    # --- output -----------------------------------------------------------------------------

    def _emit(self, event: TaskEvent) -> None:
        self.outbuf += event.encode()

    def _flush(self) -> None:
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                return
            except OSError:
                self.outbuf.clear()
                self._stop()
                return
            del self.outbuf[:sent]

    def _flush_blocking(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(bytes(self.outbuf))
        except OSError:
            pass

    def _watch_writable(self, on: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        self.selector.modify(self.sock, events)

    def _stop(self) -> None:
        self.stopping = True


def _die_with_parent() -> None:  # pragma: no cover - child
    """Linux: the kernel kills this child if the fork server dies (its try must not run on unseen)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _load_libc() -> Any:
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True) if sys.platform == "linux" else None
    except OSError:
        return None


_LIBC = _load_libc()


def private_engine(url: str) -> Engine:
    """This process's own engine, without the store's after-fork hook.

    Children never use it (they open the store themselves, only if the task needs it), so
    they need not rebuild its pool on every fork: that hook alone costs a fork ~1.5 ms.
    """
    if sa.engine.make_url(url).get_backend_name() != "sqlite":
        args = {"options": "-c timezone=UTC"} if sa.engine.make_url(url).get_driver_name() == "psycopg2" else {}
        return sa.create_engine(url, pool_pre_ping=True, pool_size=1, connect_args=args)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "synchronous=NORMAL",
                       "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


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


def _callback_log(folder: str, callback: CallbackWork | None) -> str | None:
    if callback is None:
        return None
    if callback.task_id is not None:  # a dead try's callback writes to that try's log, after its output
        return taskproc.log_path(folder, callback.dag_id, callback.run["run_id"], callback.task_id, callback.map_index,
                                 callback.try_number)
    return dag_callback_log_path(folder, callback.dag_id, callback.run["run_id"])


def _redirect(path: str | None) -> None:  # pragma: no cover - child
    if path is None:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _append(path: str | None, text: str) -> None:
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass


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


def _warm_up() -> None:
    """Run a throw-away task once so that children inherit every lazy import and cache it touches."""
    import contextlib
    import io

    try:
        from runtime.inprocess import MemoryServices
        from runtime.sdk.dag import DAG
        from runtime.sdk.operators.python import PythonOperator
        from runtime.taskrunner import run_task

        with DAG("windsock_warm_up", schedule=None, start_date=timezone.utcnow()) as dag:
            task = PythonOperator(task_id="noop", python_callable=lambda: "{{ ds }}")
        run = taskproc.dag_run_info({"dag_id": dag.dag_id, "run_id": "warm", "logical_date": iso(timezone.utcnow())})
        with contextlib.redirect_stdout(io.StringIO()):
            run_task(task, run, MemoryServices(environ={}))
    except Exception as exc:  # noqa: BLE001 - warmth is an optimisation only
        print(f"[windsock] executor warm-up failed: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m runtime.executors.forkserver FD``; the first line is the settings."""
    fd = int((argv or sys.argv[1:])[0])
    sock = socket.socket(fileno=fd)
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1 << 16)
        if not chunk:
            return
        line += chunk
    head, _, rest = line.partition(b"\n")
    settings = pickle.loads(base64.b64decode(json.loads(head)["settings"]))
    os.environ.update({"WINDSOCK_FORKSERVER": "1"})
    for name in WARM_MODULES:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional module only costs warmth
            print(f"[windsock] executor: cannot pre-import {name}: {exc}", file=sys.stderr)
    _warm_up()
    server = ForkServer(settings, sock)
    server.inbuf = rest
    server.process_input()
    server.serve()


if __name__ == "__main__":  # pragma: no cover
    main()
