"""Pools, pool_slots, max_active_tasks and max_active_tis_per_dag cap concurrency (measured by the tasks)."""

from __future__ import annotations

from runtime.store import pools
from runtime.store.session import transaction
from tests.scheduler.helpers import peak

SLEEPER = """
def work(n, **ctx):
    start = time.time()
    time.sleep(0.3)
    mark("spans", task=ctx["ti"].task_id, s=start, e=time.time())
"""


def _spans(env):
    return [(m["s"], m["e"]) for m in env.marks("spans")]


def test_pool_slots_cap_concurrency(env):
    with transaction(env.factory) as s:
        pools.set_pool(s, "small", 2)
    env.write_dag("pooled", SLEEPER + """
with DAG("pooled", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(5):
        PythonOperator(task_id=f"t{i}", python_callable=work, op_args=[i], pool="small")
    PythonOperator(task_id="wide", python_callable=work, op_args=[9], pool="small", pool_slots=2)
""")
    env.sync()
    env.trigger("pooled")
    env.drive(env.finished("pooled"))
    assert env.run_states("pooled") == ["success"]
    assert len(_spans(env)) == 6
    assert peak(_spans(env)) == 2


def test_max_active_tasks_and_per_task_cap(env):
    env.write_dag("capped", SLEEPER + """
with DAG("capped", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks=3) as dag:
    for i in range(6):
        PythonOperator(task_id=f"t{i}", python_callable=work, op_args=[i])
""")
    env.write_dag("pertask", SLEEPER + """
with DAG("pertask", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator.partial(task_id="m", python_callable=work, max_active_tis_per_dag=1).expand(op_args=[[1], [2], [3]])
""")
    env.sync()
    env.trigger("capped")
    env.drive(env.finished("capped"))
    assert peak(_spans(env)) == 3
    (env.out / "spans").unlink()
    env.trigger("pertask")
    env.drive(env.finished("pertask"))
    assert env.run_states("pertask") == ["success"]
    assert len(_spans(env)) == 3 and peak(_spans(env)) == 1


def test_priority_weight_orders_the_queue(make):
    env = make("local", core__parallelism=1)
    env.write_dag("prio", """
def record(w):
    mark("order", w=w)
with DAG("prio", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i, w in enumerate([1, 5, 3]):
        PythonOperator(task_id=f"t{i}", python_callable=record, op_args=[w], priority_weight=w)
""")
    env.sync()
    env.trigger("prio")
    env.drive(env.finished("prio"))
    assert [m["w"] for m in env.marks("order")] == [5, 3, 1]


CROWD = """
def step(**ctx):
    mark("crowd", s=time.time())
    time.sleep(%(sleep)s)
with DAG("crowd", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks=%(cap)d) as dag:
    for i in range(%(n)d):
        PythonOperator(task_id=f"c{i:03d}", python_callable=step, priority_weight=10%(pool)s)
"""

LOW = """
def alone():
    mark("low", s=time.time())
with DAG("low", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="alone", python_callable=alone, priority_weight=1)
"""


def _the_low_task_did_not_wait_for_the_crowd(env, **crowd):
    env.write_dag("crowd", CROWD % crowd)
    env.write_dag("low", LOW)
    env.sync()
    env.trigger("crowd")
    env.trigger("low")
    env.drive(env.finished("low"), timeout=30)
    # the crowd's tries go on beside it (a run of 300 tasks may start its first after the low run ended)
    env.drive(lambda: bool(env.marks("crowd")), timeout=30)
    (low,) = env.marks("low")
    started = sorted(m["s"] for m in env.marks("crowd"))
    assert len([s for s in started if s < low["s"]]) <= 2  # it did not wait for the crowd


def test_a_pool_blocked_crowd_of_higher_priority_does_not_starve_other_work(make):
    """With 2 slots the scheduler first looks at the 32 highest-priority scheduled task instances; here
    they all wait for a 1-slot pool, so it looks further and queues the low-priority task beside them."""
    env = make("local", core__parallelism=2)
    with transaction(env.factory) as s:
        pools.set_pool(s, "one", 1)
    _the_low_task_did_not_wait_for_the_crowd(env, sleep=0.1, cap=64, n=40, pool=', pool="one"')


def test_a_dag_at_its_max_active_tasks_is_skipped_however_many_of_its_tasks_wait(make):
    """A DAG whose 300 high-priority tasks wait for its max_active_tasks of 1 (more than the widest read,
    256 rows) does not keep another DAG's low-priority task waiting: a DAG at its cap is skipped when the
    scheduler reads what to queue (Airflow's starved DAGs), as is a pool without a free slot."""
    _the_low_task_did_not_wait_for_the_crowd(make("local", core__parallelism=4), sleep=0.2, cap=1, n=300, pool="")
