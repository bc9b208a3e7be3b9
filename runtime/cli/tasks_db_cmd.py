"""``windsock tasks state|states-for-dag-run|clear|logs``: metadata DB commands about tasks."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from runtime.cli import common, dbview
from runtime.cli.output import add_output_flag, render
from runtime.errors import UserError


def register(tree: Any) -> None:
    """Add the DB-backed ``tasks`` commands."""
    tasks = tree.group("tasks", help="Manage and run tasks")
    p = tasks.add_parser("state", help="Print the state of a task instance")
    p.add_argument("dag_id")
    p.add_argument("task_id")
    p.add_argument("run", metavar="RUN_ID_OR_LOGICAL_DATE")
    p.add_argument("-m", "--map-index", type=int, default=-1)
    p.set_defaults(func=cmd_state)
    p = tasks.add_parser("states-for-dag-run", help="Print the states of every task instance of a run")
    p.add_argument("dag_id")
    p.add_argument("run", metavar="RUN_ID_OR_LOGICAL_DATE")
    add_output_flag(p)
    p.set_defaults(func=cmd_states_for_run)
    p = tasks.add_parser("clear", help="Clear task instances so the scheduler runs them again")
    p.add_argument("dag_id")
    p.add_argument("-t", "--task-regex", help="only tasks whose id matches this regular expression")
    p.add_argument("-s", "--start-date", help="only runs with a logical date from this one")
    p.add_argument("-e", "--end-date", help="only runs with a logical date up to this one")
    p.add_argument("-r", "--run-id", help="only this run")
    p.add_argument("-d", "--downstream", action="store_true", help="also clear downstream tasks")
    p.add_argument("-u", "--upstream", action="store_true", help="also clear upstream tasks")
    p.add_argument("-f", "--only-failed", action="store_true", help="only failed (and upstream_failed) task instances")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_clear)
    p = tasks.add_parser("logs", help="Print the log of a task try")
    p.add_argument("dag_id")
    p.add_argument("task_id")
    p.add_argument("run", metavar="RUN_ID_OR_LOGICAL_DATE")
    p.add_argument("--try", dest="try_number", type=int, help="try number (default: the latest)")
    p.add_argument("-m", "--map-index", type=int, default=-1)
    p.set_defaults(func=cmd_logs)


def cmd_state(args: argparse.Namespace) -> int:
    from runtime.store.session import store_connection

    with store_connection(common.load_settings()) as conn:  # Core only: no ORM to load
        run = dbview.find_run(conn, args.dag_id, args.run)
        match = [ti for ti in dbview.task_instances(conn, args.dag_id, run.run_id) if ti.task_id == args.task_id and ti.map_index == args.map_index]
        if not match:
            raise UserError(f"run {run.run_id} of {args.dag_id!r} has no task instance {args.task_id!r} (map_index {args.map_index})")
        print(match[0].state or "none")
    return 0


def cmd_states_for_run(args: argparse.Namespace) -> int:
    from runtime.store.session import store_connection

    with store_connection(common.load_settings()) as conn:  # Core only: no ORM to load
        run = dbview.find_run(conn, args.dag_id, args.run)
        rows = [
            {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state or "none",
             "try_number": ti.try_number, "start_date": _iso(ti.start_date), "end_date": _iso(ti.end_date)}
            for ti in dbview.task_instances(conn, args.dag_id, run.run_id)
        ]
    render(rows, ["dag_id", "run_id", "task_id", "map_index", "state", "try_number", "start_date", "end_date"], args.output)
    return 0


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def cmd_clear(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from runtime.store import actions
    from runtime.store.models import DagRun
    from runtime.store.session import store_session

    pattern = _regex(args.task_regex)
    with store_session(common.load_settings()) as session:
        dbview.dag_row(session, args.dag_id)
        sdag = dbview.serialized(session, args.dag_id)
        task_ids = [t for t in sdag.tasks if pattern is None or pattern.search(t)]
        if not task_ids:
            raise UserError(f"no task of {args.dag_id!r} matches {args.task_regex!r}")
        stmt = sa.select(DagRun).where(DagRun.dag_id == args.dag_id)
        if args.run_id:
            stmt = stmt.where(DagRun.run_id == args.run_id)
        start, end = common.parse_date(args.start_date, "--start-date"), common.parse_date(args.end_date, "--end-date")
        if start:
            stmt = stmt.where(DagRun.logical_date >= start)
        if end:
            stmt = stmt.where(DagRun.logical_date <= end)
        run_list = list(session.scalars(stmt.order_by(DagRun.logical_date)))
        if not args.yes and sys.stdin.isatty() and input(f"Clear {len(task_ids)} task(s) in {len(run_list)} run(s)? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Cancelled")
            return 1
        total = actions.clear_tasks(session, args.dag_id, [run.run_id for run in run_list], task_ids,
                                    downstream=args.downstream, upstream=args.upstream, only_failed=args.only_failed,
                                    sdag=sdag)
        dbview.audit(session, "cli_task_clear", dag_id=args.dag_id, extra={"tasks": task_ids, "runs": len(run_list), "cleared": total})
    print(f"Cleared {total} task instance(s) in {len(run_list)} run(s)")
    return 0


def _regex(text: str | None) -> re.Pattern[str] | None:
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise UserError(f"--task-regex {text!r} is not a valid regular expression: {exc}") from None


def cmd_logs(args: argparse.Namespace) -> int:
    from runtime.store.session import store_connection

    settings = common.load_settings()
    with store_connection(settings) as conn:  # Core only: no ORM to load
        run = dbview.find_run(conn, args.dag_id, args.run)
        match = [ti for ti in dbview.task_instances(conn, args.dag_id, run.run_id) if ti.task_id == args.task_id and ti.map_index == args.map_index]
        if not match:
            raise UserError(f"run {run.run_id} of {args.dag_id!r} has no task instance {args.task_id!r}")
        state, tries = match[0].state, int(match[0].try_number or 0)
    from runtime import tasklogs
    from runtime.paths import task_log_path

    try_number = args.try_number or max(tries, 1)
    text = tasklogs.read(settings, args.dag_id, run.run_id, args.task_id, args.map_index, try_number)
    if text is None:
        path = Path(task_log_path(str(settings.get("logging", "base_log_folder")), args.dag_id, run.run_id,
                                  args.task_id, args.map_index, try_number))
        raise UserError(_no_log(args.task_id, run.run_id, state, tries, try_number, path))
    sys.stdout.write(text)
    return 0


def _no_log(task_id: str, run_id: str, state: str | None, tries: int, try_number: int, path: Path) -> str:
    """Why a task try has no log: it never ran (skipped, upstream failed, not started) or the file is gone."""
    from runtime.store.states import TaskInstanceState as TI

    what = f"task {task_id!r} of run {run_id}"
    if tries == 0 or try_number > tries:
        reasons: dict[str, str] = {
            TI.SKIPPED: "was skipped and never ran",
            TI.UPSTREAM_FAILED: "never ran: an upstream task failed (state upstream_failed)",
            TI.REMOVED: "was removed from the DAG and never ran",
        }
        if try_number > tries > 0:
            return f"{what} has had {tries} try(s); there is no try {try_number}"
        reason = reasons.get(state or "") or f"has not run yet (state {state or 'none'})"
        return f"{what} {reason}, so it has no log"
    return f"no log for try {try_number} of {what} at {path}"
