"""Figure: 500 no-op tasks through SQS (moto on loopback) and PostgreSQL, 2 worker processes.

Wall time from the trigger (a queued manual run) to the run's end, the scheduler stepping in
this process with the SqsExecutor. Target (issue 9): <= 10 s (Airflow 3.3.2's LocalExecutor
takes ~60 s for the same DAG here). Run:
``python bench/sqs_fanout.py --postgres postgresql://postgres@127.0.0.1:5432/bench`` (an empty
database it may reset; without it, SQLite).
"""

from __future__ import annotations

import argparse

import sqs_common as c
from fanout import DAG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (it is reset)")
    args = parser.parse_args()
    _, _, state, wall = c.run_once(DAG.format(dag_id="fanout", n=args.tasks), "fanout", postgres=args.postgres,
                                   workers_count=args.workers, concurrency=args.concurrency,
                                   parallelism=args.workers * args.concurrency)
    print(f"sqs_fanout: {args.tasks} no-op tasks through SQS (moto), {c.describe(args.postgres or 'sqlite')}, "
          f"{args.workers} workers x {args.concurrency}: trigger -> run {state} in {wall:.2f} s  target <= 10 s")
    print(c.json_line(figure="sqs_fanout", tasks=args.tasks, seconds=round(wall, 3), state=state))


if __name__ == "__main__":
    main()
