"""Process lifetimes: every process Windsock starts dies with its parent (no orphans after kill -9).

Linux's ``PR_SET_PDEATHSIG`` makes the kernel signal a child when its parent dies. Long-lived
children (DAG processor, fork server, web server) ask for SIGTERM, so they can hand over what
they hold before exiting; short-lived ones (task and parse children, their subprocesses) for
SIGKILL. On other systems the children notice their parent leaving by other means (a closed
socket, a changed parent pid).

``fork_child`` starts a long-lived component (web server, DAG processor) as a fork
of a warm parent instead of a fresh interpreter, so the pages of the modules they all import
(SQLAlchemy, the models, the SDK) are shared copy-on-write rather than loaded once per process,
as ``gunicorn --preload`` does. It returns a :class:`ForkedChild`, which the callers poll, wait
for and stop like a ``Popen``.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half (procs.set_handler)
import ctypes
import ctypes.util
import gc
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def _load_libc() -> Any:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
# prctl(2) typed once: a call converts plain ints only (a forked child copies fewer pages than with
# ctypes' generic conversions)
_PRCTL = (None if _LIBC is None else
          ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong)(("prctl", _LIBC)))
_SIGKILL = int(signal.SIGKILL)


def die_with_parent(sig: int = _SIGKILL, *, expected_parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (async-signal-safe enough
    for a ``preexec_fn``). If the parent is already gone, exit at once."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, sig if type(sig) is int else int(sig), 0, 0, 0)
    parent = os.getppid()
    if parent == 1 or (expected_parent is not None and parent != expected_parent):
        os._exit(1)


def parent_death_preexec(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process dies."""
    parent = os.getpid()
    return lambda: die_with_parent(sig, expected_parent=parent)


_LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.py")


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs Windsock's ``module`` as ``python -m module args`` would, in this interpreter and
    from this very package, whatever the working folder holds (:mod:`runtime.launch`)."""
    return [sys.executable, "-P", _LAUNCH, module, *args]


def start_child(argv: Sequence[str], *, sig: int = signal.SIGTERM, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``Popen(argv)`` that dies (gets ``sig``) with this process."""
    return subprocess.Popen(list(argv), preexec_fn=parent_death_preexec(sig), **kwargs)  # noqa: PLW1509


class StopEvent(threading.Event):
    """A ``threading.Event`` that can also be waited on with ``select()``: ``fileno()`` becomes readable
    once it is set, so a process sleeping on its sockets needs no periodic look at the flag."""

    def __init__(self) -> None:
        super().__init__()
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def set(self) -> None:
        """Set the flag and make ``fileno()`` readable."""
        super().set()
        try:
            os.write(self._write, b"x")
        except (BlockingIOError, OSError):  # already readable (or closed at exit)
            pass

    def fileno(self) -> int:
        """What to select() on."""
        return self._read


class ForkedChild:
    """A child made by :func:`fork_child`: ``pid``, ``returncode``, ``poll``, ``wait``, ``send_signal``,
    ``terminate`` and ``kill`` behave as a ``subprocess.Popen``'s."""

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.args = name  # what TimeoutExpired names
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code (negative: killed by that signal) once it ended, else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): its status is lost, as Popen says 0
                self.returncode = 0
            else:
                if pid == self.pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if timeout is None:
            while self.returncode is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self.returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    self.returncode = 0
                except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
                    continue
            return self.returncode
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(min(delay, left, 0.05))
            delay *= 2
        return code

    def send_signal(self, sig: int) -> None:
        """Signal it unless it was already reaped (its pid may belong to another process by then)."""
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def __repr__(self) -> str:
        return f"<ForkedChild {self.args} pid={self.pid} returncode={self.returncode}>"


def can_fork() -> bool:
    """Whether this process may start a component by :func:`fork_child`: Linux, and no thread but this
    one (a fork copies only the calling thread, with whatever locks the others held)."""
    return sys.platform == "linux" and threading.active_count() == 1 and threading.current_thread() is threading.main_thread()


def fork_child(target: Callable[[], int | None], *, name: str, sig: int = signal.SIGTERM,
               keep_fds: Collection[int] = ()) -> ForkedChild:
    """Run ``target()`` in a forked child that gets ``sig`` when this process dies; its return value
    (or ``SystemExit`` code) is the child's exit code, an exception is printed and exits 1.

    The child starts as a fresh process would have, as far as it matters: the signal handlers this
    process installed are back to Python's defaults, the kernel name (``/proc/PID/comm``, ``ps -o
    comm``) is ``name``, and every pipe and socket it inherited except ``keep_fds`` (and 0-2) is
    pointed at ``/dev/null`` — as an exec with ``close_fds`` would have closed them, so that the
    other end of this process's pipes and sockets still sees an EOF when this process goes, while
    the fd numbers stay taken (a Python object that still holds one closes /dev/null, not a file
    the child opened since). Engines made by ``runtime.store.engine`` drop their inherited
    connections in the child by themselves; regular files (SQLite's) stay open, unused.
    The caller must hold no lock another thread could need: :func:`can_fork` says whether it may.
    """
    if not can_fork():
        raise RuntimeError("fork_child needs Linux and a process with no other thread running")
    parent = os.getpid()
    store = sys.modules.get("runtime.store.engine")  # loaded only where a database is used
    if store is not None:  # the component inherits no open database connection (SQLite's locks are per process)
        store.close_pooled()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedChild(pid, name)
    code: int = 1  # pragma: no cover - the child never returns (coverage of forks is not collected)
    try:  # pragma: no cover
        die_with_parent(sig, expected_parent=parent)
        gc.enable()  # as in a fresh interpreter (a warm parent may hold it until its forks are done)
        _fresh_signals()
        set_name(name)
        _detach_inherited(set(keep_fds))
        result = target()
        code = int(result or 0)
    except SystemExit as exc:  # pragma: no cover
        if exc.code is None or isinstance(exc.code, int):
            code = int(exc.code or 0)
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - pragma: no cover - reported as a fresh interpreter would
        traceback.print_exc()
        code = 1
    finally:  # pragma: no cover
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - a closed stream: nothing left to say
                pass
        os._exit(code)


def set_name(name: str) -> None:
    """This process's kernel name (``/proc/self/comm``, 15 bytes), which ``ps``/``top`` show."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def _fresh_signals() -> None:
    """Python's own start-up dispositions: SIGINT raises KeyboardInterrupt, SIGPIPE stays ignored,
    every other handler this process installed goes back to the default; no wake-up fd."""
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if callable(handler) and handler is not signal.default_int_handler:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def _detach_inherited(keep: set[int]) -> None:
    """Point every inherited pipe and socket above 2, except ``keep``, at /dev/null."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for fd in fds:
            if fd <= 2 or fd == null or fd in keep:
                continue
            try:
                mode = os.fstat(fd).st_mode
            except OSError:  # the listing's own descriptor, already closed
                continue
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def stop_child(proc: subprocess.Popen[Any] | ForkedChild, timeout: float = 10.0) -> int | None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL; its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def set_handler(sig: int, handler: Any) -> None:
    """``signal.signal`` without its return value: that wraps the previous handler in an enum, and a
    Python-level previous handler makes it raise and catch a ValueError (pages a forked child copies)."""
    raw = _signal.SIG_DFL if handler is signal.SIG_DFL else _signal.SIG_IGN if handler is signal.SIG_IGN else handler
    _signal.signal(sig if type(sig) is int else int(sig), raw)


def drain(fd: int) -> None:
    """Read a non-blocking descriptor (a wake-up pipe) until it is empty."""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:  # empty (BlockingIOError) or closed
        pass


def close_quietly(fd: int) -> None:
    """Close a descriptor that may be closed already."""
    try:
        os.close(fd)
    except OSError:
        pass


def trim_heap() -> None:
    """Give the C library's free heap pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).
    The zygote calls it after loading: every page it maps is copied into each child's page table at the
    fork and torn down at its exit (some 33 µs per MiB for the two), and its imports leave ~1 MiB freed."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def close_plan(fds: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """The ``os.closerange`` arguments that close these descriptors (any may be closed already): one
    (low, high) per run of consecutive numbers, worked out before a fork so that the child only calls."""
    ordered = sorted(set(fds))
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            runs.append((ordered[start], ordered[i - 1] + 1))
            start = i
    return tuple(runs)


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid`` (and ``pid`` itself if it has no group of its own)."""
    for target in (lambda: os.killpg(pid, sig), lambda: os.kill(pid, sig)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0; a permission error means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
