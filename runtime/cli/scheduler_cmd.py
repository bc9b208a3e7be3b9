"""``windsock scheduler`` and ``windsock standalone``: the DAG processor, scheduler and local executor."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from runtime.cli import common


def register(tree: Any) -> None:
    """Add ``scheduler`` and ``standalone``."""
    p = tree.command("scheduler", help="Run the DAG processor, the scheduler and the executor", func=cmd_scheduler)
    p.add_argument("-n", "--num-runs", type=int, default=-1, help="stop after this many scheduler loops")
    p = tree.command("standalone", help="Set up the database and run everything in one process tree",
                     func=cmd_standalone)
    p.add_argument("--examples", action="store_true", help="also load the bundled example DAGs")


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (a clean stop: the executor kills its children)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _run(settings: Any, *, include_examples: bool | None, num_runs: int) -> int:
    from runtime.executors import make_executor
    from runtime.processor import DagProcessor
    from runtime.scheduler import Scheduler
    from runtime.sdk import timezone
    from runtime.store.session import open_store

    _, factory = open_store(settings)
    processor = DagProcessor(settings, factory, include_examples=include_examples)
    executor = make_executor(settings, factory)
    scheduler = Scheduler(settings, factory, executor, processor=processor)
    stop = _stop_on_signals()
    say(f"scheduler: executor {settings.get('core', 'executor')}, parallelism {executor.parallelism}")
    scheduler.run_forever(stop, timezone.utcnow, num_runs=num_runs)
    say("scheduler: stopped")
    return 0


def say(line: str) -> None:
    """One line of progress on stderr."""
    print(f"[windsock] {line}", file=sys.stderr, flush=True)


def cmd_scheduler(args: argparse.Namespace) -> int:
    """``windsock scheduler``: needs an initialised database."""
    from runtime.store import db
    from runtime.store.session import open_store

    settings = common.load_settings()
    db.check(open_store(settings)[0])
    return _run(settings, include_examples=None, num_runs=args.num_runs)


def cmd_standalone(args: argparse.Namespace) -> int:
    """``windsock standalone``: init/upgrade the database, say what runs where, then run."""
    from runtime.store import db
    from runtime.store.session import open_store

    settings = common.load_settings()
    engine, _ = open_store(settings)
    db.init(engine)
    for line in banner(settings, engine, args.examples):
        print(line, flush=True)
    return _run(settings, include_examples=True if args.examples else None, num_runs=-1)


def banner(settings: Any, engine: Any, examples: bool) -> list[str]:
    """What standalone runs, where things are, and how to get a DAG going."""
    paused = settings.get("core", "dags_are_paused_at_creation")
    return [
        "windsock standalone: DAG processor + scheduler + local executor (one process tree; Ctrl-C stops it)",
        f"  home:       {settings.home}",
        f"  database:   {engine.url.render_as_string(hide_password=True)}",
        f"  DAG folder: {settings.get('core', 'dags_folder')}" + ("  (+ bundled examples)" if examples else ""),
        f"  task logs:  {settings.get('logging', 'base_log_folder')}/dag_id=.../run_id=.../task_id=.../attempt=N.log",
        f"  executor:   {settings.get('core', 'executor')} (parallelism {settings.get('core', 'parallelism')})",
        ("  New DAGs start paused (core.dags_are_paused_at_creation):" if paused else "  New DAGs start unpaused."),
        "    windsock dags list                # what was parsed",
        "    windsock dags unpause DAG_ID      # let the scheduler create its runs",
        "    windsock dags trigger DAG_ID      # a manual run now",
        "    windsock dags list-runs DAG_ID    # how runs went",
    ]
