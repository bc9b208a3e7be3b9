"""Runs the tests that fork a component (tests/faults/test_fork_child.py, the DAG processor forked per
change in tests/processor/test_scans_on_change.py, the fork server forked by its scheduler in
tests/scheduler/test_zygote.py) in a pytest process of their own.

``procs.fork_child`` refuses to fork a process with threads, and a full test session has some
(the servers of session fixtures), so those tests cannot run inside it; here they run where they
can, and every one of them must pass (none may skip; PostgreSQL's cases need its server, as in CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_fork_child_tests_pass_in_a_single_threaded_process() -> None:
    env = {**os.environ, "WINDSOCK_FORK_CHILD_TESTS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "tests/faults/test_fork_child.py",
                           "tests/processor/test_scans_on_change.py::test_a_scan_is_forked_only_when_the_folder_changed",
                           "tests/processor/test_scans_on_change.py::test_a_scan_that_died_is_done_again",
                           "tests/processor/test_scans_on_change.py::test_a_dag_sync_flip_is_seen_before_the_interval",
                           "tests/processor/test_scans_on_change.py::test_the_processor_job_row_lives_with_the_scheduler",
                           "tests/scheduler/test_zygote.py::test_the_fork_server_is_a_fork_of_a_single_threaded_scheduler_and_a_fresh_interpreter_otherwise"],
                          env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "passed" in summary and "skipped" not in summary and "failed" not in summary, summary
