"""Named state transitions: the only way a task instance or DAG run changes state.

Each transition names the states it may start from and the states it may lead to (as
Prefect's orchestration rules and rq's registries do); :func:`ti` and :func:`run` refuse a
use outside them. Underneath, every change is a compare-and-set (``store/cas.py``): the
caller learns which rows it won. Transitions of one try (claim, finish, interrupt) also
check the try number, so a late or duplicate message never touches a newer try.
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from runtime.store import cas, schema
from runtime.store.sql import rowcount
from runtime.store.states import ACTIVE, FINISHED, RUN, TI

State = str | None


@dataclass(frozen=True)
class Transition:
    """A named state change: the states it may start from and the states it may lead to."""

    name: str
    sources: frozenset[State]
    targets: frozenset[State]

    def check(self, expected: Collection[State] | None, to: State | None) -> tuple[list[State], State]:
        """The from-states and the to-state of one use; ValueError if outside this transition."""
        sources = list(self.sources) if expected is None else list(expected)
        if not set(sources) <= self.sources:
            raise ValueError(f"transition {self.name!r} cannot start from {sorted(map(str, set(sources) - self.sources))}")
        target = to
        if to is None and None not in self.targets:  # no target given: the transition's only one
            if len(self.targets) != 1:
                raise ValueError(f"transition {self.name!r} leads to one of {sorted(map(str, self.targets))}: pass to=")
            target = next(iter(self.targets))
        if target not in self.targets:
            raise ValueError(f"transition {self.name!r} cannot lead to {target!r}")
        return sources, target


def _t(name: str, sources: Iterable[State], targets: Iterable[State]) -> Transition:
    return Transition(name, frozenset(sources), frozenset(targets))


_WAITING = (None, TI.SCHEDULED)
_TRY_ENDS = (TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED)

# --- task instances -------------------------------------------------------------------------
SCHEDULE = _t("schedule", [None], [TI.SCHEDULED])  # its trigger rule says run (try_number + 1)
SKIP = _t("skip", _WAITING, [TI.SKIPPED])  # trigger rule, branch, or mapped over nothing
UPSTREAM_FAILED = _t("fail_upstream", [None], [TI.UPSTREAM_FAILED])
FAIL_EXPANSION = _t("fail_expansion", [None], [TI.FAILED])  # a mapped task whose input cannot be mapped
REMOVE = _t("remove", _WAITING, [TI.REMOVED])  # its task left the DAG
QUEUE = _t("queue", [TI.SCHEDULED], [TI.QUEUED])  # sent to the executor
REQUEUE = _t("requeue", [TI.QUEUED], [TI.SCHEDULED])  # the message was lost, or its scheduler died
ADOPT = _t("adopt", [TI.QUEUED], [TI.QUEUED])  # a live scheduler takes over a dead one's queued try
CLAIM = _t("claim", [TI.QUEUED], [TI.RUNNING])  # a worker won the try: only it runs it
FINISH = _t("finish", [TI.RUNNING], _TRY_ENDS)  # the try ended (result, crash, zombie)
INTERRUPT = _t("interrupt", [TI.RUNNING], [TI.SCHEDULED])  # stopped by its executor: again, no retry used
RETRY_DUE = _t("retry_due", [TI.UP_FOR_RETRY], [TI.SCHEDULED])  # its retry delay passed (try_number + 1)
RESCHEDULE_DUE = _t("reschedule_due", [TI.UP_FOR_RESCHEDULE], [TI.SCHEDULED])  # a sensor pokes again
DEAD_LETTER = _t("dead_letter", [TI.QUEUED, TI.RUNNING], [TI.FAILED])  # its message kept failing to deliver
RESUME = _t("resume", [TI.DEFERRED], [TI.SCHEDULED])  # its trigger fired (or failed, or timed out): same try
END_FROM_TRIGGER = _t("end_from_trigger", [TI.DEFERRED], [TI.SUCCESS, TI.FAILED, TI.SKIPPED])  # the trigger ended it
RUN_NOW = _t("run_now", [None, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, *FINISHED], [TI.QUEUED])
STOP = _t("stop", [*ACTIVE, None], [TI.SKIPPED, TI.FAILED])  # fail_stop or dagrun_timeout ended the run
# run it again (max_tries raised); a running try becomes restarting until its process is gone
CLEAR = _t("clear", [None, *ACTIVE, *FINISHED], [None, TI.RESTARTING])
MARK = _t("mark", [None, *ACTIVE, *FINISHED], [TI.SUCCESS, TI.FAILED, TI.SKIPPED])  # set by a user

TI_TRANSITIONS = (SCHEDULE, SKIP, UPSTREAM_FAILED, FAIL_EXPANSION, REMOVE, QUEUE, REQUEUE, ADOPT, CLAIM, FINISH,
                  INTERRUPT, RETRY_DUE, RESCHEDULE_DUE, DEAD_LETTER, RESUME, END_FROM_TRIGGER, RUN_NOW, STOP, CLEAR,
                  MARK)

# try_number= of schedule and retry_due: the next try. One expression object for every use, so that the
# compare-and-set layer builds their UPDATE once.
NEXT_TRY = schema.task_instance.c.try_number + 1

# --- DAG runs ---------------------------------------------------------------------------------
START_RUN = _t("start_run", [RUN.QUEUED], [RUN.RUNNING])
FINISH_RUN = _t("finish_run", [RUN.RUNNING], [RUN.SUCCESS, RUN.FAILED])  # every task instance is done
TIME_OUT_RUN = _t("time_out_run", [RUN.RUNNING], [RUN.FAILED])  # past dagrun_timeout
REQUEUE_RUN = _t("requeue_run", [RUN.QUEUED, RUN.RUNNING, RUN.SUCCESS, RUN.FAILED], [RUN.QUEUED])  # cleared
MARK_RUN = _t("mark_run", [RUN.QUEUED, RUN.RUNNING, RUN.SUCCESS, RUN.FAILED], [RUN.SUCCESS, RUN.FAILED, RUN.QUEUED])

RUN_TRANSITIONS = (START_RUN, FINISH_RUN, TIME_OUT_RUN, REQUEUE_RUN, MARK_RUN)


def ti(session: Session, transition: Transition, ids: Iterable[int], *, to: State = None,
       expected: Collection[State] | None = None, **fields: Any) -> list[int]:
    """Apply ``transition`` to task instances ``ids`` (those in ``expected``, default its sources); ids won."""
    sources, target = transition.check(expected, to)
    return cas.set_ti_states(session, ids, expected=sources, new=target, **fields)


def one_try(session: Session, transition: Transition, ti_id: int, try_number: int, *, to: State = None,
            expected: Collection[State] | None = None, **fields: Any) -> bool:
    """Apply ``transition`` to one try (the row must still be at ``try_number``); True if this call won."""
    sources, target = transition.check(expected, to)
    return cas.set_try_state(session, ti_id, try_number, expected=sources, new=target, **fields)


def run(session: Session, transition: Transition, run_pk: int, *, to: State = None,
        expected: Collection[State] | None = None, **fields: Any) -> bool:
    """Apply ``transition`` to the DAG run ``run_pk``; True if this call won."""
    sources, target = transition.check(expected, to)
    return cas.set_run_state(session, run_pk, expected=sources, new=target, **fields)


# --- transitions of one try: the try number is part of the guard ----------------------------------

_TI = schema.task_instance


def claim(session: Session, keys: Sequence[tuple[int, int]], *, job_id: int | None, hostname: str,
          pid: int | None, now: datetime) -> set[tuple[int, int]]:
    """``claim`` queued -> running for each (ti id, try number); the (ti id, try number) keys this call won.

    The keys, not the ids: a batch may hold a stale message for an earlier try of the same task
    instance (SQS redelivers what a dead worker never deleted) next to the current try's, and
    only the try whose number won may start.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return set()
    values = {"b_hostname": hostname, "b_pid": pid, "b_job": job_id, "b_now": now}
    if session.get_bind().dialect.update_returning:
        return {(i, n) for i, n in session.execute(_CLAIM_MANY, {**values, "b_keys": keys})}
    return {(i, n) for i, n in keys if rowcount(session, _CLAIM_ONE, {**values, "b_id": i, "b_try": n}) == 1}


def _claim_statement(where: Any) -> Any:
    return _TI.update().where(where, _TI.c.state == TI.QUEUED.value).values(
        state=TI.RUNNING.value, hostname=sa.bindparam("b_hostname"), pid=sa.bindparam("b_pid"),
        job_id=sa.bindparam("b_job"), start_date=sa.bindparam("b_now"), last_heartbeat_at=sa.bindparam("b_now"),
        end_date=None, duration=None, updated_at=sa.bindparam("b_now"))


# built once: building the statement cost more than running it (it ran for every batch of claims)
_CLAIM_MANY = _claim_statement(sa.tuple_(_TI.c.id, _TI.c.try_number).in_(sa.bindparam("b_keys", expanding=True))
                               ).returning(_TI.c.id, _TI.c.try_number)
_CLAIM_ONE = _claim_statement(sa.and_(_TI.c.id == sa.bindparam("b_id"), _TI.c.try_number == sa.bindparam("b_try")))


_TRY = (_TI.c.id == sa.bindparam("b_id"), _TI.c.try_number == sa.bindparam("b_try"))
_FINISH = (
    _TI.update()
    .where(*_TRY, _TI.c.state == TI.RUNNING.value)
    .values(state=sa.bindparam("b_state"), end_date=sa.bindparam("b_end"), duration=sa.bindparam("b_duration"),
            next_attempt_at=sa.bindparam("b_next"), rendered_fields=sa.bindparam("b_rendered"),
            executor_message=sa.bindparam("b_message"), updated_at=sa.bindparam("b_end"),
            try_number=_TI.c.try_number + sa.bindparam("b_bump"), max_tries=_TI.c.max_tries + sa.bindparam("b_bump"),
            next_method=None, next_kwargs=None, trigger_id=None, trigger_timeout=None)  # a deferral sets them anew
)
# A try cleared while it ran (restarting) goes back to none whatever its end: the clear asked for a new try.
_CLEARED_END = (
    _TI.update()
    .where(*_TRY, _TI.c.state == TI.RESTARTING.value)
    .values(state=None, end_date=sa.bindparam("b_end"), duration=sa.bindparam("b_duration"),
            rendered_fields=sa.bindparam("b_rendered"), executor_message=sa.bindparam("b_message"),
            updated_at=sa.bindparam("b_end"))
)


@dataclass(frozen=True)
class TryEnd:
    """How one try ends: ``finish`` to a final or waiting state, or ``interrupt`` back to scheduled."""

    ti_id: int
    try_number: int
    state: str
    end: datetime
    duration: float | None = None
    next_attempt_at: datetime | None = None
    rendered_fields: dict[str, Any] | None = None
    message: str | None = None

    def params(self) -> dict[str, Any]:
        """Bind values of the guarded UPDATE."""
        interrupted = self.state == TI.SCHEDULED
        (INTERRUPT if interrupted else FINISH).check(None, self.state)
        return {"b_id": self.ti_id, "b_try": self.try_number, "b_state": self.state, "b_end": self.end,
                "b_duration": self.duration, "b_next": self.next_attempt_at, "b_rendered": self.rendered_fields,
                "b_message": self.message[-2000:] if self.message else None, "b_bump": 1 if interrupted else 0}


def end_tries(session: Session, ends: Sequence[TryEnd]) -> list[TryEnd]:
    """``finish`` / ``interrupt`` a batch of running tries (one executemany); the ends that won.

    An interrupted try goes back to scheduled as the next try number, with max_tries raised by
    one, so the interruption does not use a retry. A try cleared while it ran (``restarting``)
    goes back to none whatever its end: the clear asked for a new try.
    """
    if not ends:
        return []
    params = [e.params() for e in ends]
    conn = session.connection()
    if len(ends) > 1 and conn.dialect.supports_sane_multi_rowcount:
        if conn.execute(_FINISH, params).rowcount == len(ends):
            return list(ends)
        won = _confirm(session, ends)
    else:
        won = [e for e, p in zip(ends, params, strict=True) if conn.execute(_FINISH, p).rowcount == 1]
    lost = [(e, p) for e, p in zip(ends, params, strict=True) if e not in won]
    return won + [e for e, p in lost if conn.execute(_CLEARED_END, p).rowcount == 1]


def _confirm(session: Session, ends: Sequence[TryEnd]) -> list[TryEnd]:
    """After a partly applied batch: the ends whose row now shows exactly what we wrote."""
    stmt = sa.select(_TI.c.id, _TI.c.state, _TI.c.try_number, _TI.c.end_date).where(
        _TI.c.id.in_([e.ti_id for e in ends]))
    now = {r.id: (r.try_number, r.end_date) for r in session.execute(stmt)}
    bump = {e.ti_id: int(e.state == TI.SCHEDULED) for e in ends}
    return [e for e in ends if now.get(e.ti_id) == (e.try_number + bump[e.ti_id], e.end)]
