"""Figure: 50 no-op tasks in a line through SQS (moto) and PostgreSQL: end -> next start gap.

The gap is ``start_date`` (a worker's claim) of task N+1 minus ``end_date`` of task N: the
worker records the end -> the scheduler's SqsExecutor sees it in the database -> downstream
evaluated and queued -> message sent -> a worker's long poll returns -> claim. Target
(issue 9): <= 100 ms. Run: ``python bench/sqs_chain.py [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import statistics

import sqlalchemy as sa
import sqs_common as c
from chain import DAG

from runtime.store.models import TaskInstance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (it is reset)")
    args = parser.parse_args()
    factory, run_id, state, _ = c.run_once(DAG.format(n=args.tasks), "chain", postgres=args.postgres,
                                           workers_count=args.workers, concurrency=4, parallelism=32)
    with c.transaction(factory) as s:
        rows = s.execute(sa.select(TaskInstance.start_date, TaskInstance.end_date, TaskInstance.queued_dttm)
                         .where(TaskInstance.run_id == run_id).order_by(TaskInstance.task_id)).all()
    pairs = list(zip(rows, rows[1:], strict=False))
    gaps = [(b.start_date - a.end_date).total_seconds() * 1000 for a, b in pairs]
    # the scheduler's part (end recorded -> next try queued) and the queue's (queued -> claimed by a worker)
    seen = [(b.queued_dttm - a.end_date).total_seconds() * 1000 for a, b in pairs]
    print(f"sqs_chain: {args.tasks} no-op tasks in a line through SQS (moto), {c.describe(args.postgres or 'sqlite')}, "
          f"run {state}: end -> next start gap mean {statistics.mean(gaps):.1f} ms, median "
          f"{statistics.median(gaps):.1f} ms, max {max(gaps):.1f} ms (end -> next queued median "
          f"{statistics.median(seen):.1f} ms, queued -> claimed median "
          f"{statistics.median(g - q for g, q in zip(gaps, seen, strict=True)):.1f} ms)  target mean <= 100 ms")
    print(c.json_line(figure="sqs_chain", tasks=args.tasks, mean_ms=round(statistics.mean(gaps), 1), state=state))


if __name__ == "__main__":
    main()
