"""A new user's first contact: the README's commands work as written, on a fresh home and a fresh machine."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def usage_commands() -> list[list[str]]:
    """Every command of the README's usage block, in order (``a; b`` gives two), comments dropped."""
    block = README.split("<!-- BEGIN usage -->", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        for part in line.split("#", 1)[0].split(";"):
            if part.strip():
                commands.append(shlex.split(part))
    return commands


def quick_start_command(number: int) -> str:
    """The command under ``# N.`` in the README's quick start block."""
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    after = block.split(f"# {number}.", 1)[1].split("\n", 1)[1]
    return next(line for line in after.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def _cli() -> list[str]:
    exe = shutil.which("windsock")
    return [exe] if exe else [sys.executable, "-m", "runtime.cli.main"]


def _fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW__"))}
    return {**env, "WINDSOCK_HOME": str(home), "PYTHONPATH": str(REPO)}


def _query(db: Path, sql: str, *args: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.Error:
        return []


def _run_finished(db: Path, run_id: str) -> bool:
    return _query(db, "SELECT state FROM dag_run WHERE run_id = ?", run_id) in ([("success",)], [("failed",)])


def _wait(check: Callable[[], bool], what: str, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"standalone ended while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM the standalone tree's leader, then the group if it lingers; its output."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    return out


def test_readme_usage_examples_work_as_written_on_a_fresh_home(tmp_path: Path) -> None:
    """Every command of the README's usage block exits 0 on a fresh install (standalone running for the DB ones)."""
    commands = usage_commands()
    assert all(c[0] == "windsock" for c in commands) and not any("ct1" in c for c in commands)
    home, env = tmp_path / "home", _fresh_env(tmp_path / "home")
    db = home / "windsock.db"
    standalone: subprocess.Popen[str] | None = None
    run_id = None
    try:
        for command in commands:
            args = command[1:]
            if args == ["standalone"]:
                standalone = subprocess.Popen([*_cli(), *args], env=env, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
                _wait(lambda: bool(_query(db, "SELECT 1 FROM dag WHERE dag_id = 'example_windsock'")),
                      "the example DAG to be parsed", standalone)
                continue
            if "RUN_ID" in args:
                assert standalone is not None and run_id is not None
                _wait(lambda rid=str(run_id): _run_finished(db, rid), f"run {run_id} to finish", standalone)
                args = [str(run_id) if a == "RUN_ID" else a for a in args]
            done = subprocess.run([*_cli(), *args], env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, f"windsock {shlex.join(args)}:\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr
            created = re.search(r"Created run (\S+)", done.stdout)
            run_id = created.group(1) if created else run_id
        assert standalone is not None and run_id is not None
    finally:
        if standalone is not None:
            out = _stop(standalone)
    assert standalone.returncode == 0, out
    assert _query(db, "SELECT state FROM dag_run WHERE run_id = ?", str(run_id)) == [("success",)]


def _refuses_global_pip(python: str) -> bool:
    done = subprocess.run([python, "-m", "pip", "install", "--dry-run", "--no-index", "six"], capture_output=True,
                          text=True, timeout=60)
    return done.returncode != 0 and "externally-managed-environment" in done.stdout + done.stderr


def test_quick_start_command_1_on_a_python_that_refuses_global_pip(tmp_path: Path) -> None:
    """README command 1, verbatim, with Debian's python3 (PEP 668) first on PATH: the example DAG runs."""
    system = "/usr/bin/python3"
    if not (os.path.exists(system) and _refuses_global_pip(system)):
        pytest.skip(f"{system} is missing or allows a global pip install: the PEP 668 case cannot be reproduced")
    command = quick_start_command(1)
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate") and command.endswith("standalone")
    repo = tmp_path / "repo"  # a fresh checkout: tracked files only, no .venv, no egg-info
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (REPO / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(system)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WINDSOCK", "AIRFLOW__", "PYTHON", "VIRTUAL_ENV", "PYENV"))}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", WINDSOCK_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(["bash", "-c", command], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    db = tmp_path / "home" / "windsock.db"
    try:
        _wait(lambda: _query(db, "SELECT state FROM dag_run WHERE dag_id = 'example_windsock'") == [("success",)],
              "the example run to succeed", proc, timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # bash and standalone: a stop as Ctrl-C gives the whole group
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
    assert (repo / ".venv" / "bin" / "windsock").exists(), out
    assert "database:   sqlite:///" in out
