"""Run one try of a task in the current process and report how it ended."""

from __future__ import annotations

import copy
import json
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.rules import retries
from runtime.sdk import timezone
from runtime.sdk.assets import outlet_events_of
from runtime.sdk.baseoperator import BaseOperator
from runtime.sdk.context import build_context, reset_current_context, set_current_context
from runtime.sdk.exceptions import AirflowTaskTerminated, AirflowTaskTimeout
from runtime.sdk.retry_policy import RetryAction, decide
from runtime.sdk.services import RuntimeServices
from runtime.sdk.taskinstance import DagRunInfo, TaskInstance
from runtime.sdk.xcom_arg import RETURN_KEY
from runtime.store.states import TI
from runtime.worker.outcome import Outcome, TryResult, classify


@dataclass
class _Phase:
    """Where this process's try is: before its work, executing it, or done (reporting)."""

    name: str = "before"  # "before" | "executing" | "after"
    op: BaseOperator | None = None
    terminated: bool = False


_PHASE = _Phase()


def on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM from the executor (a stop or a handover): interrupt the try, unless its work is done.

    While the task executes, an operator that stops its own work on ``on_kill`` (BashOperator) is
    asked to, and reports what its work really did; any other is interrupted at once. Once the
    work returned, the try reports its result: a finished command is never run twice.
    """
    _PHASE.terminated = True
    if _PHASE.name == "after":
        return
    op = _PHASE.op
    if _PHASE.name == "executing" and op is not None and getattr(op, "stops_on_kill", False):
        op.on_kill()
        return
    raise AirflowTaskTerminated("the executor stopped the try (SIGTERM)")


def run_task(
    task: BaseOperator,
    dag_run: DagRunInfo,
    services: RuntimeServices,
    *,
    map_index: int = -1,
    try_number: int = 1,
    hostname: str = "",
    clock: Callable[[], datetime] = timezone.utcnow,
    first_try_start: datetime | None = None,
    test_mode: bool = False,
    next_method: str | None = None,
    next_kwargs: dict[str, Any] | None = None,
    private_copy: bool = True,
) -> TryResult:
    """Render and execute ``task`` for ``dag_run`` (after a deferral: resume it at ``next_method``);
    never raises for a failure of the task.

    Rendering mutates the operator, so it runs on a deep copy unless ``private_copy`` is False: a
    forked child whose DAG objects nobody else will use renders the DAG's own task in place, as
    Airflow 3's task runner does in its process (and saves the copy, about a tenth of a no-op try).
    """
    _PHASE.name, _PHASE.op = "before", None
    start = clock()
    policy_delay = None
    deferral: dict[str, Any] | None = None
    ti: TaskInstance | None = None
    context: dict[str, Any] = {}
    token = None
    try:
        op = _prepare_operator(task, dag_run, services, map_index, try_number, hostname, start, private_copy)
        ti = TaskInstance(op, dag_run, services, map_index=map_index, try_number=try_number, hostname=hostname, start_date=start)
        ti.first_try_start = first_try_start or start  # type: ignore[attr-defined]
        context = build_context(ti, resolve_params(op, dag_run))
        context["test_mode"] = test_mode
        token = set_current_context(context)
        result = _execute(op, ti, context, next_method, next_kwargs)
        outcome, error, reschedule = Outcome.SUCCESS, None, None
        if op.do_xcom_push and result is not None:
            ti.xcom_push(RETURN_KEY, result)
    except BaseException as exc:  # noqa: BLE001 - any failure of user code ends the try, not the runner
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome, error, reschedule = classify(exc)
        if outcome is Outcome.DEFERRED:
            deferral, error = _deferral(exc, ti, start)
            outcome = Outcome.DEFERRED if deferral is not None else Outcome.FAILED
        outcome, policy_delay = _apply_retry_policy(ti, exc, outcome, try_number, context)
        if _PHASE.terminated and outcome in (Outcome.FAILED, Outcome.FAILED_NO_RETRY):
            last = (error or "").strip().splitlines()[-1:]  # the failure the stop caused
            outcome, error = Outcome.INTERRUPTED, "interrupted by the executor" + (f" ({last[0]})" if last else "")
        if outcome is Outcome.INTERRUPTED and ti is not None:
            _on_kill(ti.task)
        if outcome in (Outcome.FAILED, Outcome.FAILED_NO_RETRY):
            traceback.print_exception(exc, file=sys.stdout)
        elif outcome is Outcome.SKIPPED:
            print(f"Task skipped: {exc}")
        context["exception"] = exc
    finally:
        _PHASE.name, _PHASE.op = "after", None
        if token is not None:
            reset_current_context(token)
    end = clock()
    res = TryResult(outcome, error, reschedule, set(ti.skip_task_ids) if ti else set(), end=end)
    res.retry_delay = policy_delay if outcome is Outcome.FAILED else None
    res.deferral = deferral if outcome is Outcome.DEFERRED else None
    if outcome is Outcome.SUCCESS and ti is not None:
        res.asset_events = outlet_events_of(ti.task.outlets, context["outlet_events"])
    res.rendered_fields = _rendered(ti.task) if ti else {}
    _finalize(res, task, dag_run, map_index, try_number, end)
    if res.outcome is Outcome.INTERRUPTED:
        print(f"Task interrupted by its executor: it runs again as try {try_number + 1}, without using a retry.")
        return res
    if res.outcome is Outcome.DEFERRED and res.deferral is not None:
        print(f"Pausing task as DEFERRED. dag_id={dag_run.dag_id}, task_id={task.task_id}, run_id={dag_run.run_id}, "
              f"map_index={map_index}, try_number={try_number}; waiting on {res.deferral['classpath']}")
        return res
    if ti is not None:
        _run_callbacks(ti.task, res, context)
    print(f"Marking task as {res.state.upper()}. dag_id={dag_run.dag_id}, task_id={task.task_id}, run_id={dag_run.run_id}, map_index={map_index}, try_number={try_number}")
    return res


def _deferral(exc: BaseException, ti: TaskInstance | None, start: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """What a deferred try waits on, as stored: trigger classpath and kwargs, the method to resume at, and
    the deadline (the deferral's timeout, or what is left of ``execution_timeout``); or the error that
    makes the deferral impossible (a trigger that cannot be stored)."""
    from runtime.serde import encode

    trigger = getattr(exc, "trigger", None)
    try:
        classpath, raw = trigger.serialize()  # type: ignore[union-attr]
        kwargs, method_kwargs = encode(dict(raw)), encode(dict(getattr(exc, "kwargs", None) or {}))
        json.dumps([kwargs, method_kwargs])
    except Exception as err:  # noqa: BLE001 - a user trigger that does not serialize fails the try
        return None, f"TaskDeferred: the trigger {trigger!r} cannot be stored: {type(err).__name__}: {err}"
    deadlines = []
    timeout = getattr(exc, "timeout", None)
    if timeout is not None:
        deadlines.append(timezone.utcnow() + timeout)
    limit = ti.task.execution_timeout if ti is not None else None
    if limit is not None:
        deadlines.append((getattr(ti, "first_try_start", None) or start) + limit)
    return {"classpath": classpath, "kwargs": kwargs, "method": getattr(exc, "method_name", "__trigger_exit__"),
            "method_kwargs": method_kwargs,
            "timeout": min(deadlines).isoformat() if deadlines else None}, None


def _on_kill(op: BaseOperator) -> None:
    """Let the operator stop what it started (a subprocess, a remote job), as Airflow does on SIGTERM."""
    try:
        op.on_kill()
    except Exception:  # noqa: BLE001 - a broken on_kill must not hide the interruption
        traceback.print_exc(file=sys.stdout)


def _prepare_operator(task: BaseOperator, dag_run: DagRunInfo, services: RuntimeServices, map_index: int,
                      try_number: int, hostname: str, start: datetime, private_copy: bool) -> BaseOperator:
    """The operator to render and run: mapped tasks are unmapped (a new object), others copied if asked."""
    if getattr(task, "is_mapped", False):
        probe = TaskInstance(task, dag_run, services, map_index=map_index, try_number=try_number, hostname=hostname, start_date=start)
        return task.unmap(build_context(probe, resolve_params(task, dag_run)), map_index)  # type: ignore[attr-defined]
    return copy.deepcopy(task) if private_copy else task


def resolve_params(task: BaseOperator, dag_run: DagRunInfo) -> dict[str, Any]:
    """DAG params, then task params, then the run's conf (Airflow's dag_run_conf_overrides_params)."""
    dag_params = task.dag.params if task.has_dag() else None
    if not task.params and not dag_params:  # nothing declared: the run's conf adds no params either
        return {}
    merged = dag_params.copy() if dag_params is not None else type(task.params)()
    merged.update(task.params)
    return merged.resolve(dag_run.conf or {})


def _execute(op: BaseOperator, ti: TaskInstance, context: dict[str, Any], next_method: str | None,
             next_kwargs: dict[str, Any] | None) -> Any:
    op._windsock_ti = ti  # type: ignore[attr-defined]
    op.render_template_fields(context)
    _call_all(op.on_execute_callback, context)
    op.pre_execute(context)
    if op.execution_timeout is None:
        result = _work(op, context, next_method, next_kwargs)
    else:
        with _timeout(op.execution_timeout, op):
            result = _work(op, context, next_method, next_kwargs)
    op.post_execute(context, result)
    return result


def _work(op: BaseOperator, context: dict[str, Any], next_method: str | None, next_kwargs: dict[str, Any] | None) -> Any:
    _PHASE.name, _PHASE.op = "executing", op
    if next_method:
        from runtime.serde import decode

        result = op.resume_execution(next_method, decode(next_kwargs or {}), context)
    else:
        result = op.execute(context)
    _PHASE.name = "after"
    return result


@contextmanager
def _timeout(limit: timedelta | None, op: BaseOperator) -> Iterator[None]:
    """Raise AirflowTaskTimeout in this thread after ``limit`` (SIGALRM; main thread only)."""
    if limit is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds = max(limit.total_seconds(), 0.001)

    def on_alarm(signum: int, frame: Any) -> None:
        raise AirflowTaskTimeout(f"Timeout, PID: {__import__('os').getpid()} (execution_timeout={limit})")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except AirflowTaskTimeout:
        op.on_kill()
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _finalize(res: TryResult, task: BaseOperator, dag_run: DagRunInfo, map_index: int, try_number: int, end: datetime) -> None:
    """Turn the outcome into the task instance's next state (retries considered)."""
    if res.outcome is Outcome.INTERRUPTED:
        res.state = TI.SCHEDULED.value
    elif res.outcome is Outcome.FAILED and retries.can_retry(try_number, task.retries):
        wait = res.retry_delay if res.retry_delay is not None else retries.retry_delay(
            delay=task.retry_delay, exponential=task.retry_exponential_backoff, max_delay=task.max_retry_delay,
            try_number=try_number, key=f"{dag_run.dag_id}#{task.task_id}#{dag_run.logical_date.isoformat()}#{map_index}",
        )
        res.state, res.next_attempt_at = TI.UP_FOR_RETRY.value, retries.next_retry_at(end, wait)
    elif res.outcome in (Outcome.FAILED, Outcome.FAILED_NO_RETRY):
        res.state = TI.FAILED.value
    elif res.outcome is Outcome.RESCHEDULE:
        res.state, res.next_attempt_at = TI.UP_FOR_RESCHEDULE.value, res.reschedule_date
    else:
        res.state = res.outcome.value


def _apply_retry_policy(ti: TaskInstance | None, exc: BaseException, outcome: Outcome, try_number: int,
                        context: dict[str, Any]) -> tuple[Outcome, Any]:
    """A task's ``retry_policy`` may fail a retryable failure now or change the next delay."""
    policy = getattr(ti.task, "retry_policy", None) if ti is not None else None
    if policy is None or outcome is not Outcome.FAILED:
        return outcome, None
    decision = decide(policy, exc, try_number, ti.max_tries if ti else 0, context)
    if decision.reason:
        print(f"Retry policy: {decision.action.value} ({decision.reason})")
    if decision.action is RetryAction.FAIL:
        return Outcome.FAILED_NO_RETRY, None
    return outcome, decision.retry_delay if decision.action is RetryAction.RETRY else None


def _run_callbacks(op: BaseOperator, res: TryResult, context: dict[str, Any]) -> None:
    callback = {
        TI.SUCCESS: op.on_success_callback,
        TI.FAILED: op.on_failure_callback,
        TI.UP_FOR_RETRY: op.on_retry_callback,
        TI.SKIPPED: getattr(op, "on_skipped_callback", None),
    }.get(TI(res.state))
    if callback and context:
        _call_all(callback, context, swallow=True)


def _call_all(callbacks: Any, context: dict[str, Any], swallow: bool = False) -> None:
    for callback in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
        if callback is None:
            continue
        try:
            callback(context)
        except Exception:  # noqa: BLE001 - a broken callback is logged; it does not change the state
            if not swallow:
                raise
            print("Error when executing callback:")
            traceback.print_exc(file=sys.stdout)


def _rendered(op: BaseOperator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in op.template_fields:
        value = getattr(op, name, None)
        out[name] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return out
