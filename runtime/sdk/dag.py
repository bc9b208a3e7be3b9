"""DAG: a set of tasks with a schedule, and the ``@dag`` decorator."""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from runtime.sdk import context_stack, timezone
from runtime.sdk.exceptions import AirflowDagCycleException, AirflowException, DuplicateTaskIdFound
from runtime.sdk.params import ParamsDict
from runtime.sdk.taskgroup import TaskGroup
from runtime.sdk.timetables import DagRunInfo, DataInterval, Timetable, make_timetable

if TYPE_CHECKING:
    import jinja2

    from runtime.sdk.baseoperator import BaseOperator

_DAG_ID_RE = re.compile(r"^[\w.-]+$")


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()
# Airflow 2's default when a DAG names no schedule; Airflow 3 (airflow.sdk) uses None.
DEFAULT_SCHEDULE: Any = timedelta(days=1)


def _catchup_default() -> bool:
    raw = os.environ.get("WINDSOCK__SCHEDULER__CATCHUP_BY_DEFAULT") or os.environ.get("AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT")
    return True if raw is None else raw.strip().lower() in ("1", "true", "yes", "on")


class DAG:
    """A workflow: tasks, their dependencies and when runs happen."""

    # Airflow 3's ``airflow.sdk.DAG`` overrides these two defaults.
    _default_schedule: Any = DEFAULT_SCHEDULE
    _default_catchup: bool | None = None

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = NOTSET,
        schedule_interval: Any = NOTSET,
        timetable: Timetable | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        full_filepath: str | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type[jinja2.Undefined] | None = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        concurrency: int | None = None,
        max_active_tasks: int | None = None,
        max_active_runs: int | None = None,
        max_consecutive_failed_dag_runs: int | None = None,
        dagrun_timeout: timedelta | None = None,
        sla_miss_callback: Any = None,
        default_view: str | None = None,
        orientation: str = "LR",
        catchup: bool | None = None,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        access_control: Any = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: Collection[str] | None = None,
        owner_links: dict[str, str] | None = None,
        auto_register: bool = True,
        fail_stop: bool = False,
        fail_fast: bool = False,
        dag_display_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"DAG {dag_id!r}: unexpected argument(s) {sorted(kwargs)}")
        if not isinstance(dag_id, str) or not _DAG_ID_RE.match(dag_id) or len(dag_id) > 250:
            raise AirflowException(f"dag_id {dag_id!r} is invalid: use only letters, digits, dashes, dots and underscores")
        self.dag_id = dag_id
        self.default_args = dict(default_args or {})
        self.description = description
        self.doc_md = doc_md
        self.tags = list(tags or [])
        self.owner_links = owner_links or {}
        self.dag_display_name = dag_display_name
        start_date = start_date if start_date is not None else self.default_args.get("start_date")
        end_date = end_date if end_date is not None else self.default_args.get("end_date")
        self.start_date = timezone.coerce(start_date)
        self.end_date = timezone.coerce(end_date)
        self.timezone: tzinfo = (self.start_date.tzinfo if self.start_date is not None else None) or timezone.default_timezone()
        self.schedule_interval = self._pick_schedule(schedule, schedule_interval, timetable)
        self.timetable = timetable if timetable is not None else make_timetable(self.schedule_interval, self.timezone)
        self.catchup = catchup if catchup is not None else (self._default_catchup if self._default_catchup is not None else _catchup_default())
        self.max_active_tasks = max_active_tasks if max_active_tasks is not None else (concurrency if concurrency is not None else _int_env("CORE", "MAX_ACTIVE_TASKS_PER_DAG", 16))
        self.max_active_runs = max_active_runs if max_active_runs is not None else _int_env("CORE", "MAX_ACTIVE_RUNS_PER_DAG", 16)
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        self.dagrun_timeout = dagrun_timeout
        self.sla_miss_callback = sla_miss_callback
        self.default_view = default_view or "grid"
        self.orientation = orientation
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.access_control = access_control
        self.is_paused_upon_creation = is_paused_upon_creation
        self.template_searchpath = [template_searchpath] if isinstance(template_searchpath, str) else list(template_searchpath or [])
        self._template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        self.jinja_environment_kwargs = jinja_environment_kwargs
        self.render_template_as_native_obj = render_template_as_native_obj
        self.fail_stop = fail_stop or fail_fast
        self.params = ParamsDict(self.default_args.get("params"))
        self.params.update(ParamsDict(params) if params else {})
        if self.timetable.can_be_scheduled:
            self._validate_scheduled_params()
        self.fileloc = full_filepath or _caller_file()
        self.task_dict: dict[str, BaseOperator] = {}
        self.task_group = TaskGroup(None, dag=self)
        self.task_group_dict: dict[str, TaskGroup] = {}
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = {}
        self.edge_lines: dict[tuple[str, str], int] = {}
        self.lineno = _caller_line()
        self._jinja_env: jinja2.Environment | None = None
        self.auto_register = auto_register
        self.partial = False
        if auto_register:
            context_stack.register(self)

    def _validate_scheduled_params(self) -> None:
        """A scheduled DAG's params must resolve without a run conf (Airflow refuses the DAG otherwise)."""
        from runtime.sdk.exceptions import ParamValidationError

        try:
            self.params.resolve({})
        except ParamValidationError as exc:
            raise ValueError(f"Dag {self.dag_id!r} is not allowed to define a Schedule, as there are required params "
                             f"without default values, or the default values are not valid ({exc})") from None

    def _pick_schedule(self, schedule: Any, schedule_interval: Any, timetable: Any) -> Any:
        given = [x for x in (schedule, schedule_interval) if x is not NOTSET]
        if len(given) > 1 or (given and timetable is not None):
            raise AirflowException(f"DAG {self.dag_id!r}: give only one of schedule, schedule_interval and timetable")
        if timetable is not None:
            return getattr(timetable, "summary", None)
        return given[0] if given else self._default_schedule

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> DAG:
        context_stack.push_dag(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        context_stack.pop_dag()

    # -- tasks --------------------------------------------------------------------------------

    def add_task(self, task: BaseOperator) -> None:
        """Add a task; its dates default to the DAG's."""
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            where = getattr(task, "_created_at", None)
            at = f" (at {where[0]}:{where[1]})" if where else ""
            raise DuplicateTaskIdFound(f"Task id '{task.task_id}' has already been added to the DAG {self.dag_id!r}{at}")
        if task.start_date is None:
            task.start_date = self.start_date
        elif self.start_date is not None:
            task.start_date = max(task.start_date, self.start_date)
        if task.end_date is None:
            task.end_date = self.end_date
        elif self.end_date is not None:
            task.end_date = min(task.end_date, self.end_date)
        self.task_dict[task.task_id] = task
        task._dag = self

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        for task in tasks:
            task.dag = self

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def task_count(self) -> int:
        return len(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        """The task with ``task_id``; a clear error when absent."""
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise AirflowException(f"Task {task_id!r} not found in DAG {self.dag_id!r}") from None

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.tasks if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        return ", ".join(sorted({t.owner for t in self.tasks})) if self.tasks else self.default_args.get("owner", "airflow")

    @property
    def folder(self) -> str:
        return os.path.dirname(self.fileloc)

    @property
    def is_subdag(self) -> bool:
        return False

    def set_edge_info(self, upstream_id: str, downstream_id: str, info: dict[str, Any]) -> None:
        self.edge_info.setdefault(upstream_id, {})[downstream_id] = info

    def get_edge_info(self, upstream_id: str, downstream_id: str) -> dict[str, Any]:
        return self.edge_info.get(upstream_id, {}).get(downstream_id, {})

    def set_dependency(self, upstream_task_id: str, downstream_task_id: str) -> None:
        """Airflow's ``dag.set_dependency('a', 'b')``."""
        self.get_task(upstream_task_id).set_downstream(self.get_task(downstream_task_id))

    def topological_sort(self) -> list[BaseOperator]:
        """Tasks ordered so each comes after its upstreams; raises on a cycle."""
        order: list[BaseOperator] = []
        remaining = {tid: set(t.upstream_task_ids) & self.task_dict.keys() for tid, t in self.task_dict.items()}
        ready = sorted(tid for tid, ups in remaining.items() if not ups)
        while ready:
            tid = ready.pop(0)
            order.append(self.task_dict[tid])
            del remaining[tid]
            for down in sorted(self.task_dict[tid].downstream_task_ids):
                ups = remaining.get(down)
                if ups is not None:
                    ups.discard(tid)
                    if not ups:
                        ready.append(down)
        if remaining:
            raise self._cycle_error(set(remaining))
        return order

    def _cycle_error(self, stuck: set[str]) -> AirflowDagCycleException:
        """The error for a cycle among ``stuck``: names the cycle and the line of the edge made last in it."""
        cycle = _find_cycle({t: self.task_dict[t].downstream_task_ids & stuck for t in stuck})
        edges = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        order = list(self.edge_lines)
        closing = max(edges, key=lambda e: order.index(e) if e in self.edge_lines else -1)
        exc = AirflowDagCycleException(
            f"Cycle detected in DAG {self.dag_id!r}: {' >> '.join(cycle + cycle[:1])} "
            f"(closed by {closing[0]} >> {closing[1]})")
        exc.lineno = self.edge_lines.get(closing) or self.lineno  # type: ignore[attr-defined]
        return exc

    def check_cycle(self) -> None:
        """Raise AirflowDagCycleException when the tasks form a cycle."""
        self.topological_sort()

    def partial_subset(self, task_ids_or_regex: Any, include_downstream: bool = False, include_upstream: bool = True) -> DAG:
        """A copy of the DAG holding only the matching tasks (and their relatives if asked)."""
        import copy

        if isinstance(task_ids_or_regex, str):
            pattern = re.compile(task_ids_or_regex)
            matched = [t for t in self.tasks if pattern.search(t.task_id)]
        else:
            matched = [self.get_task(t) for t in task_ids_or_regex]
        keep = {t.task_id for t in matched}
        for task in matched:
            if include_upstream:
                keep |= task.get_flat_relative_ids(upstream=True)
            if include_downstream:
                keep |= task.get_flat_relative_ids(upstream=False)
        new = copy.copy(self)
        new.task_dict = {}
        new.partial = True
        for tid in self.task_dict:
            if tid in keep:
                task = copy.copy(self.task_dict[tid])
                task.upstream_task_ids = task.upstream_task_ids & keep
                task.downstream_task_ids = task.downstream_task_ids & keep
                new.task_dict[tid] = task
                task._dag = new
        return new

    # -- schedule -----------------------------------------------------------------------------

    def next_dagrun_info(self, last: DataInterval | None, now: datetime, restricted: bool = True) -> DagRunInfo | None:
        """The next scheduled run after ``last`` (pure: ``now`` is passed in)."""
        earliest = self.start_date or _min_task_start(self)
        return self.timetable.next_dagrun_info(
            last=last, earliest=earliest, latest=self.end_date if restricted else None,
            catchup=self.catchup if restricted else True, now=now,
        )

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after)

    @property
    def timetable_summary(self) -> str:
        return self.timetable.summary

    # -- templating ---------------------------------------------------------------------------

    @property
    def template_undefined(self) -> type[jinja2.Undefined]:
        """What an undefined name renders as (``jinja2.StrictUndefined`` unless the DAG says): Jinja is
        loaded here, not with the module, so that a process that only reads DAGs (the scheduler, the CLI)
        never loads it."""
        if self._template_undefined is None:
            import jinja2

            return jinja2.StrictUndefined
        return self._template_undefined

    @template_undefined.setter
    def template_undefined(self, value: type[jinja2.Undefined] | None) -> None:
        self._template_undefined = value

    def get_template_env(self, force_sandboxed: bool = False) -> jinja2.Environment:
        """The DAG's Jinja environment (search path: the DAG folder, then template_searchpath)."""
        if self._jinja_env is None:
            from runtime.sdk.templating import make_environment

            self._jinja_env = make_environment(self)
        return self._jinja_env

    # -- running ------------------------------------------------------------------------------

    def test(self, execution_date: datetime | None = None, logical_date: datetime | None = None, run_conf: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run the whole DAG in this process, like ``airflow dags test`` (Airflow's ``dag.test()``)."""
        from runtime.inprocess import run_dag

        return run_dag(self, logical_date=logical_date or execution_date, conf=run_conf)

    def param(self, name: str, default: Any = NOTSET) -> Any:
        """A reference to a DAG param usable in templates and TaskFlow arguments."""
        from runtime.sdk.xcom_arg import DagParamArg

        return DagParamArg(self, name, default)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    def __hash__(self) -> int:
        return hash(self.dag_id)

    def __eq__(self, other: object) -> bool:
        return self is other


def _min_task_start(dag: DAG) -> datetime | None:
    starts = [t.start_date for t in dag.tasks if t.start_date is not None]
    return min(starts) if starts else None


def _int_env(section: str, key: str, default: int) -> int:
    raw = os.environ.get(f"WINDSOCK__{section}__{key}") or os.environ.get(f"AIRFLOW__{section}__{key}")
    return int(raw) if raw else default


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (every node of it has an edge inside), as a list of nodes."""
    node = min(graph)
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(graph[node])
    return path[seen[node]:]


def _caller_line() -> int | None:
    frame = sys._getframe(1)
    sdk_dir = os.path.dirname(__file__)
    while frame is not None and (frame.f_code.co_filename.startswith(sdk_dir) or "runtime/compat" in frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_lineno if frame is not None else None


def _caller_file() -> str:
    frame = sys._getframe(1)
    sdk_dir = os.path.dirname(__file__)
    while frame is not None and (frame.f_code.co_filename.startswith(sdk_dir) or "runtime/compat" in frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_code.co_filename if frame is not None else "<unknown>"


def dag(dag_id: str | Callable[..., Any] = "", **dag_kwargs: Any) -> Any:
    """``@dag``: calling the decorated function builds a DAG; its arguments become params."""

    def decorator(func: Callable[..., Any]) -> Callable[..., DAG]:
        sig = inspect.signature(func)

        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = sig.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            params = dict(dag_kwargs.get("params") or {})
            for name, value in bound.arguments.items():
                params.setdefault(name, value)
            kw = {**dag_kwargs, "params": params or None}
            kw.setdefault("description", (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else None)
            kw.setdefault("doc_md", func.__doc__)
            kw.setdefault("full_filepath", inspect.getsourcefile(func) or _caller_file())
            dag_class = kw.pop("_dag_class", DAG)
            with dag_class(dag_id or func.__name__, **kw) as new_dag:
                call_args = {n: new_dag.param(n) for n in bound.arguments}
                func(**call_args)
            return new_dag

        return factory

    if callable(dag_id):
        func, dag_id = dag_id, ""
        return decorator(func)
    return decorator
