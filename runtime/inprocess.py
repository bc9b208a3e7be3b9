"""``windsock dags test``: run a whole DAG in this process, no scheduler and no database.

Dependencies, trigger rules, branching and skips, retries with their delays, sensors in
reschedule mode, mapping, XCom and templating behave as under the scheduler: the same pure
readiness rules and the same task runner decide.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime import serde
from runtime.rules.mapping import task_in_run
from runtime.rules.readiness import TaskNode, effective_leaves, run_state, verdicts
from runtime.rules.trigger_rules import Verdict
from runtime.sdk import timezone
from runtime.sdk.connection import Connection
from runtime.sdk.dag import DAG
from runtime.sdk.setup_teardown import relevant_setups
from runtime.sdk.taskinstance import DagRunInfo, TaskInstance
from runtime.store.states import RUN, TI
from runtime.worker.outcome import Outcome
from runtime.worker.runner import run_task

WAITING = (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)  # a try waiting for its time to come



class VariableMissing(KeyError):
    """A variable is neither in the environment nor in the in-memory store."""


class ConnectionMissing(KeyError):
    """A connection is neither in the environment nor in the in-memory store."""


@dataclass
class RunRecord:
    """A finished in-process run: its state and each task instance's state."""

    dag_id: str
    run_id: str
    logical_date: datetime
    state: str
    task_states: dict[tuple[str, int], str] = field(default_factory=dict)
    tries: dict[tuple[str, int], int] = field(default_factory=dict)


class MemoryServices:
    """RuntimeServices kept in memory; variables and connections come from the environment."""

    def __init__(self, environ: dict[str, str] | None = None, dag_lookup: Callable[[str], DAG | None] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.xcoms: dict[tuple[str, str, str, int, str], str] = {}
        self.variables: dict[str, str] = {}
        self.connections: dict[str, Connection] = {}
        self.runs: dict[tuple[str, str], RunRecord] = {}
        self.dag_lookup = dag_lookup
        self.events: list[dict[str, Any]] = []  # asset events recorded by successful tries

    def record_asset_events(self, dag_id: str, run_id: str, task_id: str, map_index: int, events: list[dict[str, Any]]) -> None:
        """Keep a successful try's outlet events (what ``inlet_events`` reads back)."""
        for event in events:
            self.events.append({**event, "source_alias_name": event.get("alias"), "source_dag_id": dag_id,
                                "source_task_id": task_id, "source_run_id": run_id, "source_map_index": map_index,
                                "timestamp": timezone.utcnow()})

    def asset_events(self, uri: str | None, alias: str | None) -> list[dict[str, Any]]:
        """Events of an asset (or through an alias) recorded in this process, oldest first."""
        return [e for e in self.events if (uri is None or e["uri"] == uri) and (alias is None or e.get("alias") == alias)]

    def xcom_set(self, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        # Stored as the database stores it, so dags test sees what the scheduler's tasks would get back.
        self.xcoms[(dag_id, run_id, task_id, map_index, key)] = serde.dumps(value)

    def xcom_get(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None) -> list[tuple[int, Any]]:
        return [
            (mi, serde.loads(raw))
            for (d, r, t, mi, k), raw in self.xcoms.items()
            if (d, r, t, k) == (dag_id, run_id, task_id, key) and (map_index is None or mi == map_index)
        ]

    def get_variable(self, key: str) -> str:
        for name in (f"WINDSOCK_VAR_{key.upper()}", f"AIRFLOW_VAR_{key.upper()}"):
            if name in self.environ:
                return self.environ[name]
        if key in self.variables:
            return self.variables[key]
        raise VariableMissing(f"Variable {key} does not exist")

    def get_connection(self, conn_id: str) -> Connection:
        for name in (f"WINDSOCK_CONN_{conn_id.upper()}", f"AIRFLOW_CONN_{conn_id.upper()}"):
            if name in self.environ:
                return Connection.from_uri(conn_id, self.environ[name])
        if conn_id in self.connections:
            return self.connections[conn_id]
        raise ConnectionMissing(f"The conn_id `{conn_id}` isn't defined")

    def trigger_dag(self, dag_id: str, run_id: str | None, conf: dict[str, Any] | None, logical_date: datetime | None, replace: bool) -> str:
        target = self.dag_lookup(dag_id) if self.dag_lookup else None
        if run_id is not None and (dag_id, run_id) in self.runs and not replace:
            from runtime.sdk.exceptions import DagRunAlreadyExists

            raise DagRunAlreadyExists(f"A DAG run of {dag_id} with run_id {run_id} already exists")
        if target is None:  # as Airflow 3's dags test: the run is created, nothing here runs it
            when = timezone.to_utc(logical_date or timezone.utcnow())
            run_id = run_id or f"manual__{when.isoformat()}"
            print(f"[windsock] DAG {dag_id!r} is not in the DAG folder: its run {run_id} stays queued (dags test runs only this folder)")
            self.runs[(dag_id, run_id)] = RunRecord(dag_id, run_id, when, RUN.QUEUED.value)
            return run_id
        record = run_dag(target, logical_date=logical_date, conf=conf, services=self, run_id=run_id, quiet=True)
        return record.run_id

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        record = self.runs.get((dag_id, run_id))
        if record is not None and record.state == RUN.QUEUED:  # a run of a DAG outside the folder never runs here
            raise KeyError(f"DAG {dag_id!r} is not in the DAG folder: dags test cannot wait for its run {run_id}")
        return record.state if record else None

    def task_states(self, dag_id: str, task_ids: Sequence[str] | None, logical_date: datetime) -> list[str | None]:
        for record in self.runs.values():
            if record.dag_id == dag_id and record.logical_date == logical_date:
                if task_ids is None:
                    return [record.state]
                return [s for (t, _), s in record.task_states.items() if t in task_ids] or [None] * len(task_ids)
        return [None] * (1 if task_ids is None else len(task_ids))

    def count_dag_runs(self, dag_id: str, logical_date: datetime, states: Sequence[str]) -> int:
        return sum(1 for r in self.runs.values() if r.dag_id == dag_id and r.logical_date == logical_date and r.state in states)


def make_run(dag: DAG, logical_date: datetime | None, conf: dict[str, Any] | None, run_id: str | None = None,
             now: datetime | None = None) -> DagRunInfo:
    """The run ``dags test`` makes: a manual run whose interval the timetable infers."""
    logical = timezone.to_utc(logical_date) if logical_date else timezone.to_utc(now or timezone.utcnow())
    interval = dag.infer_manual_data_interval(logical)
    return DagRunInfo(
        dag_id=dag.dag_id, run_id=run_id or f"manual__{logical.isoformat()}", logical_date=logical,
        data_interval_start=interval.start, data_interval_end=interval.end, run_type="manual",
        conf=dict(conf or {}), external_trigger=False, start_date=timezone.utcnow(),
    )


def run_dag(
    dag: DAG,
    logical_date: datetime | None = None,
    conf: dict[str, Any] | None = None,
    services: MemoryServices | None = None,
    run_id: str | None = None,
    quiet: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> RunRecord:
    """Run every task of ``dag`` once (with retries) in dependency order; return the states."""
    dag.check_cycle()
    dag.params.resolve(conf or {})  # ParamValidationError before anything runs, as Airflow's dags test
    services = services or MemoryServices()
    run = make_run(dag, logical_date, conf, run_id)
    setups = {t.task_id: relevant_setups(t) for t in dag.tasks} if any(t.is_setup for t in dag.tasks) else {}
    nodes = {t.task_id: TaskNode(t.task_id, t.trigger_rule, frozenset(t.upstream_task_ids), frozenset(setups.get(t.task_id, ())))
             for t in dag.tasks if task_in_run(t.start_date, t.end_date, run.logical_date, run.run_type)}
    if len(nodes) < len(dag.task_dict):
        late = sorted(set(dag.task_dict) - set(nodes))
        (print if not quiet else (lambda *_: None))(
            f"[windsock] no task instance for {', '.join(late)}: start_date after (or end_date before) the logical date")
    states: dict[tuple[str, int], str | None] = {(tid, -1): None for tid in nodes}
    tries: dict[tuple[str, int], int] = {}
    wait_until: dict[tuple[str, int], datetime] = {}
    first_start: dict[tuple[str, int], datetime] = {}
    record = RunRecord(dag.dag_id, run.run_id, run.logical_date, RUN.RUNNING.value)
    services.runs[(dag.dag_id, run.run_id)] = record
    say = (lambda *_: None) if quiet else print
    say(f"[windsock] dags test {dag.dag_id} run_id={run.run_id} logical_date={run.logical_date.isoformat()}")
    while True:
        pending = [k for k, s in states.items() if s is None]
        progressed = False
        for key, verdict in verdicts(nodes, states, pending).items():
            if verdict is Verdict.SKIP or verdict is Verdict.UPSTREAM_FAILED:
                states[key] = verdict.value
                say(f"[windsock] {key[0]}: {verdict.value}")
                progressed = True
            elif verdict is Verdict.RUN:
                states[key] = TI.SCHEDULED.value
                progressed = True
        if _expand_mapped(dag, run, services, states):
            progressed = True
        now = timezone.utcnow()
        runnable = sorted(
            (k for k, s in states.items() if s == TI.SCHEDULED or (s in WAITING and wait_until.get(k, now) <= now)),
            key=lambda k: (-dag.get_task(k[0]).priority_weight_total, k),
        )
        for key in runnable:
            _run_one(dag, run, services, key, states, tries, wait_until, first_start, say)
            progressed = True
            break  # re-evaluate readiness after every task, as the scheduler would
        if progressed:
            continue
        waiting = [wait_until[k] for k, s in states.items() if s in WAITING]
        if not waiting:
            break
        delay = max(0.0, (min(waiting) - timezone.utcnow()).total_seconds())
        say(f"[windsock] waiting {delay:.1f}s for the next retry or reschedule")
        sleep(delay)
    leaves = effective_leaves({t.task_id: (t.downstream_task_ids, t.is_teardown, t.on_failure_fail_dagrun)
                               for t in dag.tasks if t.task_id in nodes})
    final = run_state(states.values(), [s for (t, _), s in states.items() if t in leaves]) or RUN.FAILED.value
    record.state, record.task_states, record.tries = final, {k: v or "none" for k, v in states.items()}, tries
    _dag_callback(dag, run, final, say)
    say(f"[windsock] DAG run {run.run_id} finished: {final}")
    for (tid, mi), state in sorted(states.items()):
        say(f"  {tid}{'' if mi < 0 else f'[{mi}]'}: {state}")
    return record


def _run_one(dag: DAG, run: DagRunInfo, services: MemoryServices, key: tuple[str, int], states: dict, tries: dict,
             wait_until: dict, first_start: dict, say: Callable[..., None]) -> None:
    task = dag.get_task(key[0])
    rescheduled = states[key] == TI.UP_FOR_RESCHEDULE
    try_number = tries.get(key, 1) if rescheduled else tries.get(key, 0) + 1
    tries[key] = try_number
    if not rescheduled:  # a sensor's timeout counts from the start of the current try, as in Airflow
        first_start[key] = timezone.utcnow()
    say(f"[windsock] running {key[0]}{'' if key[1] < 0 else f'[{key[1]}]'} (try {try_number})")
    result = run_task(task, run, services, map_index=key[1], try_number=try_number, first_try_start=first_start[key])
    while result.outcome is Outcome.DEFERRED and result.deferral is not None:  # run the trigger here, then resume
        from runtime.sdk.triggers import services as trigger_services
        from runtime.triggerer.runner import run_inline

        trigger_services.use(services)
        say(f"[windsock] {key[0]}: deferred; running {result.deferral['classpath']} in this process")
        then = run_inline(result.deferral)
        if then.end_state is not None:
            for xcom_key, value in then.kwargs.items():
                services.xcom_set(run.dag_id, run.run_id, key[0], key[1], xcom_key, value)
            states[key] = then.end_state
            return
        result = run_task(task, run, services, map_index=key[1], try_number=try_number,
                          first_try_start=first_start[key], next_method=then.method, next_kwargs=then.kwargs)
    states[key] = result.state
    if result.asset_events:
        services.record_asset_events(run.dag_id, run.run_id, key[0], key[1], result.asset_events)
    if result.next_attempt_at is not None:
        wait_until[key] = result.next_attempt_at
    for skipped in result.skip_task_ids:
        for other in [k for k in states if k[0] == skipped and states[k] in (None, TI.SCHEDULED)]:
            states[other] = TI.SKIPPED.value


def _expand_mapped(dag: DAG, run: DagRunInfo, services: MemoryServices, states: dict) -> bool:
    """Replace a scheduled mapped task's placeholder by one instance per mapped input."""
    changed = False
    for (tid, mi), state in list(states.items()):
        task = dag.get_task(tid)
        if not getattr(task, "is_mapped", False) or mi != -1 or state != TI.SCHEDULED:
            continue
        probe = TaskInstance(task, run, services)
        from runtime.sdk.context import build_context

        length = task.expand_length(build_context(probe, {}))  # type: ignore[attr-defined]
        del states[(tid, -1)]
        if length == 0:
            states[(tid, -1)] = TI.SKIPPED.value
        for index in range(length):
            states[(tid, index)] = TI.SCHEDULED.value
        changed = True
    return changed


def _dag_callback(dag: DAG, run: DagRunInfo, final: str, say: Callable[..., None]) -> None:
    callback = dag.on_success_callback if final == RUN.SUCCESS else dag.on_failure_callback
    if not callback:
        return
    context = {"dag": dag, "dag_run": run, "run_id": run.run_id, "reason": final, "logical_date": run.logical_date}
    for cb in callback if isinstance(callback, list) else [callback]:
        try:
            cb(context)
        except Exception as exc:  # noqa: BLE001 - a failing callback is reported, the run stays as it ended
            say(f"[windsock] DAG {final} callback failed: {exc!r}")


def run_single_task(dag: DAG, task_id: str, logical_date: datetime | None, conf: dict[str, Any] | None = None,
              services: MemoryServices | None = None, map_index: int = -1) -> Any:
    """``tasks test``: run one task ignoring its dependencies, saving nothing."""
    services = services or MemoryServices()
    run = make_run(dag, logical_date, conf)
    return run_task(dag.get_task(task_id), run, services, map_index=map_index, test_mode=True)
