"""DagProcessor on SQLite and PostgreSQL: discovery, change detection, deactivation, errors."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runtime.store.models import DagFile, DagModel
from runtime.store.session import transaction
from tests.processor.helpers import (
    NOW,
    active,
    dag_source,
    dags,
    import_errors,
    make_processor,
    serialized,
    write,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A DAG folder with three DAGs: top level, nested, and behind a symlinked directory."""
    root = tmp_path / "dags"
    write(root / "a.py", dag_source("a"))
    write(root / "sub" / "deeper" / "b.py", dag_source("b"))
    write(tmp_path / "elsewhere" / "c.py", dag_source("c"))
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    write(root / "ignored" / "d.py", dag_source("d"))
    write(root / ".airflowignore", "ignored/\n")
    write(root / "helper.py", "VALUE = 1\n")  # no DAG words: skipped by safe mode
    return root


def test_parses_nested_folders_symlinks_and_airflowignore(store: Any, folder: Path) -> None:
    stats = make_processor(store, folder).run_once(NOW)
    assert (stats.files_seen, stats.parsed, stats.errors, stats.dags_updated) == (3, 3, 0, 3)
    rows = dags(store)
    assert set(rows) == {"a", "b", "c"} == set(serialized(store))
    assert rows["c"].fileloc == str(folder / "linked" / "c.py")  # the path inside the folder, not resolved
    assert rows["b"].fileloc == str(folder / "sub" / "deeper" / "b.py")
    assert all(r.is_active and r.is_paused and not r.has_import_errors for r in rows.values())
    assert rows["a"].last_parsed_time == NOW and rows["a"].timetable_description == "@daily"
    assert [t["task_id"] for t in serialized(store)["a"]["tasks"]] == ["t0", "t1"]


def test_unchanged_rescan_parses_nothing_even_with_a_cold_cache(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    again = processor.run_once(NOW + dt.timedelta(seconds=10))
    assert (again.parsed, again.unchanged) == (0, 3)
    fresh = make_processor(store, folder).run_once(NOW + dt.timedelta(seconds=20))  # stamps from dag_file
    assert (fresh.parsed, fresh.unchanged) == (0, 3)
    assert dags(store)["a"].last_parsed_time == NOW


def test_content_change_reparses_only_that_file(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    write(folder / "a.py", dag_source("a", tasks=3))
    os.utime(folder / "sub" / "deeper" / "b.py")  # touched, same bytes: hashed, not parsed
    stats = processor.run_once(NOW + dt.timedelta(minutes=1))
    assert (stats.parsed, stats.unchanged, stats.dags_updated) == (1, 2, 1)
    assert len(serialized(store)["a"]["tasks"]) == 3
    assert dags(store)["b"].last_parsed_time == NOW
    assert make_processor(store, folder).run_once(NOW).parsed == 0  # the touched stat was stored


def test_force_reparses_everything(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    assert processor.run_once(NOW, force=True).parsed == 3


def test_removed_file_deactivates_its_dags(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    (folder / "sub" / "deeper" / "b.py").unlink()
    stats = processor.run_once(NOW + dt.timedelta(minutes=1))
    assert stats.dags_deactivated == 1
    assert active(store) == {"a", "c"}
    assert "b" in serialized(store)  # history stays readable
    with store.session_factory() as session:
        assert session.get(DagFile, str(folder / "sub" / "deeper" / "b.py")) is None


def test_file_removed_while_processor_was_down_is_noticed(store: Any, folder: Path) -> None:
    make_processor(store, folder).run_once(NOW)
    (folder / "a.py").unlink()
    make_processor(store, folder).run_once(NOW + dt.timedelta(minutes=1))
    assert active(store) == {"b", "c"}


def test_dag_no_longer_defined_is_deactivated(store: Any, tmp_path: Path) -> None:
    root = tmp_path / "dags"
    two = dag_source("one") + dag_source("two").replace("as dag:", "as dag2:")
    write(root / "pair.py", two)
    processor = make_processor(store, root)
    processor.run_once(NOW)
    assert active(store) == {"one", "two"}
    write(root / "pair.py", dag_source("one") + "\n# trimmed\n")
    stats = processor.run_once(NOW + dt.timedelta(minutes=1))
    assert stats.dags_deactivated == 1
    assert active(store) == {"one"}


BROKEN = {
    "syntax.py": ("# airflow dag\nfrom runtime.sdk import DAG\n\ndef broken(:\n    pass\n", 4, "SyntaxError"),
    "missing.py": (
        "# airflow dag\nimport os\nimport not_a_module_xyz\n",
        3,
        "ModuleNotFoundError: No module named 'not_a_module_xyz'",
    ),
}


def test_broken_files_recorded_with_file_and_line_others_stored(store: Any, folder: Path) -> None:
    for name, (text, _, _) in BROKEN.items():
        write(folder / name, text)
    cycle = dag_source("cyc", tasks=2) + "    dag.get_task('t1') >> dag.get_task('t0')\n"
    write(folder / "cycle.py", cycle)
    stats = make_processor(store, folder).run_once(NOW)
    assert (stats.files_seen, stats.errors) == (6, 3)
    assert active(store) == {"a", "b", "c"}
    errors = import_errors(store)
    for name, (_, line, reason) in BROKEN.items():
        path = str(folder / name)
        assert errors[path].startswith(f"{path}:{line}: {reason}"), errors[path]
    line = next(n for n, text in enumerate(cycle.splitlines(), 1) if "dag.get_task('t1') >>" in text)  # the closing edge
    assert errors[str(folder / "cycle.py")].startswith(
        f"{folder / 'cycle.py'}:{line}: AirflowDagCycleException"
    )


def test_file_that_breaks_deactivates_its_dags_and_recovers(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    good = (folder / "a.py").read_text()
    write(folder / "a.py", good + "raise RuntimeError('boom')\n")
    processor.run_once(NOW + dt.timedelta(minutes=1))
    row = dags(store)["a"]
    assert (row.is_active, row.has_import_errors) == (False, True)
    assert "a" in serialized(store)  # the last good serialization is kept
    assert "RuntimeError: boom" in import_errors(store)[str(folder / "a.py")]
    write(folder / "a.py", good + "# fixed\n")
    processor.run_once(NOW + dt.timedelta(minutes=2))
    row = dags(store)["a"]
    assert (row.is_active, row.has_import_errors) == (True, False)
    assert import_errors(store) == {}


def test_errored_file_is_retried_when_touched(store: Any, tmp_path: Path) -> None:
    """A missing module may be installed later: touching the file retries it without a content change."""
    root = tmp_path / "dags"
    write(root / "late.py", "# airflow dag\nimport late_module_xyz\n" + dag_source("late"))
    processor = make_processor(store, root)
    processor.run_once(NOW)
    assert processor.run_once(NOW).parsed == 0
    write(tmp_path / "late_module_xyz.py", "")
    os.utime(root / "late.py", (1, 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(tmp_path))
        assert processor.run_once(NOW).parsed == 1
    assert active(store) == {"late"}


def test_duplicate_dag_id_across_files_fails_the_second(store: Any, folder: Path) -> None:
    write(folder / "z_dup.py", dag_source("a"))
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    message = import_errors(store)[str(folder / "z_dup.py")]
    assert message.startswith(f"{folder / 'z_dup.py'}:6: AirflowDagDuplicatedIdException: DAG 'a'")
    assert str(folder / "a.py") in message
    assert dags(store)["a"].fileloc == str(folder / "a.py")
    (folder / "a.py").unlink()  # the id moves to the failed file once the first is gone
    processor.run_once(NOW + dt.timedelta(minutes=1))
    assert dags(store)["a"].fileloc == str(folder / "z_dup.py") and dags(store)["a"].is_active


def test_paused_at_creation_from_dag_or_setting(store: Any, tmp_path: Path) -> None:
    root = tmp_path / "dags"
    write(root / "p.py", dag_source("p"))
    write(root / "u.py", dag_source("u", dag_kwargs=", is_paused_upon_creation=False"))
    make_processor(store, root).run_once(NOW)
    assert (dags(store)["p"].is_paused, dags(store)["u"].is_paused) == (True, False)
    write(root / "n.py", dag_source("n"))
    make_processor(store, root, core__dags_are_paused_at_creation=False).run_once(NOW)
    assert dags(store)["n"].is_paused is False


def _set_next_dagrun(store: Any, dag_id: str) -> None:
    with transaction(store.session_factory) as session:
        session.execute(
            sa.update(DagModel)
            .where(DagModel.dag_id == dag_id)
            .values(next_dagrun=NOW, next_dagrun_create_after=NOW)
        )


def test_schedule_change_clears_next_dagrun_other_changes_keep_it(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    _set_next_dagrun(store, "a")
    write(folder / "a.py", dag_source("a", dag_kwargs=", description='new words'"))
    processor.run_once(NOW)
    assert dags(store)["a"].next_dagrun == NOW and dags(store)["a"].description == "new words"
    write(folder / "a.py", dag_source("a", schedule="@hourly"))
    processor.run_once(NOW)
    row = dags(store)["a"]
    assert (row.next_dagrun, row.next_dagrun_create_after) == (None, None)


def test_hanging_file_is_killed_after_the_timeout(store: Any, folder: Path) -> None:
    write(folder / "hang.py", "# airflow dag\nwhile True:\n    pass\n")
    processor = make_processor(store, folder, core__dag_file_processor_timeout=2.0)
    stats = processor.run_once(NOW)
    assert stats.duration < 15
    assert import_errors(store)[str(folder / "hang.py")].endswith(
        "timed out after 2s (core.dag_file_processor_timeout); the parse was killed"
    )
    assert active(store) == {"a", "b", "c"}


def test_exiting_crashing_and_memory_hungry_files_are_recorded(store: Any, folder: Path) -> None:
    write(folder / "exit.py", "# airflow dag\nimport os\nos._exit(3)\n")
    write(folder / "segv.py", "# airflow dag\nimport ctypes\nctypes.string_at(0)\n")
    write(folder / "hog.py", "# airflow dag\nblob = bytearray(4 * 1024 ** 3)\n")
    write(
        folder / "hog_slow.py",
        "# airflow dag\nchunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 ** 2))\n",
    )
    stats = make_processor(store, folder, core__dag_file_processor_memory_limit_mb=256).run_once(NOW)
    assert stats.errors == 4
    errors = import_errors(store)
    assert "exited with code 3" in errors[str(folder / "exit.py")]
    assert "killed by signal 11 (SIGSEGV)" in errors[str(folder / "segv.py")]
    for name in ("hog.py", "hog_slow.py"):
        assert "exceeded memory limit of 256 MB" in errors[str(folder / name)], errors[str(folder / name)]
    assert active(store) == {"a", "b", "c"}


def _flip(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".tmp")
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


def test_needs_scan_follows_the_symlink_flip_and_the_interval(store: Any, tmp_path: Path) -> None:
    gen1, gen2 = tmp_path / "gen1", tmp_path / "gen2"
    write(gen1 / "a.py", dag_source("a"))
    gen2.mkdir()
    os.link(gen1 / "a.py", gen2 / "a.py")  # dag_sync hard-links unchanged files into the new generation
    write(gen2 / "n.py", dag_source("n"))
    link = tmp_path / "dags"
    link.symlink_to(gen1, target_is_directory=True)
    processor = make_processor(store, link, scheduler__dag_dir_list_interval=30.0)
    assert processor.needs_scan(NOW)
    processor.run_once(NOW)
    assert not processor.needs_scan(NOW + dt.timedelta(seconds=1))
    _flip(link, gen2)
    assert processor.needs_scan(NOW + dt.timedelta(seconds=1))
    stats = processor.run_once(NOW + dt.timedelta(seconds=1))
    assert (stats.parsed, stats.unchanged) == (1, 1)  # only the new file; a.py kept its fileloc
    assert dags(store)["a"].fileloc == str(link / "a.py") and active(store) == {"a", "n"}
    assert not processor.needs_scan(NOW + dt.timedelta(seconds=2))
    assert processor.needs_scan(NOW + dt.timedelta(seconds=31))


def test_examples_folder_is_included_when_asked(store: Any, tmp_path: Path) -> None:
    root = tmp_path / "dags"
    root.mkdir()
    processor = make_processor(store, root)
    processor.include_examples = True
    stats = processor.run_once(NOW)
    assert stats.errors == 0 and stats.dags_updated >= 1


AIRFLOW_FILE = """
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

with DAG("airflow_style", schedule="0 6 * * *", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, tags=["etl"], default_args={"owner": "data"}) as dag:
    BashOperator(task_id="extract", bash_command="echo {{ ds }}") >> PythonOperator(
        task_id="load", python_callable=lambda: None
    )
"""


def test_unmodified_airflow_file_is_stored(store: Any, tmp_path: Path) -> None:
    root = tmp_path / "dags"
    write(root / "etl.py", AIRFLOW_FILE)
    assert make_processor(store, root).run_once(NOW).errors == 0, import_errors(store)
    row = dags(store)["airflow_style"]
    assert (row.owners, row.tags, row.timetable_description) == ("data", ["etl"], "0 6 * * *")
    assert [t["task_id"] for t in serialized(store)["airflow_style"]["tasks"]] == ["extract", "load"]


def test_large_dag_comes_back_whole_through_the_pipe(store: Any, tmp_path: Path) -> None:
    """A serialized DAG far bigger than a pipe buffer (64 KiB) is read while the child writes it."""
    root = tmp_path / "dags"
    write(root / "big.py", dag_source("big", tasks=600))
    write(root / "small.py", dag_source("small"))
    stats = make_processor(store, root).run_once(NOW)
    assert stats.errors == 0
    assert len(serialized(store)["big"]["tasks"]) == 600


def test_run_forever_scans_until_stopped(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder, scheduler__dag_dir_list_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=processor.run_forever, args=(stop,), kwargs={"poll": 0.05})
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while active(store) != {"a", "b", "c"} and time.monotonic() < deadline:
            time.sleep(0.05)
        write(folder / "late.py", dag_source("late"))
        while "late" not in active(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and active(store) == {"a", "b", "c", "late"}


def test_two_processors_on_one_store_both_succeed(store: Any, folder: Path) -> None:
    """Two schedulers' processors parse the same new files at once; the loser of the insert race retries."""
    first, second = make_processor(store, folder), make_processor(store, folder)
    results: list[Any] = []

    def scan(processor: Any) -> None:
        try:
            results.append(processor.run_once(NOW))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            results.append(exc)

    threads = [threading.Thread(target=scan, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert active(store) == {"a", "b", "c"} and import_errors(store) == {}


def test_processes_a_file_starts_do_not_outlive_or_stall_its_parse(store: Any, tmp_path: Path) -> None:
    """A forked grandchild holding the pipe neither blocks the result nor survives the parse."""
    root = tmp_path / "dags"
    marker = tmp_path / "grandchild.pid"
    write(
        root / "spawner.py",
        dag_source(
            "spawner",
            extra=(
                "import os, time\n"
                "if os.fork() == 0:\n"
                f"    open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
                "    time.sleep(60)\n"
                "    os._exit(0)\n"
                "time.sleep(0.2)\n"
            ),
        ),
    )
    stats = make_processor(store, root, core__dag_file_processor_timeout=20.0).run_once(NOW)
    assert stats.errors == 0 and stats.duration < 10
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_parse_output_goes_to_the_per_file_log(store: Any, tmp_path: Path) -> None:
    root = tmp_path / "dags"
    write(root / "team" / "chatty.py", dag_source("chatty", extra="print('hello from the parse')"))
    write(root / "segv.py", "# airflow dag\nimport ctypes\nctypes.string_at(0)\n")
    make_processor(store, root).run_once(NOW)
    logs = Path(store.settings.get("logging", "base_log_folder")) / "dag_processor"
    assert (logs / "team" / "chatty.py.log").read_text() == "hello from the parse\n"
    assert "Fatal Python error: Segmentation fault" in (logs / "segv.py.log").read_text()


def test_dag_moved_to_another_file_in_one_scan_stays_active(store: Any, folder: Path) -> None:
    processor = make_processor(store, folder)
    processor.run_once(NOW)
    write(folder / "a.py", dag_source("renamed"))
    write(folder / "moved_here.py", dag_source("a"))
    stats = processor.run_once(NOW + dt.timedelta(minutes=1))
    assert stats.errors == 0, import_errors(store)
    assert active(store) == {"a", "b", "c", "renamed"}
    assert dags(store)["a"].fileloc == str(folder / "moved_here.py")
