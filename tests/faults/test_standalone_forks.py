"""``windsock standalone`` forks its web server and DAG processor from itself (a warm parent that
shares its pages with them), starts a fork server with the first try, retires it when idle, keeps
scheduling when the web server or the DAG processor is killed, and leaves no process behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import sqlalchemy as sa

from runtime.store.engine import make_engine, make_session_factory
from runtime.store.models import DagRun
from tests.faults import chaos
from tests.services import free_port, wait_for

DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG("forked", start_date=datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False) as dag:
    BashOperator(task_id="t", bash_command="echo ran >> {marks}")
"""


def _children(pid: int) -> dict[str, int]:
    """Direct children of ``pid`` by kernel name (/proc/PID/comm)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid or fields[0] in ("Z", "X"):
                continue
            with open(f"/proc/{entry}/comm") as handle:
                out[handle.read().strip()] = int(entry)
        except (OSError, ValueError, IndexError):
            continue
    return out


def _fork_server(pid: int) -> int | None:
    """The executor's fork server among the children of ``pid`` (a fresh ``python -m runtime.worker.forkserver``)."""
    for child in _children(pid).values():
        try:
            if b"runtime.worker.forkserver" in _cmdline(child):
                return child
        except OSError:
            continue
    return None


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read()


def test_standalone_forks_its_components_and_survives_their_death(db_url: str, tmp_path: Path) -> None:
    dags, marks = tmp_path / "dags", tmp_path / "marks.txt"
    dags.mkdir()
    (dags / "forked.py").write_text(DAG.format(marks=marks))
    env = chaos.environment(db_url, tmp_path / "home", dags)
    port = free_port()
    env.update(WINDSOCK__WEBSERVER__WEB_SERVER_PORT=str(port), WINDSOCK__CORE__FORK_SERVER_IDLE_EXIT="6")
    factory = make_session_factory(make_engine(db_url))

    def runs_ok() -> int:
        with factory() as s:
            return len(s.scalars(sa.select(DagRun).where(DagRun.dag_id == "forked", DagRun.state == "success")).all())

    def trigger_and_wait(expected: int) -> None:
        assert chaos.run_cli(env, "dags", "trigger", "forked") == 0
        wait_for(lambda: runs_ok() == expected, 60, f"run {expected} did not succeed")

    log = tmp_path / "standalone.log"
    proc = chaos.start_process(env, log, "standalone")
    try:
        wait_for(lambda: {"webserver", "dag-processor"} <= set(_children(proc.pid)), 60,
                 "standalone did not start its web server and DAG processor")
        kids = _children(proc.pid)
        assert _fork_server(proc.pid) is None  # nothing ran yet: no fork server
        for name in ("webserver", "dag-processor"):  # forks: the parent's command line, not a fresh `-m ...`
            assert _cmdline(kids[name]) == _cmdline(proc.pid), name
            assert os.readlink(f"/proc/{kids[name]}/exe") == os.readlink(f"/proc/{proc.pid}/exe")
        # the first try starts a fork server, a fresh interpreter (the trigger works once the DAG is parsed)
        wait_for(lambda: chaos.run_cli(env, "dags", "trigger", "forked") == 0, 60, "the DAG was never parsed")
        wait_for(lambda: runs_ok() == 1, 60, "run 1 did not succeed")
        assert _fork_server(proc.pid) is not None  # idle for less than its 6 s: still there
        # idle for its 6 s, the fork server retires (the scheduler looks at least every idle_poll, 5 s)
        wait_for(lambda: _fork_server(proc.pid) is None, 30, "the idle fork server did not retire")
        trigger_and_wait(2)  # the next try forks a new one

        os.kill(kids["webserver"], signal.SIGKILL)  # as before forks: the scheduler goes on without it
        os.kill(kids["dag-processor"], signal.SIGKILL)
        wait_for(lambda: not {"webserver", "dag-processor"} & set(_children(proc.pid)), 10, "children not reaped")
        trigger_and_wait(3)
        assert proc.poll() is None
        assert marks.read_text().split() == ["ran", "ran", "ran"]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15)
    assert "Traceback" not in log.read_text(), log.read_text()
