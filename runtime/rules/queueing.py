"""Which scheduled task instances may be queued now: priority order within every concurrency cap.

Pure: the caller counts what is queued or running; this picks, never reads the database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    """A scheduled task instance and what it would occupy."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    pool: str = "default_pool"
    pool_slots: int = 1
    priority: int = 1
    logical_date: str = ""  # ISO text: older runs first at equal priority


@dataclass
class Caps:
    """Remaining room: executor slots, free pool slots, and per-DAG / per-task caps with their usage."""

    slots: int
    pool_free: dict[str, int] = field(default_factory=dict)  # pools absent here do not exist
    dag_max: dict[str, int] = field(default_factory=dict)
    task_max: dict[tuple[str, str], int | None] = field(default_factory=dict)
    run_task_max: dict[tuple[str, str], int | None] = field(default_factory=dict)
    dag_used: Counter[str] = field(default_factory=Counter)
    task_used: Counter[tuple[str, str]] = field(default_factory=Counter)
    run_task_used: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def copy(self) -> Caps:
        """An independent copy (``pick`` consumes the caps it is given)."""
        return Caps(self.slots, dict(self.pool_free), dict(self.dag_max), dict(self.task_max), dict(self.run_task_max),
                    Counter(self.dag_used), Counter(self.task_used), Counter(self.run_task_used))


def order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Airflow's queueing order: priority weight desc, then older logical date, then map index."""
    return sorted(candidates, key=lambda c: (-c.priority, c.logical_date, c.dag_id, c.run_id, c.task_id, c.map_index))


def fits(c: Candidate, caps: Caps) -> bool:
    """Whether ``c`` fits in every cap that is left."""
    if caps.slots <= 0 or caps.pool_free.get(c.pool, -1) < c.pool_slots:
        return False
    if caps.dag_used[c.dag_id] >= caps.dag_max.get(c.dag_id, 1 << 30):
        return False
    task_cap = caps.task_max.get((c.dag_id, c.task_id))
    if task_cap is not None and caps.task_used[(c.dag_id, c.task_id)] >= task_cap:
        return False
    run_cap = caps.run_task_max.get((c.dag_id, c.task_id))
    return run_cap is None or caps.run_task_used[(c.dag_id, c.run_id, c.task_id)] < run_cap


def take(c: Candidate, caps: Caps) -> None:
    """Account ``c`` as queued."""
    caps.slots -= 1
    caps.pool_free[c.pool] -= c.pool_slots
    caps.dag_used[c.dag_id] += 1
    caps.task_used[(c.dag_id, c.task_id)] += 1
    caps.run_task_used[(c.dag_id, c.run_id, c.task_id)] += 1


def pick(candidates: Iterable[Candidate], caps: Caps) -> list[Candidate]:
    """The candidates to queue now, in priority order, within the caps (``caps`` is consumed)."""
    chosen = []
    for c in order(candidates):
        if caps.slots <= 0:
            break
        if fits(c, caps):
            take(c, caps)
            chosen.append(c)
    return chosen
