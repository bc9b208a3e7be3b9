"""Process lifetimes: every process Windsock starts dies with its parent (no orphans after kill -9).

Linux's ``PR_SET_PDEATHSIG`` makes the kernel signal a child when its parent dies. Long-lived
children (DAG processor, fork server, web server) ask for SIGTERM, so they can hand over what
they hold before exiting; short-lived ones (task and parse children, their subprocesses) for
SIGKILL. On other systems the children notice their parent leaving by other means (a closed
socket, a changed parent pid).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half (procs.set_handler)
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_libc() -> Any:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def die_with_parent(sig: int = signal.SIGKILL, *, expected_parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (async-signal-safe enough
    for a ``preexec_fn``). If the parent is already gone, exit at once."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    parent = os.getppid()
    if parent == 1 or (expected_parent is not None and parent != expected_parent):
        os._exit(1)


def parent_death_preexec(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process dies."""
    parent = os.getpid()
    return lambda: die_with_parent(sig, expected_parent=parent)


def start_child(argv: Sequence[str], *, sig: int = signal.SIGTERM, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``Popen(argv)`` that dies (gets ``sig``) with this process."""
    return subprocess.Popen(list(argv), preexec_fn=parent_death_preexec(sig), **kwargs)  # noqa: PLW1509


def stop_child(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
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
    raw = {signal.SIG_DFL: _signal.SIG_DFL, signal.SIG_IGN: _signal.SIG_IGN}.get(handler, handler)
    _signal.signal(int(sig), raw)


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
