"""Parse DAG files in forked children: a timeout, a memory cap and a pipe back to the parent.

The parent has the SDK imported already, so a fork costs about a millisecond and the child
only executes the user's file. Whatever the file does (loop forever, ``os._exit``, segfault,
allocate without end) happens in the child; the parent turns it into a ``DagFileError``.
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import json
import os
import re
import resource
import selectors
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import DagFileError
from runtime.procs import die_with_parent

MEMORY_EXIT_CODE = 86  # the child ran out of its address-space cap before it could report
_READ_CHUNK = 1 << 16
_DAG_IN_REASON = re.compile(r"DAG '([^']+)'")


@dataclass(frozen=True)
class ParseJob:
    """One file to parse: the path recorded for it and where its log goes (None: inherit)."""

    fileloc: str
    log_path: str | None = None


@dataclass
class ParseOutcome:
    """What parsing one file gave: serialized DAGs, or the error that stopped it."""

    fileloc: str
    dags: list[dict[str, Any]] = field(default_factory=list)
    error: DagFileError | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class ParseLimits:
    """How long and how much memory one parse may take, and how many run at once."""

    timeout: float = 50.0
    memory_mb: int = 1024
    processes: int = 2


def parse_in_children(jobs: Iterable[ParseJob], limits: ParseLimits) -> Iterator[ParseOutcome]:
    """Parse every job in a forked child, at most ``limits.processes`` at once; outcomes as they finish."""
    pending = list(jobs)
    pending.reverse()
    running: dict[int, _Child] = {}
    gc.freeze()  # children then share the parent's objects instead of copying pages the GC touches
    try:
        with selectors.DefaultSelector() as selector:
            while pending or running:
                while pending and len(running) < max(1, limits.processes):
                    child = _Child.start(pending.pop(), limits)
                    running[child.fd] = child
                    selector.register(child.fd, selectors.EVENT_READ)
                yield from _step(selector, running, limits)
    finally:
        gc.unfreeze()
        for child in running.values():  # the consumer stopped early: leave no child behind
            child.kill(limits)


def _step(
    selector: selectors.BaseSelector, running: dict[int, _Child], limits: ParseLimits
) -> Iterator[ParseOutcome]:
    """Wait for output or the nearest deadline; finish children that closed their pipe or overran."""
    wait = max(0.0, min(c.deadline for c in running.values()) - time.monotonic())
    for key, _ in selector.select(timeout=wait):
        child = running[int(key.fd)]  # type: ignore[arg-type]
        if child.read():
            selector.unregister(child.fd)
            yield running.pop(child.fd).finish(limits)
    now = time.monotonic()
    for fd, child in list(running.items()):
        if now >= child.deadline:
            selector.unregister(fd)
            yield running.pop(fd).kill(limits)


@dataclass
class _Child:
    """A forked parser and the read end of its pipe."""

    job: ParseJob
    pid: int
    fd: int
    started: float
    deadline: float
    chunks: list[bytes] = field(default_factory=list)

    @classmethod
    def start(cls, job: ParseJob, limits: ParseLimits) -> _Child:
        """Fork a child that parses ``job`` and writes its JSON report to a pipe."""
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_fd)
            _child_main(job, write_fd, limits.memory_mb)
        _own_group(pid)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        started = time.monotonic()
        return cls(job, pid, read_fd, started, started + limits.timeout)

    def read(self) -> bool:
        """Read what the child wrote; True at end of file or once the report's final newline came."""
        while True:
            try:
                chunk = os.read(self.fd, _READ_CHUNK)
            except BlockingIOError:
                # A process the file started may hold the pipe open after the child is done.
                return bool(self.chunks) and self.chunks[-1].endswith(b"\n")
            if not chunk:
                return True
            self.chunks.append(chunk)

    def finish(self, limits: ParseLimits) -> ParseOutcome:
        """Reap the child and decode its report (or explain how it died)."""
        os.close(self.fd)
        report = _decode(b"".join(self.chunks))
        if report is not None:
            _kill_group(self.pid)  # done: whatever the file started (a subprocess, a fork) ends too
            os.waitpid(self.pid, 0)
        outcome = ParseOutcome(self.job.fileloc, duration=time.monotonic() - self.started)
        if report is not None and "dags" in report:
            outcome.dags = report["dags"]
        elif report is not None and "error" in report:
            outcome.error = DagFileError(
                self.job.fileloc, report["error"]["reason"], report["error"].get("line")
            )
        else:
            outcome.error = DagFileError(self.job.fileloc, _death(self._reap(), limits))
        return outcome

    def _reap(self) -> int:
        """Wait for a child that closed its pipe without a report; killed at its deadline. Its status."""
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                _kill_group(self.pid, child_alive=False)
                return status
            if time.monotonic() >= self.deadline:
                _kill_group(self.pid)
                return os.waitpid(self.pid, 0)[1]
            time.sleep(0.005)

    def kill(self, limits: ParseLimits) -> ParseOutcome:
        """Kill a child that overran the timeout and record why."""
        _kill_group(self.pid)
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        reason = (
            f"timed out after {limits.timeout:g}s (core.dag_file_processor_timeout); the parse was killed"
        )
        return ParseOutcome(
            self.job.fileloc,
            error=DagFileError(self.job.fileloc, reason),
            duration=time.monotonic() - self.started,
        )


def _own_group(pid: int) -> None:
    """Put the child in a process group of its own (done on both sides of the fork: no race)."""
    try:
        os.setpgid(pid, pid)
    except (PermissionError, ProcessLookupError):  # it already did it itself, or it is already gone
        pass


def _kill_group(pid: int, *, child_alive: bool = True) -> None:
    """SIGKILL the child's process group (the child and anything it started).

    Once the child is reaped only the group is signalled: its pid may belong to someone else.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
        return
    except (ProcessLookupError, PermissionError):
        if not child_alive:
            return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _decode(data: bytes) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        report = json.loads(data)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _death(status: int, limits: ParseLimits) -> str:
    """Why a child ended without a report."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = (
            " - out of memory? see core.dag_file_processor_memory_limit_mb" if sig == signal.SIGKILL else ""
        )
        return f"the parse process was killed by signal {sig} ({name}){hint}"
    code = os.WEXITSTATUS(status)
    if code == MEMORY_EXIT_CODE:
        return _memory_reason(limits.memory_mb)
    return f"the parse process exited with code {code} before reporting (os._exit or sys.exit in the file?)"


def _memory_reason(memory_mb: int) -> str:
    return f"exceeded memory limit of {memory_mb} MB (core.dag_file_processor_memory_limit_mb)"


# --- the child -------------------------------------------------------------------------------


def _child_main(job: ParseJob, write_fd: int, memory_mb: int) -> None:  # pragma: no cover - child
    """Body of the forked child: limit memory, parse, report, and leave without cleanup."""
    code = 0
    try:
        die_with_parent(signal.SIGKILL)  # a parse never outlives the processor
        _own_group(0)
        _die_with_parent()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _redirect_output(job.log_path)
        _limit_memory(memory_mb)
        report = _parse(job.fileloc, memory_mb)
        _write_all(write_fd, json.dumps(report).encode() + b"\n")  # JSON has no raw newline: the end marker
    except MemoryError:
        code = MEMORY_EXIT_CODE
    except BaseException:  # noqa: BLE001 - the parent records "exited before reporting"
        code = 70
    _flush()
    os._exit(code)


def _flush() -> None:  # pragma: no cover - child
    """Write out what the file printed: ``os._exit`` skips the interpreter's own flush."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream loses its output, nothing more
            pass


def _parse(fileloc: str, memory_mb: int) -> dict[str, Any]:  # pragma: no cover - child
    """Load the file and serialize its DAGs; user errors become a report, not an exception."""
    from runtime.loader import load_file
    from runtime.sdk.serialization import serialize_dag

    try:
        result = load_file(fileloc)
    except MemoryError:
        return {"error": {"reason": _memory_reason(memory_mb), "line": None}}
    except BaseException as exc:  # noqa: BLE001 - a loader failure is still this file's error
        return {"error": {"reason": f"{type(exc).__name__}: {exc}", "line": None}}
    if result.error is not None:
        reason = result.error.reason
        if reason.startswith("MemoryError"):
            reason = _memory_reason(memory_mb)
        return {"error": {"reason": reason, "line": result.error.lineno or dag_line(fileloc, reason)}}
    try:
        dags = [serialize_dag(dag) for dag in result.dags]
    except Exception as exc:  # noqa: BLE001
        return {"error": {"reason": f"cannot serialize DAG: {type(exc).__name__}: {exc}", "line": None}}
    for data in dags:
        data["fileloc"] = fileloc
    return {"dags": dags}


def dag_line(fileloc: str, reason: str) -> int | None:
    """For a DAG-level error without a line (a cycle, a duplicate id): the line naming that DAG's id."""
    match = _DAG_IN_REASON.search(reason)
    if match is None:
        return None
    quoted = (f"'{match.group(1)}'", f'"{match.group(1)}"')
    try:
        with open(fileloc, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if any(q in line for q in quoted):
                    return number
    except OSError:
        return None
    return None


def _limit_memory(memory_mb: int) -> None:  # pragma: no cover - child
    """Cap the address space at what the warm parent already maps plus ``memory_mb``."""
    if memory_mb <= 0:
        return
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as handle:
        mapped = int(handle.read().split()[0]) * page
    limit = mapped + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _redirect_output(log_path: str | None) -> None:  # pragma: no cover - child
    """Send the file's prints, warnings and any crash traceback to its processor log (last parse only)."""
    if log_path is None:
        return
    try:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # the last parse's output
    except OSError:
        return  # an unwritable log folder must not fail the parse
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # The inherited sys.stdout may write elsewhere than fd 1 (a capture, a wrapper): rebind both.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives until os._exit
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if faulthandler.is_enabled():  # the parent's handler writes to the parent's stderr
        faulthandler.enable(file=sys.stderr)


def _write_all(fd: int, data: bytes) -> None:  # pragma: no cover - child
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def _die_with_parent() -> None:  # pragma: no cover - child
    """A parse child must not outlive its DAG processor (a file hanging at import would linger)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
