"""LatestOnlyOperator: let downstream tasks run only in the most recent scheduled interval."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.operators.branch import BaseBranchOperator
from runtime.sdk.timetables import DataInterval


def is_latest_interval(dag: Any, interval: DataInterval, now: datetime) -> bool:
    """Airflow's rule: ``now`` falls in (next interval start, next interval end]; no next run counts as latest."""
    info = dag.next_dagrun_info(interval, now=now, restricted=False)
    if info is None:
        return True
    return info.data_interval.start < timezone.to_utc(now) <= info.data_interval.end


class LatestOnlyOperator(BaseBranchOperator):
    """Skips all direct downstream tasks unless this run is the latest one (manual runs never skip)."""

    ui_color = "#e9ffdb"

    def choose_branch(self, context: Any) -> Iterable[str]:
        downstream = sorted(context["task"].get_direct_relative_ids(upstream=False))
        run = context["dag_run"]
        if getattr(run, "external_trigger", False) or getattr(run, "run_type", None) == "manual":
            # Airflow 3: a manual run (dags test, trigger) always proceeds.
            print("Manually triggered DAG run: allowing execution to proceed.")
            return downstream
        interval = DataInterval(timezone.to_utc(context["data_interval_start"]), timezone.to_utc(context["data_interval_end"]))
        now = timezone.utcnow()
        if is_latest_interval(context["dag"], interval, now):
            print("Latest, allowing execution to proceed.")
            return downstream
        print(f"Not latest execution (now {now.isoformat()}), skipping downstream.")
        return []


__all__ = ["LatestOnlyOperator", "is_latest_interval"]
