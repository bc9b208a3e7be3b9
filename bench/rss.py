"""Figures: the scheduler's idle memory, and what each task costs (memory of its child, CPU end to end).

Idle: a scheduler with the DAG processor and the local executor runs its loop for a few
seconds with 20 parsed DAGs and nothing to do; RSS of the scheduler process and of the
executor's fork server (``/proc/PID/status`` VmRSS). Per task: 20 tasks that sleep 5 s run at
once; each child's private memory (``/proc/PID/smaps_rollup`` Private_*; the rest is shared
with the zygote that forked it). CPU per task: 200 no-op tasks, scheduler + fork server + zygote + children CPU
seconds divided by 200. Run: ``python bench/rss.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from fanout import drive, server_cpu, setup, trigger  # noqa: E402

from runtime.executors.local import LocalExecutor  # noqa: E402
from runtime.processor import DagProcessor  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.store.models import TaskInstance  # noqa: E402
from runtime.store.session import transaction  # noqa: E402

DAGS = '''
from datetime import datetime
import time
from airflow import DAG
from airflow.operators.python import PythonOperator

def noop():
    pass

with DAG("sleepy", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(20):
        PythonOperator(task_id=f"s{i:02d}", python_callable=lambda: time.sleep(5))
with DAG("noops", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks=200) as dag2:
    for i in range(200):
        PythonOperator(task_id=f"n{i:03d}", python_callable=noop)
for d in range(18):
    with DAG(f"idle{d:02d}", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as idle:
        PythonOperator(task_id="t", python_callable=noop)
'''


def kb(pid: int, field: str = "VmRSS", path: str = "status") -> int:
    """A ``kB`` field of /proc/PID/<path> (summed over matching lines)."""
    total = 0
    with open(f"/proc/{pid}/{path}") as handle:
        for line in handle:
            if line.startswith(field):
                total += int(line.split()[1])
    return total


def idle_rss(scheduler: Scheduler, executor: LocalExecutor) -> tuple[int, int]:
    """RSS (kB) of this process and the fork server after 3 s of idle loops."""
    stop = threading.Event()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not stop.is_set():
        if not scheduler.run_once(timezone.utcnow()).busy:
            executor.wait(0.05)
    assert executor.pid is not None
    return kb(os.getpid()), kb(executor.pid)


def child_private(factory: object, scheduler: Scheduler) -> list[int]:
    """Private kB of each sleepy child, sampled while 20 of them run."""
    run_id = trigger(factory, "sleepy")
    deadline = time.monotonic() + 30
    sizes: dict[int, int] = {}
    while time.monotonic() < deadline and len(sizes) < 20:
        scheduler.run_once(timezone.utcnow())
        with transaction(factory) as s:  # type: ignore[arg-type]
            pids = [p for p in s.scalars(sa.select(TaskInstance.pid).where(
                TaskInstance.run_id == run_id, TaskInstance.state == "running")) if p]
        for pid in pids:
            try:
                sizes[pid] = kb(pid, "Private_", "smaps_rollup")
            except OSError:
                pass
        time.sleep(0.05)
    drive(scheduler, factory, run_id)
    return list(sizes.values())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = os.environ.get("BENCH_DIR") or tmp
        settings, factory = setup(Path(tmp), DAGS, core__parallelism=32)
        executor = LocalExecutor(settings)
        executor.start()
        processor = DagProcessor(settings, factory)  # type: ignore[arg-type]
        scheduler = Scheduler(settings, factory, executor, processor=processor)  # type: ignore[arg-type]
        sched_kb, server_kb = idle_rss(scheduler, executor)
        sizes = child_private(factory, scheduler)
        t0, s0 = os.times(), server_cpu(executor.pid)  # type: ignore[arg-type]
        run_id = trigger(factory, "noops")
        drive(scheduler, factory, run_id)
        t1, s1 = os.times(), server_cpu(executor.pid)  # type: ignore[arg-type]
        executor.end()
    own = (t1.user - t0.user) + (t1.system - t0.system)
    print(f"rss: idle scheduler process {sched_kb / 1024:.0f} MiB, executor fork server {server_kb / 1024:.0f} MiB "
          f"(20 DAGs parsed, processor + local executor)")
    print(f"rss: per running task child {statistics.median(sizes) / 1024:.1f} MiB private (median of {len(sizes)}; "
          f"the rest is shared copy-on-write with the zygote)")
    print(f"cpu per no-op task (200 tasks): scheduler {own / 200 * 1000:.1f} ms, fork server "
          f"{(s1[0] - s0[0]) / 200 * 1000:.1f} ms, zygote {(s1[1] - s0[1]) / 200 * 1000:.1f} ms, "
          f"task child {(s1[2] - s0[2]) / 200 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
