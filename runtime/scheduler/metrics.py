"""CloudWatch metrics as MWAA publishes them, sent in batches from a thread of their own.

Namespace ``[metrics] cloudwatch_namespace`` (``Windsock`` in a deployed environment), dimension
``Environment``: ``QueuedTasks``, ``RunningTasks``, ``ImportErrors``, ``TotalParseTime``
(read from the database once per interval), ``SchedulerHeartbeat`` (one per interval and
scheduler) and ``TaskInstanceFinished`` by ``State`` (counted as the scheduler follows ends).
The scheduler's loop only increments a counter: nothing here is on its hot path.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from runtime.settings import Settings
from runtime.store.models import DagFile, ParseImportError, TaskInstance
from runtime.store.states import TI


class MetricsPublisher:
    """Collects counts and gauges; ``put_metric_data`` every ``publish_interval`` seconds."""

    def __init__(self, namespace: str, environment: str, session_factory: sessionmaker[Session], *,
                 interval: float = 60.0, client: Any = None) -> None:
        self.namespace = namespace
        self.dimensions = [{"Name": "Environment", "Value": environment}]
        self.factory = session_factory
        self.interval = interval
        self.client = client
        self.finished: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="windsock-metrics", daemon=True)
        self.sent = 0  # batches sent (for tests and the health page)

    @classmethod
    def from_settings(cls, settings: Settings, session_factory: sessionmaker[Session]) -> MetricsPublisher | None:
        """The publisher the settings ask for, or None when metrics are off."""
        namespace = str(settings.get("metrics", "cloudwatch_namespace") or "")
        if not namespace:
            return None
        environment = settings.environ.get("WINDSOCK_ENV_NAME") or "local"
        return cls(namespace, environment, session_factory, interval=float(settings.get("metrics", "publish_interval")))

    def count_finished(self, state: str | None) -> None:
        """One try ended in ``state`` (called by the scheduler; cheap)."""
        if state:
            with self.lock:
                self.finished[state] += 1

    def start(self) -> None:
        """Start publishing."""
        self.thread.start()

    def stop(self) -> None:
        """Publish what is counted, then stop."""
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(10)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self._publish_safely()
        self._publish_safely()

    def _publish_safely(self) -> None:
        try:
            self.publish()
        except Exception as exc:  # noqa: BLE001 - metrics never stop the scheduler
            print(f"[windsock] scheduler: publishing metrics failed: {exc}", file=sys.stderr)

    def publish(self) -> None:
        """Send one batch (gauges read now, counts since the last batch)."""
        from runtime import aws

        if self.client is None:
            self.client = aws.client("cloudwatch")
        with self.lock:
            finished, self.finished = self.finished, Counter()
        data = [self._datum(name, value, unit) for name, value, unit in self.gauges()]
        data.append(self._datum("SchedulerHeartbeat", 1, "Count"))
        data += [self._datum("TaskInstanceFinished", n, "Count", State=state) for state, n in sorted(finished.items())]
        for start in range(0, len(data), 1000):
            self.client.put_metric_data(Namespace=self.namespace, MetricData=data[start:start + 1000])
        self.sent += 1

    def gauges(self) -> list[tuple[str, float, str]]:
        """(name, value, unit) read from the database."""
        with self.factory() as session:
            states = dict(session.execute(sa.select(TaskInstance.state, sa.func.count()).where(
                TaskInstance.state.in_([TI.QUEUED.value, TI.RUNNING.value])).group_by(TaskInstance.state)).all())
            errors = session.scalar(sa.select(sa.func.count()).select_from(ParseImportError)) or 0
            parse = session.scalar(sa.select(sa.func.sum(DagFile.parse_duration))) or 0.0
        return [("QueuedTasks", float(states.get(TI.QUEUED.value, 0)), "Count"),
                ("RunningTasks", float(states.get(TI.RUNNING.value, 0)), "Count"),
                ("ImportErrors", float(errors), "Count"), ("TotalParseTime", float(parse), "Seconds")]

    def _datum(self, name: str, value: float, unit: str, **dims: str) -> dict[str, Any]:
        dimensions = self.dimensions + [{"Name": k, "Value": v} for k, v in dims.items()]
        return {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}
