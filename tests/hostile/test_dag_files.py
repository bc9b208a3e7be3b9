"""Hostile DAG files met by the CLI and the DAG processor: each costs only its own child and its own log."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.hostile.test_cli_input import windsock
from tests.processor.helpers import dag_source, import_errors, make_processor, write

NOW_FILES = {
    "exit3.py": "# airflow dag\nimport os\nos._exit(3)\n",
    "segv.py": "# airflow dag\nimport ctypes\nctypes.string_at(0)\n",
    "hog.py": "# airflow dag\nhog = bytearray(10 * 1024 ** 3)\n",
}
GOOD = ("import pendulum\nfrom airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
        "with DAG('good', start_date=pendulum.datetime(2024, 1, 1), schedule=None):\n"
        "    BashOperator(task_id='t', bash_command='echo good ran')\n")


def hostile_folder(root: Path) -> tuple[Path, Path]:
    """good.py next to files that exit, segfault, allocate 10 GB and loop forever (writing its pid first)."""
    dags = root / "dags"
    dags.mkdir()
    (dags / "good.py").write_text(GOOD)
    for name, text in NOW_FILES.items():
        (dags / name).write_text(text)
    pid_file = root / "loop.pid"
    (dags / "loop.py").write_text(f"# airflow dag\nimport os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                                  "while True:\n    pass\n")
    return dags, pid_file


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


LIMITS = {"WINDSOCK__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "3", "WINDSOCK__CORE__DAG_FILE_PROCESSOR_MEMORY_LIMIT_MB": "512"}


def test_dags_list_survives_files_that_exit_crash_hog_and_loop(tmp_path: Path) -> None:
    """``dags list -S``: the good DAG is listed, exit 0, the four bad files are counted; the looping child is dead."""
    dags, pid_file = hostile_folder(tmp_path)
    done = windsock(tmp_path, "dags", "list", "-S", str(dags), "-o", "json", extra_env=LIMITS)
    assert done.returncode == 0, done.stderr
    assert {d["dag_id"] for d in json.loads(done.stdout)} == {"good", "example_windsock"}
    assert "4 file(s) failed to load" in done.stderr
    assert not alive(int(pid_file.read_text()))


def test_list_import_errors_names_each_bad_file_and_its_fate(tmp_path: Path) -> None:
    """``dags list-import-errors -S``: one row per bad file with what happened, exit 1, bounded by the timeout."""
    dags, pid_file = hostile_folder(tmp_path)
    started = time.monotonic()
    done = windsock(tmp_path, "dags", "list-import-errors", "-S", str(dags), "-o", "json", extra_env=LIMITS)
    assert done.returncode == 1, done.stderr
    reasons = {Path(r["filepath"]).name: r["error"] for r in json.loads(done.stdout)}
    assert set(reasons) == {"exit3.py", "segv.py", "hog.py", "loop.py"}
    assert "exited with code 3" in reasons["exit3.py"]
    assert "signal 11 (SIGSEGV)" in reasons["segv.py"]
    assert "memory" in reasons["hog.py"]
    assert "timed out after 3s" in reasons["loop.py"]
    assert time.monotonic() - started < 60  # the loop cost its timeout, not 9.5 minutes
    assert not alive(int(pid_file.read_text()))


def test_dags_test_runs_a_good_dag_next_to_hostile_files(tmp_path: Path) -> None:
    """``dags test good`` imports only good.py in-process: its neighbours cannot end the command."""
    dags, _ = hostile_folder(tmp_path)
    done = windsock(tmp_path, "dags", "test", "good", "-S", str(dags), extra_env=LIMITS)
    assert done.returncode == 0, done.stderr
    assert "good ran" in done.stdout and "t: success" in done.stdout


def test_examples_follow_one_rule_with_or_without_subdir(tmp_path: Path) -> None:
    """The bundled examples load with -S as without (core.load_examples, Airflow's rule); false hides both."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "good.py").write_text(GOOD)

    def listed(*args: str, **env: str) -> set[str]:
        done = windsock(tmp_path, "dags", "list", "-o", "json", *args, extra_env=env)
        assert done.returncode == 0, done.stderr
        return {d["dag_id"] for d in json.loads(done.stdout)}

    assert listed("-S", str(dags)) == listed(WINDSOCK__CORE__DAGS_FOLDER=str(dags)) == {"good", "example_windsock"}
    off = {"WINDSOCK__CORE__LOAD_EXAMPLES": "false"}
    assert listed("-S", str(dags), **off) == listed(WINDSOCK__CORE__DAGS_FOLDER=str(dags), **off) == {"good"}


# --- item 6: what a DAG file prints is capped and rotated -----------------------------------------------

LOUD = """
import os, subprocess, sys
chunk = "x" * (1024 * 1024 - 1) + "\\n"
for _ in range(100):          # 100 MB through print
    sys.stdout.write(chunk)
sys.stdout.flush()
os.write(1, b"y" * (5 * 1024 * 1024))   # 5 MB straight to fd 1
subprocess.run(["head", "-c", "5000000", "/dev/zero"], check=True)   # 5 MB from a child process
print("LAST LINE")
"""


def test_a_dag_file_printing_100_mb_leaves_a_capped_rotated_log(store: Any, tmp_path: Path) -> None:
    """1 MB cap, 2 backups: three files of at most 1 MB hold the tail; the DAG still parses."""
    root = tmp_path / "dags"
    write(root / "loud.py", dag_source("loud", extra=LOUD))
    processor = make_processor(store, root, logging__dag_processor_log_max_bytes=1_000_000,
                               logging__dag_processor_log_backups=2)
    stats = processor.run_once(processor_now())
    assert stats.errors == 0, import_errors(store)
    logs = Path(store.settings.get("logging", "base_log_folder")) / "dag_processor"
    files = sorted(p.name for p in logs.iterdir())
    assert files == ["loud.py.log", "loud.py.log.1", "loud.py.log.2"]
    assert all((logs / name).stat().st_size <= 1_000_000 for name in files)
    assert (logs / "loud.py.log").read_bytes().endswith(b"LAST LINE\n")
    assert sum(os.path.getsize(p) for p in tmp_path.rglob("*.log*")) <= 3_000_000


def test_a_later_quiet_parse_drops_the_old_rotated_logs(store: Any, tmp_path: Path) -> None:
    """The log holds the last parse: a file that stops printing leaves no stale ``.log.1``."""
    root = tmp_path / "dags"
    path = write(root / "loud.py", dag_source("loud", extra="print('z' * 3000)"))
    processor = make_processor(store, root, logging__dag_processor_log_max_bytes=1000)
    processor.run_once(processor_now())
    logs = Path(store.settings.get("logging", "base_log_folder")) / "dag_processor"
    assert (logs / "loud.py.log.1").exists()
    write(path, dag_source("loud", extra="print('quiet')"))
    os.utime(path, (time.time() + 5, time.time() + 5))
    processor.run_once(processor_now(60))
    assert sorted(p.name for p in logs.iterdir()) == ["loud.py.log"]
    assert (logs / "loud.py.log").read_text() == "quiet\n"


def test_default_cap_is_documented() -> None:
    """The cap is a setting with a default, and docs/configuration.md lists it."""
    from runtime.settings import SCHEMA

    assert SCHEMA["logging"]["dag_processor_log_max_bytes"].default == 5 * 1024 * 1024
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert "dag_processor_log_max_bytes" in doc and "dag_processor_log_backups" in doc


def processor_now(plus_seconds: int = 0) -> Any:
    """A fixed scan time (the processor takes the clock as an argument)."""
    import datetime as dt

    from tests.processor.helpers import NOW

    return NOW + dt.timedelta(seconds=plus_seconds)
