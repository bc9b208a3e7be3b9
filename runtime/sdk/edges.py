"""Edge labels: ``a >> Label("on error") >> b``."""

from __future__ import annotations

from typing import Any

from runtime.sdk.dependencies import DependencyMixin, as_list


class EdgeModifier(DependencyMixin):
    """Sits between two sets of tasks in a ``>>`` chain and labels the edges it creates."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[Any] = []
        self._downstream: list[Any] = []

    def attach(self, task: Any, task_is_downstream: bool) -> None:
        """Called by a task wired to this label: join it to the other side."""
        if task_is_downstream:
            self._downstream.append(task)
            for up in self._upstream:
                up.set_downstream(task, edge_modifier=self)
        else:
            self._upstream.append(task)
            for down in self._downstream:
                task.set_downstream(down, edge_modifier=self)

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        for item in as_list(other):
            self.attach(item, task_is_downstream=False)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        for item in as_list(other):
            self.attach(item, task_is_downstream=True)

    @property
    def roots(self) -> list[Any]:
        return list(self._downstream)

    @property
    def leaves(self) -> list[Any]:
        return list(self._upstream)


def Label(label: str) -> EdgeModifier:  # noqa: N802 - Airflow's public name
    """A labelled edge."""
    return EdgeModifier(label)
