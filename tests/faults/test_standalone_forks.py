"""``windsock standalone`` at rest is one process: it binds the web port and forks the web server at
the first connection (the server retires when idle and comes back with the next one, also after a
crash), forks a DAG processor scan only when the DAG folder changed, starts a fork server with
the first try and retires it when idle, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
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
    """The executor's fork server among the children of ``pid`` (a fork named ``fork-server``; its zygote
    is its own child)."""
    return _children(pid).get("fork-server")


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read()


def _get(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
        return int(response.status)


def test_standalone_starts_its_components_on_demand_and_survives_their_death(db_url: str, tmp_path: Path) -> None:
    dags, marks = tmp_path / "dags", tmp_path / "marks.txt"
    dags.mkdir()
    (dags / "forked.py").write_text(DAG.format(marks=marks))
    env = chaos.environment(db_url, tmp_path / "home", dags)
    port = free_port()
    env.update(WINDSOCK__WEBSERVER__WEB_SERVER_PORT=str(port), WINDSOCK__CORE__FORK_SERVER_IDLE_EXIT="6",
               WINDSOCK__WEBSERVER__STANDALONE_IDLE_EXIT="3")
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
        # the first scan parses the folder, then ends: no resident DAG processor, no web server yet
        wait_for(lambda: chaos.run_cli(env, "dags", "trigger", "forked") == 0, 60, "the DAG was never parsed")
        wait_for(lambda: runs_ok() == 1, 60, "run 1 did not succeed")
        wait_for(lambda: "dag-processor" not in _children(proc.pid), 30, "the DAG processor scan did not end")
        assert "webserver" not in _children(proc.pid)
        assert _fork_server(proc.pid) is not None  # idle for less than its 6 s: still there
        # idle for its 6 s, the fork server retires (the scheduler looks at least every idle_poll, 5 s)
        wait_for(lambda: _fork_server(proc.pid) is None, 30, "the idle fork server did not retire")
        trigger_and_wait(2)  # the next try forks a new one

        # the web port answers: the first connection forks the web server from the warm parent
        assert _get(port) == 200
        web = _children(proc.pid)["webserver"]
        assert _cmdline(web) == _cmdline(proc.pid)  # a fork: the parent's command line, not a fresh `-m ...`
        assert os.readlink(f"/proc/{web}/exe") == os.readlink(f"/proc/{proc.pid}/exe")
        wait_for(lambda: "webserver" not in _children(proc.pid), 30, "the idle web server did not retire")
        assert _get(port) == 200  # the next connection starts it again
        os.kill(_children(proc.pid)["webserver"], signal.SIGKILL)  # a crash: scheduling goes on,
        wait_for(lambda: "webserver" not in _children(proc.pid), 10, "the killed web server was not reaped")
        trigger_and_wait(3)
        assert _get(port) == 200  # and the next connection starts a new web server

        # a new file is parsed by a scan forked for the change
        (dags / "later.py").write_text(DAG.format(marks=marks).replace('"forked"', '"later"'))
        wait_for(lambda: chaos.run_cli(env, "dags", "trigger", "later") == 0, 60, "the new DAG was never parsed")
        wait_for(lambda: marks.read_text().split() == ["ran"] * 4, 60, "the new DAG did not run")
        assert proc.poll() is None

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "webserver: exited with -9" in text  # the crash was said, in one line


def test_a_taken_web_port_is_one_line_and_an_exit(db_url: str, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    env = chaos.environment(db_url, tmp_path / "home", dags)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        env["WINDSOCK__WEBSERVER__WEB_SERVER_PORT"] = str(taken.getsockname()[1])
        done = subprocess.run([sys.executable, "-m", "runtime.cli.main", "standalone"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "cannot listen on 127.0.0.1:" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert chaos.wait_gone(env["WINDSOCK_CHAOS_MARK"], 15) == []
