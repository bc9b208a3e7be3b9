"""``windsock dags trigger|pause|unpause|state|list-runs|delete|next-execution``: metadata DB commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli import common, dbview
from runtime.cli.output import add_output_flag, render
from runtime.errors import UserError
from runtime.store.states import DagRunType


def register(tree: Any) -> None:
    """Add the DB-backed ``dags`` commands."""
    dags = tree.group("dags", help="Manage and run DAGs")
    p = dags.add_parser("trigger", help="Create a manual run of a DAG (the scheduler runs it)")
    p.add_argument("dag_id")
    p.add_argument("-c", "--conf", help="JSON object: the run's conf")
    p.add_argument("-r", "--run-id", help="run id (default: manual__<logical date>)")
    p.add_argument("-l", "--logical-date", "-e", "--exec-date", dest="logical_date", help="logical date (default: now)")
    p.set_defaults(func=cmd_trigger)
    for name, paused in (("pause", True), ("unpause", False)):
        p = dags.add_parser(name, help=f"{name.capitalize()} a DAG")
        p.add_argument("dag_id")
        p.set_defaults(func=cmd_pause, paused=paused)
    p = dags.add_parser("state", help="Print the state of a DAG run")
    p.add_argument("dag_id")
    p.add_argument("run", metavar="RUN_ID_OR_LOGICAL_DATE")
    p.set_defaults(func=cmd_state)
    p = dags.add_parser("list-runs", help="List the runs of a DAG")
    p.add_argument("dag_id", nargs="?")
    p.add_argument("-d", "--dag-id", dest="dag_id_opt")
    p.add_argument("--state", help="only runs in this state")
    add_output_flag(p)
    p.set_defaults(func=cmd_list_runs)
    p = dags.add_parser("delete", help="Delete every row of a DAG from the metadata database")
    p.add_argument("dag_id")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)
    p = dags.add_parser("next-execution", help="Print the logical date of the DAG's next scheduled run(s)")
    p.add_argument("dag_id")
    p.add_argument("-n", "--num-executions", type=int, default=1)
    p.set_defaults(func=cmd_next_execution)


def cmd_trigger(args: argparse.Namespace) -> int:
    from runtime.sdk import timezone
    from runtime.store import actions
    from runtime.store.session import store_session

    settings = common.load_settings()
    conf = common.parse_conf(args.conf)
    now = timezone.utcnow()
    logical = common.parse_date(args.logical_date, "--logical-date") or now
    with store_session(settings) as session:
        run = actions.trigger_dag(session, args.dag_id, now=now, conf=conf, logical_date=logical, run_id=args.run_id,
                                  run_id_pattern=str(settings.get("scheduler", "allowed_run_id_pattern")))
        paused = bool(dbview.dag_row(session, args.dag_id).is_paused)
        dbview.audit(session, "cli_trigger", dag_id=args.dag_id, run_id=run.run_id, extra={"conf": conf})
        print(f"Created run {run.run_id} of {args.dag_id} (logical date {run.logical_date.isoformat()}, state {run.state})")
    if paused:
        sys.stderr.write(f"note: DAG {args.dag_id} is paused: the run waits until it is unpaused "
                         f"(windsock dags unpause {args.dag_id})\n")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    from runtime.store import actions
    from runtime.store.session import store_session

    with store_session(common.load_settings()) as session:
        actions.set_paused(session, args.dag_id, args.paused)
        dbview.audit(session, "cli_pause" if args.paused else "cli_unpause", dag_id=args.dag_id)
    print(f"DAG {args.dag_id} {'paused' if args.paused else 'unpaused'}")
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    from runtime.store.session import store_connection

    with store_connection(common.load_settings()) as conn:  # Core only: no ORM to load
        run = dbview.find_run(conn, args.dag_id, args.run)
        print(run.state)
    return 0


def cmd_list_runs(args: argparse.Namespace) -> int:
    from runtime.store import reads
    from runtime.store.session import store_connection

    dag_id = args.dag_id or args.dag_id_opt
    if not dag_id:
        raise UserError("list-runs needs a DAG id (windsock dags list-runs DAG_ID)")
    with store_connection(common.load_settings()) as conn:  # Core only: no ORM to load
        reads.dag(conn, dag_id)
        rows = [_run_row(r) for r in reads.runs(conn, dag_id, state=args.state)]
    render(rows, ["dag_id", "run_id", "state", "run_type", "logical_date", "start_date", "end_date"], args.output)
    return 0


def _run_row(run: Any) -> dict[str, Any]:
    iso = lambda v: v.isoformat() if v else None  # noqa: E731
    return {
        "dag_id": run.dag_id, "run_id": run.run_id, "state": run.state, "run_type": run.run_type,
        "logical_date": iso(run.logical_date), "start_date": iso(run.start_date), "end_date": iso(run.end_date),
    }


def cmd_delete(args: argparse.Namespace) -> int:
    from runtime.store.dags import delete_dag
    from runtime.store.session import store_session

    if not args.yes and sys.stdin.isatty():
        answer = input(f"This deletes every record of DAG {args.dag_id!r}. Proceed? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Cancelled")
            return 1
    with store_session(common.load_settings()) as session:
        dbview.dag_row(session, args.dag_id)
        counts = delete_dag(session, args.dag_id)
        dbview.audit(session, "cli_dag_delete", dag_id=args.dag_id, extra=counts)
    print(f"Removed DAG {args.dag_id}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    return 0


def cmd_next_execution(args: argparse.Namespace) -> int:
    from runtime.sdk import timezone
    from runtime.sdk.timetables import DataInterval
    from runtime.store import runs
    from runtime.store.session import store_session

    with store_session(common.load_settings()) as session:
        row = dbview.dag_row(session, args.dag_id)
        sdag = dbview.serialized(session, args.dag_id)
        last_run = runs.latest_run(session, args.dag_id, run_types=[DagRunType.SCHEDULED, DagRunType.BACKFILL])
        last = None
        if last_run is not None and last_run.data_interval_start and last_run.data_interval_end:
            last = DataInterval(timezone.to_utc(last_run.data_interval_start), timezone.to_utc(last_run.data_interval_end))
    if row.is_paused:
        print("[INFO] Please be reminded this DAG is PAUSED now.", file=sys.stderr)
    now = timezone.utcnow()
    for _ in range(max(1, args.num_executions)):
        info = sdag.next_dagrun_info(last, now)
        if info is None:
            print("None")
            break
        print(info.logical_date.isoformat())
        last = info.data_interval
    return 0
