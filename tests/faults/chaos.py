"""Kill schedulers with -9 while tries run, restart them, and count what really executed.

Shared by the fault tests (which assert the invariants) and ``bench/faults.py`` (which prints
the figures). Each task appends ``start``/``end`` lines with its run, task and try to a file, so
executions are counted by their side effect, not by the states Windsock recorded.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runtime.store.models import DagRun, TaskInstance, TaskInstanceHistory

REPO = Path(__file__).resolve().parents[2]


def write_dag(dags: Path, marks: Path, *, width: int, chain: int, runs: int, seconds: float) -> str:
    """A DAG of ``width`` parallel tasks then a chain of ``chain`` (retries=1), ``runs`` runs due at once."""
    dags.mkdir(parents=True, exist_ok=True)
    line = "{{ run_id }} {{ ti.task_id }} {{ ti.try_number }} $(date +%s.%N)"
    command = f"echo start {line} >> {marks}; sleep {seconds}; echo end {line} >> {marks}"
    (dags / "chaos.py").write_text(f"""
from datetime import datetime, timedelta, timezone
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
START = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days={runs})
with DAG("chaos", start_date=START, schedule="@daily", catchup=True, max_active_runs={runs},
         is_paused_upon_creation=False, default_args={{"retries": 1, "retry_delay": timedelta(seconds=0)}}) as dag:
    fan = [BashOperator(task_id=f"p{{i}}", bash_command={command!r}) for i in range({width})]
    gate = EmptyOperator(task_id="gate")
    fan >> gate
    prev = gate
    for i in range({chain}):
        step = BashOperator(task_id=f"c{{i}}", bash_command={command!r})
        prev >> step
        prev = step
""")
    return "chaos"


@dataclass
class Executions:
    """What the side-effect file says ran: starts and ends per (run, task, try)."""

    starts: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    ends: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    start_times: list[float] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Executions:
        """Parse the marks file."""
        out = cls()
        for line in path.read_text().splitlines() if path.exists() else []:
            kind, run_id, task_id, try_number, at = line.split()
            (out.starts if kind == "start" else out.ends)[(run_id, task_id, int(try_number))] += 1
            if kind == "start":
                out.start_times.append(float(at))
        return out

    def recovery(self, kill_times: list[float]) -> list[float]:
        """Seconds from each kill to the next try that started."""
        starts = sorted(self.start_times)
        return [min((t for t in starts if t > k), default=float("nan")) - k for k in kill_times]

    def twice(self) -> list[tuple[str, str, int]]:
        """Tries whose command started more than once."""
        return [k for k, n in self.starts.items() if n > 1]


@dataclass
class Verdict:
    """The invariants the fault tests assert, and the figures the bench prints."""

    run_states: list[str]
    executed_twice: list[Any]
    needless: list[Any]  # tries recorded as failed, zombie or interrupted although their command completed
    unexplained_retries: list[Any]  # a later try while no earlier one was interrupted or died
    tries: int
    interrupted: int
    failures: list[Any] = field(default_factory=list)  # (run, task, try, message) of failed tries, to explain a failure


def judge(factory: Any, marks: Path, dag_id: str = "chaos") -> Verdict:
    """Compare what ran (marks) with what Windsock recorded."""
    ran = Executions.read(marks)
    with factory() as s:
        runs = list(s.scalars(sa.select(DagRun.state).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)))
        hist = s.execute(sa.select(TaskInstanceHistory.run_id, TaskInstanceHistory.task_id,
                                   TaskInstanceHistory.try_number, TaskInstanceHistory.state)
                         .where(TaskInstanceHistory.dag_id == dag_id)).all()
        failures = s.execute(sa.select(TaskInstanceHistory.run_id, TaskInstanceHistory.task_id,
                                       TaskInstanceHistory.try_number, TaskInstanceHistory.executor_message)
                             .where(TaskInstanceHistory.dag_id == dag_id,
                                    TaskInstanceHistory.state.in_(["failed", "up_for_retry"]))).all()
        finals = s.execute(sa.select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.try_number)
                           .where(TaskInstance.dag_id == dag_id)).all()
    needless = [(r, t, n, st) for r, t, n, st in hist if st != "success" and ran.ends[(r, t, n)]]
    by_task: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r, t, n, _ in hist:
        by_task[(r, t)].add(n)
    unexplained = []
    for r, t, final in finals:
        for earlier in range(1, final):
            died = ran.starts[(r, t, earlier)] and not ran.ends[(r, t, earlier)]
            never_started = not ran.starts[(r, t, earlier)]
            if not (died or never_started or t == "gate"):
                unexplained.append((r, t, earlier))
    return Verdict([str(x) for x in runs], ran.twice(), needless, unexplained, len(hist),
                   sum(1 for *_, st in hist if st == "restarting"), [tuple(f) for f in failures])


def environment(db_url: str, home: Path, dags: Path) -> dict[str, str]:
    """The environment of a scheduler under test (a marker lets the tests find every process it started)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env.update(WINDSOCK_HOME=str(home), WINDSOCK__DATABASE__SQL_ALCHEMY_CONN=db_url,
               WINDSOCK__CORE__DAGS_FOLDER=str(dags), WINDSOCK__CORE__LOAD_EXAMPLES="false",
               WINDSOCK__CORE__PARALLELISM="64", WINDSOCK__CORE__MAX_ACTIVE_TASKS_PER_DAG="64",
               WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL="2", WINDSOCK_CHAOS_MARK=uuid.uuid4().hex,
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def start_process(env: dict[str, str], log: Path, *command: str) -> subprocess.Popen[bytes]:
    """``windsock COMMAND...`` in a session of its own (its children die with it)."""
    handle = open(log, "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen([sys.executable, "-m", "runtime.cli.main", *command], env=env, stdout=handle,
                            stderr=handle, start_new_session=True)


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``windsock scheduler`` (its DAG processor and, with the local executor, fork server are its children)."""
    return start_process(env, log, "scheduler")


def run_cli(env: dict[str, str], *command: str, timeout: float = 60) -> int:
    """``windsock COMMAND...`` to its end; its exit code."""
    return subprocess.run([sys.executable, "-m", "runtime.cli.main", *command], env=env, capture_output=True,
                          timeout=timeout).returncode


def marked(mark: str) -> list[int]:
    """Processes still alive that carry ``mark`` in their environment."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if f"WINDSOCK_CHAOS_MARK={mark}".encode() in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def wait_gone(mark: str, timeout: float) -> list[int]:
    """Wait until no process carries ``mark``; the ones left after ``timeout``."""
    deadline = time.monotonic() + timeout
    left = marked(mark)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = marked(mark)
    return left


@dataclass
class KillLoop:
    """Processes (``commands``, one per slot); kill -9 one of the ``victims`` slots ``kills`` times at
    random moments while tries run, restarting it each time."""

    env: dict[str, str]
    logs: Path
    schedulers: int = 1
    kills: int = 10
    seed: int = 7
    commands: list[tuple[str, ...]] = field(default_factory=list)
    victims: list[int] = field(default_factory=lambda: [0])
    pause: tuple[float, float] = (0.3, 2.0)  # seconds of running tries between kills (random in this range)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kill_times: list[float] = field(default_factory=list)
    kills_done: int = 0

    def start(self) -> None:
        """Start every process (by default ``schedulers`` schedulers)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.commands = self.commands or [("scheduler",)] * self.schedulers
        self.procs = [self._start(i, 0) for i in range(len(self.commands))]

    def _start(self, slot: int, generation: int) -> subprocess.Popen[bytes]:
        return start_process(self.env, self.logs / f"{self.commands[slot][0]}-{slot}.{generation}.log",
                             *self.commands[slot])

    def run(self, running: Any, done: Any, timeout: float) -> None:
        """Kill a victim whenever tries run, ``kills`` times; then wait for ``done()``."""
        rng = random.Random(self.seed)
        deadline = time.monotonic() + timeout
        while self.kills_done < self.kills and time.monotonic() < deadline and not done():
            if not running():
                time.sleep(0.05)
                continue
            time.sleep(rng.uniform(*self.pause))
            slot = rng.choice(self.victims)
            self.procs[slot].send_signal(signal.SIGKILL)
            self.kill_times.append(time.time())
            self.procs[slot].wait(10)
            self.kills_done += 1
            self.procs[slot] = self._start(slot, self.kills_done)
            while not running() and not done() and time.monotonic() < deadline:
                time.sleep(0.05)
        while not done():
            assert time.monotonic() < deadline, f"runs not done within {timeout}s"
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM every process and wait for it."""
        terminate_all(self.procs)


def terminate_all(procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM each process (each in a session of its own), SIGKILL the group of what outlives ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def running_tries(factory: Any, dag_id: str = "chaos") -> int:
    """How many tries of the DAG are running now."""
    with factory() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.state == "running")) or 0)


def runs_done(factory: Any, count: int, dag_id: str = "chaos") -> bool:
    """``count`` runs exist and all are finished."""
    with factory() as s:
        states = list(s.scalars(sa.select(DagRun.state).where(DagRun.dag_id == dag_id)))
    return len(states) >= count and all(st in ("success", "failed") for st in states)


ONE_DAY = timedelta(days=1)
