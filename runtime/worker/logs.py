"""Task logs as Airflow writes them: a header, then one timestamped line per message.

A try's child sends its stdout and stderr (file descriptors 1 and 2, so subprocesses too) to
the try's log file (``runtime.paths.task_log_path``). Python-level output is prefixed line by
line with ``[timestamp] {source} LEVEL - ``, and the ``logging`` module uses the same format,
so the lines users grep for look like Airflow's.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from typing import Any, TextIO

LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


def stamp(now: float | None = None) -> str:
    """``2024-01-01T00:00:00.123+0000`` in UTC, as Airflow's log lines start."""
    t = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+0000"


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return stamp(record.created)


class StampedStream(io.TextIOBase):
    """A text stream that writes each complete line to ``raw`` with a timestamp, source and level."""

    def __init__(self, raw: TextIO, source: str, level: str = "INFO") -> None:
        self.raw = raw
        self.prefix = f"{{{source}}} {level} - "
        self.partial = ""

    def writable(self) -> bool:
        """Always."""
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        """Buffer ``text``; write every complete line with its prefix."""
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        if lines:
            now = stamp()
            self.raw.write("".join(f"[{now}] {self.prefix}{line}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        """Write a pending partial line (as a line of its own) and flush."""
        if self.partial:
            self.raw.write(f"[{stamp()}] {self.prefix}{self.partial}\n")
            self.partial = ""
        self.raw.flush()

    def fileno(self) -> int:
        """The underlying descriptor (subprocesses write there directly, without prefixes)."""
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The log file's encoding."""
        return "utf-8"


class Redirect:
    """The streams and the logging handler a try's child writes through, over file descriptor 1.

    The zygote builds one once and installs it (:meth:`install_objects`) before it forks a batch, pointing
    fds 1 and 2 at each child's log right before its fork: building or installing them in every child
    costs page copies (a forked child pays for every page it writes)."""

    def __init__(self) -> None:
        self.raw = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                    line_buffering=False, write_through=True)
        self.stdout = StampedStream(self.raw, "stdout")
        self.stderr = StampedStream(self.raw, "stderr")
        self.handler = logging.StreamHandler(self.raw)
        self.handler.setFormatter(_UtcFormatter(LOG_FORMAT))

    def install_fd(self, fd: int) -> None:
        """Point fds 1 and 2 at the open log ``fd`` (and close ``fd``); Python's output and logging become
        Airflow-style lines there."""
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        self.install_objects()

    def install_objects(self) -> None:
        """Make these streams Python's and this handler the root logger's (fds 1 and 2 are the caller's to point)."""
        sys.stdout = self.stdout  # type: ignore[assignment]
        sys.stderr = self.stderr  # type: ignore[assignment]
        root = logging.getLogger()
        root.handlers[:] = [self.handler]
        if root.level != logging.INFO:  # a warm parent set it already (setLevel walks every logger)
            root.setLevel(logging.INFO)



def open_log(path: str) -> int:
    """A try's log file opened for appending (its directories made); the descriptor is not inherited."""
    folder = os.path.dirname(path)
    try:
        os.mkdir(folder)  # a try's folder is new as a rule (the task's, in its run's)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


PID_MARK = "\x00pid\x00"  # where a header composed before the fork takes the child's pid (``write_header``)


def header(work: Any, *, hostname: str, executor: str, job_id: int | None, pid: int | str | None = None) -> str:
    """The try's header lines, as the worker writes them before the task's own output (``pid``: this
    process's unless given, e.g. ``PID_MARK`` in a header composed for a child not yet forked)."""
    now = stamp()
    index = f" --map-index {work.map_index}" if work.map_index >= 0 else ""
    lines = [("Starting attempt", f"{work.try_number} of {work.max_tries + 1}"),
             ("Task", f"dag_id={work.dag_id} task_id={work.task_id} run_id={work.run_id} map_index={work.map_index}"),
             ("Host", f"{hostname} pid={os.getpid() if pid is None else pid} executor={executor} job={job_id}"),
             ("Command", f"windsock tasks run {work.dag_id} {work.task_id} {work.run_id}{index}")]
    return "".join(f"[{now}] {{worker}} INFO - {key}: {value}\n" for key, value in lines)


def write_header(composed: str) -> None:
    """Write a header composed with ``PID_MARK`` to file descriptor 1, with this process's pid."""
    os.write(1, composed.replace(PID_MARK, str(os.getpid())).encode("utf-8", "backslashreplace"))


def append(path: str | None, text: str) -> None:
    """Add one worker line to a try's log from outside its process (its death, an interruption)."""
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"[{stamp()}] {{worker}} INFO - {text}\n")
    except OSError:
        pass
