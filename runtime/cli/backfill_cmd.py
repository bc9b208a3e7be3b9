"""``windsock dags backfill`` and ``windsock tasks run``: runs driven from the command line."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import datetime
from typing import Any

from runtime.cli import common
from runtime.errors import UserError


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


def intervals(sdag: Any, start: datetime, end: datetime) -> list[Any]:
    """The timetable's runs whose logical date lies in [start, end] (pure)."""
    found: list[Any] = []
    last = None
    far = datetime.max.replace(tzinfo=start.tzinfo)
    while True:
        info = sdag.timetable.next_dagrun_info(last=last, earliest=start, latest=end, catchup=True, now=far)
        if info is None or info.logical_date > end:
            return found
        if info.logical_date >= start:
            found.append(info)
        last = info.data_interval


def cmd_backfill(args: argparse.Namespace) -> int:
    """``windsock dags backfill``: non-zero when a run failed."""
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
    with transaction(factory) as session:
        run_ids = _prepare(session, args, start, end)
    if not run_ids:
        print("Nothing to backfill: no schedule interval in the range needs a run", file=sys.stderr)
        return 0
    states = _drive(settings, factory, args.dag_id, run_ids)
    failed = [r for r, s in states.items() if s != "success"]
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


def _prepare(session: Any, args: argparse.Namespace, start: datetime, end: datetime) -> list[str]:
    """Create (or reset, or clear) the run of every interval; the run ids to drive."""
    from runtime.cli import dbview

    sdag = dbview.serialized(session, args.dag_id)
    if not sdag.timetable.can_be_scheduled:
        raise UserError(f"DAG {args.dag_id!r} has no schedule (schedule=None): there is nothing to backfill")
    return [rid for rid in (_one(session, args, sdag, info) for info in intervals(sdag, start, end)) if rid]


def _one(session: Any, args: argparse.Namespace, sdag: Any, info: Any) -> str | None:
    from runtime.scheduler.starting import create_task_instances
    from runtime.sdk import timezone
    from runtime.store import clear, runs

    now = timezone.utcnow()
    run = runs.find_run_at(session, args.dag_id, info.logical_date)
    if run is not None and args.reset_dagruns:
        runs.delete_run(session, args.dag_id, run.run_id)
        run = None
    if run is not None:
        if args.rerun_failed_tasks and run.state == "failed":
            clear.clear_task_instances(session, args.dag_id, run.run_id, list(sdag.tasks), only_failed=True, serialized=sdag)
            return run.run_id
        return run.run_id if run.state in ("queued", "running") else None
    run = runs.create_dag_run(session, dag_id=args.dag_id, run_type="backfill", logical_date=info.logical_date,
                              data_interval=info.data_interval, now=now)
    if args.mark_success:
        _mark_success(session, sdag, run, now, create_task_instances)
    return run.run_id


def _mark_success(session: Any, sdag: Any, run: Any, now: datetime, create: Any) -> None:
    import sqlalchemy as sa

    from runtime.scheduler.dags import build
    from runtime.store import cas
    from runtime.store.models import TaskInstance

    create(session, build(sdag.data, "", sdag.data.get("fileloc") or ""), run.run_id, now)
    session.execute(sa.update(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
                    .values(state="success", start_date=now, end_date=now, duration=0.0))
    session.flush()
    cas.set_run_state(session, run.id, expected=["queued"], new="success", start_date=now, end_date=now)


def _drive(settings: Any, factory: Any, dag_id: str, run_ids: list[str]) -> dict[str, str]:
    """Run the scheduler for this DAG's runs only until they finish, with a progress bar on stderr."""
    from runtime.executors import make_executor
    from runtime.scheduler import Scheduler
    from runtime.sdk import timezone

    executor = make_executor(settings, factory)
    scheduler = Scheduler(settings, factory, executor, dag_ids={dag_id}, create_runs=False)
    stop = threading.Event()
    executor.start()
    bar = Progress(len(run_ids))
    try:
        while not stop.is_set():
            stats = scheduler.run_once(timezone.utcnow())
            states = _states(factory, dag_id, run_ids)
            bar.show(states)
            if all(s in ("success", "failed") for s in states.values()):
                return states
            if not stats.busy:
                executor.wait(float(settings.get("scheduler", "loop_interval")))
    finally:
        bar.close()
        executor.end()
    return {}


def _states(factory: Any, dag_id: str, run_ids: list[str]) -> dict[str, str]:
    import sqlalchemy as sa

    from runtime.store.models import DagRun
    from runtime.store.session import transaction

    with transaction(factory) as session:
        rows = session.execute(sa.select(DagRun.run_id, DagRun.state).where(
            DagRun.dag_id == dag_id, DagRun.run_id.in_(run_ids))).all()
    return {r: str(s) for r, s in rows}


class Progress:
    """A plain-text progress bar on stderr (redrawn in place on a terminal, a line per change otherwise)."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total = total
        self.width = width
        self.last = ""
        self.tty = sys.stderr.isatty()

    def text(self, states: dict[str, str]) -> str:
        """``[#####.....] 3/10 runs done (1 failed, 2 running)``."""
        done = sum(s in ("success", "failed") for s in states.values())
        failed = sum(s == "failed" for s in states.values())
        running = sum(s == "running" for s in states.values())
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
    return 0 if state in ("success", "skipped", "up_for_retry", "up_for_reschedule") else 1
