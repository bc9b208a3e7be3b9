"""A size-capped, rotating log file for what a DAG file prints while it is parsed.

The parent writes it from the bytes a parse child sends down a pipe, so everything the file
prints (``print``, a subprocess writing to fd 1, a crash traceback) counts against one cap:
``<file>.log`` never grows past ``max_bytes``; when full it becomes ``<file>.log.1`` (older
backups shift up, the oldest is dropped) and a fresh ``<file>.log`` continues. A file that
prints 100 MB therefore leaves at most ``max_bytes * (backups + 1)`` on disk: the tail.
"""

from __future__ import annotations

import os


class RotatingLog:
    """One parse's output log: truncated at open (it holds the last parse), capped and rotated."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = max(0, backups)
        self.size = 0
        self.rotations = 0
        self._fd: int | None = None
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._drop_backups()
            self._fd = self._open()
        except OSError:
            self._fd = None  # an unwritable log folder must not fail the parse: the output is dropped

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating whenever the file would pass ``max_bytes``."""
        view = memoryview(data)
        while view and self._fd is not None:
            room = len(view) if self.max_bytes <= 0 else self.max_bytes - self.size
            if room <= 0:
                self._rotate()
                continue
            try:
                written = os.write(self._fd, view[:room])
            except OSError:
                self.close()  # disk full or gone: stop logging this parse, keep parsing
                return
            self.size += written
            view = view[written:]

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        self.size = 0
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def _rotate(self) -> None:
        """``log`` -> ``log.1`` -> ``log.2`` ... (at most ``backups``), then a fresh ``log``."""
        self.close()
        self.rotations += 1
        try:
            if self.backups:
                for n in range(self.backups - 1, 0, -1):
                    if os.path.exists(f"{self.path}.{n}"):
                        os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
                os.replace(self.path, f"{self.path}.1")
            self._fd = self._open()
        except OSError:
            self._fd = None

    def _drop_backups(self) -> None:
        """Backups of an earlier parse do not belong to this one."""
        n = 1
        while os.path.exists(f"{self.path}.{n}"):
            os.unlink(f"{self.path}.{n}")
            n += 1
