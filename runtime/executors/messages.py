"""Messages between the scheduler and an executor: frozen dataclasses that encode to JSON.

A message is only a hint: the try it names runs only if its claim (a compare-and-set of the
task instance from queued to running, for this try number) wins in the database.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from runtime.sdk import timezone

VERSION = 1
_UTC = timezone.utc
_ENCODER = json.JSONEncoder(default=str)
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)


def _dumps(obj: dict[str, Any]) -> str:
    """``json.dumps(obj, default=str)``, less the Python layers (``JSONEncoder.encode`` and ``iterencode``)
    between a message and the C encoder: a forked task child copies a page for most objects it touches."""
    if _C_ENCODER is None:  # no C accelerator: the plain way
        return _ENCODER.encode(obj)
    return "".join(_C_ENCODER({}, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)(obj, 0))


def iso(value: datetime | None) -> str | None:
    """ISO text of an aware datetime (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is _UTC:  # a UTC pendulum value (most are): what isoformat() gives, with no zone lookup
        fraction = f".{value.microsecond:06d}" if value.microsecond else ""
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
                f"{value.second:02d}{fraction}+00:00")
    return timezone.to_utc(value).isoformat()


def parse_iso(value: str | None) -> datetime | None:
    """The aware UTC datetime of ISO text (None stays None)."""
    return None if value is None else timezone.to_utc(datetime.fromisoformat(value))


class _Codec:
    """JSON line encoding with a kind and a version field."""

    kind: ClassVar[str] = ""

    _names: ClassVar[frozenset[str]] = frozenset()  # its fields' names, and in order (set below, once per class)
    _order: ClassVar[tuple[str, ...]] = ()

    def fields(self) -> dict[str, Any]:
        """The message's fields (what ``from_dict`` builds it back from)."""
        return {name: getattr(self, name) for name in self._order}

    def encode(self) -> bytes:
        """One JSON line."""
        return _dumps({"v": VERSION, "kind": self.kind, **self.__dict__}).encode() + b"\n"  # __dict__: the fields, in order

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build from a decoded line (unknown fields are ignored)."""
        names = cls._names
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class TaskWork(_Codec):
    """Run try ``try_number`` of task instance ``ti_id``."""

    kind: ClassVar[str] = "task"
    ti_id: int
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    max_tries: int
    fileloc: str
    run: dict[str, Any]  # DagRunInfo fields, datetimes as ISO text
    first_try_start: str | None = None
    execution_timeout: float | None = None
    queue: str | None = None  # the task's Airflow queue (SqsExecutor: which SQS queue)
    next_method: str | None = None  # resuming after a deferral: the method to run instead of execute
    next_kwargs: dict[str, Any] | None = None  # and its keyword arguments (the trigger's event among them)

    @property
    def label(self) -> str:
        """``dag.task[map] run try`` for logs and messages."""
        index = "" if self.map_index < 0 else f"[{self.map_index}]"
        return f"{self.dag_id}.{self.task_id}{index} {self.run_id} try {self.try_number}"


@dataclass(frozen=True)
class CallbackWork(_Codec):
    """Call a DAG's on_success/on_failure callback for a finished run, or, with ``task_id``, a
    task's on_failure/on_retry callback for a try whose process died before it could."""

    kind: ClassVar[str] = "callback"
    dag_id: str
    fileloc: str
    run: dict[str, Any]
    state: str
    reason: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int = 0


@dataclass(frozen=True)
class TaskEvent(_Codec):
    """How a try ended. A task child sends a ``result`` to its executor; the executor records the end
    in the database and tells the scheduler ``recorded`` (``state`` None: someone else changed the
    try first), or ``unclaimed`` when its claim lost (a duplicate message)."""

    kind: ClassVar[str] = "event"
    ti_id: int
    try_number: int
    outcome: str  # "result" | "recorded" | "unclaimed" | "lost" | "started"
    state: str | None = None
    error: str | None = None
    next_attempt_at: str | None = None
    skip_task_ids: list[str] = field(default_factory=list)
    rendered_fields: dict[str, Any] = field(default_factory=dict)
    start_date: str | None = None
    end_date: str | None = None
    pid: int | None = None
    hostname: str | None = None
    dag_id: str = ""
    run_id: str = ""
    task_id: str = ""
    map_index: int = -1
    asset_events: list[dict[str, Any]] = field(default_factory=list)  # outlet events of a successful try
    deferral: dict[str, Any] | None = None  # a deferred try: its trigger, resume method and deadline


for _cls in (TaskWork, CallbackWork, TaskEvent):  # read once: dataclasses.fields() builds a tuple per call
    _cls._order = tuple(f.name for f in dataclasses.fields(_cls))
    _cls._names = frozenset(_cls._order)

RESULT, RECORDED, UNCLAIMED = "result", "recorded", "unclaimed"
LOST = "lost"  # the executor lost the try (its process died): the scheduler's sweep decides
STARTED = "started"  # the executor's mini scheduler queued, claimed and started this try itself


def decode(line: bytes | str) -> TaskWork | CallbackWork | TaskEvent | dict[str, Any]:
    """The message of one JSON line (a plain dict for control messages)."""
    data = json.loads(line)
    if data.get("v") != VERSION:
        raise ValueError(f"message version {data.get('v')!r} is not {VERSION}")
    kinds = {c.kind: c for c in (TaskWork, CallbackWork, TaskEvent)}
    kind = kinds.get(data.get("kind", ""))
    return kind.from_dict(data) if kind else data
