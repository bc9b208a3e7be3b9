"""``windsock tasks list|test|render``: commands that read DAG files, no database."""

from __future__ import annotations

import argparse
from typing import Any

from runtime.cli import common
from runtime.cli.output import add_output_flag, render
from runtime.store.states import TI


def register(tree: Any) -> None:
    """Add the file-based ``tasks`` commands."""
    tasks = tree.group("tasks", help="Manage and run tasks")
    p = tasks.add_parser("list", help="List a DAG's tasks")
    p.add_argument("dag_id")
    p.add_argument("-t", "--tree", action="store_true", help="show the dependency tree")
    common.add_subdir_flag(p)
    add_output_flag(p)
    p.set_defaults(func=cmd_list)
    p = tasks.add_parser("test", help="Run one task, ignoring its dependencies and saving nothing")
    _task_args(p)
    p.add_argument("-m", "--map-index", type=int, default=-1)
    p.set_defaults(func=cmd_test)
    p = tasks.add_parser("render", help="Print a task's rendered template fields for a date")
    _task_args(p)
    p.set_defaults(func=cmd_render)


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dag_id")
    p.add_argument("task_id")
    p.add_argument("logical_date", nargs="?", help="logical date (default: now)")
    p.add_argument("-c", "--conf", "-t", "--task-params", dest="conf", help="JSON object: the run's conf")
    common.add_subdir_flag(p)


def cmd_list(args: argparse.Namespace) -> int:
    dag = common.dagbag(args).get_dag(args.dag_id)
    if args.tree:
        for root in sorted(dag.roots, key=lambda t: t.task_id):
            _print_tree(dag, root, 0)
        return 0
    rows = [{"task_id": t.task_id, "operator": t.operator_name, "upstream": sorted(t.upstream_task_ids)} for t in dag.topological_sort()]
    if args.output == "table":
        for row in rows:
            print(row["task_id"])
        return 0
    render(rows, ["task_id", "operator", "upstream"], args.output)
    return 0


def _print_tree(dag: Any, task: Any, depth: int) -> None:
    print(f"{'    ' * depth}{task!r}")
    for down in sorted(task.downstream_task_ids):
        _print_tree(dag, dag.get_task(down), depth + 1)


def _task(args: argparse.Namespace) -> tuple[Any, Any]:
    bag = common.dagbag(args)
    dag = bag.get_dag(args.dag_id)
    if not dag.has_task(args.task_id):
        from runtime.errors import UserError

        raise UserError(f"task {args.task_id!r} not found in DAG {args.dag_id!r}")
    return bag, dag


def cmd_test(args: argparse.Namespace) -> int:
    from runtime.inprocess import MemoryServices, run_single_task

    logical, conf = common.parse_date(args.logical_date, "logical_date"), common.parse_conf(args.conf)
    bag, dag = _task(args)
    services = MemoryServices(dag_lookup=bag.lookup)
    result = run_single_task(dag, args.task_id, logical, conf, services=services, map_index=args.map_index)
    return 0 if result.state in (TI.SUCCESS, TI.SKIPPED) else 1


def cmd_render(args: argparse.Namespace) -> int:
    import copy

    from runtime.inprocess import MemoryServices, make_run
    from runtime.sdk.context import build_context
    from runtime.sdk.taskinstance import TaskInstance
    from runtime.worker.runner import resolve_params

    _, dag = _task(args)
    run = make_run(dag, common.parse_date(args.logical_date, "logical_date"), common.parse_conf(args.conf))
    task = copy.deepcopy(dag.get_task(args.task_id))
    ti = TaskInstance(task, run, MemoryServices())
    context = build_context(ti, resolve_params(task, run))
    task.render_template_fields(context)
    for name in task.template_fields:
        print(f"# ----------------------------------------------------------\n# property: {name}\n# ----------------------------------------------------------")
        print(getattr(task, name))
    return 0
