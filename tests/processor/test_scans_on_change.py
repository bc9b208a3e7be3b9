"""The scheduler's DAG processor forked per change (``runtime.processor.ondemand``), with the real
scan body of ``windsock scheduler``/``standalone`` (``scheduler_cmd._scans``).

Forking needs a process without threads: the forking tests run in a pytest process of their own
(``tests/faults/test_fork_child_runner.py``); the fallback for a process with threads (a resident
``windsock dag-processor``) and the folder stamp run in the whole session.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.cli.scheduler_cmd import _scans
from runtime.processor.files import folder_stamp
from runtime.sdk import timezone
from runtime.store.models import Job
from runtime.store.session import transaction
from runtime.store.states import JobType
from tests.processor.helpers import dag_source, dags, write
from tests.services import wait_for

INNER = os.environ.get("WINDSOCK_FORK_CHILD_TESTS") == "1"
forks = pytest.mark.skipif(not INNER, reason="forks: run in a single-threaded process of their own by "
                                             "tests/faults/test_fork_child_runner.py")


def _scanner(store: Any, folder: Path, **overrides: Any) -> Any:
    settings = store.settings.with_overrides(core__dags_folder=str(folder), core__load_examples=False,
                                             **{"scheduler__dag_dir_list_interval": 0.0, **overrides})
    return _scans(settings, store.session_factory, None)


def _first_scan(store: Any, tmp_path: Path) -> tuple[Path, Any]:
    """A folder with DAG ``a`` and a scanner that has scanned it once."""
    folder = tmp_path / "dags"
    write(folder / "a.py", dag_source("a"))
    scans = _scanner(store, folder)
    scans.scan_and_wait(timezone.utcnow())
    return folder, scans


def _finish(scans: Any) -> None:
    """Wait for the running scan and let the scanner collect it (as the scheduler's next step does)."""
    assert scans.child is not None
    assert scans.child.wait(60) == 0
    assert not scans.needs_scan(timezone.utcnow())  # collected; the folder has not changed since it began
    assert scans.child is None


def _processor_jobs(store: Any) -> list[Job]:
    with store.session_factory() as s:
        return list(s.scalars(sa.select(Job).where(Job.job_type == JobType.DAG_PROCESSOR.value)))


@forks
def test_a_scan_is_forked_only_when_the_folder_changed(store: Any, tmp_path: Path) -> None:
    folder, scans = _first_scan(store, tmp_path)
    assert set(dags(store)) == {"a"} and scans.scans == 1
    for _ in range(3):  # nothing changed: no fork, however often the scheduler looks
        assert not scans.needs_scan(timezone.utcnow())
    assert scans.scans == 1

    write(folder / "sub" / "b.py", dag_source("b"))
    assert scans.needs_scan(timezone.utcnow())
    scans.run_once(timezone.utcnow())
    assert not scans.needs_scan(timezone.utcnow())  # one scan at a time
    _finish(scans)
    assert set(dags(store)) == {"a", "b"} and scans.scans == 2

    (folder / "a.py").unlink()
    scans.scan_and_wait(timezone.utcnow())
    assert not dags(store)["a"].is_active and dags(store)["b"].is_active
    scans.stop()


@forks
def test_a_scan_that_died_is_done_again(store: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    write(folder / "slow.py", "import time\nfrom airflow import DAG\ntime.sleep(60)\n")
    scans = _scanner(store, folder)
    assert scans.needs_scan(timezone.utcnow())
    scans.run_once(timezone.utcnow())
    os.kill(scans.child.pid, signal.SIGKILL)  # killed mid-scan: nothing of it was committed
    scans.child.wait(10)
    write(folder / "slow.py", dag_source("slow"))  # (content that parses at once, same stat or not)
    assert scans.needs_scan(timezone.utcnow())  # its stamp was never accepted: scanned again
    scans.run_once(timezone.utcnow())
    _finish(scans)
    assert set(dags(store)) == {"slow"}
    scans.stop()


@forks
def test_a_dag_sync_flip_is_seen_before_the_interval(store: Any, tmp_path: Path) -> None:
    gen1, gen2, link = tmp_path / "gen1", tmp_path / "gen2", tmp_path / "dags"
    write(gen1 / "a.py", dag_source("a"))
    write(gen2 / "b.py", dag_source("b"))
    link.symlink_to(gen1)
    scans = _scanner(store, link, scheduler__dag_dir_list_interval=3600.0)
    scans.scan_and_wait(timezone.utcnow())
    assert set(dags(store)) == {"a"}
    write(gen1 / "c.py", dag_source("c"))  # a change inside the folder waits for the interval
    assert not scans.needs_scan(timezone.utcnow())
    tmp = tmp_path / "dags.new"
    tmp.symlink_to(gen2)
    os.replace(tmp, link)  # dag_sync's publish: the symlink flips
    assert scans.needs_scan(timezone.utcnow())
    scans.run_once(timezone.utcnow())
    _finish(scans)
    assert {d for d, row in dags(store).items() if row.is_active} == {"b"}
    scans.stop()


@forks
def test_the_processor_job_row_lives_with_the_scheduler(store: Any, tmp_path: Path) -> None:
    _, scans = _first_scan(store, tmp_path)
    [job] = _processor_jobs(store)
    assert job.state == "running"
    later = timezone.utcnow()
    with transaction(store.session_factory) as session:
        scans.beat(session, later)
    [job] = _processor_jobs(store)
    assert job.latest_heartbeat is not None and timezone.to_utc(job.latest_heartbeat) >= later.replace(microsecond=0)
    scans.stop()
    [job] = _processor_jobs(store)
    assert job.state != "running"


def test_a_process_with_threads_starts_a_resident_processor(store: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A process with another thread must not fork: the first scan starts ``windsock dag-processor``,
    which keeps the folder in step from then on (the scheduler no longer looks itself)."""
    folder = tmp_path / "dags"
    write(folder / "a.py", dag_source("a"))
    for key, value in {"WINDSOCK_HOME": str(tmp_path), "WINDSOCK__DATABASE__SQL_ALCHEMY_CONN": store.url,
                       "WINDSOCK__CORE__DAGS_FOLDER": str(folder), "WINDSOCK__CORE__LOAD_EXAMPLES": "False",
                       "WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL": "0.5",
                       **{k: v for k, v in store.settings.environ.items() if k.startswith("WINDSOCK__")}}.items():
        monkeypatch.setenv(key, value)
    scans = _scanner(store, folder)
    other = threading.Event()
    thread = threading.Thread(target=other.wait, name="another")  # as a metrics publisher or DLQ watcher
    thread.start()
    try:
        assert scans.needs_scan(timezone.utcnow())
        scans.run_once(timezone.utcnow())
        other.set()
        thread.join()
        assert scans.resident is not None and scans.child is None
        wait_for(lambda: "a" in dags(store), 60, "the resident processor did not parse the folder")
        assert not scans.needs_scan(timezone.utcnow())
        write(folder / "b.py", dag_source("b"))
        wait_for(lambda: "b" in dags(store), 60, "the resident processor did not see the new file")
    finally:
        other.set()
        scans.stop()
    assert scans.resident.poll() is not None


def test_the_folder_stamp_moves_with_what_a_scan_would_see(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    write(folder / "a.py", "x = 1\n")
    first = folder_stamp([str(folder)])
    assert folder_stamp([str(folder)]) == first
    write(folder / "__pycache__" / "a.cpython-311.pyc", "junk")  # what imports leave: not a change
    write(folder / ".git" / "HEAD", "ref")
    assert folder_stamp([str(folder)]) == first
    write(folder / ".airflowignore", "a.py\n")  # decides which files count
    second = folder_stamp([str(folder)])
    assert second != first
    os.utime(folder / "a.py", ns=(1, time.time_ns() + 10**9))  # touched (content may differ)
    assert folder_stamp([str(folder)]) != second
    (folder / "loop").symlink_to(folder)  # a symlink loop ends
    assert folder_stamp([str(folder)])
