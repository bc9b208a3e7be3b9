"""Parse DAG files in forked children: a timeout, a memory cap and a pipe back to the parent.

The parent has the SDK imported already (``warm_up``), so a fork costs about a millisecond and
the child only executes the user's file. Whatever the file does (loop forever, ``os._exit``,
segfault, allocate without end, print without end) happens in the child; the parent turns it
into a ``DagFileError``. What the file prints comes back on a second pipe and goes to its
capped, rotating log (``RotatingLog``). The DAG processor and the CLI (``dags list -S``) both
parse this way.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
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
from runtime.processor.logfile import RotatingLog
from runtime.procs import die_with_parent

MEMORY_EXIT_CODE = 86  # the child ran out of its address-space cap before it could report
_READ_CHUNK = 1 << 16
_DAG_IN_REASON = re.compile(r"DAG '([^']+)'")


@dataclass(frozen=True)
class ParseJob:
    """One file to parse: the path recorded for it and where its log goes (None: this process's stderr)."""

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
    """How long and how much memory one parse may take, how many run at once, how much it may log."""

    timeout: float = 50.0
    memory_mb: int = 1024
    processes: int = 2
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 1

    @classmethod
    def from_settings(cls, settings: Any) -> ParseLimits:
        """The limits of ``[core]`` and ``[logging]`` settings (one place for processor and CLI)."""
        return cls(
            timeout=float(settings.get("core", "dag_file_processor_timeout")),
            memory_mb=int(settings.get("core", "dag_file_processor_memory_limit_mb")),
            processes=int(settings.get("core", "parsing_processes")),
            log_max_bytes=int(settings.get("logging", "dag_processor_log_max_bytes")),
            log_backups=int(settings.get("logging", "dag_processor_log_backups")),
        )


def mark_duplicates(outcomes: list[ParseOutcome], owners: dict[str, str]) -> None:
    """A dag_id already owned (``owners``: dag_id -> file, or by a file earlier in path order) fails its file.

    The one rule of the DAG processor and the CLI, as Airflow's AirflowDagDuplicatedIdException.
    """
    for outcome in sorted(outcomes, key=lambda o: o.fileloc):
        clash = next((d["dag_id"] for d in outcome.dags if d["dag_id"] in owners), None)
        if clash is not None:
            reason = f"AirflowDagDuplicatedIdException: DAG {clash!r} is already defined in {owners[clash]}"
            outcome.error = DagFileError(outcome.fileloc, reason, dag_line(outcome.fileloc, reason))
            outcome.dags = []
            continue
        owners.update((d["dag_id"], outcome.fileloc) for d in outcome.dags)


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
                    running[child.pid] = child
                    child.register(selector)
                yield from _step(selector, running, limits)
    finally:
        gc.unfreeze()
        for child in running.values():  # the consumer stopped early: leave no child behind
            child.kill(limits)


def _step(
    selector: selectors.BaseSelector, running: dict[int, _Child], limits: ParseLimits
) -> Iterator[ParseOutcome]:
    """Wait for a report, output or the nearest deadline; finish children that reported, died or overran."""
    wait = max(0.0, min(c.deadline for c in running.values()) - time.monotonic())
    for key, _ in selector.select(timeout=wait):
        child, is_output = key.data
        if child.pid not in running:
            continue  # finished earlier in this round
        if is_output:
            if child.pump_output():  # every writer closed it: stop watching (EOF stays "readable")
                selector.unregister(key.fd)
                child.close_output()
        elif child.read():
            child.unregister(selector)
            yield running.pop(child.pid).finish(limits)
    now = time.monotonic()
    for pid, child in list(running.items()):
        if now >= child.deadline:
            child.unregister(selector)
            yield running.pop(pid).kill(limits)


@dataclass
class _Child:
    """A forked parser, the read end of its report pipe and (with a log) of its output pipe."""

    job: ParseJob
    pid: int
    fd: int
    started: float
    deadline: float
    out_fd: int | None = None
    log: RotatingLog | None = None
    chunks: list[bytes] = field(default_factory=list)

    @classmethod
    def start(cls, job: ParseJob, limits: ParseLimits) -> _Child:
        """Fork a child that parses ``job``, writes its JSON report to one pipe and its output to another."""
        read_fd, write_fd = os.pipe()
        out_read, out_write = os.pipe() if job.log_path is not None else (None, None)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_fd)
            if out_read is not None:
                os.close(out_read)
            _child_main(job, write_fd, out_write, limits.memory_mb)
        _own_group(pid)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        log = None
        if out_read is not None and out_write is not None and job.log_path is not None:
            os.close(out_write)
            os.set_blocking(out_read, False)
            log = RotatingLog(job.log_path, limits.log_max_bytes, limits.log_backups)
        started = time.monotonic()
        return cls(job, pid, read_fd, started, started + limits.timeout, out_read, log)

    def register(self, selector: selectors.BaseSelector) -> None:
        """Watch the report pipe and the output pipe."""
        selector.register(self.fd, selectors.EVENT_READ, (self, False))
        if self.out_fd is not None:
            selector.register(self.out_fd, selectors.EVENT_READ, (self, True))

    def unregister(self, selector: selectors.BaseSelector) -> None:
        """Stop watching both pipes (before they are closed)."""
        selector.unregister(self.fd)
        if self.out_fd is not None:
            selector.unregister(self.out_fd)

    def pump_output(self) -> bool:
        """Copy what the file printed into its log; True once every writer has closed the pipe."""
        if self.out_fd is None:
            return True
        while True:
            try:
                chunk = os.read(self.out_fd, _READ_CHUNK)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            if self.log is not None:
                self.log.write(chunk)

    def close_output(self) -> None:
        """Take the last of the output (the writers are dead or done) and close the log."""
        if self.out_fd is not None:
            self.pump_output()
            os.close(self.out_fd)
            self.out_fd = None
        if self.log is not None:
            self.log.close()

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
        status = 0
        if report is not None:
            _kill_group(self.pid)  # done: whatever the file started (a subprocess, a fork) ends too
            os.waitpid(self.pid, 0)
        else:
            status = self._reap()
        self.close_output()
        outcome = ParseOutcome(self.job.fileloc, duration=time.monotonic() - self.started)
        if report is not None and "dags" in report:
            outcome.dags = report["dags"]
        elif report is not None and "error" in report:
            outcome.error = DagFileError(
                self.job.fileloc, report["error"]["reason"], report["error"].get("line")
            )
        else:
            outcome.error = DagFileError(self.job.fileloc, _death(status, limits))
        return outcome

    def _reap(self) -> int:
        """Wait for a child that closed its pipe without a report; killed at its deadline. Its status."""
        while True:
            self.pump_output()  # a child blocked on a full output pipe could not exit
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
        self.close_output()
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


def _child_main(job: ParseJob, write_fd: int, out_fd: int | None, memory_mb: int) -> None:  # pragma: no cover
    """Body of the forked child: limit memory, parse, report, and leave without cleanup."""
    code = 0
    try:
        die_with_parent(signal.SIGKILL)  # a parse never outlives the processor
        _own_group(0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _redirect_output(out_fd)
        _limit_memory(memory_mb)
        report = _parse(job.fileloc, memory_mb)
        _flush()  # every print is in the output pipe before the report says "done"
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


def _redirect_output(out_fd: int | None) -> None:  # pragma: no cover - child
    """Send the file's prints, warnings and any crash traceback to the output pipe (the parent logs it).

    Without a pipe they go to stderr: a CLI's own stdout (a JSON listing) stays clean.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if out_fd is None:
        os.dup2(2, 1)
    else:
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
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


# Airflow modules nearly every DAG file imports; loading them once in the parent saves each child ~3 ms.
WARM_MODULES = (
    "runtime.sdk.operators.bash",
    "runtime.sdk.operators.python",
    "runtime.sdk.operators.empty",
    "runtime.sdk.serialization",
    "runtime.sdk.timetables",
    "airflow",
    "airflow.models",
    "airflow.operators.bash",
    "airflow.operators.python",
    "airflow.operators.empty",
    "airflow.decorators",
    "airflow.utils.dates",
)


def warm_up() -> None:
    """Import what DAG files use, once, in the parent, so every forked parse finds it loaded.

    This installs the ``airflow.*`` import hook in this process too; it only maps Airflow
    module names to the SDK and never runs user code.
    """
    try:
        from runtime.compat import install_import_hook

        install_import_hook()
    except ImportError:  # pragma: no cover - the Airflow import shim is optional here
        pass
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
