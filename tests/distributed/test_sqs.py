"""The cloud topology on one machine: SqsExecutor, real ``windsock worker`` processes, moto's SQS."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from runtime.executors.messages import TaskWork
from runtime.executors.sqs import SqsExecutor, slim
from runtime.store.models import TaskInstance
from runtime.store.session import transaction
from tests.distributed.conftest import Sqs, Workers, settings_env  # noqa: F401
from tests.scheduler.helpers import Env

PG = [pytest.param("postgres", marks=pytest.mark.postgres)]

FAN = """
def work(i, **ctx):
    mark("calls", i=i, run=ctx["run_id"], try_number=ctx["ti"].try_number, pid=os.getpid())
    return i
with DAG("fan", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    tasks = [PythonOperator(task_id=f"t{i:02d}", python_callable=work, op_args=[i]) for i in range(N)]
    after = PythonOperator(task_id="after", python_callable=work, op_args=[-1])
    tasks >> after
"""


class TwiceSqsExecutor(SqsExecutor):
    """Fault injection at the transport: every task message is sent twice (SQS delivers at least once)."""

    def queue(self, work: TaskWork) -> None:
        super().queue(work)
        self.outbox[self.url_for(work.queue)].append(slim(work))


def test_fifty_tasks_through_sqs_with_two_workers_each_try_once_despite_duplicates(db_url, sqs_make, workers, sqs) -> None:
    """Every message delivered twice: each try runs once (counted by its side effect); the run succeeds."""
    e: Env = sqs_make(core__parallelism=64, core__max_active_tasks_per_dag=64)
    e.executor.end()  # replaced: its dead-letter watcher stops with it
    e.executor = e.scheduler.executor = TwiceSqsExecutor(e.settings, e.factory)
    e.executor.start()
    e.write_dag("fan", "N = 50\n" + FAN)
    e.sync()
    pool = workers(e, sqs)
    pool.start(8)
    pool.start(8)
    e.trigger("fan")
    e.drive(e.finished("fan"), timeout=120)
    assert e.run_states("fan") == ["success"], pool.output()
    calls = Counter(c["i"] for c in e.marks("calls"))
    assert len(calls) == 51 and set(calls.values()) == {1}
    assert len({c["pid"] for c in e.marks("calls")}) == 51  # each try in a child of its own
    with transaction(e.factory) as s:
        hosts = set(s.scalars(sa.select(TaskInstance.job_id).where(TaskInstance.dag_id == "fan")))
        assert set(s.scalars(sa.select(TaskInstance.try_number))) == {1}
    assert len(hosts) == 2  # both workers ran tries
    deadline = time.monotonic() + 30
    while sqs.messages(sqs.task_queue) and time.monotonic() < deadline:  # duplicates are deleted as unclaimed
        time.sleep(0.5)
    assert sqs.messages(sqs.task_queue) == 0


@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_a_message_in_the_dead_letter_queue_fails_its_try_with_the_reason(db_url, sqs_make, sqs) -> None:
    """A message received twice and never deleted (its workers died) moves to the DLQ; the scheduler's
    watcher fails that try with the reason, as MWAA users expect."""
    e: Env = sqs_make()
    e.write_dag("dl", """
with DAG("dl", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="t", python_callable=lambda: None)
""")
    e.sync()
    e.trigger("dl")
    e.step()
    e.step()  # queued and sent: no worker runs
    for _ in range(3):  # two receives that never delete (workers dying), then SQS dead-letters it
        got = sqs.client.receive_message(QueueUrl=sqs.task_queue, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                         VisibilityTimeout=0)
    assert not got.get("Messages")
    e.drive(lambda: e.tis("dl")[("t", -1)].state == "failed", timeout=60)
    ti = e.tis("dl")[("t", -1)]
    assert "delivery failed" in ti.executor_message and "dead-letter queue" in ti.executor_message
    e.drive(e.finished("dl"), timeout=30)
    assert e.run_states("dl") == ["failed"]


@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_sigterm_to_a_busy_worker_finishes_or_interrupts_its_tries_and_loses_none(db_url, sqs_make, workers, sqs) -> None:
    """SIGTERM: no new work; a try that ends within the grace ends normally; one that does not is
    interrupted and runs again as the next try without using a retry."""
    e: Env = sqs_make()
    e.write_dag("grace", """
def quick(**ctx):
    time.sleep(1)
    mark("quick", try_number=ctx["ti"].try_number)
def slow(**ctx):
    mark("slow_start", try_number=ctx["ti"].try_number)
    time.sleep(60 if ctx["ti"].try_number == 1 else 0)
    mark("slow_end", try_number=ctx["ti"].try_number)
with DAG("grace", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="quick", python_callable=quick)
    PythonOperator(task_id="slow", python_callable=slow)
""")
    e.sync()
    pool = workers(e, sqs)
    first = pool.start(4)
    e.trigger("grace")
    e.drive(lambda: len(e.marks("slow_start")) == 1, timeout=60)
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0
    assert [m["try_number"] for m in e.marks("quick")] == [1]  # finished within the grace
    pool.start(4)  # the next worker takes the interrupted try
    e.drive(e.finished("grace"), timeout=60)
    assert e.run_states("grace") == ["success"], pool.output()
    slow_ti = e.tis("grace")[("slow", -1)]
    assert (slow_ti.try_number, slow_ti.max_tries) == (2, 1)  # try 2, and its retries untouched
    assert [m["try_number"] for m in e.marks("slow_end")] == [2]
    first_try = e.history("grace", "slow")[0]
    assert (first_try.state, "interrupted" in first_try.executor_message) == ("restarting", True)


@pytest.mark.parametrize("db_url", PG, indirect=True)
def test_secrets_manager_backend_gives_a_task_its_connection_and_variable(db_url, sqs_make, workers, sqs) -> None:
    """MWAA's conventions: airflow/connections/<id> (URI or JSON) and airflow/variables/<key>, read
    before the environment and the metastore."""
    import boto3

    sm = boto3.client("secretsmanager", endpoint_url=sqs.endpoint, region_name="us-east-1")
    sm.create_secret(Name="airflow/connections/warehouse", SecretString="postgresql://ana:s3cret@db.example:5439/wh")
    sm.create_secret(Name="airflow/variables/bucket", SecretString="my-data-bucket")
    sm.create_secret(Name="airflow/connections/api", SecretString='{"conn_type": "http", "host": "api.example"}')
    e: Env = sqs_make(secrets__backend="SecretsManagerBackend")
    e.write_dag("sec", """
from airflow.models import Variable
from airflow.hooks.base import BaseHook
def read(**ctx):
    wh = BaseHook.get_connection("warehouse")
    api = BaseHook.get_connection("api")
    mark("seen", login=wh.login, host=wh.host, port=wh.port, bucket=Variable.get("bucket"), api=api.host)
with DAG("sec", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="read", python_callable=read)
""")
    e.sync()
    pool = workers(e, sqs, WINDSOCK__SECRETS__BACKEND="SecretsManagerBackend",
                   WINDSOCK__SECRETS__BACKEND_KWARGS='{"connections_prefix": "airflow/connections", '
                                                     '"variables_prefix": "airflow/variables"}')
    pool.start(2)
    e.trigger("sec")
    e.drive(e.finished("sec"), timeout=60)
    assert e.run_states("sec") == ["success"], pool.output()
    assert e.marks("seen") == [{"start": e.marks("seen")[0]["start"], "login": "ana", "host": "db.example",
                                "port": 5439, "bucket": "my-data-bucket", "api": "api.example"}]
