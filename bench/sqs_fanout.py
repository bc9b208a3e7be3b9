"""Figure: 500 no-op tasks through SQS (moto on loopback) and PostgreSQL, 2 worker processes.

Wall time from the trigger (a queued manual run) to the run's end, the scheduler stepping in
this process with the SqsExecutor. Target (issue 9): <= 10 s (Airflow 3.3.2's LocalExecutor
takes ~60 s for the same DAG here). Run:
``python bench/sqs_fanout.py --postgres postgresql://postgres@127.0.0.1:5432/bench`` (an empty
database it may reset; without it, SQLite).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqs_common as c

DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

def noop():
    pass

with DAG("fanout", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={n}) as dag:
    for i in range({n}):
        PythonOperator(task_id=f"t{{i:04d}}", python_callable=noop)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (it is reset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, c.moto() as endpoint:
        home = Path(tmp)
        url = c.database(args.postgres, home)
        parallelism = args.workers * args.concurrency
        settings, factory, env = c.setup(home, DAG.format(n=args.tasks), url, c.queue(endpoint), endpoint, parallelism)
        from runtime.executors.sqs import SqsExecutor

        executor = SqsExecutor(settings, factory)
        executor.start()
        scheduler = c.Scheduler(settings, factory, executor)
        scheduler.run_once(c.timezone.utcnow())
        with c.workers(env, args.workers, args.concurrency):
            began = time.perf_counter()
            run_id = c.trigger(factory, "fanout")
            state = c.drive(scheduler, factory, run_id)
            wall = time.perf_counter() - began
        executor.end()
    print(f"sqs_fanout: {args.tasks} no-op tasks through SQS (moto), {c.describe(url)}, {args.workers} workers x "
          f"{args.concurrency}: trigger -> run {state} in {wall:.2f} s  target <= 10 s")
    print(c.json_line(figure="sqs_fanout", tasks=args.tasks, seconds=round(wall, 3), state=state))


if __name__ == "__main__":
    main()
