"""Figure: one DAG of 500 independent no-op PythonOperator tasks, local executor, SQLite.

Wall time from the trigger (a queued manual run) to the run's completion, with the real
scheduler loop (``run_forever``'s step: run_once, then wait on the executor socket when idle).
Target (issue 3): <= 3 s on a 2-core machine. Run: ``python bench/fanout.py [--tasks N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from homes import bench_home  # noqa: E402

from runtime.executors.local import LocalExecutor  # noqa: E402
from runtime.processor import DagProcessor  # noqa: E402
from runtime.scheduler import Scheduler  # noqa: E402
from runtime.sdk import timezone  # noqa: E402
from runtime.settings import Settings  # noqa: E402
from runtime.store import db, runs  # noqa: E402
from runtime.store.models import DagModel, DagRun, Job, TaskInstance  # noqa: E402
from runtime.store.session import open_store, transaction  # noqa: E402

DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

def noop():
    pass

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={cap}) as dag:
    for i in range({n}):
        PythonOperator(task_id=f"t{{i:04d}}", python_callable=noop)
'''




def setup(home: Path, dag_source: str, **overrides: object) -> tuple[Settings, object]:
    """A store in ``home`` with one DAG file parsed and unpaused."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "bench_dag.py").write_text(dag_source)
    overrides = {"core__fork_server_idle_exit": 0, **overrides}  # the fork server runs from start() (its pid is read)
    settings = Settings(home, environ={"WINDSOCK_HOME": str(home)}).with_overrides(
        core__dags_folder=str(dags), core__load_examples=False, **overrides)
    engine, factory = open_store(settings)
    db.init(engine)
    DagProcessor(settings, factory).run_once(timezone.utcnow(), force=True)
    with transaction(factory) as s:
        s.execute(sa.update(DagModel).values(is_paused=False))
    return settings, factory


def wait_ready(factory: object, executor: LocalExecutor, timeout: float = 60.0) -> None:
    """Until the fork server is up (its job row written) and its zygote too (imports done, warm-up run:
    its CPU time stands still for 0.3 s), as they are in a running deployment: the figure is the run's,
    not the start of a Python process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with transaction(factory) as s:  # type: ignore[arg-type]
            if s.scalar(sa.select(Job.id).where(Job.pid == executor.pid, Job.state == "running")) is not None:
                break
        time.sleep(0.05)
    else:
        raise SystemExit(f"the fork server did not start within {timeout:g} s")
    assert executor.pid is not None
    last, still_since = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        used = server_cpu(executor.pid)[1]
        if used != last:
            last, still_since = used, time.monotonic()
        elif used > 0 and time.monotonic() - still_since >= 0.3:
            return
        time.sleep(0.05)
    raise SystemExit(f"the zygote did not settle within {timeout:g} s")


def trigger(factory: object, dag_id: str) -> str:
    """Queue a manual run; its run id."""
    now = timezone.utcnow()
    with transaction(factory) as s:  # type: ignore[arg-type]
        return runs.create_dag_run(s, dag_id=dag_id, run_type="manual", logical_date=now, data_interval=None,
                                   now=now, external_trigger=True).run_id


def drive(scheduler: Scheduler, factory: object, run_id: str, timeout: float = 120.0) -> tuple[str, int]:
    """Step like run_forever until the run finishes; (final state, loops)."""
    loops = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = scheduler.run_once(timezone.utcnow())
        loops += 1
        if stats.finished_runs or not stats.busy:
            with transaction(factory) as s:  # type: ignore[arg-type]
                state = s.scalar(sa.select(DagRun.state).where(DagRun.run_id == run_id))
            if state in ("success", "failed"):
                return str(state), loops
        if not stats.busy:
            scheduler.executor.wait(scheduler._conf.loop_interval)
    raise SystemExit(f"run {run_id} not finished after {timeout}s")


def proc_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of process ``pid`` and of its reaped children (utime+stime, cutime+cstime)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def children_faults(pid: int, own: bool = False) -> int:
    """Page faults of the task children the zygote of fork server ``pid`` reaped (its ``cminflt``), or with
    ``own`` the zygote's own (``minflt``: the pages it copies once children share them)."""
    total = 0
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            kids = [int(k) for k in handle.read().split()]
    except OSError:
        kids = []
    for kid in kids:
        try:
            with open(f"/proc/{kid}/stat") as handle:
                total += int(handle.read().rsplit(")", 1)[1].split()[7 if own else 8])
        except OSError:
            continue
    return total


def server_cpu(pid: int) -> tuple[float, float, float]:
    """CPU seconds of the fork server ``pid``, of its zygote, and of the task children they reaped."""
    own, reaped = proc_cpu(pid)
    zygote = children_reaped = 0.0
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            kids = [int(k) for k in handle.read().split()]
    except OSError:
        kids = []
    for kid in kids:  # the zygote (the task children are its own)
        try:
            z_own, z_reaped = proc_cpu(kid)
        except OSError:
            continue
        zygote += z_own
        children_reaped += z_reaped
    return own, zygote, reaped + children_reaped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--parallelism", type=int, default=32)
    parser.add_argument("--max-active-tasks", type=int, default=None,
                        help="the DAG's max_active_tasks (default: all its tasks, so that parallelism decides; "
                             "Airflow's and Windsock's default is 16, what the Airflow harness's DAG runs with)")
    parser.add_argument("--profile", help="write a cProfile of the scheduler process to this file")
    parser.add_argument("--perf-ctl", metavar="FIFO",
                        help="perf's control fifo: sampling enabled from the trigger to the run's end only "
                             "(perf record -a -D -1 --control fifo:FIFO -- python bench/fanout.py --perf-ctl FIFO)")
    args = parser.parse_args()
    with bench_home() as tmp:
        settings, factory = setup(Path(tmp), DAG.format(dag_id="fanout", n=args.tasks, cap=args.max_active_tasks or args.tasks), core__parallelism=args.parallelism)
        executor = LocalExecutor(settings)
        executor.start()
        scheduler = Scheduler(settings, factory, executor)  # type: ignore[arg-type]
        scheduler.run_once(timezone.utcnow())  # warm: the DAG cached
        wait_ready(factory, executor)
        profiler = _profiler(args.profile)
        began = time.perf_counter()
        cpu0, server0 = os.times(), server_cpu(executor.pid)  # type: ignore[arg-type]
        faults0 = children_faults(executor.pid)  # type: ignore[arg-type]
        zfaults0 = children_faults(executor.pid, own=True)  # type: ignore[arg-type]
        _perf(args.perf_ctl, "enable")
        run_id = trigger(factory, "fanout")
        state, loops = drive(scheduler, factory, run_id)
        wall = time.perf_counter() - began
        _perf(args.perf_ctl, "disable")
        cpu, server = os.times(), server_cpu(executor.pid)  # type: ignore[arg-type]
        faults = (children_faults(executor.pid) - faults0) / max(args.tasks, 1)  # type: ignore[arg-type]
        zfaults = (children_faults(executor.pid, own=True) - zfaults0) / max(args.tasks, 1)  # type: ignore[arg-type]
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        executor.end()
        with transaction(factory) as s:  # type: ignore[arg-type]
            done = s.scalar(sa.select(sa.func.count()).where(TaskInstance.state == "success"))
        sched_cpu = (cpu.user - cpu0.user) + (cpu.system - cpu0.system)
        cap = f", max_active_tasks {args.max_active_tasks}" if args.max_active_tasks else ""
        print(f"fanout: {args.tasks} no-op tasks, parallelism {args.parallelism}{cap}, SQLite: trigger -> run {state} in "
              f"{wall:.2f} s ({done} tasks succeeded, {loops} scheduler loops; CPU s: scheduler {sched_cpu:.2f}, "
              f"fork server {server[0] - server0[0]:.2f}, zygote {server[1] - server0[1]:.2f}, "
              f"task children {server[2] - server0[2]:.2f}; page faults per child {faults:.0f}, zygote's per fork {zfaults:.0f})  target <= 3 s")


def _perf(fifo: str | None, command: str) -> None:
    if fifo:
        with open(fifo, "w") as handle:
            handle.write(command + "\n")


def _profiler(path: str | None):  # type: ignore[no-untyped-def]
    if not path:
        return None
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU, not wall: the box is shared with the tries
    profiler.enable()
    return profiler


if __name__ == "__main__":
    main()
