"""One try on the task side: find its DAG, run it, say how it ended; callbacks of dead tries.

Shared by every executor: the local fork server's children, the SQS worker's children and the
in-process sequential executor. The end of a try becomes a :class:`record.TryOutcome`, which
the executor records (``record.record``) before it tells anyone.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime
from typing import Any

from runtime.executors.messages import RESULT, CallbackWork, TaskEvent, TaskWork, iso, parse_iso
from runtime.rules.failures import RetryPolicy, after_crash
from runtime.sdk import timezone
from runtime.sdk.dag import DAG
from runtime.sdk.taskinstance import DagRunInfo
from runtime.store.states import TI
from runtime.worker.outcome import TryOutcome


def dag_run_info(run: dict[str, Any]) -> DagRunInfo:
    """The run as task code sees it, from a work message."""
    return DagRunInfo(
        dag_id=run["dag_id"], run_id=run["run_id"], logical_date=_dt(run["logical_date"]),
        data_interval_start=_dt(run.get("data_interval_start") or run["logical_date"]),
        data_interval_end=_dt(run.get("data_interval_end") or run["logical_date"]),
        run_type=run.get("run_type", "manual"), conf=dict(run.get("conf") or {}),
        external_trigger=bool(run.get("external_trigger")), start_date=parse_iso(run.get("start_date")),
    )


def _dt(text: str) -> Any:
    value = parse_iso(text)
    assert value is not None
    return value


class DagFiles:
    """Loaded DAG files, cached by path and modification time."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, DAG], str | None]] = {}

    def get(self, fileloc: str, dag_id: str) -> DAG:
        """The DAG ``dag_id`` of ``fileloc``; RuntimeError naming the file when it cannot be had."""
        mtime = os.stat(fileloc).st_mtime
        cached = self._cache.get(fileloc)
        if cached is None or cached[0] != mtime:
            cached = (mtime, *self._load(fileloc))
            self._cache[fileloc] = cached
        dags, error = cached[1], cached[2]
        if dag_id not in dags:
            raise RuntimeError(error or f"DAG {dag_id!r} is not in {fileloc} any more")
        return dags[dag_id]

    def version(self, fileloc: str) -> float | None:
        """The modification time of the loaded copy of ``fileloc`` (None: not loaded)."""
        cached = self._cache.get(fileloc)
        return cached[0] if cached else None

    def peek(self, fileloc: str, dag_id: str) -> DAG | None:
        """The DAG if it is loaded already (never loads: safe in a process that must not run user code)."""
        cached = self._cache.get(fileloc)
        return cached[1].get(dag_id) if cached else None

    def forget(self, fileloc: str) -> None:
        """Drop a file from the cache (it failed to load here; load it again next time)."""
        self._cache.pop(fileloc, None)

    def load(self, fileloc: str, dag_id: str, timeout: float) -> DAG | None:
        """The DAG, loaded here within ``timeout`` seconds (``core.dag_file_processor_timeout``: SIGALRM, main
        thread); None, with the reason printed, when the file cannot give it (user code at import time)."""
        cached = self._cache.get(fileloc)
        if cached is not None and dag_id in cached[1]:
            try:
                if os.stat(fileloc).st_mtime == cached[0]:  # loaded and unchanged: no timer to set
                    return cached[1][dag_id]
            except OSError:
                pass
        import signal

        def expired(signum: int, frame: Any) -> None:
            raise TimeoutError("loading the DAG file took longer than core.dag_file_processor_timeout")

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self.get(fileloc, dag_id)
        except BaseException as exc:  # noqa: BLE001 - whatever the file raises; the try reports it
            print(f"[windsock] executor: cannot load {fileloc}: {exc}", file=sys.stderr)
            self.forget(fileloc)
            return None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @staticmethod
    def _load(fileloc: str) -> tuple[dict[str, DAG], str | None]:
        from runtime.loader import load_file

        result = load_file(fileloc)
        return {d.dag_id: d for d in result.dags}, (str(result.error) if result.error else None)


def run_work(work: TaskWork, dag: DAG, services: Any, *, hostname: str, settings: Any = None,
             private_copy: bool = True, run: DagRunInfo | None = None) -> TaskEvent:
    """Run the claimed try in this process; the ``result`` event that reports its end.

    ``private_copy=False``: this process is a forked child that owns ``dag`` (see ``run_task``); ``run``:
    ``work.run`` built already (``dag_run_info``), by the process this one was forked from."""
    from runtime.worker.runner import run_task

    task = dag.get_task(work.task_id)
    if task.retries > 0:
        task.retries = max(task.retries, work.max_tries)  # a clear raised max_tries: more tries allowed
    start = timezone.utcnow()
    result = run_task(task, run or dag_run_info(work.run), services, map_index=work.map_index, try_number=work.try_number,
                      hostname=hostname, first_try_start=parse_iso(work.first_try_start),
                      next_method=work.next_method, next_kwargs=work.next_kwargs, private_copy=private_copy)
    if settings is not None and result.state in (TI.FAILED, TI.UP_FOR_RETRY):
        _mail(settings, task, work, result.state, result.error)
    return TaskEvent(
        ti_id=work.ti_id, try_number=work.try_number, outcome=RESULT, state=result.state,
        error=_short(result.error), next_attempt_at=iso(result.next_attempt_at),
        skip_task_ids=sorted(result.skip_task_ids), rendered_fields=result.rendered_fields,
        start_date=iso(start), end_date=iso(result.end or timezone.utcnow()), pid=os.getpid(), hostname=hostname,
        dag_id=work.dag_id, run_id=work.run_id, task_id=work.task_id, map_index=work.map_index,
        asset_events=result.asset_events, deferral=result.deferral,
    )


def retry_policy(task: Any) -> RetryPolicy:
    """The retry settings of a live operator."""
    return RetryPolicy(int(task.retries or 0), task.retry_delay, bool(task.retry_exponential_backoff), task.max_retry_delay)


def outcome_of(work: TaskWork, event: TaskEvent | None, *, start: datetime | None, now: datetime, dag: DAG | None,
               hostname: str, pid: int | None = None, why: str = "", interrupted: bool = False,
               fail_stop: bool | None = None) -> TryOutcome:
    """The outcome of ``work``'s try from its child's ``result`` event, or, without one, from how it died
    (``dag``: its retry settings; ``fail_stop``, if given, is the DAG's, else read from ``dag``)."""
    if fail_stop is None:
        fail_stop = bool(dag and getattr(dag, "fail_stop", False))
    common: dict[str, Any] = {"ti_id": work.ti_id, "try_number": work.try_number, "dag_id": work.dag_id, "run_id": work.run_id,
              "task_id": work.task_id, "map_index": work.map_index, "start": start, "hostname": hostname,
              "fail_stop": fail_stop}
    if event is not None and event.outcome == RESULT and event.state:
        return TryOutcome(**common, state=event.state, end=parse_iso(event.end_date) or now, error=event.error,
                          next_attempt_at=parse_iso(event.next_attempt_at), skip_task_ids=list(event.skip_task_ids),
                          rendered_fields=event.rendered_fields or None, pid=event.pid or pid,
                          asset_events=list(event.asset_events), deferral=event.deferral)
    if interrupted:
        return TryOutcome(**common, state=TI.SCHEDULED, end=now, error=f"interrupted: {why}", pid=pid)
    task = _task(dag, work.task_id)
    policy = retry_policy(task) if task is not None else RetryPolicy(retries=work.max_tries)
    key = f"{work.dag_id}#{work.task_id}#{work.run_id}#{work.map_index}"
    state, next_at = after_crash(policy, max_tries=work.max_tries, try_number=work.try_number, key=key, now=now)
    return TryOutcome(**common, state=state, end=now, error=(event.error if event else None) or why,
                      next_attempt_at=next_at, pid=pid, crashed=True)


def _task(dag: DAG | None, task_id: str) -> Any:
    try:
        return dag.get_task(task_id) if dag is not None else None
    except Exception:  # noqa: BLE001 - the task left the DAG
        return None


def load_failed_event(work: TaskWork, error: str, *, hostname: str) -> TaskEvent:
    """A try that could not start (its DAG file is gone or broken): it fails as a crash of the task would."""
    print(error, file=sys.stderr)
    now = iso(timezone.utcnow())
    return TaskEvent(ti_id=work.ti_id, try_number=work.try_number, outcome="crashed", error=error,
                     start_date=now, end_date=now, pid=os.getpid(), hostname=hostname, dag_id=work.dag_id,
                     run_id=work.run_id, task_id=work.task_id, map_index=work.map_index)


def callback_for(outcome: TryOutcome, dag: DAG | None, run: dict[str, Any]) -> CallbackWork | None:
    """The dead try's own on_failure/on_retry callback (and e-mail), if its task has any."""
    task = _task(dag, outcome.task_id)
    if task is None or outcome.state not in (TI.FAILED, TI.UP_FOR_RETRY) or dag is None:
        return None
    failed = outcome.state == TI.FAILED
    wants = (task.on_failure_callback if failed else task.on_retry_callback) or (
        task.email and (task.email_on_failure if failed else task.email_on_retry))
    if not wants:
        return None
    return CallbackWork(outcome.dag_id, dag.fileloc, run, outcome.state, outcome.error or "", task_id=outcome.task_id,
                        map_index=outcome.map_index, try_number=outcome.try_number)


def run_callback(cb: CallbackWork, dag: DAG, services: Any = None, settings: Any = None) -> None:
    """Call a finished run's DAG-level callback, or a dead try's task-level one (``cb.task_id``) and its e-mail."""
    if cb.task_id is not None:
        _task_callback(cb, dag, services, settings)
        return
    callback = dag.on_success_callback if cb.state == TI.SUCCESS else dag.on_failure_callback
    run = dag_run_info(cb.run)
    run.state = cb.state
    context = {"dag": dag, "dag_run": run, "run_id": run.run_id, "reason": cb.reason, "logical_date": run.logical_date,
               "ds": run.logical_date.strftime("%Y-%m-%d"), "ts": run.logical_date.isoformat()}
    _call(callback, context)


def _task_callback(cb: CallbackWork, dag: DAG, services: Any, settings: Any) -> None:
    """The task's on_failure/on_retry callback with the try's context and the cause as ``exception``."""
    from runtime.sdk.context import build_context
    from runtime.sdk.exceptions import AirflowException
    from runtime.sdk.taskinstance import TaskInstance as RuntimeTI
    from runtime.worker.runner import resolve_params

    task = dag.get_task(cb.task_id or "")
    run = dag_run_info(cb.run)
    ti = RuntimeTI(task, run, services, map_index=cb.map_index, try_number=cb.try_number)
    ti.state = cb.state
    context = build_context(ti, resolve_params(task, run))
    context["exception"] = AirflowException(cb.reason)
    _call(task.on_failure_callback if cb.state == TI.FAILED else task.on_retry_callback, context)
    if settings is not None:
        work = TaskWork(0, cb.dag_id, task.task_id, run.run_id, cb.map_index, cb.try_number, 0, cb.fileloc, cb.run)
        _mail(settings, task, work, cb.state, cb.reason)


def _mail(settings: Any, task: Any, work: TaskWork, state: str, error: str | None) -> None:
    """Airflow's failure/retry e-mail, sent from the task side (the scheduler never talks SMTP)."""
    flag = task.email_on_failure if state == TI.FAILED else task.email_on_retry
    if not flag or not task.email:
        return
    from runtime.paths import task_log_path
    from runtime.worker.mail import compose, deliver

    to = [task.email] if isinstance(task.email, str) else list(task.email)
    log = task_log_path(str(settings.get("logging", "base_log_folder")), work.dag_id, work.run_id, work.task_id,
                        work.map_index, work.try_number)
    msg = compose(sender=str(settings.get("smtp", "smtp_mail_from")), to=to, state=state, label=work.label,
                  error=error, log=log)
    try:
        deliver(settings, msg)
    except Exception as exc:  # noqa: BLE001 - a mail failure is logged, never fatal
        print(f"[windsock] e-mail to {msg['To']} failed: {exc}", file=sys.stderr)


def _call(callback: Any, context: dict[str, Any]) -> None:
    for fn in callback if isinstance(callback, (list, tuple)) else [callback]:
        if fn is None:
            continue
        try:
            fn(context)
        except Exception:  # noqa: BLE001 - a broken callback is logged; the run keeps its state
            traceback.print_exc()


def _short(error: str | None, limit: int = 8000) -> str | None:
    return error if error is None or len(error) <= limit else error[-limit:]
