"""Serialized DAGs as the scheduler needs them, cached by dag_id and re-read when their hash changes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.rules.readiness import TaskNode, downstream_of
from runtime.sdk.serialization import SerializedDag
from runtime.store.models import SerializedDagModel

RECHECK_SECONDS = 1.0


@dataclass
class CachedDag:
    """One serialized DAG with its graph precomputed."""

    sdag: SerializedDag
    dag_hash: str
    fileloc: str
    nodes: dict[str, TaskNode]
    down: dict[str, set[str]]
    up: dict[str, set[str]]
    leaves: set[str]
    past_tasks: set[str] = field(default_factory=set)
    checked: float = 0.0

    @property
    def dag_id(self) -> str:
        """The DAG id."""
        return self.sdag.dag_id

    def task(self, task_id: str) -> dict[str, Any]:
        """The serialized task ``task_id``."""
        return self.sdag.tasks[task_id]

    def get(self, key: str, default: Any = None) -> Any:
        """A DAG-level attribute of the serialized JSON."""
        value = self.sdag.data.get(key)
        return default if value is None else value

    def downstream_closure(self, task_ids: set[str]) -> set[str]:
        """Every task reachable downstream of ``task_ids``."""
        seen: set[str] = set()
        stack = list(task_ids)
        while stack:
            for nxt in self.down.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen


def build(data: dict[str, Any], dag_hash: str, fileloc: str) -> CachedDag:
    """Precompute the graph of a serialized DAG."""
    sdag = SerializedDag(data)
    nodes = {tid: TaskNode(tid, t["trigger_rule"], frozenset(t["upstream"]), frozenset(t.get("setups") or ()))
             for tid, t in sdag.tasks.items()}
    past = {tid for tid, t in sdag.tasks.items() if t.get("depends_on_past") or t.get("wait_for_downstream")}
    return CachedDag(
        sdag=sdag, dag_hash=dag_hash, fileloc=fileloc, nodes=nodes, down=downstream_of(nodes),
        up={tid: set(n.upstream) | set(n.setups) for tid, n in nodes.items()}, leaves=set(sdag.leaves), past_tasks=past,
        checked=time.monotonic(),
    )


_HASH = sa.select(SerializedDagModel.dag_hash).where(SerializedDagModel.dag_id == sa.bindparam("dag_id"))


class DagCache:
    """dag_id -> CachedDag; a cheap hash check at most once a second per DAG."""

    def __init__(self) -> None:
        self._dags: dict[str, CachedDag] = {}

    def get(self, session: Session, dag_id: str) -> CachedDag | None:
        """The current serialized DAG ``dag_id`` (None when it has none)."""
        cached = self._dags.get(dag_id)
        if cached is not None and time.monotonic() - cached.checked < RECHECK_SECONDS:
            return cached
        stored_hash = session.scalar(_HASH, {"dag_id": dag_id})
        if stored_hash is None:
            self._dags.pop(dag_id, None)
            return None
        if cached is not None and cached.dag_hash == stored_hash:
            cached.checked = time.monotonic()
            return cached
        row = session.get(SerializedDagModel, dag_id)
        if row is None:
            return None
        fresh = build(json.loads(row.data), row.dag_hash, row.fileloc)
        self._dags[dag_id] = fresh
        return fresh
