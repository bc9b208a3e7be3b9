"""``windsock triggerer``: run the triggers of deferred tries, as ``airflow triggerer`` does.

The scheduler starts one as its child whenever a try defers (and lets it exit once idle), so a
deployment needs no triggerer service of its own; running more (by hand or on other hosts) shares
the triggers between them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from runtime.cli import common


def register(tree: Any) -> None:
    """Add ``triggerer``."""
    p = tree.command("triggerer", help="Run the triggers of deferred tasks", func=cmd_triggerer)
    p.add_argument("--capacity", type=int, default=None,
                   help="triggers run at once (default: [triggerer] capacity)")
    p.add_argument("--idle-exit", type=float, default=0.0, help=argparse.SUPPRESS)  # the scheduler's child


def cmd_triggerer(args: argparse.Namespace) -> int:
    from runtime.errors import UserError
    from runtime.store import db
    from runtime.store.session import open_store
    from runtime.triggerer.triggerer import Triggerer

    settings = common.load_settings()
    engine, factory = open_store(settings)
    db.check(engine)
    if args.capacity is not None and args.capacity < 1:
        raise UserError(f"--capacity must be at least 1, not {args.capacity}")
    triggerer = Triggerer(settings, factory, capacity=args.capacity)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"[windsock] triggerer: capacity {triggerer.capacity}", file=sys.stderr, flush=True)
    triggerer.run_forever(stop, idle_exit=args.idle_exit)
    print("[windsock] triggerer: stopped", file=sys.stderr, flush=True)
    return 0
