"""E-mail on failure and retry (to a local SMTP sink), DAG callbacks in a child, fail_stop, cross-DAG operators."""

from __future__ import annotations

import os
import socket
import time

import pytest
from aiosmtpd.controller import Controller

from tests.scheduler.helpers import alive


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode(errors="replace")))
        return "250 OK"


@pytest.fixture
def smtp_sink():
    """An SMTP server on 127.0.0.1 that keeps what it receives."""
    sink = _Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


def test_email_on_retry_and_failure_reaches_smtp(make, smtp_sink):
    port, sink = smtp_sink
    env = make("local", smtp__smtp_host="127.0.0.1", smtp__smtp_port=port, smtp__smtp_mail_from="ws@example.com")
    env.write_dag("mail", """
def boom():
    raise ValueError("it broke")
with DAG("mail", start_date=datetime(2024, 1, 1), schedule=None,
         default_args={"email": ["ops@example.com"], "email_on_failure": True, "email_on_retry": True}) as dag:
    PythonOperator(task_id="boom", python_callable=boom, retries=1, retry_delay=timedelta(seconds=0))
""")
    env.sync()
    env.trigger("mail")
    env.drive(env.finished("mail"))
    deadline = time.monotonic() + 10
    while len(sink.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m[0] for m in sink.messages] == [["ops@example.com"], ["ops@example.com"]]
    assert "up_for_retry" in sink.messages[0][1] and "failed" in sink.messages[1][1]
    assert "it broke" in sink.messages[1][1]


def test_dag_failure_callback_runs_in_a_child_and_fail_stop_stops_the_rest(env):
    env.write_dag("fs", """
def boom():
    raise ValueError("stop everything")
def cb(context):
    mark("callback", pid=os.getpid(), state=context["dag_run"].state, reason=context["reason"])
with DAG("fs", start_date=datetime(2024, 1, 1), schedule=None, fail_stop=True, on_failure_callback=cb) as dag:
    first = PythonOperator(task_id="boom", python_callable=lambda: (time.sleep(0.5), boom()))
    slow = BashOperator(task_id="slow", bash_command="sleep 30")
    later = EmptyOperator(task_id="later")
    first >> later
""")
    env.sync()
    env.trigger("fs")
    env.drive(env.finished("fs"))
    tis = {k[0]: ti.state for k, ti in env.tis("fs").items()}
    assert tis == {"boom": "failed", "slow": "failed", "later": "skipped"}
    deadline = time.monotonic() + 20
    while not env.marks("callback") and time.monotonic() < deadline:
        env.step()
        time.sleep(0.05)
    (call,) = env.marks("callback")
    assert call["state"] == "failed" and call["pid"] != os.getpid()


def test_trigger_dag_run_and_external_task_sensor_across_dags(env):
    env.write_dag("upstream_dag", """
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
with DAG("upstream_dag", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    work = PythonOperator(task_id="work", python_callable=lambda: mark("work"))
    go = TriggerDagRunOperator(task_id="go", trigger_dag_id="downstream_dag", conf={"n": 7},
                               logical_date="{{ logical_date }}")
    work >> go
""")
    env.write_dag("downstream_dag", """
from airflow.sensors.external_task import ExternalTaskSensor
def show(**ctx):
    mark("conf", n=ctx["dag_run"].conf["n"])
with DAG("downstream_dag", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    wait = ExternalTaskSensor(task_id="wait", external_dag_id="upstream_dag", external_task_id="work",
                              mode="reschedule", poke_interval=0.2, timeout=30)
    wait >> PythonOperator(task_id="show", python_callable=show)
""")
    env.sync()
    env.trigger("upstream_dag")
    env.drive(lambda: env.finished("upstream_dag")() and env.finished("downstream_dag")())
    assert env.run_states("upstream_dag") == ["success"] and env.run_states("downstream_dag") == ["success"]
    assert [m["n"] for m in env.marks("conf")] == [7]
    assert os.path.exists(env.out / "work")


def test_dagrun_timeout_fails_the_run_and_skips_what_is_left(make):
    env = make("local", scheduler__reconcile_interval=0.2)
    env.write_dag("dto", """
def cb(context):
    mark("callback", reason=context["reason"])
with DAG("dto", start_date=datetime(2024, 1, 1), schedule=None, dagrun_timeout=timedelta(seconds=1),
         on_failure_callback=cb) as dag:
    BashOperator(task_id="long", bash_command="sleep 60") >> EmptyOperator(task_id="never")
""")
    env.sync()
    env.trigger("dto")
    env.drive(env.finished("dto"), timeout=30)
    assert env.run_states("dto") == ["failed"]
    tis = {k[0]: ti.state for k, ti in env.tis("dto").items()}
    assert tis == {"long": "skipped", "never": "skipped"}
    deadline = time.monotonic() + 20
    while not env.marks("callback") and time.monotonic() < deadline:
        env.step()
        time.sleep(0.05)
    assert [m["reason"] for m in env.marks("callback")] == ["timed_out"]


def test_a_try_stopped_from_outside_runs_its_on_kill_and_one_deaf_to_sigterm_is_killed(make):
    """As Airflow's task supervisor does for a try whose state changed from outside (here its run timed out):
    SIGTERM first, so that the operator's on_kill runs (it would cancel a remote job), then SIGKILL
    five seconds later for a try that ignores SIGTERM."""
    env = make("local", scheduler__reconcile_interval=0.2)
    env.write_dag("stop", """
import signal
class Polite(PythonOperator):
    def on_kill(self):
        mark("on_kill", task=self.task_id)
def wait():
    mark("started", pid=os.getpid())
    time.sleep(60)
def deaf():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    mark("deaf", pid=os.getpid())
    time.sleep(60)
with DAG("stop", start_date=datetime(2024, 1, 1), schedule=None, dagrun_timeout=timedelta(seconds=2)) as dag:
    Polite(task_id="polite", python_callable=wait)
    PythonOperator(task_id="deaf", python_callable=deaf)
""")
    env.sync()
    env.trigger("stop")
    env.drive(env.finished("stop"), timeout=30)
    assert env.run_states("stop") == ["failed"]
    (deaf,) = [m["pid"] for m in env.marks("deaf")]
    stopped = time.monotonic()
    while (alive(deaf) or not env.marks("on_kill")) and time.monotonic() < stopped + 20:
        env.step()
        time.sleep(0.05)
    assert [m["task"] for m in env.marks("on_kill")] == ["polite"]  # SIGTERM reached it, not SIGKILL
    assert not alive(deaf), "a try that ignores SIGTERM is killed after the grace"
    assert time.monotonic() - stopped > 2, "it had its grace first"
