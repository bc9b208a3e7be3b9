"""Figure: 50 no-op tasks in a line, local executor, SQLite: mean gap from one task's end to the next one's start.

The gap is ``start_date`` (the executor's claim) of task N+1 minus ``end_date`` of task N, read
from ``task_instance``: result event -> scheduler records it -> downstream evaluated -> queued
-> fork server claims -> child forked. Target (issue 3): <= 20 ms. Run: ``python bench/chain.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from fanout import drive, setup, trigger, wait_ready  # noqa: E402
from homes import bench_home  # noqa: E402

from runtime.executors.local import LocalExecutor  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.store.models import TaskInstance  # noqa: E402
from runtime.store.session import transaction  # noqa: E402

DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.python import PythonOperator

def noop():
    pass

with DAG("chain", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    chain(*[PythonOperator(task_id=f"t{{i:03d}}", python_callable=noop) for i in range({n})])
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    args = parser.parse_args()
    with bench_home() as tmp:
        settings, factory = setup(Path(tmp), DAG.format(n=args.tasks))
        executor = LocalExecutor(settings)
        executor.start()
        scheduler = Scheduler(settings, factory, executor)  # type: ignore[arg-type]
        scheduler.run_once(timezone.utcnow())
        wait_ready(factory, executor)
        run_id = trigger(factory, "chain")
        state, loops = drive(scheduler, factory, run_id)
        executor.end()
        with transaction(factory) as s:  # type: ignore[arg-type]
            rows = s.execute(sa.select(TaskInstance.start_date, TaskInstance.end_date)
                             .where(TaskInstance.run_id == run_id).order_by(TaskInstance.task_id)).all()
    gaps = [(b.start_date - a.end_date).total_seconds() * 1000 for a, b in zip(rows, rows[1:], strict=False)]
    runs = [(r.end_date - r.start_date).total_seconds() * 1000 for r in rows]
    print(f"chain: {args.tasks} no-op tasks in a line, run {state}: end -> next start gap mean {statistics.mean(gaps):.1f} ms, "
          f"median {statistics.median(gaps):.1f} ms, max {max(gaps):.1f} ms (task claim -> end median "
          f"{statistics.median(runs):.1f} ms, {loops} scheduler loops)  target mean <= 20 ms")


if __name__ == "__main__":
    main()
