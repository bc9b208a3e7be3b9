"""Figure: fanout_500 as a user sees it — ``windsock standalone`` running, ``windsock dags trigger``, run end.

    python bench/fanout_cli.py [--tasks 500] [--repo DIR] [--settle 5]

Starts ``windsock standalone`` on a throwaway home (SQLite, defaults: parallelism 32) with one DAG
of N independent no-op PythonOperator tasks (``is_paused_upon_creation=False``), waits until the
web server answers and the DAG is parsed, lets it settle (an idle tree), then runs
``windsock dags trigger`` in a fresh process, as a user types it, and reads the run's
``end_date`` from the database. The figure is ``end_date`` minus the moment the trigger command
was started: the CLI's start-up, the scheduler's wake-up, every try in its own process, the
run's end. Nothing here is a test; the standalone tree is stopped before it returns.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from homes import bench_home  # noqa: E402
from idle import free_port, standalone_tree, wait_web  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

def noop():
    pass

with DAG("fanout_cli", start_date=datetime(2024, 1, 1), schedule=None, max_active_tasks={n},
         is_paused_upon_creation=False) as dag:
    for i in range({n}):
        PythonOperator(task_id=f"t{{i:04d}}", python_callable=noop)
'''


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    """Rows of ``sql`` on the standalone's SQLite file (read-only; the tree keeps writing)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(sql, args).fetchall()


def wait_for(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not happen within {timeout:.0f} s")


def epoch(text: str) -> float:
    """A stored UTC timestamp as seconds since the epoch."""
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait once everything is up")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--repo", default=str(REPO), help="the Windsock checkout to run (e.g. another worktree)")
    args = ap.parse_args()
    with bench_home("windsock-fanout-cli-") as tmp:  # removed at the end (kept in $BENCH_HOMES when that is set)
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, home: Path) -> None:
    """Start the tree in ``home``, measure, print, stop it."""
    (home / "dags").mkdir()
    (home / "dags" / "fanout_cli.py").write_text(DAG.format(n=args.tasks))
    db = home / "windsock.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINDSOCK", "AIRFLOW"))}
    env.update(WINDSOCK_HOME=str(home), PYTHONPATH=args.repo, WINDSOCK__WEBSERVER__WEB_SERVER_PORT=str(port),
               WINDSOCK__CORE__LOAD_EXAMPLES="False")
    cli = [sys.executable, "-m", "runtime.cli.main"]
    with standalone_tree(cli + ["standalone"], env, home):
        wait_web(port, 120)
        wait_for("parsing fanout_cli", lambda: query(
            db, "SELECT 1 FROM dag WHERE dag_id = 'fanout_cli' AND is_paused = 0"), 120)
        time.sleep(args.settle)
        began = time.time()
        done = subprocess.run(cli + ["dags", "trigger", "fanout_cli"], env=env, cwd=home, capture_output=True,
                              text=True, timeout=60)
        trigger_took = time.time() - began
        if done.returncode != 0:
            raise SystemExit(f"dags trigger failed: {done.stderr.strip()}")
        rows: list[tuple] = []

        def ended() -> bool:
            rows[:] = query(db, "SELECT state, end_date FROM dag_run WHERE dag_id = 'fanout_cli' AND end_date IS NOT NULL")
            return bool(rows)

        wait_for("the run's end", ended, args.timeout)
        state, end = rows[0]
        count = query(db, "SELECT count(*) FROM task_instance WHERE dag_id = 'fanout_cli' AND state = 'success'")[0][0]
        print(f"fanout_cli: {args.tasks} no-op tasks through `windsock standalone` (SQLite, defaults): "
              f"`windsock dags trigger` started -> run {state} end_date in {epoch(end) - began:.2f} s "
              f"({count} tasks succeeded; the trigger command itself took {trigger_took:.2f} s)")


if __name__ == "__main__":
    main()
