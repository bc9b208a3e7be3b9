"""The zygote: the small process that forks every task child of a fork server.

A forked try pays for the size of the process it is forked from: the kernel copies that
process's page tables at the fork and tears them down at the child's exit, and the child copies
every shared page it writes. The fork server holds SQLAlchemy, the ORM, its sessions and its
bookkeeping; the zygote holds only what a try runs: the SDK, the runner and the DAG files
(about 40 % of the fork server's memory).

The fork server asks for a child with one JSON line on the zygote's socket, passing the child's
own socket (one end of a socket pair) with it (``SCM_RIGHTS``); the zygote forks, answers
``forked`` with the pid, reaps its children and answers ``exit`` with their status. The child
runs the try with its output in the try's log, sends its calls (XCom, variables, ...) and then
its result over its socket (:mod:`runtime.worker.calls`), and exits. The fork server claims,
records, enforces deadlines and signals children (by process group); the zygote never touches
the database.

The zygote forks with :class:`runtime.worker.leanfork.LeanFork`: ``fork()`` without the at-fork work
for other threads, which a single-threaded zygote does not have.

The zygote dies with its fork server (``PR_SET_PDEATHSIG``) and its children with it, and exits
when the fork server closes its socket. It ignores SIGTERM and SIGINT: stopping tries is the fork
server's job (it signals each child's process group), and a zygote stopped under running
children would kill them without a handover.
"""

from __future__ import annotations

import array
import base64
import contextlib
import gc
import json
import logging
import os
import pickle
import select
import signal
import socket
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

from runtime import procs
from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork
from runtime.worker import logs, runner, tries
from runtime.worker.leanfork import LeanFork

WARM_MODULES = (
    "runtime.sdk.operators.bash", "runtime.sdk.operators.python", "runtime.sdk.operators.empty",
    "runtime.sdk.operators.branch", "runtime.sdk.operators.trigger_dagrun", "runtime.sdk.operators.latest_only",
    "runtime.sdk.sensors", "runtime.sdk.decorators", "runtime.worker.runner", "runtime.loader",
    "runtime.worker.calls", "runtime.compat",
)
_MAX_FDS = 64  # descriptors taken per recvmsg (each fork request carries two)
_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)  # received descriptors are not inherited by exec'd programs
_FDS_SPACE = socket.CMSG_LEN(_MAX_FDS * array.array("i").itemsize)
REAP_EVERY = 0.1  # seconds between looks for exited children while any lives
RUNS_KEPT = 256  # runs whose task-side objects are kept between batches
# Warm-up tries: the interpreter specialises a code object's instructions after it ran a few times
# (CPython 3.11); specialised here, a child's run through the same code writes fewer of its pages
WARM_RUNS = 10


class Zygote:
    """Forks a child per request of its fork server and reports their pids and exits."""

    def __init__(self, sock: socket.socket, forker: LeanFork | None = None) -> None:
        self.sock = sock
        self.forker = forker or LeanFork()
        self.sock.setblocking(False)
        self.inbuf = b""
        self.fds: deque[int] = deque()  # received with their requests, in order
        self.outbuf = bytearray()
        self.settings: Any = None
        self.hostname = ""
        self.job_type = "executor"
        self.job_id: int | None = None
        self.parse_timeout = 30.0
        self.dag_files = tries.DagFiles()
        self.redirect = logs.Redirect()
        self._std = (os.dup(1), os.dup(2))  # this process's own fds 1 and 2 (they are each child's log while it forks)
        self.children: set[int] = set()
        self._frozen = False
        self.poller = select.poll()
        self.run_infos: dict[tuple[str, str], tuple[dict[str, Any], Any, Any]] = {}  # (run as sent, its DAG, as built)

    def serve(self) -> None:
        """Until the fork server closes the socket (or dies: then the kernel ends this process).

        Exited children are reaped with each batch of requests and every ``REAP_EVERY`` seconds while
        any lives, not at each SIGCHLD: whatever this process does after a fork copies the pages it
        writes (they are shared with the children), so it wakes as seldom as it can. The fork server
        needs an exit only for a child that sent no whole result (a crash), and then within
        ``REAP_EVERY``."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # exits are reaped, not signalled (its fork server's handler)
        signal.set_wakeup_fd(-1)
        fd = self.sock.fileno()
        while True:
            self.poller.register(fd, select.POLLIN | (select.POLLOUT if self.outbuf else 0))
            ready = self.poller.poll(REAP_EVERY * 1000 if self.children else None)
            if ready and ready[0][1] & (select.POLLIN | select.POLLHUP | select.POLLERR) and not self._read():
                return
            self._reap()
            self._flush()

    # --- requests -----------------------------------------------------------------------------

    def _read(self) -> bool:
        """Take what arrived and fork what it asks for; False once the fork server closed the socket."""
        open_ = True
        while True:
            try:
                data, fds = _recv_fds(self.sock)
            except BlockingIOError:
                break
            except ConnectionResetError:
                data, fds = b"", []
            if not _CLOEXEC:
                for fd in fds:
                    os.set_inheritable(fd, False)
            self.fds.extend(fds)
            if not data and not fds:
                open_ = False
                break
            self.inbuf += data
        *lines, self.inbuf = self.inbuf.split(b"\n")
        batch: list[tuple[dict[str, Any], list[int]]] = []
        for line in lines:
            if not line.strip():
                continue
            msg = json.loads(line)
            if msg.get("op") == "hello":
                self._hello(msg)
            elif msg.get("op") == "fork":  # its socket's end, then its log
                batch.append((msg, [self.fds.popleft() for _ in range(int(msg.get("fds", 2)))]))
        if batch:
            self._fork_batch(batch)
        return open_

    def _hello(self, msg: dict[str, Any]) -> None:
        self.settings = pickle.loads(base64.b64decode(msg["settings"]))  # noqa: S301 - from our fork server
        self.hostname, self.job_type, self.job_id = msg["hostname"], msg["job_type"], msg.get("job_id")
        self.parse_timeout = float(self.settings.get("core", "dag_file_processor_timeout"))

    def _fork_batch(self, batch: list[tuple[dict[str, Any], list[int]]]) -> None:
        """Load the batch's DAG files, then fork a child per request in a tight loop.

        After each fork every page of this process is shared with the new child, and a page either
        writes first is copied: a write costs the child as much as the rest of a no-op try's work (some
        4 µs a page here). So what every child would do alike is done here, once a batch, before the
        forks: the collector is off, Python's streams and the logging handler are the task log's
        (:class:`logs.Redirect`), each child's socket object is made and its descriptors to close are
        worked out; right before each fork its log becomes this process's fds 1 and 2. Between two
        forks this process only forks; after the batch it takes its own streams back."""
        requests = [(_work(msg), _callback(msg), msg, fds) for msg, fds in batch]
        self._preload_all({(w.fileloc, w.dag_id) for w, c, _, _ in requests if w is not None} |
                          {(c.fileloc, c.dag_id) for w, c, _, _ in requests if c is not None})
        runs = self._runs([w for w, _, _, _ in requests if w is not None])
        held = [fd for _, fds in batch for fd in fds]
        ours = [*held, *self.fds, self.sock.fileno(), *self._std]
        plans = [(socket.socket(fileno=fds[0]), procs.close_plan(fd for fd in ours if fd != fds[0])) for _, fds in batch]
        forked: list[int | OSError] = []
        fork = self.forker.prepared()
        with self._children_streams():
            for (work, callback, msg, fds), (chan, closing) in zip(requests, plans, strict=True):
                try:
                    os.dup2(fds[1], 1)
                    os.dup2(fds[1], 2)
                    pid = fork()
                except OSError as exc:  # no memory or too many processes: the fork server ends the try
                    forked.append(exc)
                    continue
                if pid == 0:  # pragma: no cover - the child never returns
                    self._child(work, callback, msg.get("header") or "", chan, closing,
                                runs.get((work.dag_id, work.run_id)) if work is not None else None)
                forked.append(pid)
        for chan, _ in plans:
            chan.detach()  # the descriptor is closed below; the object must not close it again
        for fd in held:
            os.close(fd)
        for (work, callback, msg, _), result in zip(requests, forked, strict=True):
            if isinstance(result, OSError):
                self._say({"op": "fork_failed", "id": msg["id"], "error": f"fork failed: {result}"})
                continue
            self.children.add(result)
            named = work or callback
            dag = self.dag_files.peek(named.fileloc, named.dag_id) if named is not None else None
            fail_stop = b"true" if dag is not None and getattr(dag, "fail_stop", False) else b"false"
            self.outbuf += b'{"op": "forked", "id": %d, "pid": %d, "fail_stop": %s}\n' % (int(msg["id"]), result, fail_stop)

    @contextlib.contextmanager
    def _children_streams(self) -> Iterator[None]:
        """While it forks: the collector off and the try's streams and logging handler in place, as each
        child runs with them; then this process's own again (its fds 1 and 2 from the copies it keeps)."""
        sys.stdout.flush()
        sys.stderr.flush()
        collecting = gc.isenabled()
        gc.disable()  # a short-lived child: a collection would only copy shared pages
        stdout, stderr, root = sys.stdout, sys.stderr, logging.getLogger()
        handlers = root.handlers[:]
        self.redirect.install_objects()
        try:
            yield
        finally:
            os.dup2(self._std[0], 1)
            os.dup2(self._std[1], 2)
            sys.stdout, sys.stderr = stdout, stderr
            root.handlers[:] = handlers
            if collecting:
                gc.enable()

    def _runs(self, works: list[TaskWork]) -> dict[tuple[str, str], Any]:
        """The runs of a batch as task code sees them, with the context entries their tasks share, built
        once per run here (kept for the next batches) rather than in each child (that work copies some
        50-100 pages in a child); a run that cannot be built is left to its children to report."""
        from runtime.sdk.context import run_entries

        runs: dict[tuple[str, str], Any] = {}
        for work in works:
            key = (work.dag_id, work.run_id)
            if key in runs:
                continue
            runs[key] = None
            dag = self.dag_files.peek(work.fileloc, work.dag_id)
            if dag is None:
                continue
            kept = self.run_infos.get(key)
            if kept is not None and kept[0] == work.run and kept[1] is dag:
                runs[key] = kept[2]  # the same run, the same DAG object: as built for an earlier batch
                continue
            try:
                run = tries.dag_run_info(work.run)
                run_entries(dag, run)
            except Exception:  # noqa: BLE001 - the child builds it again and fails the try with the reason
                continue
            if len(self.run_infos) >= RUNS_KEPT:
                self.run_infos.clear()
            self.run_infos[key] = (work.run, dag, run)
            runs[key] = run
        return runs

    def _preload_all(self, files: set[tuple[str, str]]) -> None:
        """Load the DAG files here before forking, so that every child inherits them; after a (re)load,
        collect and freeze (a frozen object is never walked by a collection, which would copy its page)."""
        versions = {fileloc: self.dag_files.version(fileloc) for fileloc, _ in files}
        loaded = [(fileloc, self._preload(fileloc, dag_id)) for fileloc, dag_id in files]
        changed = {f for f, v in versions.items() if self.dag_files.version(f) != v}
        if not changed and self._frozen:
            return
        for fileloc, dag in loaded:
            if dag is not None and fileloc in changed:
                _learn_callables(dag)
        if any(versions[f] is not None for f in changed):
            gc.unfreeze()  # the old DAG objects of a reloaded file are garbage now
        gc.collect()
        gc.freeze()
        procs.trim_heap()  # each child's fork and exit pay for every page this process maps
        self._frozen = True

    def _preload(self, fileloc: str, dag_id: str) -> Any:
        """Load a DAG file, its Jinja environment too: built here once, not in every child (a fifth of a
        no-op try); the DAG, or None for a file that fails (the child's to report)."""
        dag = self.dag_files.load(fileloc, dag_id, self.parse_timeout)
        if dag is not None:
            dag.get_template_env()
        return dag

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.outbuf += b'{"op": "exit", "pid": %d, "status": %d}\n' % (pid, status)

    def _say(self, msg: dict[str, Any]) -> None:
        self.outbuf += json.dumps(msg).encode() + b"\n"

    def _flush(self) -> None:
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                return
            except OSError:  # the fork server is gone: the next read says so
                self.outbuf.clear()
                return
            del self.outbuf[:sent]

    # --- the child ----------------------------------------------------------------------------

    def _child(self, work: TaskWork | None, callback: CallbackWork | None, header: str, chan: socket.socket,
               closing: tuple[tuple[int, int], ...], run: Any) -> None:  # pragma: no cover - child
        # fds 1 and 2 are the try's log and Python's streams write there (_fork_batch); the rest of the set-up
        # is this process's own. Its parent's descriptors are closed, not their Python objects: freeing those
        # would write (copy) their pages.
        code = 0
        try:
            procs.die_with_parent()
            os.setpgid(0, 0)  # its own process group: a stop reaches what it started too
            procs.set_handler(signal.SIGINT, signal.SIG_DFL)  # SIGCHLD is at its default here already (serve)
            procs.set_handler(signal.SIGTERM, runner.on_sigterm)
            for low, high in closing:
                os.closerange(low, high)
            if work is not None:
                logs.write_header(header)
                chan.sendall(self._run(work, chan, run).encode())
                chan.shutdown(socket.SHUT_WR)  # the fork server takes a whole result as the try's end
                chan.close()
            elif callback is not None:
                self._callback(callback, chan)
        except BaseException:  # noqa: BLE001 - the fork server reports a crash
            import traceback

            traceback.print_exc()
            code = 1
        _flush_std()
        os._exit(code)

    def _run(self, work: TaskWork, chan: socket.socket, run: Any) -> TaskEvent:  # pragma: no cover - child
        from runtime.worker.calls import RemoteServices

        try:  # loaded by this process's parent just before the fork (else loading fails here, with the reason)
            dag = self.dag_files.peek(work.fileloc, work.dag_id) or self.dag_files.get(work.fileloc, work.dag_id)
        except Exception as exc:  # noqa: BLE001 - a missing or broken file fails the try
            return tries.load_failed_event(work, f"cannot load DAG {work.dag_id!r}: {exc}", hostname=self.hostname)
        return tries.run_work(work, dag, RemoteServices(chan, self.settings), hostname=self.hostname,
                              settings=self.settings, private_copy=False, run=run)

    def _callback(self, callback: CallbackWork, chan: socket.socket) -> None:  # pragma: no cover - child
        from runtime.worker.calls import RemoteServices

        dag = self.dag_files.get(callback.fileloc, callback.dag_id)
        tries.run_callback(callback, dag, RemoteServices(chan, self.settings), self.settings)


def _learn_callables(dag: Any) -> None:
    """What the DAG's Python callables accept (``python.accepted``), learnt once here for every child."""
    from runtime.sdk.operators.python import accepted

    for task in dag.tasks:
        fn = getattr(task, "python_callable", None)
        if callable(fn):
            try:
                accepted(fn)
            except (TypeError, ValueError):  # no signature to read: the try reports it
                pass


def _recv_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """``socket.recv_fds`` with ``MSG_CMSG_CLOEXEC`` (Python 3.11's ``recv_fds`` drops its flags)."""
    data, ancillary, _flags, _addr = sock.recvmsg(1 << 16, _FDS_SPACE, _CLOEXEC)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def _work(msg: dict[str, Any]) -> TaskWork | None:
    return TaskWork.from_dict(msg["work"]) if msg.get("work") else None


def _callback(msg: dict[str, Any]) -> CallbackWork | None:
    return CallbackWork.from_dict(msg["callback"]) if msg.get("callback") else None


def warm_up() -> None:
    """Import what tasks use and run a throw-away task ``WARM_RUNS`` times, so children inherit every lazy
    import and the specialised code."""
    import contextlib
    import io
    import logging

    # Children log at INFO (logs.Redirect.install_objects). Setting the level here, once, spares each child
    # a walk over every logger of every loaded library to clear their level caches.
    logging.getLogger().setLevel(logging.INFO)
    for name in WARM_MODULES:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional module only costs warmth
            print(f"[windsock] executor: cannot pre-import {name}: {exc}", file=sys.stderr)
    try:
        from runtime.executors.messages import iso
        from runtime.inprocess import MemoryServices
        from runtime.sdk import timezone
        from runtime.sdk.dag import DAG
        from runtime.sdk.operators.python import PythonOperator
        from runtime.worker.runner import run_task

        with DAG("windsock_warm_up", schedule=None, start_date=timezone.utcnow()) as dag:
            task = PythonOperator(task_id="noop", python_callable=lambda: "{{ ds }}")
        run = tries.dag_run_info({"dag_id": dag.dag_id, "run_id": "warm", "logical_date": iso(timezone.utcnow())})
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(WARM_RUNS):
                run_task(task, run, MemoryServices(environ={}), private_copy=False)  # as a forked child runs it
    except Exception as exc:  # noqa: BLE001 - warmth is an optimisation only
        print(f"[windsock] executor warm-up failed: {exc}", file=sys.stderr)


def run(sock: socket.socket) -> None:
    """Be a zygote on ``sock`` (this process is a child of its fork server)."""
    forker = LeanFork()  # before warm_up's collection and freeze: it looks for the interpreter's hook lists
    warm_up()
    Zygote(sock, forker).serve()


def _flush_std() -> None:  # pragma: no cover - child
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def main(argv: list[str] | None = None) -> None:
    """Module ``runtime.worker.zygote FD`` (``procs.python_module``): a zygote started afresh by its fork server
    (after the first died)."""
    procs.die_with_parent(signal.SIGKILL)
    run(socket.socket(fileno=int((argv or sys.argv[1:])[0])))


if __name__ == "__main__":  # pragma: no cover
    main()
