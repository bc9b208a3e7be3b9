"""fork(2) for the zygote, without the interpreter's work for threads that do not exist.

``os.fork()`` runs, in the child, every hook registered with ``os.register_at_fork`` and resets the
interpreter's locks; in the parent it takes and releases them around the fork. Most of that is for
other threads: the lock one of them may have held at the fork (the import lock, logging's and
``concurrent.futures``' locks) and the table of threads, of which only the forking one lives on. In
a process with one thread no such lock can be held by anyone else, and the table already holds only
that thread. The work is not free in a task child: ``threading``'s and ``logging``'s hooks run Python
code that writes to shared pages, each copied on the write — some 150 of the 280 pages a child that
only exits copies, some 90 of a no-op try's 740 (bench/README.md, Round 7).

:class:`LeanFork` calls the C library's ``fork()`` with the GIL held (``ctypes.PyDLL``) when the
process runs one thread, and runs itself every registered hook not known to be only about other
threads, in the order ``os.fork()`` would: ``random``'s reseed, and any a library registered (a DAG
file's imports may). The hook lists are the interpreter's own, found once by what holds
``threading``'s hook; where they cannot be found (not CPython 3.11) or a second thread runs,
``os.fork()`` does the fork.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

Hook = Callable[[], Any]


def _unique_list_holding(hook: Any) -> list[Hook] | None:
    """The one list object that holds ``hook`` (the interpreter's hook list), or None."""
    lists = [ref for ref in gc.get_referrers(hook) if type(ref) is list]
    return lists[0] if len(lists) == 1 else None


class LeanFork:
    """``fork()`` as ``os.fork()`` does it, less the hooks for threads when there is one thread."""

    def __init__(self) -> None:
        self._fork: Any = None
        self.before: list[Hook] | None = None
        self.child: list[Hook] | None = None
        self.parent: list[Hook] | None = None
        self._key: tuple[int, int, int, bool] | None = None
        self._plan: tuple[list[Hook], list[Hook], list[Hook]] = ([], [], [])
        if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11) or sys.platform != "linux":
            return
        # found before anything is frozen: a frozen object is not among the referrers gc looks at
        self.child = _unique_list_holding(threading._after_fork)  # type: ignore[attr-defined]
        self.before = _unique_list_holding(logging._acquireLock)  # type: ignore[attr-defined]
        self.parent = _unique_list_holding(logging._releaseLock)  # type: ignore[attr-defined]
        if self.child is None or self.before is None or self.parent is None:
            return
        try:
            libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the call keeps the GIL
            fork = libc.fork
        except (OSError, AttributeError):
            return
        fork.restype, fork.argtypes = ctypes.c_int, []
        self._fork = fork

    @property
    def usable(self) -> bool:
        """Whether forks take the lean way (when the process runs one thread)."""
        return self._fork is not None

    def prepared(self) -> Callable[[], int]:
        """A fork function (0 in the child, the child's pid in the parent, OSError when the fork fails) for
        forks in a row, with the hooks to run worked out once: the work a parent does between two forks
        copies the pages it writes (they are shared with the child just forked)."""
        if self._fork is None or threading.active_count() != 1:
            return os.fork
        before, child, parent = self._hooks()
        cfork = self._fork

        def fork() -> int:
            for hook in before:
                _call(hook)
            pid = cfork()
            if pid == 0:  # pragma: no cover - the child
                for hook in child:
                    _call(hook)
                return 0
            errno = ctypes.get_errno() if pid < 0 else 0
            for hook in parent:
                _call(hook)
            if pid < 0:
                raise OSError(errno, f"fork failed: {os.strerror(errno)}")
            return pid

        return fork

    def _hooks(self) -> tuple[list[Hook], list[Hook], list[Hook]]:
        """The hooks to run: before the fork (last registered first), in the child, in the parent. Worked
        out again only when a hook was registered since (registering appends to the lists)."""
        assert self.before is not None and self.child is not None and self.parent is not None
        key = (len(self.before), len(self.child), len(self.parent), "concurrent.futures.thread" in sys.modules)
        if key != self._key:
            skip = _thread_only_hooks()
            self._plan = ([h for h in reversed(self.before) if h not in skip], [h for h in self.child if h not in skip],
                          [h for h in self.parent if h not in skip])
            self._key = key
        return self._plan


def _thread_only_hooks() -> list[Any]:
    """The registered hooks that only reset what another thread might have held at the fork."""
    hooks: list[Any] = [threading._after_fork, logging._acquireLock,  # type: ignore[attr-defined]
                        logging._releaseLock, logging._after_at_fork_child_reinit_locks]  # type: ignore[attr-defined]
    pool = sys.modules.get("concurrent.futures.thread")
    lock = getattr(pool, "_global_shutdown_lock", None)
    if lock is not None:
        hooks += [lock.acquire, lock.release, lock._at_fork_reinit]
    return hooks


def _call(hook: Hook) -> None:
    """As the interpreter calls an at-fork hook: an exception is printed, not raised."""
    try:
        hook()
    except Exception:  # noqa: BLE001 - os.fork() reports a failing hook and goes on
        print(f"Exception ignored in fork hook {hook!r}:", file=sys.stderr)
        traceback.print_exc()
