"""DAG -> JSON: what the scheduler and web server read instead of importing user code.

The format is versioned (``__version``). Every datetime is an ISO-8601 UTC string, every
duration a number of seconds. ``dag_hash`` changes exactly when the JSON changes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.dag import DAG
from runtime.sdk.trigger_rule import normalize

FORMAT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return timezone.to_utc(value).isoformat() if value is not None else None


def _secs(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _has(callback: Any) -> bool:
    return bool(callback)


def _asset_refs(items: Any) -> list[dict[str, Any]]:
    from runtime.sdk.assets import BaseAsset

    return [i.as_json() for i in items or [] if isinstance(i, BaseAsset)]


def serialize_task(task: BaseOperator, setups: list[str] | None = None) -> dict[str, Any]:
    """The scheduler's view of one task (``setups``: its indirect relevant setup tasks)."""
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "operator": task.operator_name,
        "task_type": type(task).__name__ if not task.is_mapped else getattr(task, "operator_class", type(task)).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "trigger_rule": normalize(task.trigger_rule),
        "owner": task.owner,
        "retries": task.retries,
        "retry_delay": _secs(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": _secs(task.max_retry_delay),
        "execution_timeout": _secs(task.execution_timeout),
        "depends_on_past": task.depends_on_past,
        "ignore_first_depends_on_past": task.ignore_first_depends_on_past,
        "wait_for_downstream": task.wait_for_downstream,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": task.priority_weight,
        "weight_rule": task.weight_rule,
        "priority_weight_total": task.priority_weight_total,
        "queue": task.queue,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "start_date": _iso(task.start_date),
        "end_date": _iso(task.end_date),
        "email": _emails(task.email),
        "email_on_failure": task.email_on_failure,
        "email_on_retry": task.email_on_retry,
        "has_on_execute_callback": _has(task.on_execute_callback),
        "has_on_success_callback": _has(task.on_success_callback),
        "has_on_failure_callback": _has(task.on_failure_callback),
        "has_on_retry_callback": _has(task.on_retry_callback),
        "is_sensor": bool(task.is_sensor),
        "sensor_mode": getattr(task, "mode", None) if task.is_sensor else None,
        "poke_interval": _secs_or_num(getattr(task, "poke_interval", None)) if task.is_sensor else None,
        "timeout": _secs_or_num(getattr(task, "timeout", None)) if task.is_sensor else None,
        "task_group": task.task_group.group_id if task.task_group is not None else None,
        "template_fields": list(task.template_fields),
        "doc_md": task.doc_md,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "is_mapped": bool(task.is_mapped),
        "is_empty": bool(getattr(task, "inherits_from_empty_operator", False)),
        "is_setup": task.is_setup,
        "is_teardown": task.is_teardown,
        "on_failure_fail_dagrun": task.on_failure_fail_dagrun,
        "setups": sorted(setups or []),
        "outlets": _asset_refs(task.outlets),
        "inlets": _asset_refs(task.inlets),
    }
    if task.is_mapped:
        data["map_literal_length"] = task.literal_length()  # type: ignore[attr-defined]
        data["map_xcom_sources"] = task.xcom_sources()  # type: ignore[attr-defined]
        data["map_mode"] = task.mode  # type: ignore[attr-defined]
        data["map_literal_lengths"] = _literal_lengths(task)
    return data


def _literal_lengths(task: Any) -> list[int]:
    """Lengths of a mapped task's literal inputs (the scheduler multiplies them with XCom lengths)."""
    from runtime.sdk.xcom_arg import find_xcom_args

    return [len(v) for v in task.expand_input.values() if not find_xcom_args(v) and hasattr(v, "__len__")]


def _secs_or_num(value: Any) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _emails(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [e.strip() for e in value.replace(";", ",").split(",") if e.strip()]
    return [str(e) for e in value]


def serialize_dag(dag: DAG) -> dict[str, Any]:
    """The JSON document stored for ``dag`` (tasks in topological order)."""
    from runtime.sdk.setup_teardown import relevant_setups

    has_setups = any(t.is_setup for t in dag.tasks)
    tasks = [serialize_task(t, relevant_setups(t) if has_setups else None) for t in dag.topological_sort()]
    data = {
        "__version": FORMAT_VERSION,
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "timetable": dag.timetable.serialize(),
        "timetable_summary": dag.timetable.summary,
        "timezone": str(getattr(dag.timezone, "name", dag.timezone)),
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "max_consecutive_failed_dag_runs": dag.max_consecutive_failed_dag_runs,
        "dagrun_timeout": _secs(dag.dagrun_timeout),
        "fail_stop": dag.fail_stop,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "tags": sorted(dag.tags),
        "owner": dag.owner,
        "params": dag.params.dump(),
        "has_on_success_callback": _has(dag.on_success_callback),
        "has_on_failure_callback": _has(dag.on_failure_callback),
        "default_view": dag.default_view,
        "edge_info": dag.edge_info,
        "task_groups": sorted(dag.task_group_dict),
        "tasks": tasks,
    }
    return json.loads(json.dumps(data, default=str))


def dag_hash(data: dict[str, Any]) -> str:
    """A stable hash of a serialized DAG."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class SerializedDag:
    """Read-only access to a serialized DAG (for the scheduler, CLI and web)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.dag_id: str = data["dag_id"]
        self.tasks: dict[str, dict[str, Any]] = {t["task_id"]: t for t in data["tasks"]}

    @property
    def timetable(self) -> Any:
        from runtime.sdk.timetables import from_serialized

        return from_serialized(self.data["timetable"])

    def date_field(self, name: str) -> datetime | None:
        """A datetime attribute of the DAG (``start_date``, ``end_date``), parsed."""
        return timezone.datetime_from_iso(self.data.get(name))

    @property
    def leaves(self) -> list[str]:
        """The tasks whose states decide the run's state (teardowns only with on_failure_fail_dagrun)."""
        from runtime.rules.readiness import effective_leaves

        graph = {tid: (t["downstream"], bool(t.get("is_teardown")), bool(t.get("on_failure_fail_dagrun")))
                 for tid, t in self.tasks.items()}
        return sorted(effective_leaves(graph))

    def next_dagrun_info(self, last: Any, now: datetime) -> Any:
        """The next scheduled run (pure; ``now`` passed in), honouring start/end date and catchup."""
        starts = [timezone.to_utc(datetime.fromisoformat(t["start_date"])) for t in self.tasks.values() if t["start_date"]]
        earliest = self.date_field("start_date") or (min(starts) if starts else None)
        return self.timetable.next_dagrun_info(
            last=last, earliest=earliest, latest=self.date_field("end_date"), catchup=self.data["catchup"], now=now
        )
