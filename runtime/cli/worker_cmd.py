"""``windsock worker``: run tries from the SQS task queue(s), as ``airflow celery worker`` does."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from runtime.cli import common


def register(tree: Any) -> None:
    """Add ``worker``."""
    p = tree.command("worker", help="Run task tries from the SQS task queue(s) (SqsExecutor)", func=cmd_worker)
    p.add_argument("-c", "--concurrency", type=int, default=None,
                   help="tries run at once (default: [worker] concurrency)")
    p.add_argument("-q", "--queues", default="",
                   help="comma-separated Airflow queue names to take tries from (default: the task queue)")
    p.add_argument("--burst", action="store_true", help="stop once nothing is queued or running")


def cmd_worker(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store import db
    from runtime.store.session import open_store
    from runtime.worker.sqs_worker import Worker, queue_urls

    settings = common.load_settings()
    db.check(open_store(settings)[0])
    concurrency = args.concurrency or int(settings.get("worker", "concurrency"))
    if concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, not {concurrency}")
    urls = queue_urls(settings, [q.strip() for q in args.queues.split(",") if q.strip()])
    worker = Worker(settings, concurrency, urls, environ=dict(settings.environ))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    print(f"[windsock] worker: concurrency {concurrency}, queues {', '.join(urls)}", file=sys.stderr, flush=True)
    worker.run(burst=args.burst)
    print("[windsock] worker: stopped", file=sys.stderr, flush=True)
    return 0
