"""The channel between a task child and its fork server (runtime.worker.calls), over a real socket pair,
answered by the in-memory services (the fork server answers with the store's; tests/scheduler/test_zygote.py)."""

from __future__ import annotations

import datetime as dt
import pickle
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from runtime.inprocess import MemoryServices
from runtime.sdk.connection import Connection
from runtime.worker import calls


class _Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("no pickling")


class _Answering(MemoryServices):
    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        if dag_id == "broken":
            raise _Unpicklable("the store broke")
        return super().dag_run_state(dag_id, run_id)


@pytest.fixture
def remote() -> Iterator[tuple[calls.RemoteServices, _Answering]]:
    """A RemoteServices whose calls a thread answers as the fork server does (``calls.answer``)."""
    child, server = socket.socketpair()
    services = _Answering(environ={"AIRFLOW_CONN_WH": "postgres://u:pw@wh:5432/db"})

    def serve() -> None:
        buf = b""
        while True:
            data = server.recv(65536)
            if not data:
                return
            *lines, buf = (buf + data).split(b"\n")
            for line in lines:
                assert line.startswith(calls.PREFIX)
                server.sendall(calls.answer(services, line))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield calls.RemoteServices(child, settings=None), services
    child.close()
    thread.join(5)
    server.close()


def test_values_cross_with_their_types_and_errors_with_their_classes(remote: Any) -> None:
    rs, services = remote
    value = {"when": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC), "amount": Decimal("1.50"),
             "pair": (1, "a"), "tags": {"x"}, "nested": [None, True, 2.5]}
    rs.xcom_set("d", "r", "t", -1, "k", value)
    ((index, got),) = rs.xcom_get("d", "r", "t", "k", None)
    assert index == -1 and got == value and isinstance(got["pair"], tuple)
    conn = rs.get_connection("wh")
    assert isinstance(conn, Connection) and (conn.host, conn.password) == ("wh", "pw")
    services.variables["color"] = "blue"
    assert rs.get_variable("color") == "blue"
    with pytest.raises(KeyError):  # the in-memory store's own not-found error, a KeyError
        rs.get_variable("absent")
    with pytest.raises(RuntimeError, match="_Unpicklable: the store broke"):  # an error that cannot cross: its text
        rs.dag_run_state("broken", "r")


def test_threads_of_a_task_take_turns_on_the_channel(remote: Any) -> None:
    rs, _ = remote

    def work(i: int) -> None:
        for j in range(20):
            rs.xcom_set("d", "r", f"t{i}", -1, "k", [i, j])
            assert rs.xcom_get("d", "r", f"t{i}", "k", -1) == [(-1, [i, j])]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(not t.is_alive() for t in threads)
    assert len(remote[1].xcoms) == 6


def test_only_the_calls_a_task_may_make_are_answered() -> None:
    services = MemoryServices(environ={})
    for line in (b'{"call": "__init__", "args": []}', b'{"call": "xcom_set"}', b"not json"):
        frame = calls.answer(services, line)
        assert len(frame) == 4 + int.from_bytes(frame[:4], "big")  # a length-prefixed pickle
        ok, error = pickle.loads(frame[4:])
        assert ok is False and isinstance(error, ValueError)


def test_a_gone_fork_server_is_an_error_of_the_call() -> None:
    child, server = socket.socketpair()
    server.close()
    rs = calls.RemoteServices(child, settings=None)
    with pytest.raises(calls.ExecutorGone, match="did not answer get_variable"):
        rs.get_variable("x")
    child.close()
