"""``procs.fork_child``: a component forked from a warm parent behaves as a spawned one would
(exit codes, Popen-like control, fresh signal handlers, no inherited pipes or sockets, dies with
its parent)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from runtime import procs
from tests.services import wait_for

REPO = Path(__file__).resolve().parents[2]

# A whole test session has threads (servers of session fixtures), and a process with threads must
# not fork: these tests run in a pytest process of their own, started by test_fork_child_runner.py.
INNER = os.environ.get("WINDSOCK_FORK_CHILD_TESTS") == "1"
pytestmark = pytest.mark.skipif(not INNER, reason="run in a single-threaded process of their own by "
                                                  "tests/faults/test_fork_child_runner.py")


def _report(fd: int, text: str) -> None:
    os.write(fd, text.encode())
    os.close(fd)


def _gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_exit_codes_follow_return_systemexit_and_exceptions() -> None:
    assert procs.fork_child(lambda: 3, name="t-return").wait(10) == 3
    assert procs.fork_child(lambda: None, name="t-none").wait(10) == 0

    def exits() -> int:
        raise SystemExit(4)

    def says() -> int:
        raise SystemExit("a message")

    def fails() -> int:
        raise ValueError("boom")

    assert procs.fork_child(exits, name="t-exit").wait(10) == 4
    assert procs.fork_child(says, name="t-says").wait(10) == 1
    assert procs.fork_child(fails, name="t-fails").wait(10) == 1


def test_poll_wait_terminate_and_stop_child_as_with_popen() -> None:
    child = procs.fork_child(lambda: time.sleep(60), name="t-sleep")
    assert child.poll() is None and child.returncode is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.2)
    assert procs.stop_child(child, timeout=10) == -signal.SIGTERM
    assert child.poll() == -signal.SIGTERM
    child.kill()  # reaped: signalling it again is a no-op, never a signal to a recycled pid
    r, w = os.pipe()

    def stubborn() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _report(w, "ready")
        time.sleep(60)

    ignores = procs.fork_child(stubborn, name="t-stubborn", keep_fds=(w,))
    os.close(w)
    assert os.read(r, 10) == b"ready"
    os.close(r)
    assert procs.stop_child(ignores, timeout=0.5) == -signal.SIGKILL


def test_the_child_starts_with_default_signal_handlers_and_its_own_name() -> None:
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: seen.append(1))
    r, w = os.pipe()
    try:
        def child() -> None:
            with open("/proc/self/comm") as handle:
                comm = handle.read().strip()
            handler = signal.getsignal(signal.SIGUSR1)
            _report(w, f"{comm} {handler is signal.SIG_DFL} {signal.getsignal(signal.SIGINT) is signal.default_int_handler}")

        proc = procs.fork_child(child, name="t-named", keep_fds=(w,))
        os.close(w)
        assert proc.wait(10) == 0
        assert os.read(r, 200).decode() == "t-named True True"
    finally:
        os.close(r)
        signal.signal(signal.SIGUSR1, old)


def test_inherited_sockets_are_detached_unless_kept() -> None:
    """The other end of this process's socket sees EOF when this process closes its end, although a
    forked child still runs (as after an exec); a kept descriptor stays usable in the child."""
    ours, theirs = socket.socketpair()
    kept_r, kept_w = os.pipe()
    child = procs.fork_child(lambda: (_report(kept_w, "kept works"), time.sleep(60))[1], name="t-detach",
                             keep_fds=(kept_w,))
    try:
        os.close(kept_w)
        assert os.read(kept_r, 100) == b"kept works"
        theirs.close()
        ours.settimeout(5)
        assert ours.recv(10) == b""  # EOF: the child holds no copy of `theirs`
    finally:
        procs.stop_child(child)
        ours.close()
        os.close(kept_r)


def test_a_process_with_another_thread_does_not_fork() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert not procs.can_fork()
        with pytest.raises(RuntimeError, match="no other thread"):
            procs.fork_child(lambda: 0, name="t-thread")
    finally:
        stop.set()
        thread.join()
    assert procs.can_fork()


def test_a_forked_child_gets_sigterm_when_its_parent_is_killed(tmp_path: Path) -> None:
    """kill -9 of the parent: the kernel sends the child SIGTERM (its handler runs, it exits)."""
    marks = tmp_path / "marks"
    script = textwrap.dedent(f"""
        import signal, sys, time
        from runtime import procs

        def child():
            def on_term(*_):
                open({str(marks)!r}, "a").write("terminated\\n")
                raise SystemExit(0)
            signal.signal(signal.SIGTERM, on_term)
            open({str(marks)!r}, "a").write("started\\n")
            time.sleep(60)

        proc = procs.fork_child(child, name="t-orphan")
        print(proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        wait_for(lambda: marks.exists() and "started" in marks.read_text(), 10, "the child never started")
        parent.kill()
        parent.wait(10)
        wait_for(lambda: _gone(pid), 10, "the forked child outlived its killed parent")
        assert marks.read_text().split() == ["started", "terminated"]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
