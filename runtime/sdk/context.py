"""The template context of a running task: ``ds``, ``ti``, ``params``, ``var``, ``conn``, ..."""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from runtime.sdk import macros, timezone
from runtime.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from runtime.sdk.taskinstance import TaskInstance

_current: ContextVar[dict[str, Any] | None] = ContextVar("windsock_current_context", default=None)


class _VariableAccessor:
    """``var.value.KEY`` / ``var.json.KEY`` / ``var.value.get(KEY, default)``."""

    def __init__(self, services: Any, deserialize_json: bool) -> None:
        self._services = services
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self._convert(self._services.get_variable(key))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._convert(self._services.get_variable(key))
        except KeyError:
            return default

    def _convert(self, raw: str) -> Any:
        return json.loads(raw) if self._json else raw

    def __repr__(self) -> str:
        return "<var accessor>"


class _VariableNamespace:
    def __init__(self, services: Any) -> None:
        self.value = _VariableAccessor(services, False)
        self.json = _VariableAccessor(services, True)


class _ConnectionAccessor:
    """``conn.CONN_ID.host`` / ``conn.get(CONN_ID)``."""

    def __init__(self, services: Any) -> None:
        self._services = services

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        try:
            return self._services.get_connection(conn_id)
        except KeyError as exc:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined") from exc

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        try:
            return self._services.get_connection(conn_id)
        except KeyError:
            return default_conn


# Keys a TaskFlow function may declare as parameters to receive them (Airflow's KNOWN_CONTEXT_KEYS).
KNOWN_CONTEXT_KEYS = frozenset({
    "conf", "dag", "dag_run", "data_interval_start", "data_interval_end", "ds", "ds_nodash", "execution_date",
    "logical_date", "expanded_ti_count", "exception", "inlets", "inlet_events", "outlets", "outlet_events", "macros",
    "map_index_template", "params", "run_id", "task", "task_instance", "ti", "task_instance_key_str", "test_mode",
    "templates_dict", "ts", "ts_nodash", "ts_nodash_with_tz", "var", "conn", "prev_ds", "prev_ds_nodash",
    "prev_execution_date", "next_ds", "next_ds_nodash", "next_execution_date", "yesterday_ds",
    "yesterday_ds_nodash", "tomorrow_ds", "tomorrow_ds_nodash", "prev_data_interval_start_success",
    "prev_data_interval_end_success", "prev_start_date_success", "prev_end_date_success",
    "triggering_asset_events", "triggering_dataset_events", "run_after",
})


def build_context(ti: TaskInstance, params: dict[str, Any]) -> dict[str, Any]:
    """Airflow's context for ``ti`` (``params`` already merged and validated)."""
    task, run = ti.task, ti.dag_run
    dag = task.dag
    ctx = dict(run_entries(dag, run))
    ctx.update({
        "inlets": task.inlets,
        "outlets": task.outlets,
        "params": params,
        "task": task,
        "task_instance": ti,
        "ti": ti,
        "task_instance_key_str": f"{dag.dag_id}__{task.task_id}__{ctx['ds_nodash']}",
        "var": _VariableNamespace(ti.services),
        "conn": _ConnectionAccessor(ti.services),
        "templates_dict": getattr(task, "templates_dict", None),
    })
    ctx.update(_asset_entries(ti))
    return ctx


def run_entries(dag: Any, run: Any) -> dict[str, Any]:
    """The context entries every task of ``run`` shares (its dates in their many spellings, ...); built once
    per run object and kept on it, so that a zygote that builds them before it forks spares each child the
    work (and the pages it would copy)."""
    kept = run.__dict__.get("_windsock_entries")
    if kept is not None and kept[0] is dag:
        return kept[1]  # type: ignore[no-any-return]
    logical = timezone.to_utc(run.logical_date)
    ds = logical.strftime("%Y-%m-%d")
    day = date(logical.year, logical.month, logical.day)  # plain dates: pendulum's arithmetic is slow
    yesterday, tomorrow = day - timedelta(days=1), day + timedelta(days=1)
    prev_date, next_date = _prev_next(dag, run, logical)
    entries: dict[str, Any] = {
        "conf": _CONF,
        "dag": dag,
        "dag_run": run,
        "data_interval_start": timezone.to_utc(run.data_interval_start),
        "data_interval_end": timezone.to_utc(run.data_interval_end),
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "execution_date": logical,
        "logical_date": logical,
        "expanded_ti_count": None,
        "macros": macros,
        "map_index_template": None,
        "run_id": run.run_id,
        "test_mode": False,
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "prev_ds": prev_date.strftime("%Y-%m-%d") if prev_date else None,
        "prev_ds_nodash": prev_date.strftime("%Y%m%d") if prev_date else None,
        "prev_execution_date": prev_date,
        "next_ds": next_date.strftime("%Y-%m-%d") if next_date else None,
        "next_ds_nodash": next_date.strftime("%Y%m%d") if next_date else None,
        "next_execution_date": next_date,
        "yesterday_ds": yesterday.strftime("%Y-%m-%d"),
        "yesterday_ds_nodash": yesterday.strftime("%Y%m%d"),
        "tomorrow_ds": tomorrow.strftime("%Y-%m-%d"),
        "tomorrow_ds_nodash": tomorrow.strftime("%Y%m%d"),
        "prev_data_interval_start_success": None,
        "prev_data_interval_end_success": None,
        "prev_start_date_success": None,
    }
    run.__dict__["_windsock_entries"] = (dag, entries)
    return entries


def _asset_entries(ti: TaskInstance) -> dict[str, Any]:
    """``outlet_events``, ``inlet_events`` and the run's triggering events (Airflow 3 and 2 names)."""
    from runtime.sdk.assets import OutletEventAccessors, inlet_events_for, triggering_events_for

    triggering = triggering_events_for(ti.services, ti.dag_id, ti.run_id)
    return {"outlet_events": OutletEventAccessors(), "inlet_events": inlet_events_for(ti.services),
            "triggering_asset_events": triggering, "triggering_dataset_events": triggering}


def _prev_next(dag: Any, run: Any, logical: Any) -> tuple[Any, Any]:
    """Airflow 2's prev/next execution dates: the logical date itself for triggered runs."""
    if run.external_trigger:
        return logical, logical
    table = dag.timetable
    prev = table._get_prev(logical) if getattr(table, "periodic", False) else None
    info = dag.timetable.next_dagrun_info(
        last=_interval(run), earliest=None, latest=None, catchup=True, now=logical
    )
    return prev, (info.logical_date if info else None)


def _interval(run: Any) -> Any:
    from runtime.sdk.timetables import DataInterval

    return DataInterval(timezone.to_utc(run.data_interval_start), timezone.to_utc(run.data_interval_end))


class _ConfView:
    """``conf`` in templates: reads Windsock settings (``conf.get('core', 'dags_folder')``)."""

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        from runtime.settings import Settings

        try:
            return Settings.load().get(section, key)
        except Exception:  # noqa: BLE001 - unknown keys give the fallback, as Airflow's conf.get(fallback=)
            return fallback


_CONF = _ConfView()


def set_current_context(context: dict[str, Any] | None) -> Any:
    """Make ``context`` what ``get_current_context()`` returns; returns a reset token."""
    return _current.set(context)


def reset_current_context(token: Any) -> None:
    _current.reset(token)


def current_context() -> dict[str, Any]:
    """The context of the running task; raises outside a task."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("Current context was requested but no context was found! Are you running within an Airflow task?")
    return ctx


Context = dict
