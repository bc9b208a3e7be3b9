"""Figure: server time of the DAG list page with 1,000 DAGs x 10 runs (target: first paint < 300 ms).

Fills a fresh SQLite store (or PostgreSQL with ``--postgres URL``) with 1,000 dag rows and 10 runs
each (5 task instances per run), then times ``GET /`` in process (ASGI, no network) with an
Admin session: the whole request, template rendering included. Run: ``python bench/web_dag_list.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from runtime.settings import Settings  # noqa: E402
from runtime.store import db  # noqa: E402
from runtime.store.models import DagModel, DagRun, TaskInstance  # noqa: E402
from runtime.store.session import open_store, transaction  # noqa: E402
from runtime.web.app import create_app  # noqa: E402
from runtime.web.auth.roles import Principal, Role  # noqa: E402
from runtime.web.auth.tokens import Signer, issue_login_token, secret_key  # noqa: E402

STATES = ["success", "success", "failed", "running", "success"]


def fill(factory: object, dags: int, runs: int) -> None:
    """``dags`` active DAGs with ``runs`` runs and 5 task instances per run."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with transaction(factory) as session:  # type: ignore[arg-type]
        session.execute(sa.insert(DagModel), [
            {"dag_id": f"dag_{i:04d}", "fileloc": f"/dags/dag_{i:04d}.py", "is_paused": i % 7 == 0, "is_active": True,
             "owners": "team", "tags": ["bench", f"t{i % 10}"], "timetable_description": "@daily",
             "next_dagrun": start} for i in range(dags)])
        session.execute(sa.insert(DagRun), [
            {"dag_id": f"dag_{i:04d}", "run_id": f"scheduled__{r}", "run_type": "scheduled",
             "state": STATES[(i + r) % len(STATES)], "logical_date": start + dt.timedelta(days=r),
             "external_trigger": False, "clear_number": 0} for i in range(dags) for r in range(runs)])
        session.execute(sa.insert(TaskInstance), [
            {"dag_id": f"dag_{i:04d}", "run_id": f"scheduled__{r}", "task_id": f"t{k}", "map_index": -1,
             "state": STATES[(i + r + k) % len(STATES)], "try_number": 1, "max_tries": 0, "pool": "default_pool",
             "pool_slots": 1, "priority_weight": 1} for i in range(dags) for r in range(runs) for k in range(5)])


def main() -> None:
    """Print the median and p95 server time of ``GET /`` over 30 requests."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty database instead of SQLite")
    parser.add_argument("--dags", type=int, default=1000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    settings = Settings(home, environ={"WINDSOCK_HOME": str(home)}).with_overrides(
        database__sql_alchemy_conn=args.postgres or f"sqlite:///{home / 'windsock.db'}")
    engine, factory = open_store(settings)
    db.init(engine)
    fill(factory, args.dags, 10)
    app = create_app(settings)
    token = issue_login_token(Signer(secret_key(settings)), Principal("bench", Role.ADMIN),
                              dt.datetime.now(dt.UTC), 60)
    with TestClient(app) as client:
        client.get("/login", params={"token": token})
        client.get("/")  # warm: templates compiled, connections open
        times = []
        for _ in range(30):
            began = time.perf_counter()
            response = client.get("/")
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200 and "dag_0000" in response.text
    times.sort()
    print(f"DAG list, {args.dags} DAGs x 10 runs ({engine.dialect.name}): median {statistics.median(times):.1f} ms, "
          f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
