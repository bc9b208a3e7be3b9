"""Task logs for the web server: the one place it reads them (local files today, later CloudWatch too)."""

from __future__ import annotations

from dataclasses import dataclass

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
        return LogChunk("", offset, False, path)
    return LogChunk(data.decode("utf-8", errors="replace"), max(0, offset) + len(data), True, path)
