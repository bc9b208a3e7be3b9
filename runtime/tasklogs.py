"""Where task logs live and how they are read: local files, and CloudWatch Logs in AWS.

A try's child writes its log to ``runtime.paths.task_log_path``. When ``[logging]
remote_log_group`` is set (a deployed environment: ``<env>-Task``), the worker ships each log
to one stream per try, named as MWAA names them (``dag_id=D/run_id=R/task_id=T/attempt=N.log``,
``:`` becoming ``_`` as CloudWatch requires), while the try runs and when it ends.
``windsock tasks logs`` and the web UI read through :func:`read`: the local file if this host
has it, else the stream.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from runtime.paths import task_log_path
from runtime.settings import Settings

MAX_EVENT = 200_000  # CloudWatch allows 256 KiB per event (message + 26 bytes)
MAX_BATCH_BYTES = 900_000  # and 1 MiB per PutLogEvents
MAX_BATCH_EVENTS = 10_000
SHIP_EVERY = 2.0  # seconds between shipments of running tries' new lines


def stream_name(base: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """The CloudWatch stream of a try: its log path below the log folder, ``:`` -> ``_``."""
    path = task_log_path(base, dag_id, run_id, task_id, map_index, try_number)
    return os.path.relpath(path, base).replace(os.sep, "/").replace(":", "_")


def read(settings: Settings, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
         client: Any = None) -> str | None:
    """The log of one try: the local file, else its CloudWatch stream; None when neither exists."""
    base = str(settings.get("logging", "base_log_folder"))
    path = task_log_path(base, dag_id, run_id, task_id, map_index, try_number)
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    group = str(settings.get("logging", "remote_log_group") or "")
    if not group:
        return None
    return read_stream(client or logs_client(), group, stream_name(base, dag_id, run_id, task_id, map_index,
                                                                    try_number))


def read_stream(client: Any, group: str, stream: str) -> str | None:
    """Every event of a stream, oldest first, one line each; None if the stream does not exist."""
    lines: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        if token:
            kwargs["nextToken"] = token
        try:
            page = client.get_log_events(**kwargs)
        except Exception as exc:  # noqa: BLE001 - a missing stream is "no log", anything else says why
            if "ResourceNotFound" in type(exc).__name__ or "ResourceNotFound" in str(exc):
                return None
            raise
        lines += [event["message"] for event in page.get("events", [])]
        if page.get("nextForwardToken") in (None, token):
            return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        token = page["nextForwardToken"]


def logs_client() -> Any:
    """A CloudWatch Logs client (the one factory's)."""
    from runtime import aws

    return aws.client("logs")


@dataclass
class _Followed:
    path: str
    stream: str
    offset: int = 0
    created: bool = False
    done: bool = False


class LogShipper:
    """Ships the logs of the tries a worker runs to CloudWatch (no-op without a log group)."""

    def __init__(self, group: str, base: str, client: Any = None) -> None:
        self.group = group
        self.base = base
        self.client = client
        self.followed: dict[str, _Followed] = {}
        self.next_ship = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LogShipper:
        """The shipper of ``[logging] remote_log_group`` (which may be empty: then it does nothing)."""
        return cls(str(settings.get("logging", "remote_log_group") or ""),
                   str(settings.get("logging", "base_log_folder")))

    def follow(self, work: Any) -> None:
        """Start shipping the log of ``work``'s try."""
        if not self.group:
            return
        try:
            path = task_log_path(self.base, work.dag_id, work.run_id, work.task_id, work.map_index, work.try_number)
        except Exception:  # noqa: BLE001 - an unsafe id: the fork server refuses the try anyway
            return
        stream = stream_name(self.base, work.dag_id, work.run_id, work.task_id, work.map_index, work.try_number)
        self.followed.setdefault(stream, _Followed(path, stream))

    def finish(self, work: Any) -> None:
        """The try ended: ship what is left of its log, then stop following it."""
        if not self.group:
            return
        stream = stream_name(self.base, work.dag_id, work.run_id, work.task_id, work.map_index, work.try_number)
        if stream in self.followed:
            self.followed[stream].done = True
            self.next_ship = 0.0

    def ship_all(self, final: bool = False) -> None:
        """Ship new lines of every followed log (every SHIP_EVERY seconds, or now when ``final``)."""
        if not self.group or not self.followed or (not final and time.monotonic() < self.next_ship):
            return
        self.next_ship = time.monotonic() + SHIP_EVERY
        if self.client is None:
            self.client = logs_client()
        for stream, item in list(self.followed.items()):
            try:
                self._ship(item)
            except Exception as exc:  # noqa: BLE001 - the local file keeps everything; try again later
                print(f"[windsock] worker: shipping log {stream} failed: {exc}", file=sys.stderr)
                continue
            if item.done or final:
                del self.followed[stream]

    def _ship(self, item: _Followed) -> None:
        lines = self._new_lines(item)
        if not lines:
            return
        if not item.created:
            try:
                self.client.create_log_stream(logGroupName=self.group, logStreamName=item.stream)
            except Exception as exc:  # noqa: BLE001 - it exists already (a retried shipment)
                if "ResourceAlreadyExists" not in type(exc).__name__ and "ResourceAlreadyExists" not in str(exc):
                    raise
            item.created = True
        for batch in _batches(lines):
            now = int(time.time() * 1000)
            self.client.put_log_events(logGroupName=self.group, logStreamName=item.stream,
                                       logEvents=[{"timestamp": now, "message": line} for line in batch])

    def _new_lines(self, item: _Followed) -> list[str]:
        """Complete lines added since the last shipment (all of it once the try is done)."""
        try:
            with open(item.path, "rb") as handle:
                handle.seek(item.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        if not item.done:
            data = data[: data.rfind(b"\n") + 1]
        item.offset += len(data)
        text = data.decode("utf-8", errors="replace")
        return [line[:MAX_EVENT] for line in text.splitlines() if line]


def _batches(lines: list[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for line in lines:
        cost = len(line.encode()) + 26
        if batches[-1] and (size + cost > MAX_BATCH_BYTES or len(batches[-1]) >= MAX_BATCH_EVENTS):
            batches.append([])
            size = 0
        batches[-1].append(line)
        size += cost
    return batches
