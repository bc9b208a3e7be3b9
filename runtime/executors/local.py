"""LocalExecutor: tries run in children forked from a warm parent process (the fork server).

The scheduler side only writes work lines to a socket and reads event lines back; it never
imports user code. The fork server records how each try ended before it says so. If the fork
server dies, its tries are reported lost (the scheduler's sweep finds them as zombies of a dead
job) and a new one is started on the next queue. It dies with this process (after a handover).

It starts with the first try (or callback), not with the executor, and retires after
``core.fork_server_idle_exit`` seconds with nothing running, so an idle scheduler holds no fork
server (as it holds no triggerer); the next try forks a new one from the warm scheduler.
"""

from __future__ import annotations

import base64
import json
import pickle
import select
import socket
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from runtime import procs
from runtime.executors.base import BaseExecutor, wait_readable
from runtime.executors.messages import LOST, STARTED, CallbackWork, TaskEvent, TaskWork, decode
from runtime.settings import Settings
from runtime.store.states import JobType


class LocalExecutor(BaseExecutor):
    """Runs up to ``core.parallelism`` tries at once in forked child processes."""

    wakes_on_events = True  # the fork server's socket

    def __init__(self, settings: Settings, parallelism: int | None = None, *,
                 job_type: JobType = JobType.EXECUTOR) -> None:
        super().__init__(parallelism or int(settings.get("core", "parallelism")))
        self.settings = settings
        self.job_type = job_type
        self.final_events: list[TaskEvent] = []  # what the fork server reported while it stopped
        self.proc: subprocess.Popen[bytes] | procs.ForkedChild | None = None
        self.sock: socket.socket | None = None
        self._inbuf = b""
        self._outbuf = bytearray()
        self._held: list[TaskEvent] = []  # events the next sync returns (lost tries, ends read while retiring)
        self.idle_exit = float(settings.get("core", "fork_server_idle_exit"))
        self._last_busy = time.monotonic()

    def start(self) -> None:
        """Start the fork server now, unless it starts with the first try (``core.fork_server_idle_exit`` > 0)."""
        if self.idle_exit <= 0 and self.sock is None:
            self._spawn()

    def _spawn(self) -> None:
        """Start the fork server and hand it the settings.

        Where this process may fork (:func:`procs.can_fork`) the fork server is a fork of it, as the web
        server and DAG processor are: it has SQLAlchemy, the ORM and the models loaded already, so it
        serves at once instead of after ~0.5 s of imports in a fresh interpreter (the first try after an
        idle spell starts that much sooner), and it starts its zygote — a fresh interpreter, as task
        children forked from a bare one copy fewer pages than from a fork of the scheduler, whose heap
        scheduling has grown and scattered (+20 % CPU per no-op try, bench/README.md) — right away.
        Elsewhere it is a fresh interpreter (``runtime.worker``) that forks its zygote first."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        if procs.can_fork():
            self.proc = procs.fork_child(lambda: _serve(fd), name="fork-server", keep_fds=(fd,))
        else:
            cmd = procs.python_module("runtime.worker", str(fd))
            self.proc = procs.start_child(cmd, pass_fds=(fd,), stdin=subprocess.DEVNULL)
        theirs.close()
        self.sock = ours
        blob = base64.b64encode(pickle.dumps(self.settings)).decode()
        self.sock.sendall(json.dumps({"settings": blob, "job_type": self.job_type.value}).encode() + b"\n")
        self.sock.setblocking(False)

    @property
    def pid(self) -> int | None:
        """Process id of the fork server."""
        return self.proc.pid if self.proc else None

    def queue(self, work: TaskWork) -> None:
        """Buffer a work line (sent on the next flush)."""
        self.track(work)
        self._send(work.encode())

    def queue_callback(self, callback: CallbackWork) -> None:
        """Buffer a callback line."""
        self._send(callback.encode())

    def heartbeat(self) -> None:
        """Retire an idle fork server (see :meth:`retire`)."""
        if (self.idle_exit > 0 and self.sock is not None and not self.running and not self._outbuf
                and time.monotonic() - self._last_busy >= self.idle_exit):
            self.retire()

    def retire(self, timeout: float = 10.0) -> bool:
        """Ask the fork server to exit if it has nothing to do (no child, a try or a callback, and nothing
        left to record); wait for its answer: True when it exited, False when it stays (busy).

        The answer is awaited here, before anything else is sent, so no work can be sent to a fork server
        that is on its way out; without an answer within ``timeout`` its socket is closed (it stops as
        when its scheduler goes away) and the next try starts a new one."""
        if self.sock is None:
            return True
        self._last_busy = time.monotonic()
        self._send(json.dumps({"v": 1, "op": "retire"}).encode() + b"\n")
        self.flush()
        deadline = time.monotonic() + timeout
        while self.sock is not None and time.monotonic() < deadline:
            select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:  # it exited
                self._held += [e for e in self._parse_all() if isinstance(e, TaskEvent)]
                self._died()
                return True
            self._inbuf += chunk
            *lines, self._inbuf = self._inbuf.split(b"\n")
            for line in lines:
                msg = decode(line) if line.strip() else None
                if isinstance(msg, TaskEvent):
                    self._held.append(msg)
                elif isinstance(msg, dict) and msg.get("op") == "busy":
                    return False
        if self.sock is not None:  # no answer (a database call stuck): close our end, so it stops and
            self._died()  # hands over on EOF, and never sees work that it might not start
        return True

    def _parse_all(self) -> list[Any]:
        lines, self._inbuf = self._inbuf.split(b"\n"), b""
        return [decode(line) for line in lines if line.strip()]

    def terminate(self, ti_id: int) -> None:
        """Ask the fork server to kill the try of ``ti_id``."""
        if ti_id in self.running:
            self._send(json.dumps({"v": 1, "op": "kill", "ti_id": ti_id}).encode() + b"\n")

    def _send(self, data: bytes) -> None:
        if self.sock is None:
            self._spawn()
        self._last_busy = time.monotonic()
        self._outbuf += data

    def flush(self) -> None:
        """Write buffered lines (blocking until the fork server has taken them)."""
        if not self._outbuf or self.sock is None:
            return
        try:
            self.sock.setblocking(True)
            self.sock.sendall(bytes(self._outbuf))
        except OSError:
            self._died()
        finally:
            self._outbuf.clear()
            if self.sock is not None:
                self.sock.setblocking(False)

    def sync(self) -> list[TaskEvent]:
        """Send what is buffered and collect every event that arrived.

        A ``started`` event (the fork server's mini scheduler started a downstream try itself)
        counts that try as running here, as if this executor had queued it.
        """
        self.flush()
        events = self._read() if self.sock is not None else []
        events, self._held = events + self._held, []
        if events or self.running:
            self._last_busy = time.monotonic()
        out: list[TaskEvent] = []
        for event in events:
            if event.outcome == STARTED:
                self.track(TaskWork(ti_id=event.ti_id, dag_id=event.dag_id, task_id=event.task_id,
                                    run_id=event.run_id, map_index=event.map_index, try_number=event.try_number,
                                    max_tries=0, fileloc="", run={}))
                out.append(event)
            else:
                out += self.forget([event])
        return out

    def _read(self) -> list[TaskEvent]:
        assert self.sock is not None
        while True:
            try:
                chunk = self.sock.recv(1 << 18)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                events = self._parse()
                self._died()
                return events
            self._inbuf += chunk
        return self._parse()

    def _parse(self) -> list[TaskEvent]:
        *lines, self._inbuf = self._inbuf.split(b"\n")
        out = [decode(line) for line in lines if line.strip()]
        return [e for e in out if isinstance(e, TaskEvent)]

    def _died(self) -> None:
        """The fork server is gone: its tries are lost here (the sweep decides); the next queue starts a new one."""
        self._close()
        self._held.extend(TaskEvent(ti_id=w.ti_id, try_number=w.try_number, outcome=LOST, dag_id=w.dag_id,
                                    run_id=w.run_id, task_id=w.task_id, map_index=w.map_index)
                          for w in self.running.values())
        self._copies.clear()

    def wait(self, timeout: float, fds: Sequence[int] = ()) -> bool:
        """Block until an event arrives (the socket is readable), one of ``fds`` is, or ``timeout`` passes."""
        self.flush()
        return wait_readable([self.sock.fileno() if self.sock is not None else -1, *fds], timeout)

    def fileno(self) -> int:
        """The socket to wait on (select) for events."""
        return self.sock.fileno() if self.sock else -1

    def end(self, timeout: float = 20.0) -> None:
        """Stop the fork server: it interrupts its running children and records their ends (kept in
        ``final_events``), then exits."""
        if self.sock is not None:
            self._send(json.dumps({"v": 1, "op": "stop"}).encode() + b"\n")
            self.flush()
            deadline = time.monotonic() + timeout
            while self.sock is not None and time.monotonic() < deadline:
                select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
                self.final_events += self.forget(self._read()) if self.sock is not None else []
        self._close()

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop(proc)


def _serve(fd: int) -> None:
    """The fork server in a fork of the scheduler (``fd``: its end of the scheduler's socket)."""
    from runtime.worker import forkserver

    forkserver.main([str(fd)])


def _stop(proc: subprocess.Popen[Any] | procs.ForkedChild) -> None:
    """Wait for the fork server's handover (it stops its children and records them), then make sure."""
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
