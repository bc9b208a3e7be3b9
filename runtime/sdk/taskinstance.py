"""The task instance and DAG run as task code sees them (``ti``, ``dag_run`` in the context)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime import serde
from runtime.sdk.exceptions import XComNotSerializable
from runtime.sdk.xcom_arg import RETURN_KEY
from runtime.store.states import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from runtime.sdk.baseoperator import BaseOperator
    from runtime.sdk.services import RuntimeServices


@dataclass
class DagRunInfo:
    """A DAG run as templates and tasks read it (``dag_run.conf``, ``dag_run.run_id``, ...)."""

    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)
    external_trigger: bool = True
    start_date: datetime | None = None
    state: str = DagRunState.RUNNING.value

    @property
    def execution_date(self) -> datetime:
        return self.logical_date

    @property
    def run_after(self) -> datetime:
        return self.data_interval_end

    def __repr__(self) -> str:
        return f"<DagRun {self.dag_id} @ {self.logical_date}: {self.run_id}, state:{self.state}, external_trigger: {self.external_trigger}>"


class TaskInstance:
    """One try of one task in one run, as the running task sees it."""

    def __init__(
        self,
        task: BaseOperator,
        dag_run: DagRunInfo,
        services: RuntimeServices,
        *,
        map_index: int = -1,
        try_number: int = 1,
        hostname: str = "",
        start_date: datetime | None = None,
    ) -> None:
        self.task = task
        self.dag_run = dag_run
        self.services = services
        self.dag_id = dag_run.dag_id
        self.task_id = task.task_id
        self.run_id = dag_run.run_id
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = task.retries
        self.hostname = hostname
        self.start_date = start_date
        self.state = TaskInstanceState.RUNNING.value
        self.pool = task.pool
        self.queue = task.queue
        self.priority_weight = task.priority_weight
        self.operator = type(task).__name__
        # Filled by branching/short-circuit operators; applied by whoever ran the task.
        self.skip_task_ids: set[str] = set()

    @property
    def logical_date(self) -> datetime:
        return self.dag_run.logical_date

    execution_date = logical_date

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.dag_id, self.task_id, self.run_id, self.try_number, self.map_index)

    @property
    def next_try_number(self) -> int:
        return self.try_number + 1

    def get_dagrun(self, session: Any = None) -> DagRunInfo:
        return self.dag_run

    def xcom_push(self, key: str, value: Any, execution_date: datetime | None = None, session: Any = None) -> None:
        """Store an XCom; only JSON-serializable values are accepted."""
        self.services.xcom_set(self.dag_id, self.run_id, self.task_id, self.map_index, key, check_serializable(self.task_id, key, value))

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_KEY,
        include_prior_dates: bool = False,
        session: Any = None,
        *,
        map_indexes: int | Iterable[int] | str | None = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """Airflow's xcom_pull: one value for one task id, a list for a list of task ids."""
        if task_ids is None:
            task_ids = self.task_id if key != RETURN_KEY else []
        single = isinstance(task_ids, str)
        ids: list[str] = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        results = [self._pull_one(tid, dag_id or self.dag_id, run_id or self.run_id, key, map_indexes, default) for tid in ids]
        return results[0] if single else results

    def _pull_one(self, task_id: str, dag_id: str, run_id: str, key: str, map_indexes: Any, default: Any) -> Any:
        mapped = map_indexes == "ALL" or _upstream_is_mapped(self.task, task_id, dag_id == self.dag_id)
        wanted = None if mapped or map_indexes is None or map_indexes == "ALL" else map_indexes
        if isinstance(wanted, int):
            pairs = self.services.xcom_get(dag_id, run_id, task_id, key, wanted)
            return pairs[0][1] if pairs else default
        pairs = self.services.xcom_get(dag_id, run_id, task_id, key, None)
        if mapped or isinstance(wanted, (list, tuple)):
            keep = set(wanted) if isinstance(wanted, (list, tuple)) else None
            return [v for i, v in sorted(pairs, key=lambda p: p[0]) if keep is None or i in keep]
        unmapped = [v for i, v in pairs if i == -1]
        return unmapped[0] if unmapped else default

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [{self.state}]>"


def _upstream_is_mapped(task: Any, task_id: str, same_dag: bool) -> bool:
    if not same_dag or not task.has_dag() or not task.dag.has_task(task_id):
        return False
    return bool(getattr(task.dag.get_task(task_id), "is_mapped", False))


def check_serializable(task_id: str, key: str, value: Any) -> Any:
    """``value`` if JSON can carry it; else XComNotSerializable naming the task and the type."""
    try:
        serde.dumps(value)
    except (TypeError, ValueError) as exc:
        raise XComNotSerializable(
            f"task {task_id!r}: XCom {key!r} of type {type(value).__name__} is not JSON-serializable ({exc})"
        ) from None
    return value


