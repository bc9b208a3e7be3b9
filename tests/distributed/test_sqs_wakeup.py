"""With the SqsExecutor the scheduler sleeps while tries are out, and a worker's record wakes it.

Workers record a try's end and send an ``ENDS`` wake-up through the store (PostgreSQL NOTIFY, the
SQLite socket); the scheduler then reads the ends at once instead of polling the database every
``loop_interval``. The safety poll is made long here, so a prompt finish proves the wake-up.
"""

from __future__ import annotations

import threading
import time

from runtime.sdk import timezone
from tests.distributed.conftest import Sqs, Workers, settings_env  # noqa: F401
from tests.scheduler.helpers import Env

SAFETY_POLL = 30.0


def test_scheduler_sleeps_while_sqs_tries_run_and_wakes_on_their_recorded_end(db_url, sqs_make, workers, sqs) -> None:
    e: Env = sqs_make(scheduler__idle_poll=SAFETY_POLL, scheduler__job_heartbeat_sec=SAFETY_POLL,
                      scheduler__job_heartbeat_threshold=4 * SAFETY_POLL)
    e.write_dag("slow", """
import time
with DAG("slow", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    first = PythonOperator(task_id="first", python_callable=lambda: time.sleep(4))
    second = PythonOperator(task_id="second", python_callable=lambda: None)
    first >> second
""")
    e.sync()
    pool = workers(e, sqs)
    pool.start(2)
    stop = threading.Event()
    thread = threading.Thread(target=e.scheduler.run_forever, args=(stop, timezone.utcnow), daemon=True)
    thread.start()
    try:
        e.trigger("slow")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _running(e):
            time.sleep(0.05)
        assert _running(e), pool.output()
        before = e.scheduler.loops
        time.sleep(2.0)  # "first" sleeps: nothing to do but wait for its end
        busy_loops = e.scheduler.loops - before
        assert busy_loops <= 8, f"{busy_loops} scheduler loops in 2 s while one SQS try ran (polling?)"
        deadline = time.monotonic() + SAFETY_POLL * 0.5
        while time.monotonic() < deadline and e.run_states("slow") != ["success"]:
            time.sleep(0.05)
        assert e.run_states("slow") == ["success"], (
            f"not finished within half the safety poll (no wake-up from the worker?): {e.states()}\n{pool.output()}")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def _running(e: Env) -> bool:
    return any(state == "running" for _, _, state, _ in e.states()["tis"])
