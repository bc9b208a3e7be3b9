"""Figure: full parse of 200 DAG files of 10 tasks, then a re-scan of the unchanged folder.

Targets (issue 3): full parse <= 3 s, unchanged re-scan <= 100 ms, on a 2-core machine.
Store: SQLite in a temporary folder. Run: ``python bench/parse.py``. The CPU seconds printed
with the wall time show what the figure would be on an idle machine when others share it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.processor import DagProcessor  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.store import db  # noqa: E402
from runtime.store.session import open_store  # noqa: E402

DAG_FILE = '''"""Generated benchmark DAG {n}."""
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator


def work(**context):
    return context["ds"]


with DAG(
    dag_id="bench_{n:03d}",
    schedule="@hourly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["bench"],
    default_args={{"owner": "bench", "retries": 1}},
) as dag:
    previous = None
    for i in range({tasks}):
        if i % 2:
            task = BashOperator(task_id=f"bash_{{i}}", bash_command="echo {{{{ ds }}}}")
        else:
            task = PythonOperator(task_id=f"python_{{i}}", python_callable=work)
        if previous is not None:
            previous >> task
        previous = task
'''


def generate(folder: Path, files: int, tasks: int) -> None:
    """Write ``files`` DAG files of ``tasks`` chained tasks each."""
    for n in range(files):
        sub = folder / f"team_{n % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"dag_{n:03d}.py").write_text(DAG_FILE.format(n=n, tasks=tasks))


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its reaped children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rescans", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        generate(home / "dags", args.files, args.tasks)
        settings = Settings(home, environ={"WINDSOCK_HOME": str(home)}).with_overrides(
            database__sql_alchemy_conn=f"sqlite:///{home / 'windsock.db'}",
            core__load_examples=False,
        )
        engine, factory = open_store(settings)
        db.init(engine)
        processor = DagProcessor(settings, factory)
        now = dt.datetime.now(dt.UTC)
        cpu_before = _cpu()
        full = processor.run_once(now)
        cpu = [after - before for after, before in zip(_cpu(), cpu_before, strict=True)]
        assert full.errors == 0 and full.dags_updated == args.files, full
        rescans = [processor.run_once(now) for _ in range(args.rescans)]
        assert all(r.parsed == 0 for r in rescans)
        cold = DagProcessor(settings, factory).run_once(now)  # a restarted processor: stamps from the DB
        workers = settings.get("core", "parsing_processes")
        print(
            f"parse: full parse of {args.files} files x {args.tasks} tasks: {full.duration:.2f} s "
            f"({workers} parsing processes, {engine.dialect.name}; CPU: processor {cpu[0]:.2f} s + "
            f"parse children {cpu[1]:.2f} s; load average {os.getloadavg()[0]:.1f})"
        )
        print(
            f"parse: unchanged re-scan: median {statistics.median(r.duration for r in rescans) * 1000:.1f} ms, "
            f"max {max(r.duration for r in rescans) * 1000:.1f} ms; after a restart: {cold.duration * 1000:.1f} ms"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
