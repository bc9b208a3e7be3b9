"""A task child's calls to the outside world, answered by its fork server.

A task child holds no database connection and no SQLAlchemy: what its code asks of the store
(XCom, variables, connections, triggering or watching other DAGs, asset events) goes as one JSON
line over the child's socket to its fork server, which runs the call with its own connection
(:class:`runtime.worker.services.DbServices`) and answers. This is the shape of Airflow 3's task
execution API, where the task process talks to its supervisor instead of the database; here it
also keeps the child small, which is what makes a forked try cheap (bench/README.md).

The child's side (:class:`RemoteServices`) sends ``{"call": name, "args": [...]}`` with the
arguments in :mod:`runtime.serde`'s JSON; the answer is a length-prefixed pickle of
``(True, value)`` or ``(False, exception)``. Only the trusted direction carries pickles: the fork
server never unpickles what a child (user code) sends.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import struct
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from runtime import serde
from runtime.sdk.connection import Connection

PREFIX = b'{"call": '  # how every call line starts (the fork server tells calls from the try's result by it)
_SIZE = struct.Struct(">I")
METHODS = frozenset({
    "xcom_set", "xcom_get", "get_variable", "get_connection", "trigger_dag", "dag_run_state", "task_states",
    "count_dag_runs", "group_task_ids", "asset_events", "triggering_asset_events",
})


class ExecutorGone(RuntimeError):
    """The fork server did not answer: it went away while the try ran."""


class RemoteServices:
    """``RuntimeServices`` of a forked task child: every call is answered by its fork server.

    Calls from threads of the task are taken one at a time (one socket). A process the task
    itself forks cannot share the socket: there the calls go to the store directly."""

    def __init__(self, chan: socket.socket, settings: Any) -> None:
        self.chan = chan
        self.settings = settings
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self._direct: Any = None

    def _call(self, method: str, *args: Any) -> Any:
        if os.getpid() != self.pid:
            return getattr(self._store(), method)(*args)
        line = json.dumps({"call": method, "args": serde.encode(list(args))}).encode() + b"\n"
        with self.lock:
            try:
                self.chan.sendall(line)
                size = _SIZE.unpack(_recv_exact(self.chan, _SIZE.size))[0]
                ok, value = pickle.loads(_recv_exact(self.chan, size))  # noqa: S301 - from our fork server
            except OSError as exc:
                raise ExecutorGone(f"the executor did not answer {method}: {exc}") from None
        if not ok:
            raise value
        return value

    def _store(self) -> Any:
        if self._direct is None:
            from runtime.worker.services import DbServices

            self._direct = DbServices(self.settings)
        return self._direct

    def xcom_set(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        """Store an XCom."""
        self._call("xcom_set", dag_id, run_id, task_id, map_index, key, value)

    def xcom_get(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None) -> list[tuple[int, Any]]:
        """(map_index, value) pairs of a task's XCom ``key``."""
        return list(self._call("xcom_get", dag_id, run_id, task_id, key, map_index))

    def get_variable(self, key: str) -> str:
        """A variable's raw value (VariableNotFound if missing)."""
        return str(self._call("get_variable", key))

    def get_connection(self, conn_id: str) -> Connection:
        """A connection (ConnectionNotFound if missing)."""
        conn: Connection = self._call("get_connection", conn_id)
        return conn

    def trigger_dag(self, dag_id: str, run_id: str | None, conf: dict[str, Any] | None, logical_date: datetime | None,
                    replace: bool) -> str:
        """Create a run of another DAG; its run_id."""
        return str(self._call("trigger_dag", dag_id, run_id, conf, logical_date, replace))

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a DAG run, None when it does not exist."""
        state: str | None = self._call("dag_run_state", dag_id, run_id)
        return state

    def task_states(self, dag_id: str, task_ids: Sequence[str] | None, logical_date: datetime) -> list[str | None]:
        """States of tasks (or of the run) at ``logical_date``."""
        return list(self._call("task_states", dag_id, None if task_ids is None else list(task_ids), logical_date))

    def count_dag_runs(self, dag_id: str, logical_date: datetime, states: Sequence[str]) -> int:
        """How many runs of ``dag_id`` at ``logical_date`` are in ``states``."""
        return int(self._call("count_dag_runs", dag_id, logical_date, list(states)))

    def group_task_ids(self, dag_id: str, group_id: str) -> list[str]:
        """Task ids inside a task group of another DAG."""
        return list(self._call("group_task_ids", dag_id, group_id))

    def asset_events(self, uri: str | None, alias: str | None) -> list[dict[str, Any]]:
        """The stored events of an asset (or alias), oldest first."""
        return list(self._call("asset_events", uri, alias))

    def triggering_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The events that created this run."""
        return list(self._call("triggering_asset_events", dag_id, run_id))


def answer(services: Any, line: bytes) -> bytes:
    """The framed answer to one call line of a child, run against ``services`` (never raises)."""
    try:
        msg = json.loads(line)
        method = msg.get("call") if isinstance(msg, dict) else None
        if method not in METHODS or not isinstance(msg.get("args"), list):
            raise ValueError(f"not a call a task may make: {line[:200]!r}")
        result: tuple[bool, Any] = (True, getattr(services, method)(*serde.decode(msg["args"])))
    except Exception as exc:  # noqa: BLE001 - the child raises it where its code made the call
        result = (False, exc)
    try:
        body = pickle.dumps(result)
    except Exception:  # noqa: BLE001 - an exception (or value) that does not pickle: its text
        value = result[1]
        body = pickle.dumps((False, RuntimeError(f"{type(value).__name__}: {value}")))
    return _SIZE.pack(len(body)) + body


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionResetError("the executor closed the connection")
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)
