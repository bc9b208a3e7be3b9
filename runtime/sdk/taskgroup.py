"""TaskGroup: a named group of tasks (ids prefixed ``group.task``) that wires as one unit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.sdk import context_stack
from runtime.sdk.dependencies import DependencyMixin, as_list
from runtime.sdk.exceptions import AirflowException, DuplicateTaskIdFound

if TYPE_CHECKING:
    from runtime.sdk.baseoperator import BaseOperator
    from runtime.sdk.dag import DAG


class TaskGroup(DependencyMixin):
    """A group of tasks; ``group >> task`` wires the group's leaves, ``task >> group`` its roots."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str | None = None,
    ) -> None:
        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        self.tooltip, self.ui_color, self.ui_fgcolor = tooltip, ui_color, ui_fgcolor
        self.children: dict[str, Any] = {}
        self.expand_input: dict[str, Any] | None = None  # set on a mapped task group (``.expand``)
        self.upstream_group_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        if group_id is None:  # the root group of a DAG
            self._group_id: str | None = None
            self.parent_group = None
            self.dag = dag
            return
        dag = dag or (parent_group.dag if parent_group else context_stack.current_dag())
        if dag is None:
            raise AirflowException(f"TaskGroup {group_id!r} must be created inside a DAG or get dag=")
        parent_group = parent_group or context_stack.current_group(dag)
        self.dag = dag
        self.parent_group = parent_group
        if parent_group is not None and parent_group.default_args:
            self.default_args = {**parent_group.default_args, **self.default_args}
        self._group_id = group_id
        full = self.group_id
        if full in dag.task_group_dict or (full and full in dag.task_dict):
            if not add_suffix_on_collision:
                raise DuplicateTaskIdFound(f"group_id '{full}' has already been added to the DAG")
            n = 1
            while f"{group_id}__{n}" in dag.task_group_dict:
                n += 1
            self._group_id = f"{group_id}__{n}"
        dag.task_group_dict[self.group_id] = self  # type: ignore[index]
        if parent_group is not None:
            parent_group.children[self.group_id] = self  # type: ignore[index]

    @property
    def group_id(self) -> str | None:
        """Full id, prefixed by the parent group's id when that one prefixes."""
        if self._group_id is None:
            return None
        parent = self.parent_group
        if parent is not None and parent.group_id and parent.prefix_group_id:
            return f"{parent.group_id}.{self._group_id}"
        return self._group_id

    @property
    def label(self) -> str | None:
        return self._group_id

    @property
    def is_root(self) -> bool:
        return self._group_id is None

    def child_id(self, label: str) -> str:
        """The full id a child named ``label`` gets."""
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        if self.parent_group is not None:
            return self.parent_group.child_id(label)
        return label

    def add(self, task: BaseOperator) -> None:
        """Add a task to this group."""
        if task.task_id in self.children:
            raise DuplicateTaskIdFound(f"{task.task_id!r} has already been added to the group")
        self.children[task.task_id] = task
        task.task_group = self

    def __enter__(self) -> TaskGroup:
        context_stack.push_group(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        context_stack.pop_group()

    def iter_tasks(self) -> list[BaseOperator]:
        """Every task in this group and its sub-groups."""
        out: list[BaseOperator] = []
        for child in self.children.values():
            out.extend(child.iter_tasks() if isinstance(child, TaskGroup) else [child])
        return out

    @property
    def roots(self) -> list[BaseOperator]:
        """Tasks of the group with no upstream inside the group."""
        ids = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not (t.upstream_task_ids & ids)]

    @property
    def leaves(self) -> list[BaseOperator]:
        """Tasks of the group with no downstream inside the group."""
        ids = {t.task_id for t in self.iter_tasks()}
        return [t for t in self.iter_tasks() if not (t.downstream_task_ids & ids)]

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        for task in self.roots:
            task.set_upstream(other, edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        for task in self.leaves:
            task.set_downstream(other, edge_modifier)

    def get_child_by_label(self, label: str) -> Any:
        return self.children[self.child_id(label)]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.children.values())

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def task_group(python_callable: Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """``@task_group``: calling the function builds its tasks inside a new TaskGroup."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        def group_args() -> dict[str, Any]:
            kw = dict(group_kwargs)
            kw.setdefault("group_id", func.__name__)
            kw.setdefault("tooltip", (func.__doc__ or "").strip())
            kw.setdefault("add_suffix_on_collision", True)
            return kw

        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> Any:
            with TaskGroup(**group_args()) as group:
                result = func(*args, **kwargs)
            for item in as_list(result) if result is not None else []:
                if hasattr(item, "set_upstream"):
                    return result
            return group

        def expand(**mapped: Any) -> Any:
            """Map the whole group over ``mapped`` (a mapped task group)."""
            from runtime.sdk.mapped_group import expand_group

            return expand_group(func, group_args(), {}, mapped)

        def partial(**fixed: Any) -> Any:
            """Fix some arguments; ``.expand(...)`` maps the group over the rest."""
            from runtime.sdk.mapped_group import expand_group

            return type("GroupPartial", (), {"expand": staticmethod(lambda **m: expand_group(func, group_args(), fixed, m))})()

        factory.expand = expand  # type: ignore[attr-defined]
        factory.partial = partial  # type: ignore[attr-defined]
        return factory

    return decorator(python_callable) if python_callable is not None else decorator
