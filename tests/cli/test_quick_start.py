"""The README quick start: ``windsock standalone`` on a fresh home runs the bundled example."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def test_standalone_on_a_fresh_home_runs_the_example(tmp_path: Path) -> None:
    """Embedded defaults: SQLite in WINDSOCK_HOME, examples loaded, example_windsock's latest interval succeeds;
    the console says when a run finished and when a DAG file fails to import."""
    exe = shutil.which("windsock")
    cmd = [exe] if exe else [sys.executable, "-m", "runtime.cli.main"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "WINDSOCK__"))}
    env["WINDSOCK_HOME"] = str(tmp_path)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "broken.py").write_text("from airflow import DAG\nthis is not python\n")
    proc = subprocess.Popen([*cmd, "standalone"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and state != "success" and proc.poll() is None:
            time.sleep(0.5)
            state = _run_state(tmp_path / "windsock.db")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert state == "success", out
    assert "database:   sqlite:///" in out and proc.returncode == 0
    assert any(line.startswith("[windsock] run example_windsock ") and ": success in " in line
               for line in out.splitlines()), out
    assert any("import error:" in line and "broken.py:2" in line for line in out.splitlines()), out


def _run_state(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute("SELECT state FROM dag_run WHERE dag_id = 'example_windsock'").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None
