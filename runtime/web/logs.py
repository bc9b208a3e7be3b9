"""Task logs for the web server: the one place it reads them — the local file, else CloudWatch Logs.

The same places ``windsock tasks logs`` reads (``runtime.tasklogs``): a deployed web server has no
task log files of its own; it reads the try's stream in ``[logging] remote_log_group``.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime import tasklogs
from runtime.paths import task_log_path
from runtime.settings import Settings

MAX_CHUNK = 1_000_000


@dataclass(frozen=True)
class LogChunk:
    """Part of a try's log from ``offset``; ``found`` False when there is no log (yet)."""

    text: str
    next_offset: int
    found: bool
    where: str


def read_task_log(
    settings: Settings, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, offset: int = 0
) -> LogChunk:
    """The log of one try from byte ``offset`` (at most MAX_CHUNK bytes), as ``windsock tasks logs`` reads it."""
    path = task_log_path(str(settings.get("logging", "base_log_folder")), dag_id, run_id, task_id, map_index, try_number)
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(MAX_CHUNK)
    except (FileNotFoundError, NotADirectoryError):
        return _remote(settings, dag_id, run_id, task_id, map_index, try_number, offset) or LogChunk("", offset, False, path)
    return LogChunk(data.decode("utf-8", errors="replace"), max(0, offset) + len(data), True, path)


def _remote(settings: Settings, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
            offset: int) -> LogChunk | None:
    """The try's CloudWatch stream from byte ``offset``, or None when there is no group or no stream."""
    group = str(settings.get("logging", "remote_log_group") or "")
    if not group:
        return None
    base = str(settings.get("logging", "base_log_folder"))
    stream = tasklogs.stream_name(base, dag_id, run_id, task_id, map_index, try_number)
    text = tasklogs.read_stream(tasklogs.logs_client(), group, stream)
    if text is None:
        return None
    data = text.encode("utf-8")[max(0, offset):max(0, offset) + MAX_CHUNK]
    return LogChunk(data.decode("utf-8", errors="replace"), max(0, offset) + len(data), True, f"{group}/{stream}")
