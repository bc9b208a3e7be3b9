"""Figure: one scheduler loop with 50 active runs, as finished history grows 0 -> 10 000 -> 100 000 task instances.

The store is SQLite. Each active run of a 10-task DAG has 2 tries running (heartbeats fresh)
and 8 task instances waiting on them; the history is finished runs of the same DAG. A loop is
``Scheduler.run_once(now)`` with an executor that reports nothing, so it does the steady-state
work (due runs, queued runs, retries, evaluation, queueing, run finishing) plus, in the
second figure, the sweep (zombies, queued timeouts, reconciliation) it does once a second.
Target (issue 3): <= 50 ms per loop at 100 000 history rows, not growing with history.
Run: ``python bench/history.py [--postgres]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fanout import setup  # noqa: E402

from runtime.executors.base import BaseExecutor  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.store.models import DagRun, TaskInstance  # noqa: E402
from runtime.store.session import transaction  # noqa: E402

DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("hist", start_date=datetime(2000, 1, 1), schedule=None) as dag:
    heads = [EmptyOperator(task_id=f"head{i}") for i in range(2)]
    for i in range(8):
        EmptyOperator(task_id=f"tail{i}").set_upstream(heads)
'''
TASKS = [f"head{i}" for i in range(2)] + [f"tail{i}" for i in range(8)]


class IdleExecutor(BaseExecutor):
    """Takes tries and never reports: the loop measures the scheduler alone."""

    def queue(self, work: object) -> None:  # type: ignore[override]
        self.running[work.ti_id] = work  # type: ignore[attr-defined]

    def sync(self) -> list:  # type: ignore[override]
        return []


def add_runs(factory: object, first: int, count: int, *, active: bool) -> None:
    """``count`` runs of 10 task instances: finished (success) or active (2 running, 8 waiting)."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    now = timezone.utcnow()
    runs, tis = [], []
    for n in range(first, first + count):
        logical = start + timedelta(hours=n)
        run_id = f"bench__{n:07d}"
        runs.append({"dag_id": "hist", "run_id": run_id, "run_type": "manual", "logical_date": logical,
                     "state": "running" if active else "success", "start_date": now, "queued_at": now,
                     "external_trigger": False, "clear_number": 0})
        for task in TASKS:
            state = ("running" if task.startswith("head") else None) if active else "success"
            tis.append({"dag_id": "hist", "run_id": run_id, "task_id": task, "map_index": -1, "state": state,
                        "try_number": 1 if state else 0, "max_tries": 0, "pool": "default_pool", "pool_slots": 1,
                        "priority_weight": 1, "start_date": now if state else None, "last_heartbeat_at": now,
                        "end_date": now if state == "success" else None})
    with transaction(factory) as s:  # type: ignore[arg-type]
        conn = s.connection()
        for chunk in range(0, len(runs), 5000):
            conn.execute(DagRun.__table__.insert(), runs[chunk:chunk + 5000])
        for chunk in range(0, len(tis), 20000):
            conn.execute(TaskInstance.__table__.insert(), tis[chunk:chunk + 20000])


def loop_ms(scheduler: Scheduler, loops: int, sweep: bool) -> list[float]:
    """Wall time of ``loops`` steps (each with a sweep when ``sweep``)."""
    out = []
    for _ in range(loops):
        if sweep:
            scheduler._next_sweep = 0.0
        began = time.perf_counter()
        scheduler.run_once(timezone.utcnow())
        out.append((time.perf_counter() - began) * 1000)
    return out


def main() -> None:
    if "--postgres" in sys.argv:  # the same figure on a throwaway PostgreSQL database (tests' server)
        from tests.services import throwaway_postgres_db

        with throwaway_postgres_db() as url:
            measure(database__sql_alchemy_conn=url)
        return
    measure()


def measure(**overrides: object) -> None:
    """Print the loop times for one store (SQLite in a temporary folder unless overridden)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings, factory = setup(Path(tmp), DAG, scheduler__zombie_threshold=3600.0, **overrides)
        add_runs(factory, 1_000_000, 50, active=True)
        scheduler = Scheduler(settings, factory, IdleExecutor(parallelism=32))  # type: ignore[arg-type]
        first = loop_ms(scheduler, 1, sweep=True)[0]
        backend = str(settings.get("database", "sql_alchemy_conn")).split(":", 1)[0]
        print(f"history ({backend}): 50 active runs x 10 task instances; first loop after start (registers 50 runs, evaluates 20 in full) {first:.1f} ms")
        have = 0
        for target in (0, 10_000, 100_000):
            if target > have:
                add_runs(factory, have // 10, (target - have) // 10, active=False)
                have = target
            loop_ms(scheduler, 3, sweep=False)  # warm caches after the insert
            steady = loop_ms(scheduler, 30, sweep=False)
            swept = loop_ms(scheduler, 10, sweep=True)
            print(f"history {target:>7,} finished task instances: loop median {statistics.median(steady):.1f} ms "
                  f"(max {max(steady):.1f}); loop with sweep median {statistics.median(swept):.1f} ms "
                  f"(max {max(swept):.1f})  target <= 50 ms, flat")


if __name__ == "__main__":
    main()
