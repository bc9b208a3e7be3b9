"""The tables of the metadata database, in SQLAlchemy Core: the one definition of the schema.

``models.py`` maps its ORM classes onto these tables; read-only paths (e.g. ``windsock dags
list-runs``) query them through Core and never load the ORM. Table names follow Airflow's
where it has them.

Nothing here imports a dialect: the PostgreSQL-only option of ``idx_task_instance_state`` (a
partial index over active states) is attached by a ``before_create`` hook when the tables are
created on PostgreSQL, or by :func:`postgresql_options`, so SQLite and MySQL never load the
PostgreSQL dialect. Migration 0001 creates the same partial index.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from runtime.store.states import ACTIVE, DagRunState
from runtime.store.types import StateString, UtcDateTime

ID_LEN = 250

NAMING = {
    "ix": "idx_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


def _id(name: str) -> sa.Column[str]:
    """A required id column (dag_id, run_id, task_id)."""
    return sa.Column(name, sa.String(ID_LEN), nullable=False)


def _pk() -> sa.Column[int]:
    """The integer surrogate key ``id``."""
    return sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True)


def _when(name: str, nullable: bool = True) -> sa.Column[Any]:
    """An aware UTC datetime column."""
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _json(name: str) -> sa.Column[Any]:
    """A JSON column where Python None is SQL NULL, never the JSON text 'null'."""
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=True)


def _flag(name: str, default: bool) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=False, default=default)


def _int(name: str, default: int | None = None, server_default: str | None = None, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable, default=default, server_default=server_default)


def _str(name: str, length: int | None = None, nullable: bool = True) -> sa.Column[str]:
    """A String(length) column, or Text without a length."""
    return sa.Column(name, sa.String(length) if length else sa.Text(), nullable=nullable)


def _task_key() -> list[sa.Column[Any]]:
    """``id`` and the dag_id, run_id, task_id of a row about one task of one run (map_index follows)."""
    return [_pk(), _id("dag_id"), _id("run_id"), _id("task_id")]


def _run_fk() -> sa.ForeignKeyConstraint:
    """Rows of a run go when the run goes."""
    return sa.ForeignKeyConstraint(("dag_id", "run_id"), ("dag_run.dag_id", "dag_run.run_id"), ondelete="CASCADE")


# A DAG as the processor serialized it (JSON text); the scheduler never imports user code.
serialized_dag = sa.Table(
    "serialized_dag", metadata,
    sa.Column("dag_id", sa.String(ID_LEN), primary_key=True),
    _str("fileloc", 2000, nullable=False),
    _str("data", nullable=False),
    _str("dag_hash", 64, nullable=False),
    _when("last_updated", nullable=False),
)

# One DAG's scheduling state: paused, active, and when its next run is due.
dag = sa.Table(
    "dag", metadata,
    sa.Column("dag_id", sa.String(ID_LEN), primary_key=True),
    _str("fileloc", 2000),
    _flag("is_paused", False),
    _flag("is_active", True),
    _str("owners", 2000),
    _json("tags"),
    _str("description"),
    _str("timetable_description", 1000),
    _int("max_active_runs", nullable=True),
    _int("max_active_tasks", nullable=True),
    _flag("has_import_errors", False),
    _when("last_parsed_time"),
    _when("next_dagrun"),
    _when("next_dagrun_data_interval_start"),
    _when("next_dagrun_data_interval_end"),
    _when("next_dagrun_create_after"),
    sa.Index("idx_dag_next_dagrun_create_after", "is_paused", "is_active", "next_dagrun_create_after"),
)

# One run of a DAG; every state change is a named transition (``store/transitions.py``).
dag_run = sa.Table(
    "dag_run", metadata,
    _pk(),
    _id("dag_id"),
    _id("run_id"),
    _str("run_type", 20, nullable=False),
    sa.Column("state", StateString(), nullable=False, default=DagRunState.QUEUED.value),
    _when("logical_date", nullable=False),
    _when("data_interval_start"),
    _when("data_interval_end"),
    _when("queued_at"),
    _when("start_date"),
    _when("end_date"),
    _json("conf"),
    _flag("external_trigger", False),
    _int("clear_number", default=0),
    _str("dag_hash", 64),
    _when("last_scheduling_decision"),
    _when("updated_at"),
    sa.UniqueConstraint("dag_id", "run_id"),
    sa.UniqueConstraint("dag_id", "logical_date"),
    sa.Index("idx_dag_run_state_dag_id", "state", "dag_id"),
)

# One task (or mapped index) of one run; ``state`` None is Airflow's "none".
task_instance = sa.Table(
    "task_instance", metadata,
    *_task_key(),
    _int("map_index", default=-1, server_default="-1"),
    sa.Column("state", StateString(), nullable=True),
    _int("try_number", default=0, server_default="0"),
    _int("max_tries", default=0, server_default="0"),
    _str("hostname", 1000),
    _int("pid", nullable=True),
    _when("queued_dttm"),
    _when("start_date"),
    _when("end_date"),
    sa.Column("duration", sa.Double(), nullable=True),
    _when("last_heartbeat_at"),
    _str("operator", 1000),
    sa.Column("pool", sa.String(256), nullable=False, default="default_pool", server_default="default_pool"),
    _int("pool_slots", default=1, server_default="1"),
    _int("priority_weight", default=1, server_default="1"),
    _str("queue", 256),
    _str("executor_message"),
    _json("rendered_fields"),
    _when("next_attempt_at"),
    _when("updated_at"),
    _int("queued_by_job_id", nullable=True),  # the scheduler job that queued the try
    _int("job_id", nullable=True),  # the executor/worker job that claimed (runs) the try
    _int("trigger_id", nullable=True),  # a deferred try: the trigger it waits on
    _when("trigger_timeout"),  # and when it stops waiting
    _str("next_method", 1000),  # the method it resumes at
    _json("next_kwargs"),  # with these arguments (the event among them)
    sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
    sa.Index("idx_task_instance_state", "state"),  # partial on PostgreSQL: postgresql_options()
    sa.Index("idx_task_instance_dag_id_run_id", "dag_id", "run_id"),
    sa.Index("idx_task_instance_trigger_id", "trigger_id"),
    _run_fk(),
)

# A long-running process (scheduler, executor, worker) and its heartbeat, as Airflow's ``job`` table.
job = sa.Table(
    "job", metadata,
    _pk(),
    _str("job_type", 30, nullable=False),
    sa.Column("state", StateString(), nullable=False),
    _str("hostname", 1000),
    _int("pid", nullable=True),
    _str("executor_class", 500),
    _when("start_date", nullable=False),
    _when("end_date"),
    _when("latest_heartbeat", nullable=False),
    sa.Index("idx_job_state_type", "state", "job_type"),
)

# One row per finished try of a task instance.
task_instance_history = sa.Table(
    "task_instance_history", metadata,
    *_task_key(),
    _int("map_index", default=-1),
    _int("try_number"),
    sa.Column("state", StateString(), nullable=True),
    _when("start_date"),
    _when("end_date"),
    sa.Column("duration", sa.Double(), nullable=True),
    _str("hostname", 1000),
    _int("pid", nullable=True),
    _str("executor_message"),
    sa.Index("idx_task_instance_history_ti", "dag_id", "run_id", "task_id", "map_index"),
)

# A sensor's reschedule request (mode="reschedule"): when it poked and when to poke again.
task_reschedule = sa.Table(
    "task_reschedule", metadata,
    *_task_key(),
    _int("map_index", default=-1),
    _int("try_number"),
    _when("start_date", nullable=False),
    _when("end_date", nullable=False),
    _when("reschedule_date", nullable=False),
    sa.Index("idx_task_reschedule_ti", "dag_id", "run_id", "task_id", "map_index"),
    _run_fk(),
)

# A value pushed by a task (JSON text), keyed by run, task, map index and key.
xcom = sa.Table(
    "xcom", metadata,
    *_task_key(),
    _int("map_index", default=-1),
    _str("key", 512, nullable=False),
    _str("value"),
    _when("timestamp", nullable=False),
    sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "key"),
    _run_fk(),
)

# A key/value variable; ``val`` is Fernet ciphertext when ``is_encrypted``.
variable = sa.Table(
    "variable", metadata,
    sa.Column("key", sa.String(ID_LEN), primary_key=True),
    _str("val"),
    _str("description"),
    _flag("is_encrypted", False),
)

# A stored connection; password and extra are Fernet ciphertext when their flags say so.
connection = sa.Table(
    "connection", metadata,
    sa.Column("conn_id", sa.String(ID_LEN), primary_key=True),
    _str("conn_type", 500, nullable=False),
    _str("description"),
    _str("host", 500),
    _str("schema", 500),
    _str("login"),
    _str("password"),
    _int("port", nullable=True),
    _str("extra"),
    _flag("is_encrypted", False),
    _flag("is_extra_encrypted", False),
)

# A named number of slots shared by the task instances assigned to it (-1 = unlimited).
slot_pool = sa.Table(
    "slot_pool", metadata,
    sa.Column("pool", sa.String(256), primary_key=True),
    _int("slots"),
    _str("description"),
)

# The last failure to load a DAG file.
import_error = sa.Table(
    "import_error", metadata,
    _pk(),
    sa.Column("filename", sa.String(2000), nullable=False, unique=True),
    _when("timestamp", nullable=False),
    _str("stacktrace"),
)

# DAG processor state of one file: what it hashed and which DAGs it produced.
dag_file = sa.Table(
    "dag_file", metadata,
    sa.Column("fileloc", sa.String(2000), primary_key=True),
    _str("content_hash", 64),
    sa.Column("mtime", sa.Double(), nullable=True),
    sa.Column("size", sa.BigInteger(), nullable=True),
    _when("last_parsed"),
    sa.Column("parse_duration", sa.Double(), nullable=True),
    _json("dag_ids"),
    _str("source_code"),
)

# Audit log of user actions (CLI, UI, API).
log = sa.Table(
    "log", metadata,
    _pk(),
    _when("dttm", nullable=False),
    _str("event", 60, nullable=False),
    _str("owner", 500),
    _str("dag_id", ID_LEN),
    _str("task_id", ID_LEN),
    _str("run_id", ID_LEN),
    _json("extra"),
    sa.Index("idx_log_dag_id_dttm", "dag_id", "dttm"),
)

# A one-time web login token that was redeemed (its id), so no web process accepts it twice.
login_token_use = sa.Table(
    "login_token_use", metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    _str("identity", 500, nullable=False),
    _when("redeemed_at", nullable=False),
    _when("expires_at", nullable=False),
)

# An update of an asset: recorded when a task with that outlet succeeds (or added through an alias).
asset_event = sa.Table(
    "asset_event", metadata,
    _pk(),
    _str("uri", 1500, nullable=False),
    _str("name", 1500, nullable=False),
    _json("extra"),
    _str("source_alias_name", 1500),
    _str("source_dag_id", ID_LEN),
    _str("source_task_id", ID_LEN),
    _str("source_run_id", ID_LEN),
    _int("source_map_index", default=-1),
    _when("timestamp", nullable=False),
    sa.Index("idx_asset_event_uri", "uri", "id"),
)

# Per asset-scheduled DAG: the last asset event its run creation has looked at.
asset_dag_cursor = sa.Table(
    "asset_dag_cursor", metadata,
    sa.Column("dag_id", sa.String(ID_LEN), primary_key=True),
    _int("last_event_id"),
)

# The asset events that triggered a run (``triggering_asset_events``).
dag_run_asset_event = sa.Table(
    "dag_run_asset_event", metadata,
    _pk(),
    _id("dag_id"),
    _id("run_id"),
    _int("event_id"),
    sa.Index("idx_dag_run_asset_event_run", "dag_id", "run_id"),
)

# What a deferred try waits on: a trigger's classpath and keyword arguments, and its triggerer job.
trigger = sa.Table(
    "trigger", metadata,
    _pk(),
    _str("classpath", 1000, nullable=False),
    _json("kwargs"),
    _when("created_date", nullable=False),
    _int("triggerer_id", nullable=True),
    sa.Index("idx_trigger_triggerer_id", "triggerer_id"),
)

ACTIVE_STATES_SQL = "state IN (" + ", ".join(f"'{s}'" for s in sorted(ACTIVE)) + ")"


def postgresql_options() -> None:
    """Attach the PostgreSQL-only index options (loads the PostgreSQL dialect; idempotent).

    ``idx_task_instance_state`` covers only active states there, so finished history does not grow it.
    """
    index = next(ix for ix in task_instance.indexes if ix.name == "idx_task_instance_state")
    if index.dialect_kwargs.get("postgresql_where") is None:
        index.dialect_kwargs["postgresql_where"] = sa.text(ACTIVE_STATES_SQL)


@sa.event.listens_for(task_instance, "before_create")
def _before_create(target: sa.Table, connection: sa.Connection, **kw: Any) -> None:
    """Creating the table on PostgreSQL (``create_all``): attach the partial index option first."""
    if connection.dialect.name == "postgresql":
        postgresql_options()
