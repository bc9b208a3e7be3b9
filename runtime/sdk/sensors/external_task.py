"""ExternalTaskSensor: wait for tasks (or a whole run) of another DAG; ExternalTaskMarker."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from runtime.sdk import timezone
from runtime.sdk.exceptions import AirflowException, AirflowSkipException
from runtime.sdk.operators.empty import EmptyOperator
from runtime.sdk.sensors.base import BaseSensorOperator
from runtime.store.states import DagRunState, TaskInstanceState

TI_STATES = frozenset({"none", *(s.value for s in TaskInstanceState)})
DAGRUN_STATES = frozenset(s.value for s in DagRunState)
FAIL, SKIP, DONE, WAIT = "fail", "skip", "done", "wait"  # what the watched states say


def _states(values: Iterable[Any] | None, default: Sequence[str]) -> list[str]:
    return [str(getattr(v, "value", v)) for v in (values if values is not None else default)]


def verdict(states: Sequence[str | None], expected: int, allowed: Sequence[str], failed: Sequence[str],
            skipped: Sequence[str]) -> str:
    """FAIL, SKIP, DONE or WAIT for the watched states (``expected`` of them at least)."""
    if any(s in failed for s in states):
        return FAIL
    if any(s in skipped for s in states):
        return SKIP
    if len(states) >= expected and all(s in allowed for s in states):
        return DONE
    return WAIT


class ExternalTaskSensor(BaseSensorOperator):
    """Waits for tasks, a task group or the run of ``external_dag_id`` at the same (or a derived) logical date."""

    template_fields = ("external_dag_id", "external_task_id", "external_task_ids", "external_task_group_id")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Iterable[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise ValueError("Only one of `external_task_id` or `external_task_ids` may be provided to ExternalTaskSensor; not both.")
        if external_task_group_id is not None and (external_task_id is not None or external_task_ids is not None):
            raise ValueError("Only one of `external_task_group_id` or `external_task_ids` may be provided to ExternalTaskSensor; not both.")
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError("Only one of `execution_delta` or `execution_date_fn` may be provided to ExternalTaskSensor; not both.")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = [external_task_id] if external_task_id is not None else (list(external_task_ids) if external_task_ids is not None else None)
        self.external_task_group_id = external_task_group_id
        self.allowed_states = _states(allowed_states, [TaskInstanceState.SUCCESS])
        self.skipped_states = _states(skipped_states, [])
        self.failed_states = _states(failed_states, [])
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self.deferrable = deferrable
        self._check_states()

    def _check_states(self) -> None:
        watching_tasks = self.external_task_ids is not None or self.external_task_group_id is not None
        valid = TI_STATES if watching_tasks else DAGRUN_STATES
        wrong = set(self.allowed_states + self.skipped_states + self.failed_states) - valid
        if wrong:
            kind = "task instance" if watching_tasks else "DAG run"
            raise ValueError(f"task {self.task_id!r}: {sorted(wrong)} are not valid {kind} states (valid: {sorted(valid)})")
        overlap = set(self.allowed_states) & set(self.failed_states + self.skipped_states)
        if overlap:
            raise AirflowException(f"Duplicate values provided across allowed_states, skipped_states and failed_states: {sorted(overlap)}")

    def dates_to_check(self, context: Any) -> list[datetime]:
        """The external logical date(s): shifted by execution_delta or computed by execution_date_fn."""
        logical = timezone.to_utc(context["logical_date"])
        if self.execution_delta is not None:
            return [logical - self.execution_delta]
        if self.execution_date_fn is not None:
            value = _call_date_fn(self.execution_date_fn, logical, context)
            return [timezone.to_utc(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        return [logical]

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from runtime.sdk.triggers.external_task import WorkflowTrigger

        task_ids = self._task_ids(context["ti"].services)
        self.defer(trigger=WorkflowTrigger(
            self.external_dag_id, logical_dates=self.dates_to_check(context), external_task_ids=task_ids,
            allowed_states=self.allowed_states, failed_states=self.failed_states, skipped_states=self.skipped_states,
            poke_interval=self.poke_interval, soft_fail=self.soft_fail), method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The watched tasks (or runs) reached a final verdict in the triggerer."""
        status = (event or {}).get("status")
        if status == TaskInstanceState.SUCCESS:
            print(f"External {self._what(self._task_ids(context['ti'].services))} has executed successfully.")
            return
        if status == TaskInstanceState.SKIPPED:
            raise AirflowSkipException("External job has skipped; skipping.")
        self._fail(f"External job has failed (trigger said {status!r}).")

    def poke(self, context: Any) -> bool:
        services = context["ti"].services
        task_ids = self._task_ids(services)
        if self.check_existence:
            self._check_exists(services)
        states: list[str | None] = []
        dates = self.dates_to_check(context)
        for when in dates:
            states.extend(services.task_states(self.external_dag_id, task_ids, when))
        print(f"Poking for {self._what(task_ids)} on {[d.isoformat() for d in dates]}: {states}")
        expected = len(dates) * (len(task_ids) if task_ids is not None else 1)
        result = verdict(states, expected, self.allowed_states, self.failed_states, self.skipped_states)
        if result == FAIL:
            self._fail(f"The external {self._what(task_ids)} failed with states {states}.")
        if result == SKIP:
            raise AirflowSkipException(f"The external {self._what(task_ids)} reached a skipped state {self.skipped_states}.")
        return result == DONE

    def _fail(self, message: str) -> None:
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowException(message)

    def _what(self, task_ids: list[str] | None) -> str:
        if self.external_task_group_id is not None:
            return f"task_group '{self.external_task_group_id}' in DAG '{self.external_dag_id}'"
        if task_ids is not None:
            return f"tasks {task_ids} in DAG '{self.external_dag_id}'"
        return f"DAG '{self.external_dag_id}'"

    def _task_ids(self, services: Any) -> list[str] | None:
        if self.external_task_group_id is None:
            return self.external_task_ids
        resolver = getattr(services, "group_task_ids", None)
        if resolver is not None:
            return list(resolver(self.external_dag_id, self.external_task_group_id))
        dag = _lookup_dag(services, self.external_dag_id)
        group = dag.task_group_dict.get(self.external_task_group_id) if dag is not None else None
        if group is None:
            raise AirflowException(f"The external task group '{self.external_task_group_id}' in DAG '{self.external_dag_id}' does not exist.")
        return [t.task_id for t in group.iter_tasks()]

    def _check_exists(self, services: Any) -> None:
        lookup = getattr(services, "dag_lookup", None)
        if lookup is None:
            return
        dag = lookup(self.external_dag_id)
        if dag is None:
            raise AirflowException(f"The external DAG {self.external_dag_id} does not exist.")
        for task_id in self.external_task_ids or []:
            if not dag.has_task(task_id):
                raise AirflowException(f"The external task {task_id} in DAG {self.external_dag_id} does not exist.")


def _lookup_dag(services: Any, dag_id: str) -> Any:
    lookup = getattr(services, "dag_lookup", None)
    return lookup(dag_id) if lookup is not None else None


def _call_date_fn(fn: Callable[..., Any], logical: datetime, context: Any) -> Any:
    """Airflow calls ``execution_date_fn(logical_date)`` plus the context entries it names."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(logical, **{k: v for k, v in context.items() if k not in ("logical_date", "execution_date")})
    extra = {name: context[name] for name in list(params)[1:] if name in context}
    return fn(logical, **extra)


class ExternalTaskMarker(EmptyOperator):
    """Marks a dependency on a task of another DAG (used when clearing); does nothing when run."""

    template_fields = ("external_dag_id", "external_task_id", "execution_date")
    ui_color = "#4db7db"

    def __init__(self, *, external_dag_id: str, external_task_id: str, execution_date: str | datetime | None = "{{ logical_date.isoformat() }}",
                 recursion_depth: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.execution_date = execution_date.isoformat() if isinstance(execution_date, datetime) else execution_date
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.recursion_depth = recursion_depth


__all__ = ["ExternalTaskSensor", "ExternalTaskMarker", "verdict"]
