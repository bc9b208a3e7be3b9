"""Retries, timeouts, killed children, zombies and stuck queued tries, done for real."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from runtime.sdk import timezone
from runtime.store.models import TaskInstance
from runtime.store.session import transaction
from tests.scheduler.helpers import alive


def test_retry_waits_its_delay(env):
    env.write_dag("rt", """
def flaky(**ctx):
    mark("tries", n=ctx["ti"].try_number)
    if ctx["ti"].try_number == 1:
        raise ValueError("first try fails")
with DAG("rt", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="t", python_callable=flaky, retries=2, retry_delay=timedelta(seconds=1))
""")
    env.sync()
    env.trigger("rt")
    env.drive(env.finished("rt"))
    assert env.run_states("rt") == ["success"]
    first, second = env.history("rt", "t")
    assert (first.try_number, first.state, second.try_number, second.state) == (1, "up_for_retry", 2, "success")
    assert "first try fails" in (first.executor_message or "")
    assert second.start_date >= first.end_date + timedelta(seconds=1)
    assert [m["n"] for m in env.marks("tries")] == [1, 2]


def test_execution_timeout_kills_the_try(env):
    env.write_dag("to", """
with DAG("to", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    BashOperator(task_id="slow", bash_command="sleep 60", execution_timeout=timedelta(seconds=1))
""")
    env.sync()
    run_id = env.trigger("to")
    env.drive(env.finished("to"), timeout=40)
    ti = env.tis("to")[("slow", -1)]
    assert (ti.state, env.run_states("to")) == ("failed", ["failed"])
    assert ti.duration < 30
    log = env.settings.get("logging", "base_log_folder") + f"/dag_id=to/run_id={run_id}/task_id=slow/attempt=1.log"
    assert "Timeout" in Path(log).read_text()


def _wait_pid(env, dag_id, task_id, try_number):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        env.step()
        ti = env.tis(dag_id).get((task_id, -1))
        if ti is not None and ti.state == "running" and ti.pid and ti.try_number == try_number:
            return ti.pid
        env.executor.wait(0.02)
    raise AssertionError(f"no running pid: {env.states()}")


def test_kill_9_fails_only_that_try_and_the_retry_succeeds(env):
    env.write_dag("k9", """
def victim(**ctx):
    mark("tries", n=ctx["ti"].try_number, pid=os.getpid())
    if ctx["ti"].try_number == 1:
        time.sleep(60)
with DAG("k9", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    a = PythonOperator(task_id="victim", python_callable=victim, retries=1, retry_delay=timedelta(seconds=0))
    b = EmptyOperator(task_id="after")
    a >> b
""")
    env.sync()
    env.trigger("k9")
    pid = _wait_pid(env, "k9", "victim", 1)
    os.kill(pid, signal.SIGKILL)
    env.drive(env.finished("k9"))
    assert env.run_states("k9") == ["success"]
    first, second = env.history("k9", "victim")
    assert first.state == "up_for_retry" and "signal 9" in first.executor_message
    assert second.state == "success" and env.tis("k9")[("after", -1)].state == "success"


def test_a_stale_heartbeat_under_a_live_executor_is_not_a_zombie(make):
    """The executor job is alive and holds the process: an old try heartbeat alone never makes a zombie."""
    env = make("local", scheduler__zombie_threshold=4.0, scheduler__heartbeat_interval=60.0,
               scheduler__reconcile_interval=0.2)  # the executor's job row beats every 2 s; its tries' never
    env.write_dag("zz", """
with DAG("zz", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    BashOperator(task_id="slow", bash_command="sleep 6")
""")
    env.sync()
    env.trigger("zz")
    env.drive(env.finished("zz"), timeout=30)
    ti = env.tis("zz")[("slow", -1)]
    assert (ti.state, ti.try_number, ti.executor_message) == ("success", 1, None)


def test_a_try_of_a_dead_executor_on_another_host_is_a_zombie(seq_env):
    """No heartbeat from its executor job for zombie_threshold: the try ends as a crash (retry or fail)."""
    from runtime.store import jobs
    from runtime.store.states import JobType

    seq_env.scheduler.settings = seq_env.settings
    seq_env.write_dag("zh", """
with DAG("zh", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="t", retries=1, retry_delay=timedelta(seconds=0))
""")
    seq_env.sync()
    seq_env.trigger("zh")
    seq_env.step()
    long_ago = timezone.utcnow() - timedelta(minutes=5)
    with transaction(seq_env.factory) as s:  # claimed by a worker elsewhere that then vanished
        job = jobs.start(s, JobType.WORKER, long_ago, hostname="elsewhere", pid=4242)
        s.execute(sa.update(TaskInstance).values(state="running", try_number=1, job_id=job, hostname="elsewhere",
                                                 start_date=long_ago, last_heartbeat_at=long_ago))
    seq_env.executor.running.clear()
    seq_env.drive(seq_env.finished("zh"))
    first, second = seq_env.history("zh", "t")
    assert first.state == "up_for_retry" and "zombie" in first.executor_message and "elsewhere" in first.executor_message
    assert second.state == "success" and seq_env.run_states("zh") == ["success"]


def test_try_queued_too_long_is_queued_again(seq_env):
    seq_env.write_dag("qq", """
with DAG("qq", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="t")
""")
    seq_env.sync()
    seq_env.trigger("qq")
    old = timezone.utcnow() - timedelta(hours=2)
    seq_env.step()
    with transaction(seq_env.factory) as s:  # a queued try whose message was lost
        s.execute(sa.update(TaskInstance).values(state="queued", queued_dttm=old, try_number=1))
    lost = type(seq_env.executor)(seq_env.settings, seq_env.factory)  # the message went nowhere
    seq_env.executor = seq_env.scheduler.executor = lost
    seq_env.drive(seq_env.finished("qq"))
    assert seq_env.tis("qq")[("t", -1)].state == "success"


def test_try_that_ignores_its_timeout_is_killed_after_the_grace(make):
    env = make("local", scheduler__task_kill_grace=1.0)
    env.write_dag("hk", """
def stubborn():
    while True:
        try:
            time.sleep(60)
        except BaseException:
            pass  # swallows AirflowTaskTimeout: only the executor's hard kill ends it
with DAG("hk", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="stubborn", python_callable=stubborn, execution_timeout=timedelta(seconds=1))
""")
    env.sync()
    env.trigger("hk")
    env.drive(env.finished("hk"), timeout=40)
    ti = env.tis("hk")[("stubborn", -1)]
    assert ti.state == "failed" and "execution_timeout=1s" in ti.executor_message


def test_kill_9_of_the_executor_process_fails_its_tries_and_they_retry(env):
    env.write_dag("fk", """
def slow(**ctx):
    mark("tries", n=ctx["ti"].try_number, pid=os.getpid())
    if ctx["ti"].try_number == 1:
        time.sleep(60)
with DAG("fk", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="slow", python_callable=slow, retries=1, retry_delay=timedelta(seconds=0))
""")
    env.sync()
    env.trigger("fk")
    child = _wait_pid(env, "fk", "slow", 1)
    os.kill(env.executor.pid, signal.SIGKILL)  # the fork server dies; the kernel takes its child along
    env.drive(env.finished("fk"))
    assert env.run_states("fk") == ["success"]
    first, second = env.history("fk", "slow")
    assert first.state == "up_for_retry" and "executor" in first.executor_message and second.state == "success"
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_killed_try_still_runs_its_task_callbacks(env):
    """A try whose process dies (kill -9) gets its on_retry, then on_failure callback, as in Airflow."""
    env.write_dag("cbk", """
def victim(**ctx):
    time.sleep(60)
def on_retry(ctx):
    mark("callbacks", kind="retry", task=ctx["ti"].task_id, try_number=ctx["ti"].try_number, why=str(ctx["exception"]))
def on_failure(ctx):
    mark("callbacks", kind="failure", task=ctx["ti"].task_id, try_number=ctx["ti"].try_number, ds=ctx["ds"])
with DAG("cbk", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="victim", python_callable=victim, retries=1, retry_delay=timedelta(seconds=0),
                   on_retry_callback=on_retry, on_failure_callback=on_failure)
""")
    env.sync()
    env.trigger("cbk")
    for try_number in (1, 2):
        os.kill(_wait_pid(env, "cbk", "victim", try_number), signal.SIGKILL)
    env.drive(env.finished("cbk"))
    deadline = time.monotonic() + 20
    while len(env.marks("callbacks")) < 2 and time.monotonic() < deadline:
        env.step()
        env.executor.wait(0.05)
    calls = sorted(env.marks("callbacks"), key=lambda m: m["try_number"])
    assert [(c["kind"], c["task"], c["try_number"]) for c in calls] == [("retry", "victim", 1), ("failure", "victim", 2)]
    assert "signal 9" in calls[0]["why"]
