"""SQLAlchemy models of the metadata database; table names follow Airflow's where it has them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runtime.store.states import ACTIVE, DagRunState
from runtime.store.types import StateString, UtcDateTime

ID_LEN = 250

NAMING = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base holding the metadata of every table."""

    metadata = sa.MetaData(naming_convention=NAMING)
    # none_as_null: a Python None is SQL NULL, never the JSON text 'null'.
    type_annotation_map = {
        dt.datetime: UtcDateTime(),
        dict[str, Any]: sa.JSON(none_as_null=True),
        list[Any]: sa.JSON(none_as_null=True),
    }


def _id() -> Mapped[str]:
    return mapped_column(sa.String(ID_LEN), nullable=False)


class SerializedDagModel(Base):
    """A DAG as the processor serialized it (JSON text); the scheduler never imports user code."""

    __tablename__ = "serialized_dag"

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    fileloc: Mapped[str] = mapped_column(sa.String(2000), nullable=False)
    data: Mapped[str] = mapped_column(sa.Text, nullable=False)
    dag_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    last_updated: Mapped[dt.datetime] = mapped_column(nullable=False)


class DagModel(Base):
    """One DAG's scheduling state: paused, active, and when its next run is due."""

    __tablename__ = "dag"
    __table_args__ = (
        sa.Index("idx_dag_next_dagrun_create_after", "is_paused", "is_active", "next_dagrun_create_after"),
    )

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    fileloc: Mapped[str | None] = mapped_column(sa.String(2000))
    is_paused: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    owners: Mapped[str | None] = mapped_column(sa.String(2000))
    tags: Mapped[list[Any] | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(sa.Text)
    timetable_description: Mapped[str | None] = mapped_column(sa.String(1000))
    max_active_runs: Mapped[int | None] = mapped_column()
    max_active_tasks: Mapped[int | None] = mapped_column()
    has_import_errors: Mapped[bool] = mapped_column(default=False, nullable=False)
    last_parsed_time: Mapped[dt.datetime | None] = mapped_column()
    next_dagrun: Mapped[dt.datetime | None] = mapped_column()
    next_dagrun_data_interval_start: Mapped[dt.datetime | None] = mapped_column()
    next_dagrun_data_interval_end: Mapped[dt.datetime | None] = mapped_column()
    next_dagrun_create_after: Mapped[dt.datetime | None] = mapped_column()


class DagRun(Base):
    """One run of a DAG; every state change is a named transition (``store/transitions.py``)."""

    __tablename__ = "dag_run"
    __table_args__ = (
        sa.UniqueConstraint("dag_id", "run_id"),
        sa.UniqueConstraint("dag_id", "logical_date"),
        sa.Index("idx_dag_run_state_dag_id", "state", "dag_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    run_type: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    state: Mapped[str] = mapped_column(StateString(), nullable=False, default=DagRunState.QUEUED.value)
    logical_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    data_interval_start: Mapped[dt.datetime | None] = mapped_column()
    data_interval_end: Mapped[dt.datetime | None] = mapped_column()
    queued_at: Mapped[dt.datetime | None] = mapped_column()
    start_date: Mapped[dt.datetime | None] = mapped_column()
    end_date: Mapped[dt.datetime | None] = mapped_column()
    conf: Mapped[dict[str, Any] | None] = mapped_column()
    external_trigger: Mapped[bool] = mapped_column(default=False, nullable=False)
    clear_number: Mapped[int] = mapped_column(default=0, nullable=False)
    dag_hash: Mapped[str | None] = mapped_column(sa.String(64))
    last_scheduling_decision: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column()


_RUN_FK = ("dag_id", "run_id"), ("dag_run.dag_id", "dag_run.run_id")


def _run_fk() -> sa.ForeignKeyConstraint:
    """Rows of a run go when the run goes."""
    return sa.ForeignKeyConstraint(*_RUN_FK, ondelete="CASCADE")


class TaskInstance(Base):
    """One task (or mapped index) of one run; ``state`` None is Airflow's "none"."""

    __tablename__ = "task_instance"
    __table_args__ = (
        sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        sa.Index(
            "idx_task_instance_state",
            "state",
            postgresql_where=sa.text("state IN (" + ", ".join(f"'{s}'" for s in sorted(ACTIVE)) + ")"),
        ),
        sa.Index("idx_task_instance_dag_id_run_id", "dag_id", "run_id"),
        sa.Index("idx_task_instance_trigger_id", "trigger_id"),
        _run_fk(),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    task_id: Mapped[str] = _id()
    map_index: Mapped[int] = mapped_column(default=-1, server_default="-1", nullable=False)
    state: Mapped[str | None] = mapped_column(StateString())
    try_number: Mapped[int] = mapped_column(default=0, server_default="0", nullable=False)
    max_tries: Mapped[int] = mapped_column(default=0, server_default="0", nullable=False)
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    queued_dttm: Mapped[dt.datetime | None] = mapped_column()
    start_date: Mapped[dt.datetime | None] = mapped_column()
    end_date: Mapped[dt.datetime | None] = mapped_column()
    duration: Mapped[float | None] = mapped_column()
    last_heartbeat_at: Mapped[dt.datetime | None] = mapped_column()
    operator: Mapped[str | None] = mapped_column(sa.String(1000))
    pool: Mapped[str] = mapped_column(
        sa.String(256), default="default_pool", server_default="default_pool", nullable=False
    )
    pool_slots: Mapped[int] = mapped_column(default=1, server_default="1", nullable=False)
    priority_weight: Mapped[int] = mapped_column(default=1, server_default="1", nullable=False)
    queue: Mapped[str | None] = mapped_column(sa.String(256))
    executor_message: Mapped[str | None] = mapped_column(sa.Text)
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column()
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column()
    queued_by_job_id: Mapped[int | None] = mapped_column()  # the scheduler job that queued the try
    job_id: Mapped[int | None] = mapped_column()  # the executor/worker job that claimed (runs) the try
    trigger_id: Mapped[int | None] = mapped_column()  # a deferred try: the trigger it waits on
    trigger_timeout: Mapped[dt.datetime | None] = mapped_column()  # and when it stops waiting
    next_method: Mapped[str | None] = mapped_column(sa.String(1000))  # the method it resumes at
    next_kwargs: Mapped[dict[str, Any] | None] = mapped_column()  # with these arguments (the event among them)


class Job(Base):
    """A long-running process (scheduler, executor, worker) and its heartbeat, as Airflow's ``job`` table."""

    __tablename__ = "job"
    __table_args__ = (sa.Index("idx_job_state_type", "state", "job_type"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    state: Mapped[str] = mapped_column(StateString(), nullable=False)
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    executor_class: Mapped[str | None] = mapped_column(sa.String(500))
    start_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    end_date: Mapped[dt.datetime | None] = mapped_column()
    latest_heartbeat: Mapped[dt.datetime] = mapped_column(nullable=False)


class TaskInstanceHistory(Base):
    """One row per finished try of a task instance."""

    __tablename__ = "task_instance_history"
    __table_args__ = (sa.Index("idx_task_instance_history_ti", "dag_id", "run_id", "task_id", "map_index"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    task_id: Mapped[str] = _id()
    map_index: Mapped[int] = mapped_column(default=-1, nullable=False)
    try_number: Mapped[int] = mapped_column(nullable=False)
    state: Mapped[str | None] = mapped_column(StateString())
    start_date: Mapped[dt.datetime | None] = mapped_column()
    end_date: Mapped[dt.datetime | None] = mapped_column()
    duration: Mapped[float | None] = mapped_column()
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    executor_message: Mapped[str | None] = mapped_column(sa.Text)


class TaskReschedule(Base):
    """A sensor's reschedule request (mode="reschedule"): when it poked and when to poke again."""

    __tablename__ = "task_reschedule"
    __table_args__ = (
        sa.Index("idx_task_reschedule_ti", "dag_id", "run_id", "task_id", "map_index"),
        _run_fk(),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    task_id: Mapped[str] = _id()
    map_index: Mapped[int] = mapped_column(default=-1, nullable=False)
    try_number: Mapped[int] = mapped_column(nullable=False)
    start_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    end_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    reschedule_date: Mapped[dt.datetime] = mapped_column(nullable=False)


class XCom(Base):
    """A value pushed by a task (JSON text), keyed by run, task, map index and key."""

    __tablename__ = "xcom"
    __table_args__ = (sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "key"), _run_fk())

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    task_id: Mapped[str] = _id()
    map_index: Mapped[int] = mapped_column(default=-1, nullable=False)
    key: Mapped[str] = mapped_column(sa.String(512), nullable=False)
    value: Mapped[str | None] = mapped_column(sa.Text)
    timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)


class Variable(Base):
    """A key/value variable; ``val`` is Fernet ciphertext when ``is_encrypted``."""

    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    val: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    is_encrypted: Mapped[bool] = mapped_column(default=False, nullable=False)


class ConnectionModel(Base):
    """A stored connection; password and extra are Fernet ciphertext when their flags say so."""

    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    conn_type: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    host: Mapped[str | None] = mapped_column(sa.String(500))
    schema: Mapped[str | None] = mapped_column(sa.String(500))
    login: Mapped[str | None] = mapped_column(sa.Text)
    password: Mapped[str | None] = mapped_column(sa.Text)
    port: Mapped[int | None] = mapped_column()
    extra: Mapped[str | None] = mapped_column(sa.Text)
    is_encrypted: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_extra_encrypted: Mapped[bool] = mapped_column(default=False, nullable=False)


class Pool(Base):
    """A named number of slots shared by the task instances assigned to it (-1 = unlimited)."""

    __tablename__ = "slot_pool"

    pool: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    slots: Mapped[int] = mapped_column(nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)


class ParseImportError(Base):
    """The last failure to load a DAG file."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(sa.String(2000), nullable=False, unique=True)
    timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)
    stacktrace: Mapped[str | None] = mapped_column(sa.Text)


class DagFile(Base):
    """DAG processor state of one file: what it hashed and which DAGs it produced."""

    __tablename__ = "dag_file"

    fileloc: Mapped[str] = mapped_column(sa.String(2000), primary_key=True)
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    mtime: Mapped[float | None] = mapped_column()
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_parsed: Mapped[dt.datetime | None] = mapped_column()
    parse_duration: Mapped[float | None] = mapped_column()
    dag_ids: Mapped[list[Any] | None] = mapped_column()
    source_code: Mapped[str | None] = mapped_column(sa.Text)


class Log(Base):
    """Audit log of user actions (CLI, UI, API)."""

    __tablename__ = "log"
    __table_args__ = (sa.Index("idx_log_dag_id_dttm", "dag_id", "dttm"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dttm: Mapped[dt.datetime] = mapped_column(nullable=False)
    event: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    owner: Mapped[str | None] = mapped_column(sa.String(500))
    dag_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    extra: Mapped[dict[str, Any] | None] = mapped_column()


class LoginTokenUse(Base):
    """A one-time web login token that was redeemed (its id), so no web process accepts it twice."""

    __tablename__ = "login_token_use"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    identity: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    redeemed_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)

class AssetEvent(Base):
    """An update of an asset: recorded when a task with that outlet succeeds (or added through an alias)."""

    __tablename__ = "asset_event"
    __table_args__ = (sa.Index("idx_asset_event_uri", "uri", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(sa.String(1500), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(1500), nullable=False)
    extra: Mapped[dict[str, Any] | None] = mapped_column()
    source_alias_name: Mapped[str | None] = mapped_column(sa.String(1500))
    source_dag_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_task_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_run_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_map_index: Mapped[int] = mapped_column(default=-1, nullable=False)
    timestamp: Mapped[dt.datetime] = mapped_column(nullable=False)


class AssetDagCursor(Base):
    """Per asset-scheduled DAG: the last asset event its run creation has looked at."""

    __tablename__ = "asset_dag_cursor"

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(nullable=False)


class DagRunAssetEvent(Base):
    """The asset events that triggered a run (``triggering_asset_events``)."""

    __tablename__ = "dag_run_asset_event"
    __table_args__ = (sa.Index("idx_dag_run_asset_event_run", "dag_id", "run_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = _id()
    run_id: Mapped[str] = _id()
    event_id: Mapped[int] = mapped_column(nullable=False)


class Trigger(Base):
    """What a deferred try waits on: a trigger's classpath and keyword arguments, and its triggerer job."""

    __tablename__ = "trigger"
    __table_args__ = (sa.Index("idx_trigger_triggerer_id", "triggerer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    classpath: Mapped[str] = mapped_column(sa.String(1000), nullable=False)
    kwargs: Mapped[dict[str, Any] | None] = mapped_column()
    created_date: Mapped[dt.datetime] = mapped_column(nullable=False)
    triggerer_id: Mapped[int | None] = mapped_column()

