"""A sleeping scheduler is woken by the triggerer resuming a deferred try (not by its safety poll)."""

from __future__ import annotations

import threading
import time

from runtime.sdk import timezone
from runtime.triggerer.triggerer import Triggerer
from tests.deferral.conftest import TRIGGERS
from tests.deferral.test_scheduler import OPS
from tests.scheduler.helpers import make_env

LONG = 30.0  # every period of the scheduler (safety poll, sweep, heartbeat): only a wake-up is faster


def test_the_triggerer_resuming_a_try_wakes_the_scheduler(store, tmp_path):
    env = make_env(store, tmp_path, "local", scheduler__idle_poll=LONG, scheduler__reconcile_interval=LONG,
                   scheduler__job_heartbeat_sec=LONG, scheduler__job_heartbeat_threshold=4 * LONG)
    (env.dags / "test_triggers.py").write_text(TRIGGERS)
    env.write_dag("woken_resume", OPS + """
with DAG("woken_resume", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Deferring(task_id="d", trigger="echo")
""")
    env.sync()
    triggerer = Triggerer(env.settings.with_overrides(triggerer__poll_interval=0.1), env.factory)
    stops = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=env.scheduler.run_forever, args=(stops[0], timezone.utcnow), daemon=True),
               threading.Thread(target=triggerer.run_forever, args=(stops[1],), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        env.trigger("woken_resume")  # a manual run: its creation wakes the scheduler too
        deadline = time.monotonic() + LONG / 2
        while time.monotonic() < deadline and env.run_states("woken_resume") != ["success"]:
            time.sleep(0.05)
        assert env.run_states("woken_resume") == ["success"], env.states()
        assert [m["try_number"] for m in env.marks("d_finish")] == [1]  # resumed, within half a safety poll
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(30)
        env.executor.end()
        env.scheduler.stop()
    assert not any(t.is_alive() for t in threads)
