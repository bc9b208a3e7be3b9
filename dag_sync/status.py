"""The status file under $WINDSOCK_HOME: last sync of each part, and the last error.

``windsock sync status`` prints it; the scheduler and the UI read it with ``read_status``.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATUS_FILE = "sync/status.json"


def status_path(home: Path | str) -> Path:
    """Path of the status file for a Windsock home."""
    return Path(home).expanduser() / STATUS_FILE


def read_status(home: Path | str) -> dict[str, Any]:
    """The status as a dict: sections ``dags``, ``plugins``, ``requirements``, ``startup``."""
    try:
        data = json.loads(status_path(home).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_status(home: Path | str, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Replace one section of the status file atomically; returns the whole status."""
    with file_lock(status_path(home).with_name(".lock-status")):
        data = read_status(home)
        data[section] = values
        _write(status_path(home), data)
    return data


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``: held across threads and processes alike."""
    # flock belongs to the open file description, so two threads opening the file exclude
    # each other just as two processes do.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
