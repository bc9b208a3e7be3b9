"""ORM classes of the metadata database, mapped onto the Core tables of ``schema.py``.

The schema (types, lengths, defaults, keys, indexes) is defined once, in ``schema.py``; the
``Mapped[...]`` annotations here only give each attribute its Python type
(``tests/store/test_schema.py`` checks that they name exactly the table's columns, with the
table's nullability). Code that only reads can use the tables through Core and skip the ORM.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from runtime.store import schema as tables


class Base(DeclarativeBase):
    """Declarative base holding the metadata of every table."""

    metadata = tables.metadata


class SerializedDagModel(Base):
    """A DAG as the processor serialized it (JSON text); the scheduler never imports user code."""

    __table__ = tables.serialized_dag

    dag_id: Mapped[str]
    fileloc: Mapped[str]
    data: Mapped[str]
    dag_hash: Mapped[str]
    last_updated: Mapped[dt.datetime]


class DagModel(Base):
    """One DAG's scheduling state: paused, active, and when its next run is due."""

    __table__ = tables.dag

    dag_id: Mapped[str]
    fileloc: Mapped[str | None]
    is_paused: Mapped[bool]
    is_active: Mapped[bool]
    owners: Mapped[str | None]
    tags: Mapped[list[Any] | None]
    description: Mapped[str | None]
    timetable_description: Mapped[str | None]
    max_active_runs: Mapped[int | None]
    max_active_tasks: Mapped[int | None]
    has_import_errors: Mapped[bool]
    last_parsed_time: Mapped[dt.datetime | None]
    next_dagrun: Mapped[dt.datetime | None]
    next_dagrun_data_interval_start: Mapped[dt.datetime | None]
    next_dagrun_data_interval_end: Mapped[dt.datetime | None]
    next_dagrun_create_after: Mapped[dt.datetime | None]


class DagRun(Base):
    """One run of a DAG; every state change is a named transition (``store/transitions.py``)."""

    __table__ = tables.dag_run

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    run_type: Mapped[str]
    state: Mapped[str]
    logical_date: Mapped[dt.datetime]
    data_interval_start: Mapped[dt.datetime | None]
    data_interval_end: Mapped[dt.datetime | None]
    queued_at: Mapped[dt.datetime | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    conf: Mapped[dict[str, Any] | None]
    external_trigger: Mapped[bool]
    clear_number: Mapped[int]
    dag_hash: Mapped[str | None]
    last_scheduling_decision: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]


class TaskInstance(Base):
    """One task (or mapped index) of one run; ``state`` None is Airflow's "none"."""

    __table__ = tables.task_instance

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    task_id: Mapped[str]
    map_index: Mapped[int]
    state: Mapped[str | None]
    try_number: Mapped[int]
    max_tries: Mapped[int]
    hostname: Mapped[str | None]
    pid: Mapped[int | None]
    queued_dttm: Mapped[dt.datetime | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    duration: Mapped[float | None]
    last_heartbeat_at: Mapped[dt.datetime | None]
    operator: Mapped[str | None]
    pool: Mapped[str]
    pool_slots: Mapped[int]
    priority_weight: Mapped[int]
    queue: Mapped[str | None]
    executor_message: Mapped[str | None]
    rendered_fields: Mapped[dict[str, Any] | None]
    next_attempt_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    queued_by_job_id: Mapped[int | None]
    job_id: Mapped[int | None]
    trigger_id: Mapped[int | None]
    trigger_timeout: Mapped[dt.datetime | None]
    next_method: Mapped[str | None]
    next_kwargs: Mapped[dict[str, Any] | None]


class Job(Base):
    """A long-running process (scheduler, executor, worker) and its heartbeat, as Airflow's ``job`` table."""

    __table__ = tables.job

    id: Mapped[int]
    job_type: Mapped[str]
    state: Mapped[str]
    hostname: Mapped[str | None]
    pid: Mapped[int | None]
    executor_class: Mapped[str | None]
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime | None]
    latest_heartbeat: Mapped[dt.datetime]


class TaskInstanceHistory(Base):
    """One row per finished try of a task instance."""

    __table__ = tables.task_instance_history

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    task_id: Mapped[str]
    map_index: Mapped[int]
    try_number: Mapped[int]
    state: Mapped[str | None]
    start_date: Mapped[dt.datetime | None]
    end_date: Mapped[dt.datetime | None]
    duration: Mapped[float | None]
    hostname: Mapped[str | None]
    pid: Mapped[int | None]
    executor_message: Mapped[str | None]


class TaskReschedule(Base):
    """A sensor's reschedule request (mode="reschedule"): when it poked and when to poke again."""

    __table__ = tables.task_reschedule

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    task_id: Mapped[str]
    map_index: Mapped[int]
    try_number: Mapped[int]
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime]
    reschedule_date: Mapped[dt.datetime]


class XCom(Base):
    """A value pushed by a task (JSON text), keyed by run, task, map index and key."""

    __table__ = tables.xcom

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    task_id: Mapped[str]
    map_index: Mapped[int]
    key: Mapped[str]
    value: Mapped[str | None]
    timestamp: Mapped[dt.datetime]


class Variable(Base):
    """A key/value variable; ``val`` is Fernet ciphertext when ``is_encrypted``."""

    __table__ = tables.variable

    key: Mapped[str]
    val: Mapped[str | None]
    description: Mapped[str | None]
    is_encrypted: Mapped[bool]


class ConnectionModel(Base):
    """A stored connection; password and extra are Fernet ciphertext when their flags say so."""

    __table__ = tables.connection

    conn_id: Mapped[str]
    conn_type: Mapped[str]
    description: Mapped[str | None]
    host: Mapped[str | None]
    schema: Mapped[str | None]
    login: Mapped[str | None]
    password: Mapped[str | None]
    port: Mapped[int | None]
    extra: Mapped[str | None]
    is_encrypted: Mapped[bool]
    is_extra_encrypted: Mapped[bool]


class Pool(Base):
    """A named number of slots shared by the task instances assigned to it (-1 = unlimited)."""

    __table__ = tables.slot_pool

    pool: Mapped[str]
    slots: Mapped[int]
    description: Mapped[str | None]


class ParseImportError(Base):
    """The last failure to load a DAG file."""

    __table__ = tables.import_error

    id: Mapped[int]
    filename: Mapped[str]
    timestamp: Mapped[dt.datetime]
    stacktrace: Mapped[str | None]


class DagFile(Base):
    """DAG processor state of one file: what it hashed and which DAGs it produced."""

    __table__ = tables.dag_file

    fileloc: Mapped[str]
    content_hash: Mapped[str | None]
    mtime: Mapped[float | None]
    size: Mapped[int | None]
    last_parsed: Mapped[dt.datetime | None]
    parse_duration: Mapped[float | None]
    dag_ids: Mapped[list[Any] | None]
    source_code: Mapped[str | None]


class Log(Base):
    """Audit log of user actions (CLI, UI, API)."""

    __table__ = tables.log

    id: Mapped[int]
    dttm: Mapped[dt.datetime]
    event: Mapped[str]
    owner: Mapped[str | None]
    dag_id: Mapped[str | None]
    task_id: Mapped[str | None]
    run_id: Mapped[str | None]
    extra: Mapped[dict[str, Any] | None]


class LoginTokenUse(Base):
    """A one-time web login token that was redeemed (its id), so no web process accepts it twice."""

    __table__ = tables.login_token_use

    jti: Mapped[str]
    identity: Mapped[str]
    redeemed_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class AssetEvent(Base):
    """An update of an asset: recorded when a task with that outlet succeeds (or added through an alias)."""

    __table__ = tables.asset_event

    id: Mapped[int]
    uri: Mapped[str]
    name: Mapped[str]
    extra: Mapped[dict[str, Any] | None]
    source_alias_name: Mapped[str | None]
    source_dag_id: Mapped[str | None]
    source_task_id: Mapped[str | None]
    source_run_id: Mapped[str | None]
    source_map_index: Mapped[int]
    timestamp: Mapped[dt.datetime]


class AssetDagCursor(Base):
    """Per asset-scheduled DAG: the last asset event its run creation has looked at."""

    __table__ = tables.asset_dag_cursor

    dag_id: Mapped[str]
    last_event_id: Mapped[int]


class DagRunAssetEvent(Base):
    """The asset events that triggered a run (``triggering_asset_events``)."""

    __table__ = tables.dag_run_asset_event

    id: Mapped[int]
    dag_id: Mapped[str]
    run_id: Mapped[str]
    event_id: Mapped[int]


class Trigger(Base):
    """What a deferred try waits on: a trigger's classpath and keyword arguments, and its triggerer job."""

    __table__ = tables.trigger

    id: Mapped[int]
    classpath: Mapped[str]
    kwargs: Mapped[dict[str, Any] | None]
    created_date: Mapped[dt.datetime]
    triggerer_id: Mapped[int | None]
