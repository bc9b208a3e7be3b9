"""``windsock dags backfill`` and ``windsock tasks run``: runs driven from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli import common
from runtime.errors import UserError
from runtime.store.states import DAGRUN_FINISHED, RUN, TI


def register(tree: Any) -> None:
    """Add ``dags backfill`` and ``tasks run``."""
    dags = tree.group("dags", help="Manage and run DAGs")
    p = dags.add_parser("backfill", help="Create and run the DAG's runs for every interval in a date range")
    p.add_argument("dag_id")
    p.add_argument("-s", "--start-date", required=True, help="first logical date (inclusive)")
    p.add_argument("-e", "--end-date", required=True, help="last logical date (inclusive)")
    p.add_argument("-m", "--mark-success", action="store_true", help="mark the task instances success without running them")
    p.add_argument("--rerun-failed-tasks", action="store_true", help="clear and rerun failed tasks of existing runs")
    p.add_argument("--reset-dagruns", action="store_true", help="delete existing runs in the range and start afresh")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before --reset-dagruns")
    p.set_defaults(func=cmd_backfill)
    tasks = tree.group("tasks", help="Inspect and run tasks")
    p = tasks.add_parser("run", help="Run one task instance, recording its try in the database")
    p.add_argument("dag_id")
    p.add_argument("task_id")
    p.add_argument("run", metavar="RUN_ID_OR_DATE")
    p.add_argument("-i", "--ignore-dependencies", action="store_true", help="run even if upstream tasks are not done")
    p.add_argument("-l", "--local", action="store_true", help="run it in a child process with heartbeats (the default)")
    p.add_argument("-r", "--raw", action="store_true", help="run it inside this process (no heartbeats)")
    p.add_argument("--map-index", type=int, default=-1)
    p.set_defaults(func=cmd_tasks_run)


# --- backfill ---------------------------------------------------------------------------------


def cmd_backfill(args: argparse.Namespace) -> int:
    """``windsock dags backfill``: non-zero when a run failed."""
    from runtime.cli import dbview
    from runtime.scheduler import backfill
    from runtime.sdk import timezone
    from runtime.store.session import open_store, transaction

    settings = common.load_settings()
    start, end = common.parse_date(args.start_date, "--start-date"), common.parse_date(args.end_date, "--end-date")
    assert start is not None and end is not None
    if end < start:
        raise UserError("--end-date is before --start-date")
    if args.reset_dagruns and not args.yes and not _confirm("Delete the existing runs in this range?"):
        raise UserError("backfill cancelled")
    _, factory = open_store(settings)
    _parse(settings, factory)
    options = backfill.Options(args.mark_success, args.rerun_failed_tasks, args.reset_dagruns)
    with transaction(factory) as session:
        run_ids = backfill.prepare(session, dbview.serialized(session, args.dag_id), start, end, options,
                                   timezone.utcnow())
    if not run_ids:
        print("Nothing to backfill: no schedule interval in the range needs a run", file=sys.stderr)
        return 0
    bar = Progress(len(run_ids))
    try:
        states = backfill.drive(settings, factory, args.dag_id, run_ids, bar.show)
    finally:
        bar.close()
    failed = [r for r, s in states.items() if s != RUN.SUCCESS]
    print(f"Backfill of {args.dag_id}: {len(states) - len(failed)} succeeded, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _parse(settings: Any, factory: Any) -> None:
    """Make sure the store has the current version of the DAG files."""
    from runtime.processor import DagProcessor
    from runtime.sdk import timezone

    DagProcessor(settings, factory).run_once(timezone.utcnow())


class Progress:
    """A plain-text progress bar on stderr (redrawn in place on a terminal, a line per change otherwise)."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total = total
        self.width = width
        self.last = ""
        self.tty = sys.stderr.isatty()

    def text(self, states: dict[str, str]) -> str:
        """``[#####.....] 3/10 runs done (1 failed, 2 running)``."""
        done = sum(s in DAGRUN_FINISHED for s in states.values())
        failed = sum(s == RUN.FAILED for s in states.values())
        running = sum(s == RUN.RUNNING for s in states.values())
        filled = int(self.width * done / max(self.total, 1))
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} runs done ({failed} failed, {running} running)"

    def show(self, states: dict[str, str]) -> None:
        """Draw if anything changed."""
        line = self.text(states)
        if line != self.last:
            sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
            sys.stderr.flush()
            self.last = line

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and self.last:
            sys.stderr.write("\n")


# --- tasks run --------------------------------------------------------------------------------


def cmd_tasks_run(args: argparse.Namespace) -> int:
    """``windsock tasks run``: non-zero when the try failed."""
    from runtime.cli import dbview
    from runtime.executors import make_executor
    from runtime.scheduler.single import Target, run_one
    from runtime.store.session import open_store, transaction

    settings = common.load_settings()
    _, factory = open_store(settings)
    with transaction(factory) as session:
        run = dbview.find_run(session, args.dag_id, args.run)
        target = Target(args.dag_id, run.run_id, args.task_id, args.map_index)
    executor = make_executor(settings, factory, "sequential" if args.raw else "local")
    executor.start()
    try:
        state = run_one(factory, executor, target, ignore_deps=args.ignore_dependencies)
    finally:
        executor.end()
    print(f"{args.dag_id}.{args.task_id} {target.run_id}: {state}")
    return 0 if state in (TI.SUCCESS, TI.SKIPPED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE) else 1
