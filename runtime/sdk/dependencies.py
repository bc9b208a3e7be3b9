"""Wiring tasks together: ``>>``, ``<<``, lists on either side, ``chain``, ``cross_downstream``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class DependencyMixin:
    """Anything that can stand on either side of ``>>``: operators, XComArgs, groups, labels."""

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        raise NotImplementedError

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        raise NotImplementedError

    def update_relative(self, other: Any, upstream: bool = True, edge_modifier: Any = None) -> None:
        """Hook for objects (XComArg) that need to know they were wired."""

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        # [a, b] << self
        self.set_downstream(other)
        return self


def as_list(value: Any) -> list[Any]:
    """``value`` as a list (a single item, a list, a tuple or a set)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def chain(*tasks: Any) -> None:
    """Wire tasks in sequence; lists of equal length between lists are wired pairwise."""
    for up, down in zip(tasks, tasks[1:], strict=False):
        if isinstance(up, DependencyMixin):
            up.set_downstream(down)
            continue
        if isinstance(down, DependencyMixin):
            down.set_upstream(up)
            continue
        if not isinstance(up, Sequence) or not isinstance(down, Sequence):
            raise TypeError(f"chain() got an element that is not a task or a list: {up!r} / {down!r}")
        if len(up) != len(down):
            raise ValueError(f"chain() needs lists of equal length to pair them, got {len(up)} and {len(down)}")
        for u, d in zip(up, down, strict=True):
            u.set_downstream(d)


def cross_downstream(from_tasks: Iterable[Any], to_tasks: Any) -> None:
    """Every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    for task in from_tasks:
        task.set_downstream(to_tasks)


def chain_linear(*elements: Any) -> None:
    """Each element (task or list) upstream of every task of the next."""
    for up, down in zip(elements, elements[1:], strict=False):
        for u in as_list(up):
            u.set_downstream(down)
