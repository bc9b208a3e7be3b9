"""Figure: 50 no-op tasks in a line through SQS (moto) and PostgreSQL: end -> next start gap.

The gap is ``start_date`` (a worker's claim) of task N+1 minus ``end_date`` of task N: the
worker records the end -> the scheduler's SqsExecutor sees it in the database -> downstream
evaluated and queued -> message sent -> a worker's long poll returns -> claim. Target
(issue 9): <= 100 ms. Run: ``python bench/sqs_chain.py [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import sqlalchemy as sa
import sqs_common as c

from runtime.store.models import TaskInstance

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
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (it is reset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, c.moto() as endpoint:
        home = Path(tmp)
        url = c.database(args.postgres, home)
        settings, factory, env = c.setup(home, DAG.format(n=args.tasks), url, c.queue(endpoint), endpoint, 32)
        from runtime.executors.sqs import SqsExecutor

        executor = SqsExecutor(settings, factory)
        executor.start()
        scheduler = c.Scheduler(settings, factory, executor)
        scheduler.run_once(c.timezone.utcnow())
        with c.workers(env, args.workers, 4):
            run_id = c.trigger(factory, "chain")
            state = c.drive(scheduler, factory, run_id)
        executor.end()
        with c.transaction(factory) as s:
            rows = s.execute(sa.select(TaskInstance.start_date, TaskInstance.end_date)
                             .where(TaskInstance.run_id == run_id).order_by(TaskInstance.task_id)).all()
    gaps = [(b.start_date - a.end_date).total_seconds() * 1000 for a, b in zip(rows, rows[1:], strict=False)]
    print(f"sqs_chain: {args.tasks} no-op tasks in a line through SQS (moto), {c.describe(url)}, run {state}: "
          f"end -> next start gap mean {statistics.mean(gaps):.1f} ms, median {statistics.median(gaps):.1f} ms, "
          f"max {max(gaps):.1f} ms  target mean <= 100 ms")
    print(c.json_line(figure="sqs_chain", tasks=args.tasks, mean_ms=round(statistics.mean(gaps), 1), state=state))


if __name__ == "__main__":
    main()
