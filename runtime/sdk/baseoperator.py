"""BaseOperator: Airflow's task base class, with its arguments, defaults and wiring."""

from __future__ import annotations

import functools
import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runtime.sdk import context_stack, timezone
from runtime.sdk.dependencies import DependencyMixin, as_list, chain, chain_linear, cross_downstream
from runtime.sdk.exceptions import AirflowException
from runtime.sdk.params import ParamsDict
from runtime.sdk.trigger_rule import TriggerRule

if TYPE_CHECKING:
    from runtime.sdk.dag import DAG
    from runtime.sdk.taskgroup import TaskGroup

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream", "BaseOperatorLink", "WeightRule"]

_TASK_ID_RE = re.compile(r"^[\w.-]+$")
WEIGHT_RULES = ("downstream", "upstream", "absolute")


class WeightRule:
    """Airflow's ``WeightRule`` names for ``weight_rule=``."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"

    @classmethod
    def is_valid(cls, rule: str) -> bool:
        return rule in WEIGHT_RULES

    @classmethod
    def all_weight_rules(cls) -> set[str]:
        return set(WEIGHT_RULES)
_SDK_DIR = __file__.rsplit("/", 2)[0]


def _creation_site() -> tuple[str, int]:
    """File and line of the user code that is creating a task (first frame outside the SDK)."""
    frame = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename.startswith(_SDK_DIR) or "runtime/compat" in frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>", 0
    return frame.f_code.co_filename, frame.f_lineno


def _merged_default_args(dag: DAG | None, group: TaskGroup | None, own: dict[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if dag is not None:
        merged.update(dag.default_args or {})
    if group is not None:
        merged.update(group.default_args or {})
    merged.update(own or {})
    return merged


def apply_defaults(func: Callable[..., None]) -> Callable[..., None]:
    """Fill an operator's keyword arguments from the DAG's and TaskGroup's ``default_args``."""
    sig = inspect.signature(func)
    names = [n for n, p in sig.parameters.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = {n for n in names if sig.parameters[n].default is inspect.Parameter.empty}
    takes_default_args = "default_args" in names or any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())

    @functools.wraps(func)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if args:
            raise AirflowException("Use keyword arguments when initializing operators")
        dag = kwargs.get("dag") or context_stack.current_dag()
        group = kwargs.get("task_group") or context_stack.current_group(dag)
        default_args = _merged_default_args(dag, group, kwargs.pop("default_args", None))
        for name in names:
            if name not in kwargs and name in default_args:
                kwargs[name] = default_args[name]
        missing = required - kwargs.keys()
        if missing:
            task = kwargs.get("task_id", "?")
            raise AirflowException(f"{type(self).__name__} (task {task!r}) is missing keyword argument(s): {', '.join(sorted(missing))}")
        if takes_default_args:
            kwargs["default_args"] = default_args
        depth = self.__dict__.get("_ws_init_depth", 0)
        self.__dict__["_ws_init_depth"] = depth + 1
        try:
            func(self, **kwargs)
        finally:
            self.__dict__["_ws_init_depth"] = depth
        if depth == 0:
            _xcomarg_dependencies(self)

    wrapper.__windsock_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


def _xcomarg_dependencies(op: BaseOperator) -> None:
    """An XComArg in a template field makes its task an upstream (Airflow's ``set_xcomargs_dependencies``)."""
    if getattr(op, "_windsock_detached", False) or op.is_mapped or not op.has_dag():
        return
    from runtime.sdk.xcom_arg import find_xcom_args

    for name in op.template_fields:
        for arg in find_xcom_args(getattr(op, name, None)):
            if arg.operator is not op:
                op.set_upstream(arg.operator)


class BaseOperator(DependencyMixin):
    """Base of every task; subclasses implement ``execute(context)``."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    template_fields_renderers: dict[str, str] = {}
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    shallow_copy_attrs: Sequence[str] = ()
    is_sensor = False
    is_mapped = False
    inherits_from_empty_operator = False
    # The Airflow-compat "operator" name shown in lists and stored in task_instance.operator.
    custom_operator_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__windsock_wrapped__", False):
            cls.__init__ = apply_defaults(init)  # type: ignore[method-assign]

    def __init__(
        self,
        task_id: str,
        owner: str = "airflow",
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = None,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        pool: str | None = None,
        pool_slots: int = 1,
        sla: timedelta | None = None,
        execution_timeout: timedelta | float | None = None,
        on_execute_callback: Any = None,
        on_failure_callback: Any = None,
        on_success_callback: Any = None,
        on_retry_callback: Any = None,
        on_skipped_callback: Any = None,
        pre_execute: Callable[..., Any] | None = None,
        post_execute: Callable[..., Any] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        resources: dict[str, Any] | None = None,
        run_as_user: str | None = None,
        task_concurrency: int | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any = None,
        outlets: Any = None,
        task_group: TaskGroup | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        logger_name: str | None = None,
        allow_nested_operators: bool = True,
        executor: str | None = None,
        retry_policy: Any = None,
        map_index_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            # Airflow 2 rejects unknown arguments; say which one and where.
            raise AirflowException(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}). "
                f"Invalid arguments were: {sorted(kwargs)}"
            )
        detached = getattr(self, "_windsock_detached", False)
        dag = dag if dag is not None else (None if detached else context_stack.current_dag())
        group = task_group or (None if detached else context_stack.current_group(dag))
        self._validate_task_id(task_id)
        self.task_id = group.child_id(task_id) if group is not None and not detached else task_id
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = int(retries) if retries is not None else _default_retries()
        self.retry_delay = _as_timedelta(retry_delay, "retry_delay", task_id)
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _as_timedelta(max_retry_delay, "max_retry_delay", task_id) if max_retry_delay is not None else None
        self.start_date = timezone.coerce(start_date)
        self.end_date = timezone.coerce(end_date)
        self.depends_on_past = depends_on_past or wait_for_downstream
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.wait_for_past_depends_before_skipping = wait_for_past_depends_before_skipping
        self.wait_for_downstream = wait_for_downstream
        self.priority_weight = int(priority_weight)
        if weight_rule not in WEIGHT_RULES:
            raise AirflowException(f"task {task_id!r}: weight_rule must be one of {WEIGHT_RULES}, got {weight_rule!r}")
        self.weight_rule = str(getattr(weight_rule, "value", weight_rule))
        self.queue = queue
        self.pool = pool or "default_pool"
        if pool_slots < 1:
            raise ValueError(f"pool slots for {task_id} in dag {dag.dag_id if dag else None} cannot be less than 1")
        self.pool_slots = pool_slots
        self.sla = sla
        self.execution_timeout = _as_timedelta(execution_timeout, "execution_timeout", task_id) if execution_timeout is not None else None
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute
        rule = str(getattr(trigger_rule, "value", trigger_rule))
        if not TriggerRule.is_valid(rule):
            raise AirflowException(
                f"The trigger_rule must be one of {sorted(TriggerRule.all_triggers())}, "
                f"'{dag.dag_id if dag else ''}.{task_id}'; received '{rule}'."
            )
        self.trigger_rule = rule
        self.resources = resources
        self.run_as_user = run_as_user
        self.max_active_tis_per_dag = max_active_tis_per_dag if max_active_tis_per_dag is not None else task_concurrency
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor_config = executor_config or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.inlets = as_list(inlets) if inlets else []
        self.outlets = as_list(outlets) if outlets else []
        self.doc, self.doc_md, self.doc_json, self.doc_yaml, self.doc_rst = doc, doc_md, doc_json, doc_yaml, doc_rst
        self.task_display_name = task_display_name
        self.executor = executor
        self.retry_policy = retry_policy
        self.map_index_template = map_index_template
        self.default_args = default_args or {}
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self._dag: DAG | None = None
        self.task_group: TaskGroup | None = group
        self.params = ParamsDict(params) if not isinstance(params, ParamsDict) else params
        if not detached:
            self._created_at = _creation_site()
            context_stack.register(self)
        if dag is not None and not detached:
            self.dag = dag
            if group is not None:
                group.add(self)

    # -- identity ---------------------------------------------------------------------------

    @staticmethod
    def _validate_task_id(task_id: Any) -> None:
        if not isinstance(task_id, str) or not _TASK_ID_RE.match(task_id) or len(task_id) > 250:
            raise AirflowException(
                f"task_id {task_id!r} is invalid: use only letters, digits, dashes, dots and underscores (max 250)"
            )

    @property
    def log(self) -> logging.Logger:
        """The task's logger, as Airflow's ``self.log`` (``airflow.task.operators.<module>.<class>``)."""
        return self.__dict__.get("_log") or logging.getLogger(f"airflow.task.operators.{type(self).__module__}.{type(self).__name__}")

    @log.setter
    def log(self, logger: logging.Logger) -> None:
        self.__dict__["_log"] = logger

    @property
    def operator_name(self) -> str:
        """The name shown as the task's operator."""
        return self.custom_operator_name or type(self).__name__

    @property
    def task_type(self) -> str:
        """Airflow's ``task_type``: the class name."""
        return type(self).__name__

    @property
    def label(self) -> str:
        """The task id without its TaskGroup prefix."""
        group = self.task_group
        if group is not None and group.group_id and group.prefix_group_id and self.task_id.startswith(group.group_id + "."):
            return self.task_id[len(group.group_id) + 1 :]
        return self.task_id

    @property
    def dag(self) -> DAG:
        """The DAG the task belongs to; raises if it has none."""
        if self._dag is None:
            raise AirflowException(f"Operator {self.task_id!r} has not been assigned to a DAG yet")
        return self._dag

    @dag.setter
    def dag(self, dag: DAG) -> None:
        if self._dag is dag:
            return
        if self._dag is not None:
            raise AirflowException(f"The DAG assigned to {self.task_id!r} can not be changed.")
        self._dag = dag
        dag.add_task(self)

    @property
    def dag_id(self) -> str:
        """The id of the task's DAG (``adhoc_<owner>`` when it has none, as Airflow says)."""
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    def has_dag(self) -> bool:
        """Whether the task belongs to a DAG."""
        return self._dag is not None

    # -- wiring -----------------------------------------------------------------------------

    @property
    def roots(self) -> list[BaseOperator]:
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self]

    def _resolve_relatives(self, other: Any, upstream: bool) -> list[BaseOperator]:
        out: list[BaseOperator] = []
        for item in as_list(other):
            item.update_relative(self, not upstream)
            if isinstance(item, BaseOperator):
                out.append(item)
            elif hasattr(item, "leaves") and hasattr(item, "roots"):
                out.extend(item.leaves if upstream else item.roots)
            else:
                raise AirflowException(f"Relationships can only be set between operators; received {type(item).__name__}")
        return out

    def _set_relatives(self, other: Any, upstream: bool, edge_modifier: Any = None) -> None:
        from runtime.sdk.edges import EdgeModifier

        if isinstance(other, EdgeModifier):
            other.attach(self, upstream)
            return
        tasks = self._resolve_relatives(other, upstream)
        dags = {t._dag for t in tasks + [self] if t._dag is not None}
        if len(dags) > 1:
            raise AirflowException(f"Tried to set relationships between tasks in more than one DAG: {sorted(d.dag_id for d in dags)}")
        if not dags:
            raise AirflowException(
                "Tried to create relationships between tasks that don't have DAGs yet. "
                "Set the DAG for at least one task and try again: " + ", ".join(t.task_id for t in tasks + [self])
            )
        dag = dags.pop()
        for task in tasks + [self]:
            if task._dag is None:
                task.dag = dag
        site = _creation_site()[1]
        for task in tasks:
            up_id, down_id = (task.task_id, self.task_id) if upstream else (self.task_id, task.task_id)
            dag.edge_lines.setdefault((up_id, down_id), site)  # where each edge was made (cycle reports)
            if upstream:
                self.upstream_task_ids.add(task.task_id)
                task.downstream_task_ids.add(self.task_id)
                if edge_modifier is not None:
                    dag.set_edge_info(task.task_id, self.task_id, {"label": edge_modifier.label})
            else:
                self.downstream_task_ids.add(task.task_id)
                task.upstream_task_ids.add(self.task_id)
                if edge_modifier is not None:
                    dag.set_edge_info(self.task_id, task.task_id, {"label": edge_modifier.label})

    def set_upstream(self, other: Any, edge_modifier: Any = None) -> None:
        """Make ``other`` (a task, list, group or XComArg) run before this task."""
        self._set_relatives(other, upstream=True, edge_modifier=edge_modifier)

    def set_downstream(self, other: Any, edge_modifier: Any = None) -> None:
        """Make ``other`` run after this task."""
        self._set_relatives(other, upstream=False, edge_modifier=edge_modifier)

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self.dag.get_task(t) for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self.dag.get_task(t) for t in sorted(self.downstream_task_ids)]

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        """Ids of the direct upstream (or downstream) tasks."""
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Ids of every task reachable upstream (or downstream)."""
        seen: set[str] = set()
        todo = list(self.get_direct_relative_ids(upstream))
        while todo:
            tid = todo.pop()
            if tid in seen:
                continue
            seen.add(tid)
            todo.extend(self.dag.get_task(tid).get_direct_relative_ids(upstream))
        return seen

    def get_flat_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return [self.dag.get_task(t) for t in self.get_flat_relative_ids(upstream)]

    @property
    def priority_weight_total(self) -> int:
        """Effective priority by weight_rule (downstream sums every downstream task)."""
        if self.weight_rule == "absolute" or self._dag is None:
            return self.priority_weight
        relatives = self.get_flat_relative_ids(upstream=self.weight_rule == "upstream")
        return self.priority_weight + sum(self.dag.get_task(t).priority_weight for t in relatives)

    # -- setup and teardown -------------------------------------------------------------------

    _is_setup = False
    _is_teardown = False
    _on_failure_fail_dagrun = False

    @property
    def is_setup(self) -> bool:
        """Whether this is a setup task."""
        return self._is_setup

    @property
    def is_teardown(self) -> bool:
        """Whether this is a teardown task."""
        return self._is_teardown

    @property
    def on_failure_fail_dagrun(self) -> bool:
        """A teardown whose failure fails the run (teardown failures are ignored otherwise)."""
        return self._on_failure_fail_dagrun

    def as_setup(self) -> BaseOperator:
        """Mark this task as a setup task."""
        from runtime.sdk.setup_teardown import mark_setup

        return mark_setup(self)

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> BaseOperator:
        """Mark this task as the teardown of ``setups``."""
        from runtime.sdk.setup_teardown import mark_teardown

        return mark_teardown(self, setups, on_failure_fail_dagrun)

    def __enter__(self) -> BaseOperator:
        from runtime.sdk.setup_teardown import enter_scope

        if not (self.is_setup or self.is_teardown):
            raise AirflowException(f"Only setup/teardown tasks can be used as context managers ({self.task_id!r} is neither)")
        enter_scope(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        from runtime.sdk.setup_teardown import exit_scope

        exit_scope(self)

    # -- XCom and templating -----------------------------------------------------------------

    @property
    def output(self) -> Any:
        """The task's return value as an XComArg."""
        from runtime.sdk.xcom_arg import XComArg

        return XComArg(self)

    def xcom_push(self, context: Any, key: str, value: Any) -> None:
        """Push an XCom from inside ``execute``."""
        context["ti"].xcom_push(key=key, value=value)

    def xcom_pull(self, context: Any, task_ids: Any = None, dag_id: str | None = None, key: str = "return_value", include_prior_dates: bool | None = None) -> Any:
        """Pull an XCom from inside ``execute``."""
        return context["ti"].xcom_pull(task_ids=task_ids, dag_id=dag_id, key=key)

    def get_template_env(self) -> Any:
        """The Jinja environment of the task's DAG."""
        from runtime.sdk.templating import make_environment

        return self.dag.get_template_env() if self._dag is not None else make_environment()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render every field in ``template_fields`` in place."""
        from runtime.sdk.templating import render_fields

        render_fields(self, context, jinja_env or self.get_template_env())

    def render_template(self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None) -> Any:
        """Render one value (strings, containers, XComArgs) with ``context``."""
        from runtime.sdk.templating import render_value

        return render_value(self, content, context, jinja_env or self.get_template_env(), seen_oids or set())

    def prepare_template(self) -> None:
        """Hook run before templates are rendered."""

    def resolve_template_files(self) -> None:
        """Kept for Airflow compatibility: template files are read when rendering."""

    # -- execution ----------------------------------------------------------------------------

    def pre_execute(self, context: Any) -> None:
        """Runs before ``execute``."""
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def execute(self, context: Any) -> Any:
        """Do the task's work; the return value becomes the ``return_value`` XCom."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def post_execute(self, context: Any, result: Any = None) -> None:
        """Runs after ``execute``."""
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self) -> None:
        """Called when the task is killed (timeout, stop): release what execute started."""

    def defer(self, *, trigger: Any, method_name: str = "__trigger_exit__", kwargs: dict[str, Any] | None = None,
              timeout: timedelta | None = None) -> Any:
        """Suspend this task until ``trigger`` fires, freeing its worker slot; then ``method_name`` runs with
        ``kwargs`` and the trigger's ``event`` (Airflow's deferral)."""
        from runtime.sdk.exceptions import TaskDeferred

        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Continue after a deferral: the method the deferral named, or the failure the trigger reported."""
        from runtime.sdk.exceptions import TaskDeferralError, TaskDeferralTimeout

        kwargs = dict(next_kwargs or {})
        if next_method == "__fail__":
            error = kwargs.get("error", "Unknown")
            traceback = "\n".join(kwargs.get("traceback") or [])
            if error == "Trigger/execution timeout":
                raise TaskDeferralTimeout(error)
            raise TaskDeferralError(f"Trigger failure: {error}" + (f"\n{traceback}" if traceback else ""))
        return getattr(self, next_method)(context, **kwargs)

    def dry_run(self) -> None:
        """Kept for Airflow compatibility."""

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Start a mapped task: fixed arguments now, ``.expand(...)`` for the mapped ones."""
        from runtime.sdk.mapping import OperatorPartial

        return OperatorPartial(cls, kwargs)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    def __deepcopy__(self, memo: dict[int, Any]) -> BaseOperator:
        import copy

        cls = self.__class__
        result = cls.__new__(cls)
        memo[id(self)] = result
        shallow = set(self.shallow_copy_attrs) | {"_dag", "task_group", "python_callable"}
        for key, value in self.__dict__.items():
            setattr(result, key, value if key in shallow else copy.deepcopy(value, memo))
        return result


def _default_retries() -> int:
    import os

    raw = os.environ.get("WINDSOCK__CORE__DEFAULT_TASK_RETRIES") or os.environ.get("AIRFLOW__CORE__DEFAULT_TASK_RETRIES")
    return int(raw) if raw else 0


def _as_timedelta(value: Any, name: str, task_id: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise AirflowException(f"task {task_id!r}: {name} must be a timedelta or a number of seconds, got {value!r}")


BaseOperator.__init__ = apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]


class BaseOperatorLink:
    """Kept for imports: extra links are not shown by Windsock yet."""

    name = ""

    def get_link(self, operator: BaseOperator, *, ti_key: Any = None) -> str:
        return ""
