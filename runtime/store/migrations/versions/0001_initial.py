"""Initial schema: every table of the metadata database.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 06:02:13

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import StateString, UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(length=250), nullable=False),
        sa.Column("conn_type", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=500), nullable=True),
        sa.Column("schema", sa.String(length=500), nullable=True),
        sa.Column("login", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=False),
        sa.Column("is_extra_encrypted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("conn_id", name=op.f("pk_connection")),
    )
    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=True),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("owners", sa.String(length=2000), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("timetable_description", sa.String(length=1000), nullable=True),
        sa.Column("max_active_runs", sa.Integer(), nullable=True),
        sa.Column("max_active_tasks", sa.Integer(), nullable=True),
        sa.Column("has_import_errors", sa.Boolean(), nullable=False),
        sa.Column("last_parsed_time", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_data_interval_start", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_data_interval_end", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_create_after", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_dag")),
    )
    op.create_index(
        "idx_dag_next_dagrun_create_after",
        "dag",
        ["is_paused", "is_active", "next_dagrun_create_after"],
        unique=False,
    )
    op.create_table(
        "dag_file",
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("mtime", sa.Double(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("last_parsed", UtcDateTime(), nullable=True),
        sa.Column("parse_duration", sa.Double(), nullable=True),
        sa.Column("dag_ids", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("fileloc", name=op.f("pk_dag_file")),
    )
    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("run_type", sa.String(length=20), nullable=False),
        sa.Column("state", StateString(), nullable=False),
        sa.Column("logical_date", UtcDateTime(), nullable=False),
        sa.Column("data_interval_start", UtcDateTime(), nullable=True),
        sa.Column("data_interval_end", UtcDateTime(), nullable=True),
        sa.Column("queued_at", UtcDateTime(), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("conf", sa.JSON(), nullable=True),
        sa.Column("external_trigger", sa.Boolean(), nullable=False),
        sa.Column("clear_number", sa.Integer(), nullable=False),
        sa.Column("dag_hash", sa.String(length=64), nullable=True),
        sa.Column("last_scheduling_decision", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run")),
        sa.UniqueConstraint("dag_id", "logical_date", name=op.f("uq_dag_run_dag_id_logical_date")),
        sa.UniqueConstraint("dag_id", "run_id", name=op.f("uq_dag_run_dag_id_run_id")),
    )
    op.create_index("idx_dag_run_state_dag_id", "dag_run", ["state", "dag_id"], unique=False)
    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=2000), nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.Column("stacktrace", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
        sa.UniqueConstraint("filename", name=op.f("uq_import_error_filename")),
    )
    op.create_table(
        "log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dttm", UtcDateTime(), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("owner", sa.String(length=500), nullable=True),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("task_id", sa.String(length=250), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log")),
    )
    op.create_index("idx_log_dag_id_dttm", "log", ["dag_id", "dttm"], unique=False)
    op.create_table(
        "serialized_dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("dag_hash", sa.String(length=64), nullable=False),
        sa.Column("last_updated", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_serialized_dag")),
    )
    op.create_table(
        "slot_pool",
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_slot_pool")),
    )
    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", StateString(), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("executor_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance_history")),
    )
    op.create_index(
        "idx_task_instance_history_ti",
        "task_instance_history",
        ["dag_id", "run_id", "task_id", "map_index"],
        unique=False,
    )
    op.create_table(
        "variable",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("val", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_variable")),
    )
    op.create_table(
        "task_instance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), server_default="-1", nullable=False),
        sa.Column("state", StateString(), nullable=True),
        sa.Column("try_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("queued_dttm", UtcDateTime(), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("last_heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("operator", sa.String(length=1000), nullable=True),
        sa.Column("pool", sa.String(length=256), server_default="default_pool", nullable=False),
        sa.Column("pool_slots", sa.Integer(), server_default="1", nullable=False),
        sa.Column("priority_weight", sa.Integer(), server_default="1", nullable=False),
        sa.Column("queue", sa.String(length=256), nullable=True),
        sa.Column("executor_message", sa.Text(), nullable=True),
        sa.Column("rendered_fields", sa.JSON(), nullable=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_task_instance_dag_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance")),
        sa.UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            name=op.f("uq_task_instance_dag_id_run_id_task_id_map_index"),
        ),
    )
    op.create_index("idx_task_instance_dag_id_run_id", "task_instance", ["dag_id", "run_id"], unique=False)
    op.create_index(
        "idx_task_instance_state",
        "task_instance",
        ["state"],
        unique=False,
        postgresql_where=sa.text(
            "state IN ('deferred', 'queued', 'restarting', 'running', 'scheduled', 'up_for_reschedule', 'up_for_retry')"
        ),
    )
    op.create_table(
        "task_reschedule",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("start_date", UtcDateTime(), nullable=False),
        sa.Column("end_date", UtcDateTime(), nullable=False),
        sa.Column("reschedule_date", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_task_reschedule_dag_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reschedule")),
    )
    op.create_index(
        "idx_task_reschedule_ti",
        "task_reschedule",
        ["dag_id", "run_id", "task_id", "map_index"],
        unique=False,
    )
    op.create_table(
        "xcom",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name=op.f("fk_xcom_dag_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xcom")),
        sa.UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "key",
            name=op.f("uq_xcom_dag_id_run_id_task_id_map_index_key"),
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("xcom")
    op.drop_index("idx_task_reschedule_ti", table_name="task_reschedule")
    op.drop_table("task_reschedule")
    op.drop_index(
        "idx_task_instance_state",
        table_name="task_instance",
        postgresql_where=sa.text(
            "state IN ('deferred', 'queued', 'restarting', 'running', 'scheduled', 'up_for_reschedule', 'up_for_retry')"
        ),
    )
    op.drop_index("idx_task_instance_dag_id_run_id", table_name="task_instance")
    op.drop_table("task_instance")
    op.drop_table("variable")
    op.drop_index("idx_task_instance_history_ti", table_name="task_instance_history")
    op.drop_table("task_instance_history")
    op.drop_table("slot_pool")
    op.drop_table("serialized_dag")
    op.drop_index("idx_log_dag_id_dttm", table_name="log")
    op.drop_table("log")
    op.drop_table("import_error")
    op.drop_index("idx_dag_run_state_dag_id", table_name="dag_run")
    op.drop_table("dag_run")
    op.drop_table("dag_file")
    op.drop_index("idx_dag_next_dagrun_create_after", table_name="dag")
    op.drop_table("dag")
    op.drop_table("connection")
