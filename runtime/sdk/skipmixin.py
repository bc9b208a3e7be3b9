"""Skipping downstream tasks from inside a running task (branching, short-circuit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class SkipMixin:
    """Records which tasks to skip on the running ``ti``; the runner applies it after the task."""

    def skip(self, dag_run: Any, execution_date: Any = None, tasks: Iterable[Any] = (), map_index: int = -1, **kwargs: Any) -> None:
        """Mark ``tasks`` (operators or ids) skipped in this run."""
        ti = kwargs.get("ti") or getattr(self, "_windsock_ti", None)
        if ti is None:
            raise RuntimeError("skip() called outside a running task")
        ti.skip_task_ids.update(t if isinstance(t, str) else t.task_id for t in tasks)

    def skip_all_except(self, ti: Any, branch_task_ids: None | str | Iterable[str]) -> None:
        """Skip every direct downstream task except ``branch_task_ids`` (and their groups' roots)."""
        task = ti.task
        dag = task.dag
        if branch_task_ids is None:
            chosen: set[str] = set()
        elif isinstance(branch_task_ids, str):
            chosen = {branch_task_ids}
        else:
            chosen = set(branch_task_ids)
        expanded: set[str] = set()
        for tid in chosen:
            if tid in dag.task_group_dict:  # a TaskGroup id selects the group's roots
                expanded |= {t.task_id for t in dag.task_group_dict[tid].roots}
            elif dag.has_task(tid):
                expanded.add(tid)
            else:
                raise ValueError(f"'branch_task_ids' must contain only valid task_ids. Invalid tasks found: {{'{tid}'}}.")
        ti.skip_task_ids.update(t for t in task.downstream_task_ids if t not in expanded)
