"""An idle scheduler sleeps (few loops), yet a trigger from the CLI wakes it at once (not at its safety poll)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from runtime.sdk import timezone

REPO = Path(__file__).resolve().parents[2]
SAFETY_POLL = 30.0  # long, so that a pick-up before it proves the wake-up, not the poll


def _cli_env(env) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    out.update(WINDSOCK_HOME=str(env.store.settings.home), WINDSOCK__DATABASE__SQL_ALCHEMY_CONN=env.store.url,
               WINDSOCK__CORE__DAGS_FOLDER=str(env.dags), WINDSOCK__CORE__LOAD_EXAMPLES="false",
               PYTHONPATH=str(REPO))
    key = str(env.store.settings.get("core", "fernet_key") or "")
    if key:
        out["WINDSOCK__CORE__FERNET_KEY"] = key
    return out


def test_idle_scheduler_sleeps_and_a_cli_trigger_wakes_it(make):
    # Its own heartbeat would wake it every 2 s: make that period long too, so only the wake-up can.
    env = make("local", scheduler__idle_poll=SAFETY_POLL, scheduler__job_heartbeat_sec=SAFETY_POLL,
               scheduler__job_heartbeat_threshold=4 * SAFETY_POLL)
    env.write_dag("woken", """
        with DAG("woken", start_date=datetime(2024, 1, 1), schedule=None) as dag:
            BashOperator(task_id="t", bash_command="true")
    """)
    env.sync()
    stop = threading.Event()
    thread = threading.Thread(target=env.scheduler.run_forever, args=(stop, timezone.utcnow), daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # its first steps (job row, planning) are done
        before = env.scheduler.loops
        time.sleep(2.0)
        idle_loops = env.scheduler.loops - before
        assert idle_loops <= 5, f"{idle_loops} scheduler loops in 2 idle seconds"

        asked = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "runtime.cli.main", "dags", "trigger", "woken"],
                              env=_cli_env(env), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        deadline = asked + SAFETY_POLL * 0.5
        while time.monotonic() < deadline and env.run_states("woken") != ["success"]:
            time.sleep(0.05)
        assert env.run_states("woken") == ["success"], (
            f"the triggered run did not finish within half the safety poll: {env.states()}")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def _wakeups(thread: threading.Thread) -> int:
    """Times the thread went to sleep and was woken (voluntary context switches, Linux)."""
    with open(f"/proc/self/task/{thread.native_id}/status") as handle:
        for line in handle:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


def test_a_sleeping_scheduler_does_not_wake_to_look_at_its_stop_flag(make):
    """With a ``procs.StopEvent`` (what ``windsock scheduler``/``standalone`` use) an idle scheduler
    sleeps through seconds without waking, and stops as soon as the flag is set."""
    from runtime.procs import StopEvent

    env = make("local", scheduler__idle_poll=SAFETY_POLL, scheduler__job_heartbeat_sec=SAFETY_POLL,
               scheduler__job_heartbeat_threshold=4 * SAFETY_POLL)
    stop = StopEvent()
    thread = threading.Thread(target=env.scheduler.run_forever, args=(stop, timezone.utcnow), daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # its first steps are done
        before = _wakeups(thread)
        time.sleep(3.0)
        woke = _wakeups(thread) - before
        assert woke <= 1, f"an idle scheduler woke {woke} times in 3 s (a plain Event is looked at every second)"
        asked = time.monotonic()
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert time.monotonic() - asked < 0.9  # at once, not at the next once-a-second look
    finally:
        stop.set()
        thread.join(timeout=30)
