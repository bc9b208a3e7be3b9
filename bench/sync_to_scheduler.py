"""Upload-to-DAG-visible-in-scheduler latency: S3 upload -> dag_sync -> DAG processor -> database.

Starts moto on loopback, the dag_sync background loop (event path), the DAG processor loop as
``windsock dag-processor`` runs it (``run_forever`` polling ``needs_scan`` every 50 ms) and the
scheduler loop (SQLite). Uploads a new DAG file (a new dag_id
each time) and measures until the scheduler's database has it as an active, serialized DAG.
Usage: ``python bench/sync_to_scheduler.py [--uploads 20]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_latency import moto_server, setup  # noqa: E402

DAG_TEMPLATE = '''import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("{dag_id}", start_date=pendulum.datetime(2024, 1, 1), schedule=None):
    BashOperator(task_id="hello", bash_command="echo hello")
'''


def _scheduler(env: dict[str, str]) -> tuple[Any, Any, Any]:
    """The scheduler and DAG processor of ``windsock scheduler``, on a fresh SQLite database."""
    from runtime.executors import make_executor
    from runtime.processor import DagProcessor
    from runtime.scheduler import Scheduler
    from runtime.settings import Settings
    from runtime.store import db
    from runtime.store.session import open_store

    settings = Settings.load(env)
    engine, factory = open_store(settings)
    db.init(engine)
    processor = DagProcessor(settings, factory, include_examples=False)
    return Scheduler(settings, factory, make_executor(settings, factory)), processor, factory


def _visible(factory: Any, dag_id: str) -> bool:
    from runtime.store.models import DagModel, SerializedDagModel

    with factory() as session:
        row = session.get(DagModel, dag_id)
        return bool(row is not None and row.is_active and session.get(SerializedDagModel, dag_id) is not None)


def measure(url: str, home: Path, uploads: int) -> list[float]:
    """Seconds from each upload until the scheduler's database shows the new DAG."""
    from dag_sync.config import SyncConfig
    from dag_sync.entry import start_background_sync
    from dag_sync.syncer import Syncer
    from runtime.sdk import timezone

    s3, env = setup(url, home)
    env = {**env, "WINDSOCK__CORE__LOAD_EXAMPLES": "false", "WINDSOCK__CORE__EXECUTOR": "SequentialExecutor",
           "WINDSOCK__SCHEDULER__DAG_DIR_LIST_INTERVAL": "300"}  # only a sync may trigger a scan
    cfg = SyncConfig.from_env(env)
    Syncer(cfg).sync_dags()
    os.environ.update({k: v for k, v in env.items() if k.startswith("WINDSOCK")})
    scheduler, processor, factory = _scheduler(env)
    stop_sync = start_background_sync(env)
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run_forever, args=(stop, timezone.utcnow), daemon=True)
    loop.start()
    parser = threading.Thread(target=processor.run_forever, args=(stop,), kwargs={"poll": 0.05}, daemon=True)
    parser.start()
    time.sleep(1.0)
    latencies = []
    try:
        for i in range(uploads):
            dag_id = f"bench_visible_{i}"
            start = time.perf_counter()
            s3.put_object(Bucket=cfg.bucket, Key=f"dags/{dag_id}.py", Body=DAG_TEMPLATE.format(dag_id=dag_id).encode())
            while not _visible(factory, dag_id):
                if time.perf_counter() - start > 60:
                    raise SystemExit(f"{dag_id} not visible after 60 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.3)
    finally:
        stop.set()
        loop.join(timeout=30)
        parser.join(timeout=30)
        stop_sync()
    return latencies


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    with moto_server() as url, tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        lat = sorted(measure(url, Path(tmp) / "home", args.uploads))
    p95 = lat[min(len(lat) - 1, round(0.95 * len(lat)) - 1)]
    print(f"upload-to-DAG-visible-in-scheduler latency, {len(lat)} uploads, {os.cpu_count()} cores: "
          f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms (target <= 3000 ms)")


if __name__ == "__main__":
    main()
