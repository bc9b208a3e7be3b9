"""The executor contract, run against both executors: claim once, log per try, record how tries end, then report."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

import pytest

from runtime.executors.messages import CallbackWork, TaskEvent, TaskWork
from runtime.paths import task_log_path
from runtime.scheduler.active import run_info
from runtime.sdk import timezone
from runtime.store import runs, transitions
from runtime.store.models import TaskInstance
from runtime.store.session import transaction

DAG_BODY = """
from airflow.models.baseoperator import BaseOperator

class Resumable(BaseOperator):
    def execute(self, context):
        mark("resumable", how="execute")

    def done(self, context, event=None):
        mark("resumable", how="done", event=event)

def hello(**ctx):
    print("hello from", ctx["ti"].task_id)
    mark("calls", task=ctx["ti"].task_id, pid=os.getpid(), try_number=ctx["ti"].try_number)
def crash():
    os._exit(3)
def slow():
    __import__("time").sleep(1)
def on_fail(context):
    mark("callback", pid=os.getpid(), reason=context["reason"])
with DAG("ex", start_date=datetime(2024, 1, 1), schedule=None, on_failure_callback=on_fail) as dag:
    PythonOperator(task_id="hello", python_callable=hello)
    PythonOperator(task_id="crash", python_callable=crash)
    PythonOperator(task_id="slow", python_callable=slow)
    Resumable(task_id="resumable")
"""


def _queued_work(env, task_id: str, try_number: int = 1) -> TaskWork:
    """A run with one queued task instance at ``try_number``, and the message that names that try."""
    path = env.write_dag("ex", DAG_BODY)
    env.sync()
    now = timezone.utcnow()
    with transaction(env.factory) as s:
        run = runs.create_dag_run(s, dag_id="ex", run_type="manual", logical_date=now, data_interval=None, now=now,
                                  state="running")
        ti = TaskInstance(dag_id="ex", run_id=run.run_id, task_id=task_id, state="queued", try_number=try_number,
                          queued_dttm=now)
        s.add(ti)
        s.flush()
        return TaskWork(ti_id=ti.id, dag_id="ex", task_id=task_id, run_id=run.run_id, map_index=-1, try_number=try_number,
                        max_tries=0, fileloc=str(path), run=run_info(run))


def _events(env, count: int, timeout: float = 20.0) -> list[TaskEvent]:
    got: list[TaskEvent] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got.extend(env.executor.sync())
        env.executor.wait(0.02)
    assert len(got) >= count, got
    return got


@pytest.fixture(params=["local", "sequential"])
def ex_env(request, make):
    """The same tests against each executor."""
    return make(request.param)


def test_a_message_delivered_twice_runs_once(ex_env):
    work = _queued_work(ex_env, "hello")
    ex_env.executor.queue(work)
    ex_env.executor.queue(work)  # same batch
    events = _events(ex_env, 2)
    ex_env.executor.queue(work)  # and once more, later
    events += _events(ex_env, 1)
    assert sorted(e.outcome for e in events) == ["recorded", "unclaimed", "unclaimed"]
    assert len(ex_env.marks("calls")) == 1
    with transaction(ex_env.factory) as s:
        assert transitions.claim(s, [(work.ti_id, 1)], job_id=None, hostname="h", pid=1, now=timezone.utcnow()) == set()


def test_a_stale_message_for_an_earlier_try_never_starts_it_again(ex_env):
    """Try 2 was interrupted (its worker died) and try 3 is queued: try 2's message comes back (SQS
    redelivers what a dead worker never deleted) in the same batch as try 3's, first. Only try 3
    starts; try 2's message loses its claim."""
    current = _queued_work(ex_env, "hello", try_number=3)
    stale = dataclasses.replace(current, try_number=2)
    ex_env.executor.queue(stale)  # first in the batch
    ex_env.executor.queue(current)
    events = _events(ex_env, 2)
    assert sorted((e.try_number, e.outcome, e.state) for e in events) == [(2, "unclaimed", None),
                                                                           (3, "recorded", "success")]
    assert [c["try_number"] for c in ex_env.marks("calls")] == [3]
    with transaction(ex_env.factory) as s:
        row = s.get(TaskInstance, current.ti_id)
        assert (row.state, row.try_number) == ("success", 3)


def test_a_worker_resumes_a_deferred_try_even_from_a_message_sent_before_the_deferral(make):
    """A deferred try keeps its number when it resumes, so SQS may hand a worker the message sent before
    the deferral (never deleted by a worker that died) once the try is queued again to resume: the worker
    takes the method to resume at from the task instance, not from the message, and resumes it."""
    from runtime.executors.local import LocalExecutor
    from runtime.store.states import JobType

    env = make("local")
    env.executor.end()
    env.executor = LocalExecutor(env.settings, 2, job_type=JobType.WORKER)  # an SQS worker's fork server
    env.executor.start()
    stale = _queued_work(env, "resumable")  # the message as first sent: execute from the start
    with transaction(env.factory) as s:  # meanwhile the try deferred and its trigger fired: resume at done()
        row = s.get(TaskInstance, stale.ti_id)
        row.next_method, row.next_kwargs = "done", {"event": "fired"}
    env.executor.queue(stale)
    (event,) = _events(env, 1)
    assert (event.outcome, event.state) == ("recorded", "success")
    assert [(m["how"], m.get("event")) for m in env.marks("resumable")] == [("done", "fired")]


def test_try_output_goes_to_airflow_log_layout(ex_env):
    work = _queued_work(ex_env, "hello")
    ex_env.executor.queue(work)
    (event,) = _events(ex_env, 1)
    assert (event.outcome, event.state) == ("recorded", "success")
    with transaction(ex_env.factory) as s:  # recorded by the executor before it said so
        row = s.get(TaskInstance, work.ti_id)
        assert (row.state, row.try_number, row.end_date is not None) == ("success", 1, True)
    base = str(ex_env.settings.get("logging", "base_log_folder"))
    log = Path(task_log_path(base, "ex", work.run_id, "hello", -1, 1))
    assert log.relative_to(base).parts[:3] == ("dag_id=ex", f"run_id={work.run_id}", "task_id=hello")
    text = log.read_text()
    assert log.name == "attempt=1.log" and "hello from hello" in text
    head = text.splitlines()[:4]  # Airflow-style: a header, then timestamped lines users can grep
    assert "{worker} INFO - Starting attempt: 1 of 1" in head[0] and "Host: " in head[2]
    assert head[3].endswith(f"Command: windsock tasks run ex hello {work.run_id}")
    assert re.search(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000\] \{stdout\} INFO - hello from hello$", text, re.M)


def test_local_child_crash_is_reported_and_callbacks_run_in_a_child(make):
    env = make("local")
    work = _queued_work(env, "crash")
    env.executor.queue(work)
    (event,) = _events(env, 1)
    assert (event.outcome, event.state) == ("recorded", "failed") and "exited with code 3" in (event.error or "")
    env.executor.queue_callback(CallbackWork("ex", work.fileloc, work.run, "failed", "task_failure"))
    deadline = time.monotonic() + 20
    while not env.marks("callback") and time.monotonic() < deadline:
        env.executor.sync()
        time.sleep(0.05)
    (call,) = env.marks("callback")
    assert call["reason"] == "task_failure" and call["pid"] not in (os.getpid(), env.executor.pid)



def test_an_idle_fork_server_retires_and_the_next_try_starts_a_new_one(make):
    """The local executor starts its fork server with the first try, not before; asked to retire, a fork
    server with a running try says it is busy and the try ends normally; idle, it exits (its job row
    ended) and the next try starts a new fork server."""
    from runtime.store.models import Job

    env = make("local", core__fork_server_idle_exit=3600)
    env.executor.start()
    assert env.executor.pid is None  # nothing to run yet
    slow = _queued_work(env, "slow")
    env.executor.queue(slow)
    env.executor.flush()
    first = env.executor.pid
    assert first is not None
    assert env.executor.retire() is False  # the try is running (or being claimed): busy
    (event,) = _events(env, 1)
    assert (event.outcome, event.state) == ("recorded", "success")
    assert env.executor.retire() is True
    assert env.executor.pid is None and env.executor.sync() == []
    with transaction(env.factory) as s:
        assert [j.state for j in s.query(Job).filter(Job.job_type == "executor")] == ["success"]
    again = _queued_work(env, "crash")
    env.executor.queue(again)
    (event,) = _events(env, 1)
    assert event.outcome == "recorded" and env.executor.pid not in (None, first)


def test_a_fork_server_that_does_not_answer_retire_is_let_go_and_a_new_one_runs_the_next_try(make):
    """A fork server stuck (here: stopped by SIGSTOP) gets no more work after an unanswered retire: its
    socket is closed (once running again it sees EOF, stops and exits) and the next try gets a new one."""
    import signal
    import threading

    env = make("local", core__fork_server_idle_exit=3600)
    first_work = _queued_work(env, "hello")
    env.executor.queue(first_work)
    (event,) = _events(env, 1)
    stuck = env.executor.pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)
    threading.Timer(1.5, os.kill, (stuck, signal.SIGCONT)).start()  # the executor waits for its exit
    assert env.executor.retire(timeout=0.5) is True
    assert env.executor.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)  # it exited (and was reaped)
    work = _queued_work(env, "crash")
    env.executor.queue(work)
    (event,) = _events(env, 1)
    assert event.ti_id == work.ti_id and event.outcome == "recorded"
    assert env.executor.pid not in (None, stuck)


LINGER_BODY = """
import sys

class HoldsExit:
    '''stdout whose flush (the child's last act after reporting, before its exit) waits for a file.'''
    def __init__(self, raw, release):
        self.raw, self.release = raw, release
    def write(self, text):
        return self.raw.write(text)
    def flush(self):
        deadline = time.monotonic() + 60
        while not os.path.exists(self.release) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.raw.flush()

def lingers():
    mark("lingers", pid=os.getpid())
    sys.stdout = HoldsExit(sys.stdout, os.path.join(OUT, "release"))
    return "done"

with DAG("lingers", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="t", python_callable=lingers)
"""


def test_a_try_ends_when_its_result_arrives_not_when_its_process_is_gone(make):
    """The fork server records a try's end as soon as the child's whole result is in (the child
    closes its pipe right after writing it); the child's exit, which for a big process takes a
    millisecond or two of every chain gap, is not waited for."""
    env = make("local")
    path = env.write_dag("lingers", LINGER_BODY)
    env.sync()
    now = timezone.utcnow()
    with transaction(env.factory) as s:
        run = runs.create_dag_run(s, dag_id="lingers", run_type="manual", logical_date=now, data_interval=None,
                                  now=now, state="running")
        ti = TaskInstance(dag_id="lingers", run_id=run.run_id, task_id="t", state="queued", try_number=1, queued_dttm=now)
        s.add(ti)
        s.flush()
        work = TaskWork(ti_id=ti.id, dag_id="lingers", task_id="t", run_id=run.run_id, map_index=-1, try_number=1,
                        max_tries=0, fileloc=str(path), run=run_info(run))
    env.executor.queue(work)
    try:
        (event,) = _events(env, 1, timeout=30)
        assert (event.outcome, event.state) == ("recorded", "success")
        (child,) = env.marks("lingers")
        assert _alive(child["pid"])  # still in its last flush: the end did not wait for its exit
    finally:
        (env.out / "release").write_text("")
    deadline = time.monotonic() + 30
    while _alive(child["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child["pid"])


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
