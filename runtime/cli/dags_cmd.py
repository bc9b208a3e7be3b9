"""``windsock dags list|show|test|list-import-errors``: commands that read DAG files, no database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli import common
from runtime.cli.output import add_output_flag, render
from runtime.errors import UserError
from runtime.store.states import RUN


def register(tree: Any) -> None:
    """Add the file-based ``dags`` commands."""
    dags = tree.group("dags", help="Manage and run DAGs")
    p = dags.add_parser("list", help="List the DAGs of the DAG folder")
    common.add_subdir_flag(p)
    add_output_flag(p)
    p.set_defaults(func=cmd_list)
    p = dags.add_parser("list-import-errors", help="List the DAG files that failed to load, with file, line and reason")
    common.add_subdir_flag(p)
    add_output_flag(p)
    p.set_defaults(func=cmd_import_errors)
    p = dags.add_parser("show", help="Print a DAG's graph in DOT format")
    p.add_argument("dag_id")
    common.add_subdir_flag(p)
    p.set_defaults(func=cmd_show)
    p = dags.add_parser("test", help="Run a whole DAG once in this process, without scheduler or database")
    p.add_argument("dag_id")
    p.add_argument("logical_date", nargs="?", help="logical date (default: now)")
    p.add_argument("-c", "--conf", help="JSON object passed as the run's conf")
    common.add_subdir_flag(p)
    p.set_defaults(func=cmd_test)


def cmd_list(args: argparse.Namespace) -> int:
    bag = common.dagbag(args)
    rows = [
        {"dag_id": d["dag_id"], "fileloc": d["fileloc"], "owners": d["owner"], "schedule": d["timetable_summary"],
         "tags": d["tags"]}
        for _, d in sorted(bag.serialized.items())
    ]
    render(rows, ["dag_id", "fileloc", "owners", "schedule", "tags"], args.output)
    if bag.errors:  # on stderr, so -o json|yaml stays parseable
        sys.stderr.write(f"{len(bag.errors)} file(s) failed to load; see 'windsock dags list-import-errors'\n")
    return 0


def cmd_import_errors(args: argparse.Namespace) -> int:
    bag = common.dagbag(args)
    rows = [{"filepath": e.filename, "line": e.lineno, "error": e.reason} for e in bag.errors]
    render(rows, ["filepath", "line", "error"], args.output)
    return 1 if rows else 0


def cmd_show(args: argparse.Namespace) -> int:
    dag = common.dagbag(args).get_dag(args.dag_id)
    print(f'digraph "{dag.dag_id}" {{')
    print("  rankdir=LR;")
    for task in dag.topological_sort():
        print(f'  "{task.task_id}" [label="{task.task_id}\\n({task.operator_name})"];')
    for task in dag.topological_sort():
        for down in sorted(task.downstream_task_ids):
            label = dag.get_edge_info(task.task_id, down).get("label")
            extra = f' [label="{label}"]' if label else ""
            print(f'  "{task.task_id}" -> "{down}"{extra};')
    print("}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from runtime.inprocess import MemoryServices, run_dag

    logical = common.parse_date(args.logical_date, "logical_date")
    conf = common.parse_conf(args.conf)
    bag = common.dagbag(args)
    dag = bag.get_dag(args.dag_id)
    services = MemoryServices(dag_lookup=bag.lookup)
    try:
        record = run_dag(dag, logical_date=logical, conf=conf, services=services)
    except UserError:
        raise
    except Exception as exc:  # DAG-level problems (a param that fails validation, a cycle)
        raise UserError(f"dags test {args.dag_id}: {type(exc).__name__}: {exc}") from None
    return 0 if record.state == RUN.SUCCESS else 1
